"""The rendered repo trains and evaluates (in this process), and its own test suite passes."""

import csv
import importlib
import json
import math
import shutil
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from .conftest import BEFORE_THE_CAPSTONE, THE_LOOPS_OWN, assert_own_tests_pass, python_env


@pytest.fixture
def package(capstone_repo):
    """The rendered package, imported in this process (faster than a new Python for each step)."""
    capstone, repo = capstone_repo
    name = next((repo / "src").iterdir()).name
    sys.path.insert(0, str(repo / "src"))
    yield lambda module: importlib.import_module(f"{name}.{module}")
    sys.path.remove(str(repo / "src"))
    for loaded in [loaded for loaded in sys.modules if loaded.split(".")[0] == name]:
        del sys.modules[loaded]


def test_smoke_training_then_evaluation_in_process(capstone_repo, package, tmp_path):
    capstone, repo = capstone_repo
    data = [] if capstone == "rl" else [f"data.root={tmp_path / 'data'}"]
    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        train_cfg = compose("train", overrides=["debug=smoke", *data])
        eval_cfg = compose("eval", overrides=[f"ckpt={tmp_path / 'run/checkpoints/best.pt'}"])
    if capstone == "rl":  # an agent: environment steps, then greedy evaluation episodes
        summary = package("training").train(train_cfg, tmp_path / "run")
        assert summary["step"] == train_cfg.trainer.total_steps and math.isfinite(summary["best"])
        monitored = "eval/return_mean"
    else:
        summary = package("loop").train(train_cfg, tmp_path / "run")
        assert summary["step"] == 3 and math.isfinite(summary["val/loss"])
        monitored = package("task").Task.monitor.replace("val/", "test/")
    metrics = package("evaluation").evaluate_checkpoint(eval_cfg)
    written = json.loads((tmp_path / "run/metrics.json").read_text())
    assert written[monitored] == metrics[monitored] and math.isfinite(metrics[monitored])


@pytest.mark.slow
def test_the_rendered_repos_own_tests_pass_in_a_fresh_git_repo(capstone_repo, tmp_path):
    """copier copy, git init && git add -A && git commit, pytest: it passes and leaves git clean.

    The supervised renders share tests/test_commands.py. The mnist render runs all of it; camvid and
    imdb leave out the command tests that run the same lines of train.py and evaluate.py whatever the
    capstone (BEFORE_THE_CAPSTONE, THE_LOOPS_OWN) and demo.py's without Gradio, where they would only
    cost a process each, and the smoke-train-then-evaluate one: tests/test_readme_commands.py runs
    their train.py, evaluate.py and predict.py as processes, and the mnist render the lines of that
    test that are the same for all.
    """
    capstone, rendered = capstone_repo
    repo = shutil.copytree(rendered, tmp_path / rendered.name, ignore=shutil.ignore_patterns("__pycache__"))
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "My capstone"]):
        subprocess.run(["git", *command], cwd=repo, check=True, capture_output=True)
    same_everywhere = (*BEFORE_THE_CAPSTONE, *THE_LOOPS_OWN, "train_smoke_then_evaluate", "without_gradio")
    selection = {
        "mnist": [],
        # RL's resume=true after a finished run: the README's resume=true line runs it (test_readme_commands),
        # and tests/test_faults.py resumes RL runs that were killed, and checks their metrics. PPO on Atari:
        # the README's experiment=atari line trains it; the DQN recipe's test evaluates an Atari checkpoint.
        # demo.py without Gradio: the same lines in every render, run in the mnist one.
        "rl": ["-k", "not resume_true_continues and not atari-extra0 and not without_gradio"],
    }.get(capstone, ["-k", " and ".join(f"not {t}" for t in same_everywhere)])
    assert_own_tests_pass(repo, *selection, basetemp=tmp_path / "own-tests")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert status == "", status  # the tests wrote nothing into the repo that git would pick up


@pytest.mark.parametrize(("capstone", "sweep"), [("mnist", "optim.lr=0.001,0.0003"), ("rl", "seed=1,2")])
def test_a_multirun_sweep_writes_a_folder_per_run_and_a_summary_table(rendered, tmp_path, capstone, sweep):
    repo = rendered(capstone)
    data = [f"data.root={tmp_path / 'data'}"] if capstone != "rl" else []
    command = [sys.executable, "train.py", "-m", "debug=smoke", sweep, *data, f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    result = subprocess.run(command, cwd=repo, env=python_env(repo), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    with (tmp_path / "sweep/sweep_summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["run"] for row in rows] == ["0", "1"]
    key, values = sweep.split("=")
    assert all(f"{key}={value}" in row["overrides"].split() for row, value in zip(rows, values.split(","), strict=True))
    (monitored,) = [key for key in rows[0] if key.startswith("best/")]
    assert all(math.isfinite(float(row[monitored])) for row in rows)
    assert (tmp_path / "sweep/0/checkpoints/best.pt").is_file() and (tmp_path / "sweep/sweep_summary.md").is_file()


def test_a_failing_run_does_not_end_the_sweep(rendered, tmp_path):
    repo = rendered("rl")
    sweep = ["-m", "debug=smoke", "trainer.eval_every=0,1024", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    command = [sys.executable, "train.py", *sweep]
    result = subprocess.run(command, cwd=repo, env=python_env(repo), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "trainer.eval_every=0 must be a whole number of at least 1" in result.stdout + result.stderr

    with (tmp_path / "sweep/sweep_summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(row["run"], row["step"]) for row in rows] == [("0", ""), ("1", "2048")]
    assert "| 0 |  |  | failed |" in (tmp_path / "sweep/sweep_summary.md").read_text()
