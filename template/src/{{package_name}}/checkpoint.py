"""Checkpoints that survive a crash: atomic writes, clear errors, finding the run to resume."""

import datetime
import os
import tempfile
from pathlib import Path

import torch

from .errors import UserError

RUNS_ROOT = Path("runs")


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write `state` to `path` atomically: readers see the old file or the new one, never half.

    torch.save writes to a temporary file in the same folder, which is flushed to disk and
    then renamed over `path` (a rename within one file system is atomic).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:  # a full disk, a lost network drive: the run stops, the old file stays
        Path(tmp).unlink(missing_ok=True)
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
        raise UserError(
            f"Could not write the checkpoint {path} ({error}); {kept}. Free some disk space, then resume the run."
        ) from error
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, capstone: str) -> dict:
    """Read a checkpoint written by this project's `save_checkpoint`, for this capstone."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"No checkpoint at {path}; pass the path of a .pt file in a run's checkpoints/ folder.")
    try:
        # weights_only: a checkpoint holds tensors and plain Python values, nothing to execute.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(
            f"Could not read the checkpoint {path} ({error}); it may be truncated, so use another one."
        ) from error
    if not isinstance(state, dict) or "model" not in state or "capstone" not in state:
        raise UserError(f"{path} is not a checkpoint of this project; pass one written by train.py.")
    if state["capstone"] != capstone:
        raise UserError(
            f"{path} was trained for the {state['capstone']} capstone, not {capstone}; pass one of this project."
        )
    return state


def find_checkpoint(resume: bool | str, runs_root: Path = RUNS_ROOT) -> Path:
    """Which checkpoint `resume=...` means: true is the latest run's last.pt; else a file or a run folder."""
    if resume is True:
        candidates = sorted(runs_root.glob("*/checkpoints/last.pt"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise UserError(f"resume=true found no run with checkpoints/last.pt under {runs_root}/; pass resume=PATH.")
        return candidates[-1]
    path = Path(str(resume))
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
    if not path.is_file():
        raise UserError(
            f"resume={resume}: no checkpoint there; pass a .pt file or a run folder that holds checkpoints/last.pt."
        )
    return path


def resolve_checkpoint(ckpt: str | Path | None, runs_root: Path = RUNS_ROOT) -> Path:
    """The checkpoint to predict with: a file, a run folder (its best.pt) or None (the newest run's best.pt)."""
    if ckpt is None:
        candidates = sorted(runs_root.glob("*/checkpoints/best.pt"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise UserError(f"No trained run under {runs_root}/; train one first or pass --ckpt PATH.")
        return candidates[-1]
    path = Path(ckpt)
    return path / "checkpoints" / "best.pt" if path.is_dir() else path


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
    return str(RUNS_ROOT / start_time())


def start_time() -> str:
    """Now, as a folder name. Under torchrun, rank 0's now, so that all its processes share one folder.

    The processes start at about the same time, but not within the same second; torchrun's own
    key-value store (the one the processes meet through) carries rank 0's time to the others.
    """
    now = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":  # not under torchrun (or a launcher without it)
        return now
    address, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    store = torch.distributed.TCPStore(address, port, is_master=False, timeout=datetime.timedelta(minutes=5))
    key = f"run_dir_for/{os.environ['TORCHELASTIC_RUN_ID']}/{os.environ['TORCHELASTIC_RESTART_COUNT']}"
    if os.environ["RANK"] == "0":
        store.set(key, now)
    return store.get(key).decode()
