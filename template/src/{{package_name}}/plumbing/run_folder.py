"""The folder a training run writes, and reads back to resume: the same in every capstone.

    runs/<date>_<time>/config.yaml          the whole config of the run, resolved
                       metrics.csv          one row per log step and per evaluation (and W&B: tracking.py)
                       checkpoints/last.pt  where training stands: resume= continues from it
                       checkpoints/best.pt  the best evaluation so far: what evaluate.py reads

`RunFolder` holds the rules every training loop of the project follows: one writer (under DDP the
main process), best.pt when the monitored metric improves and last.pt after every evaluation, and
one resume policy: a resumed run is the same experiment, so it may change where and how fast it
runs, how it logs and when it stops, and nothing else.
"""

import logging
import time
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from . import runtime
from .checkpoint import load_checkpoint, save_checkpoint
from .errors import UserError
from .run_paths import find_checkpoint
from .tracking import Tracker

log = logging.getLogger(__name__)

# Settings every resumed run may change; each loop adds its own (when to stop, how often to evaluate).
RESUMABLE_CHANGES = ("resume", "trainer.device", "trainer.threads", "trainer.compile", "trainer.profile", "logger.")


class RunFolder:
    """config.yaml, metrics.csv and checkpoints/ of one run, the best value so far, and resuming.

    `monitor` names the metric that picks best.pt, `mode` whether more of it is better ("max") or less.
    """

    def __init__(self, cfg: DictConfig, run_dir: str | Path, capstone: str, monitor: str, mode: str = "max"):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.checkpoints = self.run_dir / "checkpoints"
        self.capstone = capstone
        self.monitor, self.mode = monitor, mode
        self.main = True  # DDP: only the main process writes the folder
        self.step = 0
        self.best: float | None = None  # the best monitored value so far
        self.resumed: dict | None = None  # the checkpoint this run continues, when resume= names one
        self._tracker: Tracker | None = None

    def load_resumed(self, check: Callable[[dict, Path], None]) -> dict | None:
        """resume=...: read the checkpoint to continue, `check(checkpoint, path)` that this run may
        (it raises the sentence that says why not), and take the checkpoint's step and best value."""
        if self.cfg.resume in (None, False):
            return None
        path = find_checkpoint(self.cfg.resume)
        state = load_checkpoint(path, self.capstone, to_resume=True)
        check(state, path)
        self.resumed, self.resumed_from = state, path
        self.step, self.best = state["step"], state["best"]
        return state

    @property
    def tracker(self) -> Tracker:
        """metrics.csv (and W&B), with config.yaml beside it; made at first use, so that a refused
        resume or a bad setting leaves the run folder as it was."""
        if self._tracker is None:
            self.open()
        return self._tracker

    def open(self) -> None:
        """Write config.yaml and open metrics.csv (a resumed run's keeps its rows up to the resumed step)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.cfg, self.run_dir / "config.yaml", resolve=True)
        self._tracker = Tracker(self.cfg, self.run_dir, resume_step=self.step if self.resumed else None)

    def log_row(self, row: dict) -> None:
        """One row of metrics.csv (its "step" names it); the main process writes it."""
        if self.main:
            self.tracker.log(row)

    def improves(self, value: float) -> bool:
        """Whether `value` of the monitored metric beats the best so far (the first one always does)."""
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def keep(self, value: float, state: dict) -> bool:
        """After an evaluation: best.pt when `value` improves on the best, last.pt always; whether it improved."""
        improved = self.improves(value)
        if improved:
            self.best = value
        if improved:
            self.save("best.pt", state)
        self.save("last.pt", state)
        return improved

    def save(self, name: str, state: dict) -> None:
        """checkpoints/<name>, written atomically by the main process; best.pt without what only resuming needs."""
        if self.main:
            save_checkpoint(
                {"capstone": self.capstone, "step": self.step, "best": self.best, **state},
                self.checkpoints / name,
                resumable=name == "last.pt",
            )

    def finish(self, started: float, stopped: bool, launch: str = "python train.py") -> None:
        """The end of a run: W&B keeps best.pt, and two lines say what happened and what comes next."""
        if not self.main:
            return
        if self._tracker is not None:
            self._tracker.finish(self.checkpoints / "best.pt")  # logger=wandb: best.pt as an artifact, then the end
        minutes = (time.perf_counter() - started) / 60
        if stopped:  # Ctrl-C: what continues the run (train.py then exits with 130)
            log.info(f"Stopped at step {self.step} after {minutes:.1f} min; saved {self.checkpoints / 'last.pt'}.")
            log.info(f"Continue with: {runtime.continue_command(launch, self.run_dir)}")
        elif self.best is not None:
            log.info(
                f"Done in {minutes:.1f} min: best {self.monitor}={self.best:.4g}. Run folder: {self.run_dir}\n"
                f"Next: python evaluate.py ckpt={self.checkpoints / 'best.pt'}"
            )


def changed_settings(saved: dict, cfg: DictConfig, may_change: tuple[str, ...] = ()) -> list[str]:
    """The config keys whose values differ between a checkpoint's config and `cfg`, but for those
    that RESUMABLE_CHANGES and `may_change` allow (keys, or key prefixes that end in ".")."""
    before, now = flatten(saved), flatten(OmegaConf.to_container(cfg, resolve=True))
    allowed = RESUMABLE_CHANGES + tuple(may_change)
    return sorted(
        key for key in before.keys() | now.keys() if before.get(key) != now.get(key) and not key.startswith(allowed)
    )


def refuse_resume(path: Path, changed: list[str]) -> None:
    """The sentence that refuses to resume `path` with these `changed` settings."""
    raise UserError(
        f"{path} was trained with other settings ({', '.join(changed[:5])}); resume with the overrides "
        f"of that run (its config.yaml lists them all), or start a new run."
    )


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"optim": {"lr": 0.1}} -> {"optim.lr": 0.1}"""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
