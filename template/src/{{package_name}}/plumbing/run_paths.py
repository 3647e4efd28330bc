"""Where runs live and which checkpoint a command means: runs/<date>_<time>/, resume=, ckpt=.

Plain files and folders, no PyTorch: train.py places a run (Hydra asks for its folder first) and
reports a mistake in the command before it loads PyTorch, which takes a second or two.
"""

import contextlib
import datetime
import itertools
import os
import shutil
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .errors import UserError
from .files import file_system_error

RUNS_ROOT = Path("runs")


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


def checkpoint_named(cfg: DictConfig) -> Path:
    """The checkpoint evaluate.py's ckpt= names (resolve_checkpoint), or the sentence that asks for one."""
    if OmegaConf.is_missing(cfg, "ckpt"):
        raise UserError("Which checkpoint? Pass ckpt=PATH, e.g. ckpt=runs/<date>_<time>/checkpoints/best.pt.")
    return resolve_checkpoint(cfg.ckpt)


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
    import torch.distributed  # here: a run under torchrun loads PyTorch anyway, a plain one need not yet

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
