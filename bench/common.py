"""What the benchmarks share: rendering the current template, its config and code, the real data."""

import contextlib
import importlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parent.parent
# Real MNIST training files, beside this checkout on the development machines (never used by tests).
DEFAULT_MNIST = REPO.parent / "shared" / "datasets" / "mnist" / "raw"
DEFAULT_CAMVID = REPO.parent / "shared" / "datasets" / "camvid"
DEFAULT_IMDB = REPO.parent / "shared" / "datasets" / "imdb" / "aclImdb_train.tar.gz"


def render(dest: Path, preset: str = "mnist", **answers: str) -> Path:
    """Render a preset from this checkout (uncommitted changes included) into `dest`, `answers` changed."""
    preset_file = REPO / f"presets/{preset}.yml"
    command = [sys.executable, "-m", "copier", "copy", "-q", "--defaults", "--vcs-ref", "HEAD"]
    command += ["--data-file", str(preset_file)]
    command += [f"--data={key}={value}" for key, value in answers.items()]
    subprocess.run([*command, str(REPO), str(dest)], check=True)
    return dest


def compose_train(repo: Path, overrides: list[str]):
    """The rendered repo's configs/train.yaml with `overrides`, as `python train.py` would compose it."""
    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        return compose("train", overrides=overrides)


def import_rendered(repo: Path, package: str, *modules: str):
    """Import modules of a rendered package in this process: the benchmarks time the real code."""
    if str(repo / "src") not in sys.path:
        sys.path.insert(0, str(repo / "src"))
    return [importlib.import_module(f"{package}.{module}") for module in modules]


def train_once(repo: Path, run_dir: Path, overrides: list[str]) -> float:
    """One `python train.py` in a fresh process, as a user runs it: its whole wall time in seconds."""
    return train_measured(repo, run_dir, overrides)[0]


def train_measured(repo: Path, run_dir: Path, overrides: list[str]) -> tuple[float, float]:
    """One `python train.py` in a fresh process: its wall time in seconds and its peak memory (RSS) in MiB.

    The output goes to <run_dir>.log (the progress bar stays off the terminal); a failed run ends
    the benchmark with the tail of that log.
    """
    command = [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *overrides]
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    log_path = run_dir.parent / f"{run_dir.name}.log"
    start = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # the child's own resource usage, peak RSS included
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"train.py failed ({os.waitstatus_to_exitcode(status)}):\n" + log_path.read_text()[-3000:])
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB


def median_step_seconds(model, optimizer, task, batches, warmup: int, autocast=contextlib.nullcontext) -> float:
    """Median seconds of one full optimizer step (forward, loss, backward, update) over `batches`,
    after `warmup` untimed steps. `autocast` makes the forward's precision context."""
    times = []
    for index, batch in enumerate(batches):
        started = time.perf_counter()
        with autocast():
            loss, _ = task.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if index >= warmup:
            times.append(time.perf_counter() - started)
    return statistics.median(times)
