"""Checkpoints that survive a crash: atomic writes, and clear errors for files that are not ours."""

import pickle
from pathlib import Path

import torch

from .errors import UserError
from .files import atomic_write, file_system_error

# What only resuming needs: best.pt leaves it out, since evaluation reads the model, its config and
# data_state. Adam's two moments per weight make the optimizer state twice the model's size.
# optimizer_states and lr_schedulers are the same things under the names Lightning checkpoints use.
RESUME_ONLY = ("optimizer", "scheduler", "scaler", "rng", "optimizer_states", "lr_schedulers")
ZIP_MAGIC = b"PK\x03\x04"  # how every file torch.save writes begins


def save_checkpoint(state: dict, path: str | Path, *, resumable: bool = True) -> None:
    """Write `state` to `path` atomically: readers see the old file or the new one, never half.

    torch.save writes to a temporary file in the same folder, which is flushed to disk and
    then renamed over `path` (files.atomic_write). A failed write (a full disk, a lost network
    drive) stops the run with one sentence, and the previous file stays as it was.
    resumable=False leaves out what only resuming needs (RESUME_ONLY), as best.pt does.
    """
    path = Path(path)
    if not resumable:
        state = {key: value for key, value in state.items() if key not in RESUME_ONLY}
    try:
        atomic_write(path, lambda f: torch.save(state, f))
    except OSError as error:
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
        then = "resume the run" if (path.parent / "last.pt").exists() else "run again"
        raise file_system_error(error, f"write the checkpoint {path}", path=path, kept=kept, then=then) from error


def load_checkpoint(path: str | Path, capstone: str, *, to_resume: bool = False) -> dict:
    """Read a checkpoint written by this project's `save_checkpoint`, for this capstone.

    to_resume: the run goes on from it, so it must hold the optimizer's state too (last.pt does,
    best.pt does not).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"No checkpoint at {path}; pass the path of a .pt file in a run's checkpoints/ folder.")
    not_ours = f"{path} is not a checkpoint written by train.py; pass a .pt file from a run's checkpoints/ folder."
    with path.open("rb") as f:
        if f.read(len(ZIP_MAGIC)) != ZIP_MAGIC:  # a picture, a text, an empty file: not torch.save's format
            raise UserError(not_ours)
    try:
        # weights_only: a checkpoint holds tensors and plain Python values, nothing to execute.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # It holds objects other than tensors and plain values, which train.py never writes. Loading
        # them anyway (torch's advice) would run whatever code the file names: not for a file from elsewhere.
        raise UserError(not_ours) from None
    except Exception as error:
        raise UserError(
            f"Could not read the checkpoint {path} ({error}); it may be truncated, so use another one."
        ) from error
    if not isinstance(state, dict) or "model" not in state or "capstone" not in state:
        raise UserError(not_ours)
    if state["capstone"] != capstone:
        raise UserError(
            f"{path} was trained for the {state['capstone']} capstone, not {capstone}; pass one of this project."
        )
    if to_resume and not any(key in state for key in ("optimizer", "optimizer_states")):
        raise UserError(
            f"{path} holds the model only, not the optimizer state a run resumes from; "
            f"resume from {path.with_name('last.pt')} (or the run folder) instead."
        )
    return state
