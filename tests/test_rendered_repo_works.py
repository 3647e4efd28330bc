"""The rendered repo trains and evaluates (in this process), and its own test suite passes."""

import importlib
import json
import math
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from .conftest import python_env


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


def test_the_rendered_repos_own_tests_pass(capstone_repo):
    _, repo = capstone_repo
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repo,
        env=python_env(repo),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
