"""What the benchmarks share: rendering the current template, its config and code, the real data."""

import contextlib
import csv
import importlib
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
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
    run = train_watched(repo, run_dir, overrides)
    return run.wall_s, run.peak_mib


@dataclass
class WatchedRun:
    """What `train_watched` saw of one `python train.py` process."""

    wall_s: float  # launch to exit
    peak_mib: float  # the process's peak resident memory
    target_s: float | None  # launch to the first metrics.csv row at or past the target; None: never reached


def train_watched(
    repo: Path, run_dir: Path, overrides: list[str], column: str | None = None, target: float | None = None
) -> WatchedRun:
    """`train_measured`, and while it runs, time-to-target: metrics.csv is read every POLL_S seconds
    and the first time a row holds `column` >= `target`, the seconds since launch are kept. That is
    the time a learner waits for the number, whatever the recipe does after it."""
    command = [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *overrides]
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    log_path = run_dir.parent / f"{run_dir.name}.log"
    target_s = None
    start = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
        # wait4 reaps the child and gives its own resource usage (peak RSS); WNOHANG: not yet ended.
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        while pid == 0 and column is not None and target_s is None:
            if reached(run_dir / "metrics.csv", column, target):
                target_s = time.perf_counter() - start
            else:
                time.sleep(POLL_S)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == 0:  # not watching, or the target is reached: wait for the end
            pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"train.py failed ({os.waitstatus_to_exitcode(status)}):\n" + log_path.read_text()[-3000:])
    if column is not None and target_s is None and reached(run_dir / "metrics.csv", column, target):
        target_s = seconds  # reached by the last row, written just before the process ended
    return WatchedRun(seconds, usage.ru_maxrss / 1024, target_s)  # Linux reports KiB


POLL_S = 0.2


def reached(metrics_csv: Path, column: str, target: float) -> bool:
    """Whether a row of `metrics_csv` holds `column` >= `target`; a file being written counts as not yet."""
    try:
        lines = metrics_csv.read_text().splitlines(keepends=True)
    except OSError:  # not there yet
        return False
    if lines and not lines[-1].endswith("\n"):
        lines.pop()  # half written: "0.99" could still read "0.9", "1e-05" could read "1"
    return any(float(row.get(column) or "-inf") >= target for row in csv.DictReader(lines))


def median_step_seconds(model, optimizer, task, batches, warmup: int, autocast=contextlib.nullcontext) -> float:
    """Median seconds of one full optimizer step (forward, loss, backward, update) over `batches`,
    after `warmup` untimed steps. `autocast` makes the forward's precision context."""
    times = []
    for index, (inputs, targets) in enumerate(batches):
        started = time.perf_counter()
        with autocast():
            loss, _ = task.loss(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if index >= warmup:
            times.append(time.perf_counter() - started)
    return statistics.median(times)
