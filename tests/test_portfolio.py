"""evaluate.py fills the rendered README's results section, and leaves the rest of the README alone.

A smoke run's checkpoint fills it only when asked (report=true), and then says so above its table.

CITATION.cff, .pre-commit-config.yaml and the Makefile are checked with the other rendered files, in
test_render.py.
"""

import importlib
import json
import logging
import re
import shutil
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir

from .conftest import CAPSTONES

START, END = b"<!-- results:start -->", b"<!-- results:end -->"
# What each capstone's results section shows: the curves and the capstone's own pictures.
SHOWN = {
    "mnist": {"training_curves.png", "confusion_matrix.png", "mistakes.png"},
    "camvid": {"training_curves.png", "iou_per_class.png", "predictions.png"},
    "imdb": {"training_curves.png", "confusion_matrix.png", "examples.md"},
    "rl": {"returns.png", "agent.gif"},
}


@pytest.fixture(params=CAPSTONES)
def project(request, rendered, tmp_path):
    """(capstone, a copy of its rendered repo, its package imported in this process): the README may change."""
    capstone = request.param
    repo = shutil.copytree(rendered(capstone), tmp_path / "repo")
    name = next((repo / "src").iterdir()).name
    sys.path.insert(0, str(repo / "src"))
    yield capstone, repo, lambda module: importlib.import_module(f"{name}.{module}")
    sys.path.remove(str(repo / "src"))
    for loaded in [loaded for loaded in sys.modules if loaded.split(".")[0] == name]:
        del sys.modules[loaded]


def outside_and_inside(readme: bytes) -> tuple[bytes, bytes, bytes]:
    """The README before the section (start marker included), the section, and the rest (end marker on)."""
    assert readme.count(START) == readme.count(END) == 1
    head, rest = readme.split(START)
    section, tail = rest.split(END)
    return head + START, section, END + tail


