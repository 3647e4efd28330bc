"""evaluate.py fills the rendered README's results section, and leaves the rest of the README alone.

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
        eval_cfg = compose("eval", overrides=ckpt)
        no_report = compose("eval", overrides=[*ckpt, "plots=false", "report=false"])
    rendered = readme.read_bytes()
    head, placeholder, tail = outside_and_inside(rendered)
    assert b"No results yet" in placeholder

    package("evaluation").evaluate_checkpoint(no_report)  # report=false: the README stays as it is
    assert readme.read_bytes() == rendered and not (repo / "results").exists()

    package("evaluation").evaluate_checkpoint(eval_cfg)
    first = readme.read_bytes()
    assert outside_and_inside(first)[0] == head and outside_and_inside(first)[2] == tail  # byte for byte
    section = outside_and_inside(first)[1].decode()
    assert "`runs/2025-01-31_12-00-00` (checkpoint `best.pt`" in section and "No results yet" not in section

    written = json.loads((run / "metrics.json").read_text())
    step = written.get("step", written.get("train/step"))
    assert f"step {step:,}" in section
    rows = dict(re.findall(r"^\| `([^`]+)` \| ([^ |]+) \|$", section, flags=re.MULTILINE))
    metrics = {k: v for k, v in written.items() if k not in ("checkpoint", "step", "train/step")}
    assert rows.keys() == metrics.keys() and metrics
    for key, value in metrics.items():
        assert float(rows[key]) == pytest.approx(value, rel=1e-3, abs=1e-4), key

    links = re.findall(r"\]\(([^)\s]+)\)", section)
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

    # A README whose markers were deleted is left alone, with one line that says so.
    no_markers = first.replace(START, b"").replace(END, b"")
    readme.write_bytes(no_markers)
    with caplog.at_level(logging.INFO):
        assert package("report").update_readme(run, run / "checkpoints/best.pt") is None
    assert readme.read_bytes() == no_markers
    assert [r.levelname for r in caplog.records if "results:start" in r.getMessage()] == ["WARNING"]


def test_a_run_outside_the_project_leaves_every_readme_alone(rendered, tmp_path):
    """Runs in a temporary folder (the repo's own tests make them) find no README above them."""
    repo = rendered("mnist")
    sys.path.insert(0, str(repo / "src"))
    try:
        report = importlib.import_module("mnist_digits.report")
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
