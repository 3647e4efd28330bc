"""engine=lightning: the same repo plus a LightningModule, the same contract, the same numbers as the plain loop."""

import importlib
import json
import math
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir

from .conftest import BEFORE_THE_CAPSTONE, assert_own_tests_pass
from .test_render import FILES

SUPERVISED = ("mnist", "camvid", "imdb")
# The keys of metrics.json that DESIGN.md promises, whichever engine trained the checkpoint.
CONTRACT = {
    "mnist": {"test/acc", "test/loss"},
    "camvid": {"test/miou", "test/pixel_acc", "test/class_acc", "test/loss"},
    "imdb": {"test/acc", "test/loss"},
}
ENGINE_FILES = ("lightning_module.py", "lightning_train.py")


@pytest.fixture
def lightning_repo(rendered):
    """lightning_repo(capstone): that capstone's preset rendered with engine=lightning, once per session."""
    return lambda capstone: rendered(capstone, engine="lightning")


@pytest.fixture
def imported():
    """imported(repo, module): a module of a rendered package, imported in this process and forgotten after."""
    added = {}

    def load(repo, module: str):
        package, src = package_of(repo), str(repo / "src")
        if src not in sys.path:
            sys.path.insert(0, src)
            added[src] = package
        return importlib.import_module(f"{package}.{module}")

    yield load
    for src, package in added.items():
        sys.path.remove(src)
        for loaded in [loaded for loaded in sys.modules if loaded.split(".")[0] == package]:
            del sys.modules[loaded]


def package_of(repo) -> str:
    return next((repo / "src").iterdir()).name


def compose_train(repo, *overrides: str):
    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        return compose("train", overrides=["debug=smoke", "logger.progress_bar=false", *overrides])


@pytest.mark.parametrize("capstone", SUPERVISED)
def test_the_lightning_engine_adds_its_two_files_and_its_dependency(lightning_repo, rendered, capstone):
    repo = lightning_repo(capstone)
    package = package_of(repo)
    files = {str(path.relative_to(repo)) for path in repo.rglob("*") if path.is_file()}
    assert files == FILES[capstone] | {f"src/{package}/{name}" for name in ENGINE_FILES}
    assert f"from {package}.lightning_train import train" in (repo / "train.py").read_text()
    assert "pytorch-lightning" in (repo / "pyproject.toml").read_text()
    assert "pytorch-lightning" not in (rendered(capstone) / "pyproject.toml").read_text()  # engine=pytorch
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", "."], cwd=repo, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("capstone", SUPERVISED)
def test_lightning_smoke_training_then_evaluation_keeps_the_contract(lightning_repo, imported, tmp_path, capstone):
    repo = lightning_repo(capstone)
    cfg = compose_train(repo, f"data.root={tmp_path / 'data'}")
    summary = imported(repo, "lightning_train").train(cfg, tmp_path / "run")
    task = imported(repo, "task").Task
    assert summary["step"] == 3 and math.isfinite(summary[f"best/{task.monitor}"])
    for name in ("config.yaml", "metrics.csv", "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (tmp_path / "run" / name).is_file(), name

    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        eval_cfg = compose("eval", overrides=[f"ckpt={tmp_path / 'run/checkpoints/best.pt'}", "plots=false"])
    metrics = imported(repo, "evaluation").evaluate_checkpoint(eval_cfg)
    written = json.loads((tmp_path / "run/metrics.json").read_text())
    assert CONTRACT[capstone] <= set(metrics) and task.monitor.replace("val/", "test/") in metrics
    assert written["step"] == 3 and all(math.isfinite(written[key]) for key in CONTRACT[capstone])


def test_both_engines_train_the_same_weights(lightning_repo, imported, tmp_path):
    """Same model, data, seed and steps: Lightning's steps are the plain loop's steps (on a CPU, bit for bit)."""
    repo = lightning_repo("mnist")
    overrides = (f"data.root={tmp_path / 'data'}", "trainer.max_steps=null", "trainer.max_epochs=2")
    plain = imported(repo, "loop").train(compose_train(repo, *overrides), tmp_path / "plain")
    lightning = imported(repo, "lightning_train").train(compose_train(repo, *overrides), tmp_path / "lightning")

    a, b = (torch.load(tmp_path / run / "checkpoints/last.pt", weights_only=True) for run in ("plain", "lightning"))
    assert a["step"] == b["step"] == plain["step"] == lightning["step"] > 0
    for name, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][name], tensor, rtol=0, atol=1e-6, msg=name)
    assert plain["val/acc"] == pytest.approx(lightning["val/acc"]) and plain["val/loss"] == pytest.approx(
        lightning["val/loss"], rel=1e-5
    )


@pytest.mark.slow
def test_the_lightning_repos_own_training_and_command_tests_pass(lightning_repo, tmp_path):
    """Its tests/ run its train.py and Lightning: resume, Ctrl-C, NaN, early stopping, bad settings.

    Left out: logger=wandb with Lightning (tests/test_wandb.py runs it), and the command tests that
    end before the engine is chosen (a mistyped or ill-typed override, an unknown config option,
    evaluate.py without a checkpoint, resume=true without a run): the plain engine's render runs those
    same lines of train.py and evaluate.py, and here they would only cost a process each. And
    resume=true after a finished run: tests/test_ddp.py resumes a Lightning run with that same
    command under torchrun, and tests/test_faults.py one that was killed.
    """
    repo = lightning_repo("mnist")
    before_the_engine = [name for name in BEFORE_THE_CAPSTONE if name != "ctrl_c_before_training_begins"]
    selection = " and ".join(f"not {name}" for name in ("wandb", *before_the_engine, "resume_true_continues"))
    own_tests = ["tests/test_training.py", "tests/test_commands.py", "-k", selection]
    assert_own_tests_pass(repo, *own_tests, basetemp=tmp_path / "own-tests")
