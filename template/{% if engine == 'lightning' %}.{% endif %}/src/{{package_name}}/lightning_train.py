"""Training with PyTorch Lightning: what `python train.py` runs in this project.

The configs are the same as for the plain loop (loop.py), and so is what a run leaves behind:
config.yaml, metrics.csv and checkpoints/{best,last}.pt in the run folder, which evaluate.py reads.
Each config value maps onto a pytorch_lightning.Trainer argument or callback:

    trainer.max_epochs, max_steps             ->  Trainer(max_steps): the number of optimizer steps
    trainer.grad_clip, precision              ->  Trainer(gradient_clip_val, precision)
    trainer.monitor, mode                     ->  ModelCheckpoint (best.pt, last.pt)
    trainer.early_stopping_patience           ->  EarlyStopping
    trainer.strategy=ddp (trainer=ddp)        ->  Lightning's DDP strategy, under torchrun
    logger.log_every_n_steps                  ->  Trainer(log_every_n_steps), into metrics.csv
    logger=wandb                              ->  the same rows on Weights & Biases too (tracking.py)
"""

import logging
import os
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import Logger
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.utilities import rank_zero_only

from .lightning_module import CapstoneData, CapstoneModule
from .loop import count_training_data
from .plumbing import distributed, mixed_precision, runtime
from .plumbing.checkpoint import load_checkpoint, save_checkpoint
from .plumbing.errors import UserError
from .plumbing.run_paths import find_checkpoint
from .plumbing.settings import LOSS_ADVICE, check_resumable, check_settings, choose_monitor, step_budget
from .plumbing.tracking import Tracker, check_logger
from .task import CAPSTONE, Task

log = logging.getLogger(__name__)

# Lightning's own use of an API that torch deprecated: nothing for a learner to act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
# A resumed run writes into its own checkpoints/ folder on purpose.
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")


class LightningChatter(logging.Filter):
    """Lightning's notes of every run that tell a learner nothing about theirs: the devices it did not
    find, an advertisement, and its own words for the end of a run, which fit_in_this_process says itself. Its
    warnings are Python warnings and pass, and so do its other notes ("GPU available: True ...")."""

    NOTES = ("GPU available: False", "TPU available: False", "💡 Tip:", "`Trainer.fit` stopped:")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.NOTES)


logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(LightningChatter())

PRECISION = {None: "32-true", torch.bfloat16: "bf16-mixed", torch.float16: "16-mixed"}


def train(cfg: DictConfig, run_dir: str | Path, on_validation=None) -> dict[str, float]:
    """Train as `cfg` says, writing config.yaml, metrics.csv and checkpoints/ into `run_dir`.
    on_validation(epoch, value), if given, hears the monitored metric after each validation (search.py).

    Under trainer=ddp, this process first joins the others that torchrun started (distributed.py);
    Lightning's DDP strategy then uses that process group.
    """
    check_settings(cfg)
    check_logger(cfg)  # logger=wandb: the wandb package and mode, before any work
    with distributed.process_group(cfg.trainer) as device:
        return fit_in_this_process(device, cfg, Path(run_dir), on_validation)