def test_evaluate_fills_the_readme_results_and_a_second_run_replaces_them(project, tmp_path, caplog):
    capstone, repo, package = project
    run = repo / "runs" / "2025-01-31_12-00-00"
    readme = repo / "README.md"
    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        if capstone == "rl":
            package("training").train(compose("train", overrides=["debug=smoke"]), run)
        else:
            package("loop").train(compose("train", overrides=["debug=smoke", f"data.root={tmp_path / 'data'}"]), run)
        fast = ["episodes=2", "gif.max_frames=20"] if capstone == "rl" else []
        ckpt = [f"ckpt={run / 'checkpoints/best.pt'}", *fast]
        smoke_default = compose("eval", overrides=ckpt)  # report=auto
        eval_cfg = compose("eval", overrides=[*ckpt, "report=true"])  # asked for: a smoke run's figures, labelled
        no_report = compose("eval", overrides=[*ckpt, "plots=false", "report=false"])
        wrong = compose("eval", overrides=[*ckpt, "plots=false", "report=yes"])
    rendered = readme.read_bytes()
    head, placeholder, tail = outside_and_inside(rendered)
    assert b"No results yet" in placeholder

    package("evaluation").evaluate_checkpoint(no_report)  # report=false: the README stays as it is
    assert readme.read_bytes() == rendered and not (repo / "results").exists()
    (run / "metrics.json").unlink()
    with pytest.raises(package("plumbing.errors").UserError, match=r"^report=yes must be auto, true or false\.$"):
        package("evaluation").evaluate_checkpoint(wrong)
    assert not (run / "metrics.json").exists()  # said before the evaluation, not after it

    # A smoke run's checkpoint (fake data, or a few thousand RL steps): metrics.json and the pictures
    # beside the run, but the README's results are left alone, with one line saying why and what to add.
    for name in ("metrics.json", *SHOWN[capstone]):
        (run / name).unlink(missing_ok=True)
    with caplog.at_level(logging.INFO):
        package("evaluation").evaluate_checkpoint(smoke_default)
    assert readme.read_bytes() == rendered and not (repo / "results").exists()
    for name in ("metrics.json", *SHOWN[capstone]):
        assert (run / name).stat().st_size > 0, name
    said = [r.getMessage() for r in caplog.records if "README" in r.getMessage()]
    assert len(said) == 1 and "smoke run" in said[0] and "left alone" in said[0] and "report=true" in said[0]
    label = package("evaluation").SMOKE if capstone != "rl" else "These figures come from a smoke run"
    assert label.startswith("These figures come from") and label in said[0]

    package("evaluation").evaluate_checkpoint(eval_cfg)
    first = readme.read_bytes()
    assert outside_and_inside(first)[0] == head and outside_and_inside(first)[2] == tail  # byte for byte
    section = outside_and_inside(first)[1].decode()
    assert "`runs/2025-01-31_12-00-00` (checkpoint `best.pt`" in section and "No results yet" not in section
    assert section.lstrip().startswith(f"> **{label}") and section.count("smoke run") == 1  # labelled, first

    written = json.loads((run / "metrics.json").read_text())
    step = written.get("step", written.get("train/step"))
    assert f"step {step:,}" in section
    rows = dict(re.findall(r"^\| `([^`]+)` \| ([^ |]+) \|$", section, flags=re.MULTILINE))
    metrics = {k: v for k, v in written.items() if k not in ("checkpoint", "step", "train/step")}
    assert rows.keys() == metrics.keys() and metrics
    for key, value in metrics.items():
        assert float(rows[key]) == pytest.approx(value, rel=1e-3, abs=1e-4), key

    assert "](#try-it-in-a-browser)" in section and "\n## Try it in a browser\n" in readme.read_text()  # the demo
    links = re.findall(r"\]\(([^)#\s][^)\s]*)\)", section)  # the files it links to (not the README's headings)
    pictures = {link.removeprefix("results/") for link in links if link.startswith("results/") and link != "results/"}
    assert SHOWN[capstone] <= pictures
    for link in links:  # relative to the README, and in results/, which git tracks (runs/ it does not)
        assert (repo / link).exists(), link
        assert link.startswith("results/") and "/results/" not in (repo / ".gitignore").read_text()
    for name in pictures:
        assert (repo / "results" / name).read_bytes() == (run / name).read_bytes(), name

    # The section of an earlier run, with a picture this run does not make: replaced, not added to.
    (repo / "results/old_run.png").write_bytes(b"an earlier run's picture")
    readme.write_bytes(head + b"\nstale results ![old](results/old_run.png)\n" + tail)
    package("evaluation").evaluate_checkpoint(eval_cfg)
    assert readme.read_bytes() == first
    assert not (repo / "results/old_run.png").exists()

    # A screenshot of the demo page, saved as results/demo.png by hand: shown, and kept by the next evaluation.
    (repo / "results/demo.png").write_bytes(b"a screenshot")
    for _ in range(2):
        package("evaluation").evaluate_checkpoint(eval_cfg)
        assert "![the demo page](results/demo.png)" in outside_and_inside(readme.read_bytes())[1].decode()
    assert (repo / "results/demo.png").read_bytes() == b"a screenshot"
    (repo / "results/demo.png").unlink()

    # A run on the real data fills the section by default (report=auto), with no smoke label.
    readme.write_bytes(rendered)
    if capstone == "rl":  # the same checkpoint, its config without the smoke mark: the real environment
        real = repo / "runs" / "2025-01-31_13-00-00"
        shutil.copytree(run, real)
        state = torch.load(real / "checkpoints/best.pt", weights_only=True)
        del state["config"]["trainer"]["smoke"]
        torch.save(state, real / "checkpoints/best.pt")
        with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
            package("evaluation").evaluate_checkpoint(compose("eval", overrides=[f"ckpt={real}", *fast]))
    else:  # a real test split needs the real download: the step after evaluation, for a run that had it
        real = run
        package("plumbing.report").report_evaluation(run, run / "checkpoints/best.pt", "auto", smoke=None)
    section = outside_and_inside(readme.read_bytes())[1].decode()
    assert f"`{real.relative_to(repo).as_posix()}` (checkpoint `best.pt`" in section
    assert "smoke" not in section and "These figures come from" not in section

    # A README whose markers were deleted is left alone, with one line that says so.
    no_markers = first.replace(START, b"").replace(END, b"")
    readme.write_bytes(no_markers)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert package("plumbing.report").update_readme(run, run / "checkpoints/best.pt") is None
    assert readme.read_bytes() == no_markers
    assert [r.levelname for r in caplog.records if "results:start" in r.getMessage()] == ["WARNING"]


