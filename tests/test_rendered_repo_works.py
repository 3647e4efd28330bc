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
def mnist_package(mnist_repo):
    """The rendered package, imported in this process (faster than a new Python for each step)."""
    sys.path.insert(0, str(mnist_repo / "src"))
    yield lambda module: importlib.import_module(f"mnist_digits.{module}")
    sys.path.remove(str(mnist_repo / "src"))
    for name in [name for name in sys.modules if name.split(".")[0] == "mnist_digits"]:
        del sys.modules[name]


def test_smoke_training_then_evaluation_in_process(mnist_repo, mnist_package, tmp_path):
    with initialize_config_dir(config_dir=str(mnist_repo / "configs"), version_base="1.3"):
        train_cfg = compose("train", overrides=["debug=smoke", f"data.root={tmp_path / 'data'}"])
        eval_cfg = compose("eval", overrides=[f"ckpt={tmp_path / 'run/checkpoints/best.pt'}"])
    summary = mnist_package("loop").train(train_cfg, tmp_path / "run")
    metrics = mnist_package("evaluation").evaluate_checkpoint(eval_cfg)

    assert summary["step"] == 3 and math.isfinite(summary["val/loss"])
    assert json.loads((tmp_path / "run/metrics.json").read_text())["test/acc"] == metrics["test/acc"]


def test_the_rendered_repos_own_tests_pass(mnist_repo):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=mnist_repo,
        env=python_env(mnist_repo),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