def fit_in_this_process(device: torch.device, cfg: DictConfig, run_dir: Path, on_validation=None) -> dict[str, float]:
    """The whole run, in this process, on `device`."""
    checkpoints = run_dir / "checkpoints"
    rank, world_size = distributed.rank(), distributed.world_size()
    runtime.set_cpu_threads(cfg.trainer.threads)
    if cfg.trainer.threads:
        # Under DDP, Lightning sets torch's threads to cores / processes unless OMP_NUM_THREADS says
        # otherwise, so without this line trainer.threads would be ignored there.
        os.environ["OMP_NUM_THREADS"] = str(cfg.trainer.threads)
    precision = PRECISION[mixed_precision.autocast_dtype(cfg.trainer.precision, device)]
    monitor, mode = choose_monitor(cfg.trainer, Task)
    runtime.seed_everything(cfg.seed + rank)  # DDP: each process its own dropout; DDP copies rank 0's weights

    with distributed.first_on_each_machine():  # DDP: one process downloads and caches, the others then read
        data = CapstoneData(cfg)
    module = CapstoneModule(cfg, data.data_state)
    count_training_data(module.model, data.splits["train"])
    steps_per_epoch = len(data.train_batches)  # DDP: each step takes one share of a batch in every process
    _, last_step = step_budget(cfg.trainer, steps_per_epoch)  # where it stops: max_epochs, or max_steps first

    ckpt_path, step = None, 0
    if cfg.resume:
        ckpt_path = find_checkpoint(cfg.resume)
        state = load_checkpoint(ckpt_path, CAPSTONE, to_resume=True)
        if state.get("engine") != "lightning":
            raise UserError(
                f"{ckpt_path} was written by the plain PyTorch loop, which cannot be resumed with Lightning; "
                "start a new run (evaluate.py reads it as it is)."
            )
        check_resumable(state, cfg, ckpt_path, steps_per_epoch, world_size)
        step = state["step"]
        waited = callback_state(state, "EarlyStopping").get("wait_count", 0)
        if cfg.trainer.early_stopping_patience and waited >= cfg.trainer.early_stopping_patience:
            log.info(f"This run stopped early already; raise trainer.early_stopping_patience above {waited} to go on.")
            best = callback_state(state, "ModelCheckpoint").get("best_model_score")
            return {f"best/{monitor}": None if best is None else float(best), "step": step, "stopped": False}

    best_checkpoint = ModelCheckpoint(
        dirpath=checkpoints,
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,  # one best.pt, overwritten when the monitor improves
    )
    best_checkpoint.FILE_EXTENSION = ".pt"  # best.pt and last.pt, as loop.py names them
    callbacks = [best_checkpoint, StopAndCheck(last_step, cfg.logger.log_every_n_steps, checkpoints)]
    if cfg.trainer.early_stopping_patience:
        callbacks.append(PatientEarlyStopping(monitor, patience=cfg.trainer.early_stopping_patience, mode=mode))
    if on_validation is not None:
        callbacks.append(ReportValidation(on_validation, monitor, steps_per_epoch))

    # metrics.csv, and with logger=wandb the same rows on W&B; DDP: only the main process writes them
    tracker = Tracker(cfg, run_dir, resume_step=step if cfg.resume else None) if rank == 0 else None
    trainer = pl.Trainer(
        default_root_dir=run_dir,
        # Counted in steps, as loop.py counts them, so that a run resumed mid-epoch validates where an
        # uninterrupted one does: after every steps_per_epoch steps, and at trainer.max_steps.
        max_epochs=-1,
        max_steps=last_step,
        check_val_every_n_epoch=None,
        val_check_interval=steps_per_epoch,
        accelerator=device.type,
        **processes_of(device),
        precision=precision,
        gradient_clip_val=cfg.trainer.grad_clip,
        logger=MetricsCSVLogger(tracker, run_dir),
        log_every_n_steps=cfg.logger.log_every_n_steps,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        num_sanity_val_steps=0,  # validate after training epochs only, as loop.py does
        enable_progress_bar=cfg.logger.progress_bar,
        enable_model_summary=cfg.logger.progress_bar,
        profiler=profiler(cfg.trainer.profile, run_dir),
    )
    if rank == 0:  # DDP: only the main process writes the run folder
        run_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)

    started = time.perf_counter()
    with runtime.StopRequest(announce=rank == 0) as stop:
        callbacks[1].stop = stop
        try:
            model = torch.compile(module) if cfg.trainer.compile else module
            trainer.fit(model, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
        except Stopped:
            pass
        except SystemExit:  # Lightning's answer to a second Ctrl-C is exit status 1: make it Ctrl-C's own
            if stop.interrupted:
                raise KeyboardInterrupt from None
            raise
    if tracker is not None:
        tracker.finish(checkpoints / "best.pt")  # logger=wandb: best.pt as an artifact, then the run ends
    stopped = stop.requested
    minutes = (time.perf_counter() - started) / 60

    best = None if best_checkpoint.best_model_score is None else float(best_checkpoint.best_model_score)
    val_metrics = {key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("val/")}
    if stopped:
        log.info(f"Stopped at step {trainer.global_step} after {minutes:.1f} min; saved {checkpoints / 'last.pt'}.")
        command = distributed.launch_command()  # python train.py, or torchrun ... train.py
        log.info(f"Continue with: {runtime.continue_command(command, run_dir)}")
    elif best is not None:
        log.info(
            f"Done in {minutes:.1f} min: best {monitor}={best:.4f}. Run folder: {run_dir}\n"
            f"Next: python evaluate.py ckpt={checkpoints / 'best.pt'}"
        )
    return {**val_metrics, f"best/{monitor}": best, "step": trainer.global_step, "stopped": stopped}


def processes_of(device: torch.device) -> dict:
    """Lightning's devices and strategy: this one device, or under DDP the process group torchrun started."""
    if not torch.distributed.is_initialized():
        return {"devices": [device.index] if device.index is not None else 1, "strategy": "auto"}
    per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", distributed.world_size()))
    return {
        "devices": per_machine,
        "num_nodes": distributed.world_size() // per_machine,
        "strategy": DDPStrategy(process_group_backend=torch.distributed.get_backend()),  # the group that exists
    }


def callback_state(checkpoint: dict, name: str) -> dict:
    """The saved state of a Lightning callback (keys look like "EarlyStopping{'monitor': ...}")."""
    return next((state for key, state in checkpoint.get("callbacks", {}).items() if key.startswith(name)), {})


class PatientEarlyStopping(EarlyStopping):
    """EarlyStopping that takes its patience from the config, also on resume (Lightning's takes the saved one)."""

    def load_state_dict(self, state_dict: dict) -> None:
        patience = self.patience
        super().load_state_dict(state_dict)
        self.patience = patience


class Stopped(Exception):
    """Raised by StopAndCheck after Ctrl-C, once last.pt is saved: ends trainer.fit without validating again."""


class ReportValidation(Callback):
    """Tells on_validation(epoch, value) the monitored metric after each validation (search.py's pruner).
    It comes after ModelCheckpoint in the list, so best.pt is saved before a pruner may stop the run."""

    def __init__(self, on_validation, monitor: str, steps_per_epoch: int):
        self.on_validation, self.monitor, self.steps_per_epoch = on_validation, monitor, steps_per_epoch

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            epoch = -(-trainer.global_step // self.steps_per_epoch)  # validations so far, counting a last short one
            self.on_validation(epoch, float(trainer.callback_metrics[self.monitor]))


class StopAndCheck(Callback):
    """What loop.py does between steps: stop on Ctrl-C, stop on a NaN loss, stop at trainer.max_steps."""

    def __init__(self, last_step: int, log_every_n_steps: int, checkpoints: Path):
        self.last_step, self.log_every_n_steps, self.checkpoints = last_step, log_every_n_steps, checkpoints
        self.stop: runtime.StopRequest | None = None
        self.stopping = False  # all processes agreed to stop after a Ctrl-C, and last.pt is saved

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if step % self.log_every_n_steps == 0 or step == self.last_step:
            # The mean over all processes, so that every one of them stops at the same step.
            loss = trainer.strategy.reduce(outputs["loss"].detach(), reduce_op="mean")
            runtime.check_finite(loss, step, self.checkpoints, LOSS_ADVICE)
        if self.agreed_to_stop(trainer):
            # Mid-epoch: keep the progress (with the callbacks' state, for resuming), validate later.
            trainer.save_checkpoint(self.checkpoints / "last.pt", weights_only=False)
        elif step >= self.last_step:
            trainer.should_stop = True  # Lightning validates before it stops, and saves best.pt and last.pt

    def on_validation_end(self, trainer, pl_module):
        # A Ctrl-C during validation: save where training stands now; the next batch then ends fit.
        if not trainer.sanity_checking and self.agreed_to_stop(trainer):
            trainer.save_checkpoint(self.checkpoints / "last.pt", weights_only=False)

    def agreed_to_stop(self, trainer) -> bool:
        """Whether a Ctrl-C reached any process; all of them ask at the same point, so all agree (DDP)."""
        if self.stopping:
            return False
        if trainer.strategy.reduce_boolean_decision(bool(self.stop and self.stop.requested), all=False):
            self.stop.requested = self.stopping = True  # every process stops, also those that saw no Ctrl-C
            return True
        return False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        # After Ctrl-C, last.pt and the step's metrics row are written; now end fit. A Ctrl-C that
        # arrives after the agreement waits for the next one: a process never stops alone.
        if self.stopping:
            raise Stopped


class MetricsCSVLogger(Logger):
    """Lightning's logger interface, writing the same metrics.csv as loop.py (and W&B rows: tracking.py)."""

    def __init__(self, tracker: Tracker | None, run_dir: Path):
        super().__init__()
        self.tracker, self.run_dir = tracker, run_dir  # tracker: None in the other processes under DDP

    @property
    def name(self) -> str:
        return "metrics_csv"

    @property
    def version(self) -> int:
        return 0

    @property
    def save_dir(self) -> str:
        return str(self.run_dir)

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass  # config.yaml in the run folder holds the whole config

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if self.tracker is not None:
            self.tracker.log({"epoch": int(metrics.pop("epoch", 0)), "step": step, **metrics})


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint files, written through checkpoint.py: never a half-written last.pt."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        save_checkpoint(checkpoint, path, resumable=Path(path).name == "last.pt")  # best.pt: no optimizer state


def profiler(enabled: bool, run_dir: Path):
    """`trainer.profile=true`: torch.profiler over a few steps; the trace goes into the run folder."""
    if not enabled:
        return None
    from pytorch_lightning.profilers import PyTorchProfiler

    schedule = torch.profiler.schedule(wait=2, warmup=2, active=6, repeat=1)
    return PyTorchProfiler(dirpath=run_dir, filename="profile", schedule=schedule, export_to_chrome=True)
