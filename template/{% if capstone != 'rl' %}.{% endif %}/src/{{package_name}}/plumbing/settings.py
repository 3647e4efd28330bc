"""Checks of a run's settings: before any work, and when a run resumes. Both engines use them."""

from pathlib import Path

from omegaconf import DictConfig

from . import mixed_precision
from .errors import UserError, check_number
from .run_folder import changed_settings, refuse_resume

# What to change when the loss becomes nan or inf (runtime.check_finite in training_run.py).
LOSS_ADVICE = "lower optim.lr, set trainer.grad_clip, or (with mixed precision) use trainer.precision=32"

# Settings a resumed run may change besides run_folder.RESUMABLE_CHANGES: where its data are, how
# it validates and when it stops. (A one-cycle schedule still cannot be stretched: see below.)
ALSO_RESUMABLE = (
    "data.root",
    "data.mirrors",
    "data.download_timeout",
    "data.eval_batch_size",
    "trainer.strategy",  # single or ddp: the same training when the number of processes stays the same
    "trainer.backend",
    "trainer.max_steps",
    "trainer.max_epochs",
    "trainer.early_stopping_patience",
)


def check_settings(cfg: DictConfig) -> None:
    """Settings that would fail later (a division by zero, torch's "Invalid learning rate", a clip by
    "abc"), checked before any work so that nothing of the run is written."""
    for key in ("data.batch_size", "data.eval_batch_size", "trainer.max_epochs", "logger.log_every_n_steps"):
        check_number(cfg, key, whole=True, least=1)
    check_number(cfg, "trainer.max_steps", whole=True, least=1, null="no limit")
    check_number(cfg, "trainer.early_stopping_patience", whole=True, least=1, null="never stop early")
    check_number(cfg, "trainer.overfit_batches", whole=True, least=0)
    check_number(cfg, "optim.lr", above=0)
    check_number(cfg, "optim.weight_decay", least=0)
    check_number(cfg, "trainer.grad_clip", above=0, null="no clipping")
    mixed_precision.check_precision(cfg.trainer.precision)


def choose_monitor(trainer_cfg, task) -> tuple[str, str]:
    """The validation metric that picks best.pt and drives early stopping, and whether more is better."""
    monitor = trainer_cfg.monitor or task.monitor
    names = [f"val/{name}" for name in task.metric_names]
    if monitor not in names:
        raise UserError(f"trainer.monitor={monitor} is not one of the validation metrics {names}.")
    default_mode = task.mode if monitor == task.monitor else ("min" if monitor.endswith("loss") else "max")
    mode = trainer_cfg.mode or default_mode
    if mode not in ("max", "min"):
        raise UserError(f"trainer.mode={mode} must be max (higher {monitor} is better) or min.")
    return monitor, mode


def step_budget(trainer_cfg: DictConfig, steps_per_epoch: int) -> tuple[int, int]:
    """The learning-rate schedule's length (max_epochs of steps) and the step the run stops at: the
    same, or trainer.max_steps when that comes first (the schedule keeps its length)."""
    total_steps = trainer_cfg.max_epochs * steps_per_epoch
    return total_steps, min(total_steps, trainer_cfg.max_steps or total_steps)


def check_resumable(saved: dict, cfg: DictConfig, path: Path, steps_per_epoch: int, world_size: int = 1) -> None:
    """A resumed run continues the same experiment: it may stop later or log differently, nothing more.

    `saved` is the checkpoint. That includes the number of processes (trainer=ddp): data.batch_size is
    per process, so another number of them would train on another global batch.
    """
    saved_world_size = saved.get("world_size", 1)
    if saved_world_size != world_size:
        raise UserError(
            f"{path} was trained by {saved_world_size} process(es) and this run has {world_size}, which would "
            f"change the global batch (data.batch_size x processes); resume it with {saved_world_size} process(es) "
            "in all, or start a new run."
        )
    changed = changed_settings(saved["config"], cfg, ALSO_RESUMABLE)
    before = saved["config"]["trainer"]["max_epochs"]
    if cfg.optim.scheduler == "onecycle" and before != cfg.trainer.max_epochs:
        changed.append("trainer.max_epochs (a one-cycle schedule cannot be stretched)")
    if steps_per_epoch != saved["steps_per_epoch"]:
        changed = changed or ["the number of training batches"]
    if changed:
        refuse_resume(path, changed)
