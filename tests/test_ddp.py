"""trainer=ddp: processes started by torchrun train one model, as one process would on the same global batch."""

import csv
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from .conftest import python_env

# Two processes with batches of 32 against one process with batches of 64: the same 64 digits per step,
# so the same gradients up to the order of float additions. After 16 AdamW steps the weights differed by
# 2.4e-7 at most (torch 2.13, CPU); the tolerance leaves room for other builds' kernels.
WEIGHT_TOLERANCE = 1e-5
METRIC_TOLERANCE = 1e-4  # metrics.csv keeps 6 significant digits
# The MLP has no BatchNorm (whose statistics would be per process) and, with dropout 0, no randomness.
# Full precision: in bf16 (mnist's precision=auto on a CPU that has it) halves of a batch round otherwise.
SAME_RUN = [
    "debug=smoke",
    "model=mlp",
    "model.dropout=0.0",
    "trainer.max_steps=null",
    "trainer.max_epochs=2",
    "trainer.precision=32",
]


def torchrun(processes: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]


def run(repo, *args, cwd, processes: int = 0) -> subprocess.CompletedProcess:
    """python train.py ARGS, or with `processes`, torchrun --nproc_per_node=PROCESSES train.py ARGS."""
    command = [*(torchrun(processes) if processes else [sys.executable]), str(repo / "train.py"), *args]
    result = subprocess.run(command, cwd=cwd, env=python_env(repo), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def rows(run_dir) -> list[dict]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [{key: float(value) for key, value in row.items() if value} for row in csv.DictReader(f)]


@pytest.mark.parametrize("engine", ["pytorch", "lightning"])
def test_two_processes_train_like_one_on_the_same_global_batch_and_resume_under_torchrun(rendered, tmp_path, engine):
    """The plain loop's DDP, and Lightning's DDP strategy (engine=lightning), under the same torchrun command."""
    repo = rendered("mnist", engine=engine)
    data = f"data.root={tmp_path / 'data'}"
    run(repo, *SAME_RUN, data, "data.batch_size=64", "hydra.run.dir=single", cwd=tmp_path)
    # Two processes of 32 each: stopped after the first of the two epochs, then resumed (resume=true: runs/).
    run(repo, "trainer=ddp", *SAME_RUN, data, "data.batch_size=32", "trainer.max_steps=8", cwd=tmp_path, processes=2)
    run(repo, "trainer=ddp", *SAME_RUN, data, "data.batch_size=32", "resume=true", cwd=tmp_path, processes=2)

    (ddp,) = (tmp_path / "runs").iterdir()  # both processes chose the same run folder, and resumed it
    single = tmp_path / "single"
    a = torch.load(single / "checkpoints/last.pt", weights_only=True)
    b = torch.load(ddp / "checkpoints/last.pt", weights_only=True)
    assert a["step"] == b["step"] == 16 and b["world_size"] == 2 and len(b["rng"]) == 2
    assert a["model"].keys() == b["model"].keys()  # the model itself was saved, not its DDP wrapper ("module.")
    difference = max((a["model"][name] - b["model"][name]).abs().max().item() for name in a["model"])
    assert difference < WEIGHT_TOLERANCE, difference

    # One writer: every step once, the training loss of all 64 digits, and the validation of all of them.
    one, two = rows(single), rows(ddp)
    assert [row["step"] for row in two] == [row["step"] for row in one] == [*range(1, 9), 8, *range(9, 17), 16]
    for x, y in zip(one, two, strict=True):
        assert x.keys() == y.keys()
        for key in x.keys() - {"epoch", "step", "lr"}:
            assert abs(x[key] - y[key]) < METRIC_TOLERANCE, (x["step"], key, x[key], y[key])
    summary = json.loads((ddp / "summary.json").read_text())
    assert summary["step"] == 16 and summary["val/acc"] == two[-1]["val/acc"]
    assert (ddp / "config.yaml").is_file() and (ddp / "checkpoints/best.pt").is_file()


def test_ctrl_c_under_torchrun_stops_every_process_at_the_same_step_and_saves(rendered, tmp_path):
    """torchrun passes Ctrl-C on to each process, which may be at another step: they agree, then rank 0 saves."""
    repo = rendered("mnist")
    args = ["trainer=ddp", "debug=smoke", f"data.root={tmp_path / 'data'}", "trainer.max_steps=null"]
    command = [*torchrun(2), str(repo / "train.py"), *args, "trainer.max_epochs=500", "hydra.run.dir=run"]
    training = subprocess.Popen(
        command, cwd=tmp_path, env=python_env(repo), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    metrics = tmp_path / "run/metrics.csv"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 12) and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until training is under way
    training.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends to torchrun
    output, _ = training.communicate(timeout=60)  # torchrun itself gives up on its processes after 30 s

    assert "Continue with: torchrun --nproc_per_node=2 train.py resume=" in output, output[-5000:]
    assert output.count("Stopping after this step") == 1  # one process speaks for all
    step = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["step"]
    assert step > 8 and step == int(metrics.read_text().splitlines()[-1].split(",")[1])
