"""The commands a learner types, run as they would run them (one process each)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = next(path.name for path in (ROOT / "src").iterdir() if (path / "__init__.py").is_file())


def run(*args: str, cwd: Path, unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`python *args` in `cwd`, without the environment variables `unset`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # works without `pip install -e .` too
    env = {key: value for key, value in env.items() if key not in unset}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def run_noting_torch(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `script` as a learner does; its output ends with whether PyTorch was loaded ("torch loaded: ...")."""
    code = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('torch loaded:', 'torch' in sys.modules))\n"
        f"sys.argv = [{script!r}, *{list(args)!r}]\n"
        f"runpy.run_path({str(ROOT / script)!r}, run_name='__main__')\n"
    )
    return run("-c", code, cwd=cwd)


def run_interrupted(script: str, module: str, function: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `script` as a learner does, with a real Ctrl-C (SIGINT) arriving as `module.function` starts."""
    code = (
        "import os, runpy, signal, sys, time\n"
        f"import {PACKAGE}.{module} as module\n"
        "def interrupted(*args, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(30)  # the signal's KeyboardInterrupt ends this at once\n"
        f"module.{function} = interrupted\n"
        f"sys.argv = [{script!r}, *{list(args)!r}]\n"
        f"runpy.run_path({str(ROOT / script)!r}, run_name='__main__')\n"
    )
    return run("-c", code, cwd=cwd)


def test_train_smoke_then_evaluate(tmp_path):
    # Start-up stays fast: a smoke run loads matplotlib, wandb and Pillow only when it uses them.
    heavy = ("matplotlib", "wandb", "PIL")
    code = (
        "import runpy, sys\n"
        "sys.argv = ['train.py', 'debug=smoke', 'hydra.run.dir=run']\n"
        f"runpy.run_path({str(ROOT / 'train.py')!r}, run_name='__main__')\n"
        f"print('loaded:', sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    trained = run("-c", code, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "loaded: []" in trained.stdout
    assert (tmp_path / "run/checkpoints/best.pt").is_file()
    # The last lines say where the run is and what to do next, as in the supervised capstones.
    assert f"Run folder: {tmp_path / 'run'}" in trained.stdout
    assert f"Next: python evaluate.py ckpt={tmp_path / 'run/checkpoints/best.pt'}" in trained.stdout

    stopped = run_interrupted("evaluate.py", "evaluation", "evaluate_checkpoint", "ckpt=run", cwd=tmp_path)
    assert stopped.returncode == 130, stopped.stderr
    assert "Stopped by Ctrl-C before the evaluation finished" in stopped.stderr and "Traceback" not in stopped.stderr
    assert not (tmp_path / "run/metrics.json").exists()

    # As on a machine without a display (CI, a server), where pygame's SDL printed an error on success.
    headless = ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "SDL_VIDEODRIVER")
    evaluated = run(
        str(ROOT / "evaluate.py"), "ckpt=run", "episodes=2", "gif.max_frames=10", cwd=tmp_path, unset=headless
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "XDG_RUNTIME_DIR" not in evaluated.stderr, evaluated.stderr
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["eval/episodes"] == 2 and "eval/return_std" in metrics
    assert (tmp_path / "run/agent.gif").is_file() and (tmp_path / "run/returns.png").is_file()


def test_ctrl_c_before_training_begins_is_one_line_and_status_130(tmp_path):
    stopped = run_interrupted("train.py", "training", "train", "debug=smoke", "hydra.run.dir=run", cwd=tmp_path)
    assert stopped.returncode == 130, stopped.stderr
    assert "Stopped by Ctrl-C; the checkpoints saved before it are complete." in stopped.stderr
    assert "Traceback" not in stopped.stdout + stopped.stderr


def test_an_appended_key_that_nothing_reads_is_refused(tmp_path):
    result = run(str(ROOT / "train.py"), "debug=smoke", "+algo.lrr=0.1", "hydra.run.dir=run", cwd=tmp_path)
    output = result.stdout + result.stderr
    message = "+algo.lrr=0.1 is not a setting, so nothing would read it; write algo.lr=0.1 if that was meant"
    assert result.returncode == 1 and message in output and "Traceback" not in output, output
    assert not (tmp_path / "run/metrics.csv").exists()


def test_a_mistyped_override_fails_with_a_message_before_pytorch_loads(tmp_path):
    # train.py checks the command first, so a typo costs well under a second, not PyTorch's start-up.
    result = run_noting_torch("train.py", "debug=smoke", "trainer.total_step=3", cwd=tmp_path)
    assert result.returncode == 1 and "trainer.total_step" in result.stderr, result.stderr
    assert "torch loaded: False" in result.stdout
    assert not (tmp_path / "runs").exists()


def test_a_bad_number_is_one_sentence_not_a_traceback(tmp_path):
    # One bad value as a learner meets it (test_training.py checks the others in-process).
    result = run(str(ROOT / "train.py"), "debug=smoke", "algo.lr=nan", "hydra.run.dir=run", cwd=tmp_path)
    output = result.stdout + result.stderr
    message = "algo.lr=nan must be a finite number above 0."  # not torch's "Invalid learning rate"
    assert result.returncode == 1 and message in output and "Traceback" not in output, output
    assert not (tmp_path / "run/metrics.csv").exists()


def test_evaluate_without_a_checkpoint_says_so(tmp_path):
    # A mistake evaluate.py prints as one sentence (test_training.py checks the others in-process).
    result = run_noting_torch("evaluate.py", cwd=tmp_path)
    assert result.returncode == 1 and "torch loaded: False" in result.stdout  # checked first: an instant answer
    assert "Pass ckpt=PATH" in result.stderr and "Traceback" not in result.stderr


def test_resume_true_continues_the_latest_run_in_its_own_folder(tmp_path):
    first = run(str(ROOT / "train.py"), "debug=smoke", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    resumed = run(str(ROOT / "train.py"), "debug=smoke", "resume=true", "trainer.total_steps=4096", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr

    (run_dir,) = (tmp_path / "runs").iterdir()
    evaluated_at = [row.split(",")[0] for row in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert evaluated_at[-1] == "4096" and evaluated_at == sorted(evaluated_at, key=int)


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_continue(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, str(ROOT / "train.py"), "debug=smoke", "trainer.total_steps=10000000"]
    training = subprocess.Popen(
        [*command, "hydra.run.dir=run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = tmp_path / "run/metrics.csv"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 3) and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until training is under way
    training.send_signal(signal.SIGINT)
    output, _ = training.communicate(timeout=120)

    assert training.returncode == 130, output
    assert "Traceback" not in output
    # The command that continues this run, with the overrides it started with.
    continued = f"Continue with: python train.py resume={tmp_path / 'run'} debug=smoke trainer.total_steps=10000000"
    assert continued in output
    import torch

    assert torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["step"] > 0
