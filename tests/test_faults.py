"""Faults a learner's machine inflicts on a run: a process killed outright, then resumed."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from .conftest import python_env

# Long enough that the kill lands mid-run, after the first end-of-epoch checkpoint (smoke data: seconds).
EPOCHS = {"mnist": 6, "camvid": 6, "imdb": 6}


def train(repo, run_dir, *overrides, background=False):
    command = [sys.executable, str(repo / "train.py"), f"hydra.run.dir={run_dir}", *overrides]
    if background:
        return subprocess.Popen(command, cwd=run_dir.parent, env=python_env(repo), stdout=subprocess.DEVNULL)
    result = subprocess.run(command, cwd=run_dir.parent, env=python_env(repo), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.parametrize(
    ("capstone", "engine"), [("mnist", "pytorch"), ("camvid", "pytorch"), ("imdb", "pytorch"), ("mnist", "lightning")]
)
def test_a_run_killed_after_its_first_checkpoint_resumes_to_the_same_model(rendered, tmp_path, capstone, engine):
    """SIGKILL (no chance to save anything) after the first checkpoint; resume; bit for bit the uninterrupted run."""
    repo = rendered(capstone, engine=engine)
    same = ["debug=smoke", f"data.root={tmp_path / 'data'}", "trainer.max_steps=null", "logger.progress_bar=false"]
    same.append(f"trainer.max_epochs={EPOCHS[capstone]}")
    train(repo, tmp_path / "straight", *same)

    killed = tmp_path / "killed"
    process = train(repo, killed, *same, background=True)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoints/last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    interrupted_at = torch.load(killed / "checkpoints/last.pt", weights_only=True)["step"]
    train(repo, killed, *same, f"resume={killed}")

    a, b = (torch.load(run / "checkpoints/last.pt", weights_only=True) for run in (tmp_path / "straight", killed))
    assert 0 < interrupted_at < a["step"] == b["step"]
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    # metrics.csv too: the rows the killed run wrote after its checkpoint were dropped and written again.
    assert (tmp_path / "straight/metrics.csv").read_text() == (killed / "metrics.csv").read_text()
