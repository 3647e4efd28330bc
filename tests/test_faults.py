"""Faults a learner's machine inflicts on a run: a process killed outright, then resumed; runs started together."""

import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from .conftest import python_env, run_in_one_process

# Long enough that the kill lands mid-run, after the first end-of-epoch checkpoint (smoke data: seconds).
EPOCHS = {"mnist": 6, "camvid": 6, "imdb": 6}


def kill_after_first_checkpoint(repo, run_dir, *overrides) -> int:
    """Start a run, SIGKILL it (no chance to save anything) once its first checkpoint exists; the step saved."""
    command = [sys.executable, str(repo / "train.py"), f"hydra.run.dir={run_dir}", *overrides]
    process = subprocess.Popen(command, cwd=run_dir.parent, env=python_env(repo), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints/last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, f"the run ended (exit code {process.returncode}) before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    return torch.load(run_dir / "checkpoints/last.pt", weights_only=True)["step"]


def train_one_after_another(repo, *runs: tuple) -> None:
    """Train each (run_dir, overrides) in turn in one Python process, as train.py's main with its own argv.

    The runs share no state but what they read from disk: the uninterrupted run first, then the
    resumed ones, which must load everything they go on with from their checkpoint. (Resuming the same
    checkpoint twice in one process, as the RL test does, gives the same run only if they do.)
    """
    commands = [[str(repo / "train.py"), f"hydra.run.dir={run_dir}", *overrides] for run_dir, overrides in runs]
    for status, output in run_in_one_process(commands, cwd=runs[0][0].parent, env=python_env(repo)):
        assert status == 0, output[-3000:]


@pytest.mark.parametrize(
    ("capstone", "engine"), [("mnist", "pytorch"), ("camvid", "pytorch"), ("imdb", "pytorch"), ("mnist", "lightning")]
)
def test_a_run_killed_after_its_first_checkpoint_resumes_to_the_same_model(rendered, tmp_path, capstone, engine):
    """SIGKILL (no chance to save anything) after the first checkpoint; resume; bit for bit the uninterrupted run."""
    repo = rendered(capstone, engine=engine)
    same = ["debug=smoke", f"data.root={tmp_path / 'data'}", "trainer.max_steps=null", "logger.progress_bar=false"]
    same.append(f"trainer.max_epochs={EPOCHS[capstone]}")
    killed = tmp_path / "killed"
    interrupted_at = kill_after_first_checkpoint(repo, killed, *same)
    train_one_after_another(repo, (tmp_path / "straight", same), (killed, [*same, f"resume={killed}"]))

    a, b = (torch.load(run / "checkpoints/last.pt", weights_only=True) for run in (tmp_path / "straight", killed))
    assert 0 < interrupted_at < a["step"] == b["step"]
    # best.pt holds what evaluate.py reads, not the optimizer's state that only resuming needs.
    best = torch.load(tmp_path / "straight/checkpoints/best.pt", weights_only=True)
    assert "optimizer" not in best and "optimizer_states" not in best and {"model", "config"} <= best.keys()
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    # metrics.csv too: the rows the killed run wrote after its checkpoint were dropped and written again.
    assert (tmp_path / "straight/metrics.csv").read_text() == (killed / "metrics.csv").read_text()


# RL runs long enough that the kill lands after the first evaluation's checkpoint (every 1024 steps).
RL_STEPS = {"ppo": 3072, "dqn": 3072}


def metrics_rows(run_dir, up_to_step: int) -> list[dict]:
    """metrics.csv's rows up to a step, without train/sps (steps per second: the clock, not the seed)."""
    with open(run_dir / "metrics.csv", newline="") as file:
        rows = [row for row in csv.DictReader(file) if int(row["step"]) <= up_to_step]
    return [{key: value for key, value in row.items() if key != "train/sps"} for row in rows]


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_a_killed_rl_run_resumes_within_its_stated_tolerance(rendered, tmp_path, algo):
    """RL's tolerance: a resumed run is NOT bit for bit the uninterrupted one, but it is deterministic.

    Resuming restores the networks, the optimizer, the random states and (DQN, with
    algo.save_replay_buffer=true) the replay buffer, but the environments start new episodes, seeded
    at seed + step, instead of the episodes that were cut off. So what holds after a SIGKILL and
    resume=true is: the run ends at the same step as the uninterrupted one; metrics.csv up to the
    checkpoint is the uninterrupted run's, row for row (train/sps aside); and resuming the same
    checkpoint twice gives bitwise the same final networks and metrics.
    """
    repo = rendered("rl")
    same = ["debug=smoke", f"algo={algo}", f"trainer.total_steps={RL_STEPS[algo]}", "trainer.eval_every=1024"]
    if algo == "dqn":
        same.append("algo.save_replay_buffer=true")
    killed, again = tmp_path / "killed", tmp_path / "killed_again"
    interrupted_at = kill_after_first_checkpoint(repo, killed, *same)
    if algo == "dqn":  # what lets DQN go on learning at once, not first refill its memory
        assert "replay_buffer" in torch.load(killed / "checkpoints/last.pt")
    shutil.copytree(killed, again)  # the same checkpoint (and metrics.csv), resumed a second time below
    resumed = [(run, [*same, f"resume={run}"]) for run in (killed, again)]
    train_one_after_another(repo, (tmp_path / "straight", same), *resumed)

    straight, a, b = (torch.load(run / "checkpoints/last.pt") for run in (tmp_path / "straight", killed, again))
    assert 0 < interrupted_at < straight["step"] == a["step"] == b["step"]
    assert metrics_rows(killed, interrupted_at) == metrics_rows(tmp_path / "straight", interrupted_at)
    for key in ("model", "target_model") if algo == "dqn" else ("model",):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name}"
    assert metrics_rows(killed, a["step"]) == metrics_rows(again, b["step"])
    steps = [int(row["step"]) for row in metrics_rows(killed, a["step"])]
    assert steps == sorted(steps)  # the resumed run went on from its checkpoint, not from step 0


def test_runs_started_together_get_a_folder_each_and_a_failed_one_leaves_none(rendered, tmp_path):
    """Two runs started at the same moment (different seeds) and a third that fails before training (its
    data.root is a file): two folders, each holding one run's files only, and one sentence for the third."""
    repo = rendered("mnist")
    (tmp_path / "not_a_folder").write_text("")
    common = [sys.executable, str(repo / "train.py"), "debug=smoke", "logger.progress_bar=false"]
    runs = [[*common, f"data.root={tmp_path / 'data'}", f"seed={seed}"] for seed in (1, 2)]  # one data folder
    runs.append([*common, f"data.root={tmp_path / 'not_a_folder'}"])
    processes = [
        subprocess.Popen(run, cwd=tmp_path, env=python_env(repo), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for run in runs
    ]
    outputs = [process.communicate(timeout=300)[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 1], outputs
    assert "not_a_folder is a file where a folder must be" in outputs[2] and "Traceback" not in outputs[2]

    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2  # not one folder of both runs' files, and none of the failed run
    seeds = []
    for folder in folders:
        overrides = (folder / ".hydra/overrides.yaml").read_text()
        seed = int(overrides.split("seed=")[1].split()[0])
        assert f"seed: {seed}" in (folder / "config.yaml").read_text()  # its own config, not the other run's
        assert torch.load(folder / "checkpoints/last.pt", weights_only=True)["config"]["seed"] == seed
        seeds.append(seed)
    assert sorted(seeds) == [1, 2]
