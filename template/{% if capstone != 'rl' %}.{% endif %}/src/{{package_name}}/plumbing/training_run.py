"""The bookkeeping of a training run, so that loop.py can show the lesson alone.

`TrainingRun` does what every real run needs besides gradient descent, at the few points where
loop.py calls it:

    with TrainingRun(cfg, run_dir) as run:   seeds, threads, device; under trainer=ddp the process group
    run.begin(...)                           resume=...: the saved states; config.yaml, metrics.csv
    run.distribute(model)                    torch.compile and DistributedDataParallel when asked
    for epoch in run.epochs():               from where a resumed run stopped, until done or stopped
        run.batches(...)                     the epoch's batches with a progress bar (a resumed run
                                             starts mid-epoch); stops after Ctrl-C or trainer.max_steps
        run.step_done(loss, stats)           the loss of the last steps, metrics.csv rows, the profiler
        run.end_epoch(val_metrics)           best.pt when the monitored metric improved, last.pt, early stop

The folder's rules (best and last, what a resumed run may change, one writer) are run_folder.py's,
shared with the Lightning engine's files and every capstone of the project.
"""

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..task import CAPSTONE, Task
from . import distributed, mixed_precision, runtime
from .run_folder import RunFolder
from .settings import LOSS_ADVICE, check_resumable, check_settings, choose_monitor, step_budget
from .tracking import check_logger

log = logging.getLogger(__name__)