def test_a_run_outside_the_project_leaves_every_readme_alone(rendered, tmp_path):
    """Runs in a temporary folder (the repo's own tests make them) find no README above them."""
    repo = rendered("mnist")
    sys.path.insert(0, str(repo / "src"))
    try:
        report = importlib.import_module("mnist_digits.plumbing.report")
        run = tmp_path / "run"
        run.mkdir()
        (run / "metrics.json").write_text('{"test/acc": 0.5, "step": 3}')
        before = (repo / "README.md").read_bytes()
        assert report.update_readme(run, run / "checkpoints/best.pt") is None
        assert (repo / "README.md").read_bytes() == before and not (repo / "results").exists()
    finally:
        sys.path.remove(str(repo / "src"))
        for loaded in [loaded for loaded in sys.modules if loaded.split(".")[0] == "mnist_digits"]:
            del sys.modules[loaded]


@pytest.fixture
def package_of(rendered):
    """package_of(capstone)(module): a module of that capstone's rendered package, imported in this process."""
    names = []

    def get(capstone: str):
        repo = rendered(capstone)
        name = next((repo / "src").iterdir()).name
        sys.path.insert(0, str(repo / "src"))
        names.append((repo, name))
        return lambda module: importlib.import_module(f"{name}.{module}")

    yield get
    for repo, name in names:
        sys.path.remove(str(repo / "src"))
        for loaded in [loaded for loaded in sys.modules if loaded.split(".")[0] == name]:
            del sys.modules[loaded]


def test_the_loss_axis_reads_plain_numbers(package_of, tmp_path):
    """A smoke run's loss spans less than a decade: its log axis once read 2.425x10^0, 2.4x10^0, ..."""
    curves = package_of("mnist")("curves")
    (tmp_path / "metrics.csv").write_text(
        "step,train/loss,val/loss,val/acc\n1,2.4316,,\n2,2.333,,\n3,2.2427,2.2816,0.1406\n"
        + "".join(f"{step},{0.9 * 0.97**step:.5f},,\n" for step in range(4, 200))  # and then down to 0.002
    )
    for rows, expected in ((4, r"$\mathdefault{2.4}$"), (200, r"$\mathdefault{0.01}$")):
        csv = tmp_path / f"rows{rows}.csv"
        csv.write_text("\n".join((tmp_path / "metrics.csv").read_text().splitlines()[:rows]) + "\n")
        curves.plot_training_curves(csv, tmp_path / "curves.svg")  # SVG notes each label's text beside it
        labels = re.findall(r"<!-- (.*?) -->", (tmp_path / "curves.svg").read_text())
        assert expected in labels and not [label for label in labels if "times" in label or "^" in label], labels


def test_the_legend_of_the_learning_curve_lies_outside_the_axes(package_of, tmp_path, monkeypatch):
    """A rising curve ran under a legend in the lower right corner."""
    import matplotlib.pyplot as plt

    plots = package_of("rl")("plots")
    rows = "".join(f"{step},{20 + step // 50},,\n{step},,{step // 40},5\n" for step in range(1000, 21000, 1000))
    (tmp_path / "metrics.csv").write_text("step,train/episode_return,val/return_mean,val/return_std\n" + rows)
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # the figure as it was saved, kept for a look
    plots.plot_returns(tmp_path / "metrics.csv", tmp_path / "returns.png", 475.0, "PPO on CartPole-v1")
    (figure,) = figures
    (ax,) = figure.axes
    (legend,) = figure.legends + [legend for legend in [ax.get_legend()] if legend]
    renderer = figure.canvas.get_renderer()
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    assert {text.get_text() for text in legend.get_texts()} >= {"solved (475)"}
