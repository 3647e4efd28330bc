"""Checkpoints that survive a crash: atomic writes, clear errors, finding the run to resume."""

import contextlib
import datetime
import itertools
import os
import pickle
import shutil
import sys
from pathlib import Path

import torch

from .errors import UserError
from .files import atomic_write, file_system_error

RUNS_ROOT = Path("runs")
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


def find_checkpoint(resume: bool | str, runs_root: Path = RUNS_ROOT) -> Path:
    """Which checkpoint `resume=...` means: true is the latest run's last.pt; else a file, a run
    folder or its checkpoints/ folder (their last.pt)."""
    if resume is True:
        candidates = sorted(runs_root.glob("*/checkpoints/last.pt"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise UserError(f"resume=true found no run with checkpoints/last.pt under {runs_root}/; pass resume=PATH.")
        return candidates[-1]
    path = in_folder(Path(str(resume)), "last.pt")
    if not path.is_file():
        raise UserError(
            f"resume={resume}: no checkpoint there; pass a .pt file or a run folder that holds checkpoints/last.pt."
        )
    return path


def resolve_checkpoint(ckpt: str | Path | None, runs_root: Path = RUNS_ROOT) -> Path:
    """The checkpoint to evaluate or predict with: a file, a run folder or its checkpoints/ folder
    (their best.pt), or None (the newest run's best.pt)."""
    if ckpt is None:
        candidates = sorted(runs_root.glob("*/checkpoints/best.pt"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise UserError(f"No trained run under {runs_root}/; train one first, or name its checkpoint.")
        return candidates[-1]
    return in_folder(Path(ckpt), "best.pt")


def in_folder(path: Path, name: str) -> Path:
    """`path` when it is a file; in a folder, its checkpoint `name`: folder/name, or folder/checkpoints/name."""
    if not path.is_dir():
        return path
    return path / name if (path / name).is_file() else path / "checkpoints" / name


def run_dir_for(resume) -> str:
    """The folder a run lives in: a new timestamped one, or the folder of the run it resumes.

    Used by Hydra to place the run (`hydra.run.dir` in configs/train.yaml), so that a resumed run
    keeps writing its metrics and checkpoints where it started. When `resume` names nothing, the
    run gets a new folder and train() stops with find_checkpoint's message: errors raised here
    would reach the user as a page of Hydra internals.
    """
    if resume not in (None, False, "false", "null"):
        try:
            return str(find_checkpoint(True if resume in (True, "true") else resume).parent.parent)
        except UserError:
            pass
    return str(new_run_dir())


def new_run_dir(runs_root: Path = RUNS_ROOT) -> Path:
    """A new, empty folder runs/<date>_<time>, made here. Under torchrun, rank 0's, for all its processes.

    The folder is made with one os.mkdir, which fails for all but one of the runs that try the same
    name: a second run started in the same second gets <date>_<time>_2 (then _3, ...), never the
    first one's folder. Under torchrun, the processes start at about the same time, but not within
    the same second; torchrun's own key-value store (the one they meet through) carries the name
    rank 0 made to the others.
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":  # not under torchrun (or a launcher without it)
        return make_run_dir(runs_root)
    address, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    store = torch.distributed.TCPStore(address, port, is_master=False, timeout=datetime.timedelta(minutes=5))
    key = f"run_dir_for/{os.environ['TORCHELASTIC_RUN_ID']}/{os.environ['TORCHELASTIC_RESTART_COUNT']}"
    if os.environ["RANK"] == "0":
        store.set(key, str(make_run_dir(runs_root)))
    return Path(store.get(key).decode())


def make_run_dir(runs_root: Path) -> Path:
    """Make runs_root/<date>_<time>, or <date>_<time>_2, ... when another run took that name first."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    try:
        for n in itertools.count(1):
            path = runs_root / (stamp if n == 1 else f"{stamp}_{n}")
            try:
                path.mkdir(parents=True)  # runs/ too: a failed run beside this one may just have removed it
                return path
            except FileExistsError:
                continue
    except OSError as error:
        # Hydra asks for this name before it sets up logging, and would answer this with a traceback.
        sys.exit(f"Error: {file_system_error(error, f'create the run folder {path}', elsewhere='hydra.run.dir=DIR')}")


# What Hydra writes into a run folder before train.py's code runs: a run that failed at once left only these.
BEFORE_TRAINING = {"train.log", ".hydra"}


def remove_if_unused(run_dir: str | Path) -> bool:
    """Delete a run folder that holds only what Hydra wrote at the start (train.log, .hydra/); whether it did.

    train.py calls it when a command fails before training began (a bad override, a missing file),
    so that runs/ does not fill with folders of commands that never trained.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or any(item.name not in BEFORE_TRAINING for item in run_dir.iterdir()):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    if run_dir.resolve().parent == RUNS_ROOT.resolve():
        with contextlib.suppress(OSError):  # runs/ too, when that was its only run
            run_dir.parent.rmdir()
    return True
