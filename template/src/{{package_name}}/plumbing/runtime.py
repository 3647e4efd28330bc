"""Where and how a run computes: device, CPU threads, seeds; and how it stops."""

import math
import random
import shlex
import signal
from pathlib import Path

import numpy as np
import torch

from .errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    """`auto` takes the fastest device present: a CUDA GPU, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"trainer.device={name} is not a device name; use auto, cpu, cuda, cuda:1 or mps.") from None
    present = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not present.get(device.type, False):
        raise UserError(
            f"trainer.device={name}, but this machine has no {device.type} device; use trainer.device=auto."
        )
    return device


def set_cpu_threads(threads: int | None) -> None:
    """Use `threads` intra-op threads on the CPU; None keeps torch's choice.

    Small models on a busy machine often run faster on one thread than on all cores,
    because the threads wait for each other more than they compute: measure, do not guess.
    """
    if threads:
        torch.set_num_threads(int(threads))


def seed_everything(seed: int) -> None:
    """Seed every random number generator a run uses, so a CPU run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The state of every global generator, saved in checkpoints so a resumed run continues it."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),
        # As a tensor, so that checkpoints load with torch.load(weights_only=True).
        "numpy": (name, torch.from_numpy(keys.copy()), pos, has_gauss, cached_gaussian),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        # Under torchrun each process has one GPU of its own: touching the others would start CUDA on them.
        state["cuda"] = [torch.cuda.get_rng_state()] if in_process_group() else torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, keys.numpy(), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        if in_process_group():
            torch.cuda.set_rng_state(state["cuda"][0])  # this process's own GPU
        else:
            torch.cuda.set_rng_state_all(state["cuda"])


def in_process_group() -> bool:
    """Whether this process is one of several of a DDP run (trainer=ddp, under torchrun)."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def check_finite(loss: "float | torch.Tensor", step: int, checkpoints: Path, advice: str) -> None:
    """Stop a diverged run before it overwrites a good checkpoint with a broken one.

    The one check of every training loop of the project; `advice` says what to change.
    """
    loss = loss.item() if torch.is_tensor(loss) else loss  # reading a tensor waits for the device
    if not math.isfinite(loss):
        stop_diverged(f"The loss became {loss} by step {step}", checkpoints, advice)


def stop_diverged(what: str, checkpoints: Path, advice: str) -> None:
    """Raise the UserError of a diverged run: what happened, which checkpoint is still good, what to do."""
    kept = (
        f"the last good checkpoint is {checkpoints / 'last.pt'}"
        if (checkpoints / "last.pt").exists()
        else "no checkpoint was written"
    )
    raise UserError(f"{what}, so training stopped and {kept}; {advice}.")


def continue_command(launch: str, run_dir: str | Path) -> str:
    """The command that continues a stopped run: how it was started, resume= its folder, and the
    overrides it started with (a resumed run must have the same settings), from Hydra's record of them."""
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    if HydraConfig.initialized() and HydraConfig.get().job.name == "search":  # a trial: the search goes on
        return " ".join(["python search.py", *(shlex.quote(o) for o in overrides)])
    kept = [shlex.quote(o) for o in overrides if not o.lstrip("+~").startswith("resume=")]
    return " ".join([launch, f"resume={shlex.quote(str(run_dir))}", *kept])


class StopRequest:
    """Turns the first Ctrl-C (SIGINT) into a request to stop after the current step.

    The loop checks `requested` between steps, so it can save a consistent checkpoint before it
    ends; a second Ctrl-C interrupts at once, as usual (KeyboardInterrupt, and `interrupted` is set).
    """

    def __init__(self, announce: bool = True):
        self.requested = False
        self.interrupted = False
        self.announce = announce  # under torchrun every process gets the Ctrl-C; one of them says so

    def __enter__(self):
        self.requested = self.interrupted = False
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.requested:
            self.interrupted = True
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            print("\nStopping after this step (press Ctrl-C again to quit at once)...", flush=True)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