class TrainingRun(RunFolder):
    """One run of loop.py: its settings checked, its place (device, process), its progress and its folder."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path, on_validation: Callable[[int, float], None] | None = None):
        check_settings(cfg)  # before any work, so that a bad setting writes nothing
        check_logger(cfg)  # logger=wandb: the wandb package and mode
        super().__init__(cfg, run_dir, CAPSTONE, *choose_monitor(cfg.trainer, Task))
        self.bad_epochs = 0  # validations since the monitored metric last improved (early stopping)
        self.stopping = False  # Ctrl-C: stop after this step, in every process at the same step
        self.val_metrics: dict[str, float] = {}
        self.on_validation = on_validation  # search.py's pruner: it may stop the run by raising optuna.TrialPruned

    def __enter__(self) -> "TrainingRun":
        with contextlib.ExitStack() as stack:
            self.device = stack.enter_context(distributed.process_group(self.cfg.trainer))
            self.rank, self.world_size = distributed.rank(), distributed.world_size()  # DDP: 0 and 1 alone
            self.main = self.rank == 0  # DDP: only the main process writes the run folder and logs
            stack.push(self.finish_run)  # after the Ctrl-C handler and the profiler, before the process group ends
            runtime.set_cpu_threads(self.cfg.trainer.threads)
            self.precision = mixed_precision.autocast_dtype(self.cfg.trainer.precision, self.device)  # None: float32
            runtime.seed_everything(self.cfg.seed + self.rank)  # DDP: each its own dropout; DDP copies rank 0's weights
            self._exit = stack.pop_all()
        return self

    def __exit__(self, *exc) -> bool:
        return self._exit.__exit__(*exc)

    def begin(self, task, train_batches, splits: dict, **states) -> None:
        """Training starts: `states` (model, optimizer, scheduler, scaler) go into every checkpoint, and
        with resume=... they are loaded from the checkpoint first, with the random state and the step.
        `splits` may hold a "state": what reading new inputs the same way needs, kept for evaluate.py."""
        self.task, self.states, self.data_state = task, states, splits.get("state")
        steps_per_epoch = len(train_batches)
        self.steps_per_epoch = steps_per_epoch  # DDP: each step takes one share of a batch in every process
        _, self.last_step = step_budget(self.cfg.trainer, steps_per_epoch)  # max_epochs, or max_steps first
        resumed = self.load_resumed(
            lambda state, path: check_resumable(state, self.cfg, path, steps_per_epoch, self.world_size)
        )
        if resumed:
            for name, module in states.items():
                module.load_state_dict(resumed[name])
            runtime.set_rng_state(resumed["rng"][self.rank])  # one random state per process
            self.bad_epochs = resumed["bad_epochs"]
            log.info(f"Resumed {self.resumed_from} at step {self.step} (epoch {self.step // steps_per_epoch + 1}).")
        if self.main:
            self.open()  # config.yaml and metrics.csv now, so that they exist from the first step on
        # From here on, a first Ctrl-C stops after the step (before, it stops a download or a decode at once).
        self.stop = self._exit.enter_context(runtime.StopRequest(announce=self.main))
        self.profile = self._exit.enter_context(profiler(self.cfg.trainer.profile and self.main, self.run_dir))
        self.started = time.perf_counter()

    def distribute(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as training runs it: compiled (trainer.compile) and, under DDP, wrapped so that
        backward() averages the gradients of all processes. The weights stay `model`'s own."""
        net = torch.compile(model) if self.cfg.trainer.compile else model
        if self.cfg.trainer.strategy != "ddp":
            return net
        return DistributedDataParallel(net, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def autocast(self):
        """Mixed precision (trainer.precision) for the forward pass and the loss; nothing at float32."""
        return mixed_precision.autocast(self.device, self.precision)

    def epochs(self) -> Iterator[int]:
        """The epoch numbers (from 0) still to train: until trainer.max_epochs (or max_steps), a Ctrl-C
        or an early stop. A resumed run starts with the epoch it stopped in."""
        patience = self.cfg.trainer.early_stopping_patience
        if patience and self.bad_epochs >= patience:
            more = f"raise trainer.early_stopping_patience above {self.bad_epochs} to go on"
            log.info(f"This run stopped early already; {more}.")
            return
        model = self.states["model"]
        processes = f" in {self.world_size} processes" if self.world_size > 1 else ""
        log.info(
            f"Training {sum(p.numel() for p in model.parameters()):,} parameters on {self.device}{processes} "
            f"for {self.last_step:,} steps; run in {self.run_dir}"
        )
        while self.step < self.last_step and not self.stopping and not (patience and self.bad_epochs >= patience):
            yield self.step // self.steps_per_epoch

    def batches(self, batches, epoch: int) -> Iterator:
        """The epoch's training batches, from where the run stands, with a progress bar. They end early
        after a Ctrl-C (last.pt then keeps the progress) or at trainer.max_steps."""
        self.epoch, first = epoch, self.step % self.steps_per_epoch
        self.epoch_totals: dict[str, torch.Tensor] = {}  # the task's sums, for the epoch's train/ metrics
        self.window_loss, self.window_steps, self.window_start = 0.0, 0, time.perf_counter()
        self.bar = tqdm(
            batches.epoch(epoch, start=first),
            desc=f"epoch {epoch + 1}/{self.cfg.trainer.max_epochs}",
            total=self.steps_per_epoch,
            initial=first,
            disable=not (self.cfg.logger.progress_bar and self.main),
            leave=False,
        )
        for batch in self.bar:
            self.lr = self.states["scheduler"].get_last_lr()[0]  # the rate this step uses
            yield batch
            if self.step >= self.last_step or self.stopping:
                break
        self.bar.close()
        if self.stopped_mid_epoch:
            self.save("last.pt", self.checkpoint())  # keep the progress; the epoch validates once complete

    @property
    def stopped_mid_epoch(self) -> bool:
        return self.stopping and self.step % self.steps_per_epoch != 0

    def step_done(self, loss: torch.Tensor, stats: dict) -> None:
        """Count the step; every logger.log_every_n_steps steps, a metrics.csv row of the mean loss since
        the last one (stopping a run whose loss became nan), and the progress bar's figures."""
        self.step += 1
        add_to(self.epoch_totals, stats)
        self.window_loss += loss.detach()  # summed on the device: reading it would wait for the GPU
        self.window_steps += 1
        if self.profile is not None:
            self.profile.step()
        self.stopping = distributed.any_process(self.stop.requested)  # DDP: the processes stop together
        if self.step % self.cfg.logger.log_every_n_steps and self.step != self.last_step and not self.stopping:
            return
        mean_loss = float(distributed.all_reduce_mean(self.window_loss)) / self.window_steps  # DDP: of all
        runtime.check_finite(mean_loss, self.step, self.checkpoints, LOSS_ADVICE)
        samples = self.window_steps * self.cfg.data.batch_size * self.world_size
        samples_per_s = samples / (time.perf_counter() - self.window_start)
        self.log_row({"epoch": self.epoch + 1, "step": self.step, "train/loss": mean_loss, "lr": self.lr})
        self.bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{self.lr:.2e}", samples_per_s=f"{samples_per_s:,.0f}")
        self.window_loss, self.window_steps, self.window_start = 0.0, 0, time.perf_counter()

    def end_epoch(self, val_metrics: dict[str, float]) -> None:
        """After validation: a metrics.csv row, best.pt when the monitored metric improved, last.pt."""
        train_totals = distributed.all_reduce_sums(self.epoch_totals, self.device)  # DDP: of all processes
        train_metrics = {f"train/{k}": v for k, v in self.task.metrics(train_totals).items() if k != "loss"}
        self.val_metrics = {f"val/{k}": v for k, v in val_metrics.items()}
        runtime.check_finite(self.val_metrics["val/loss"], self.step, self.checkpoints, LOSS_ADVICE)
        value = self.val_metrics[self.monitor]
        self.bad_epochs = 0 if self.improves(value) else self.bad_epochs + 1
        self.log_row({"epoch": self.epoch + 1, "step": self.step, **train_metrics, **self.val_metrics})
        improved = self.keep(value, self.checkpoint())
        log.info(
            f"epoch {self.epoch + 1} step {self.step}: "
            + " ".join(f"{k}={v:.4f}" for k, v in self.val_metrics.items() if k.count("/") == 1)  # not per class
            + (" (best)" if improved else "")
        )
        patience = self.cfg.trainer.early_stopping_patience
        if patience and self.bad_epochs >= patience:
            log.info(f"Early stop: {self.monitor} did not improve for {patience} epochs.")
        if self.on_validation is not None:
            self.on_validation(self.epoch + 1, value)
        self.stopping = distributed.any_process(self.stop.requested)  # Ctrl-C while validating: no further epoch

    def checkpoint(self) -> dict:
        """What a checkpoint holds besides the capstone, step and best value (run_folder.py adds those)."""
        rng = distributed.gather(runtime.rng_state())  # DDP: every process's random state, so resuming repeats it
        return {
            **{name: module.state_dict() for name, module in self.states.items()},  # the model itself, not DDP's
            "steps_per_epoch": self.steps_per_epoch,
            "world_size": self.world_size,
            "bad_epochs": self.bad_epochs,
            "rng": rng,
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "data_state": self.data_state,
        }

    def finish_run(self, error_type, error, traceback) -> None:
        """On leaving the `with` block without an error: W&B's end, and what happened and what is next."""
        if error_type is None and hasattr(self, "started"):  # `begin` was reached
            self.finish(self.started, self.stopping, launch=distributed.launch_command())

    def summary(self) -> dict:
        """The last validation, the best monitored value, the step reached, and whether Ctrl-C stopped it."""
        return {**self.val_metrics, f"best/{self.monitor}": self.best, "step": self.step, "stopped": self.stopping}


def add_to(totals: dict[str, torch.Tensor], stats: dict[str, torch.Tensor]) -> None:
    """Add a batch's sums (the task's stats) to running totals."""
    for key, value in stats.items():
        totals[key] = totals[key] + value if key in totals else value


@contextlib.contextmanager
def profiler(enabled: bool, run_dir: Path):
    """`trainer.profile=true`: record steps 5-10 with torch.profiler; view the trace in Perfetto."""
    if not enabled:
        yield None
        return

    def report(profile) -> None:
        profile.export_chrome_trace(str(run_dir / "profile_trace.json"))
        table = profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
        log.info(f"Where 6 steps spent their time (trace: {run_dir / 'profile_trace.json'}):\n{table}")

    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    schedule = torch.profiler.schedule(wait=2, warmup=2, active=6, repeat=1)
    with torch.profiler.profile(activities=activities, schedule=schedule, on_trace_ready=report) as profile:
        yield profile
