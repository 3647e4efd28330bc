"""The training loop: plain PyTorch, read top to bottom.

    data -> model -> for each step: forward, loss, backward, optimizer step
         -> after each epoch: validate, keep the best and the last checkpoint, maybe stop early

With trainer=ddp, torchrun starts this loop in several processes (one per GPU) that train one
model together: each takes its share of every batch, DistributedDataParallel averages their
gradients, and only rank 0 writes the run folder. The lines marked "DDP" are all it takes;
distributed.py holds the rest.

Everything specific to this capstone comes from four neighbours: `data` (the tensors),
`model` (the network), `task` (loss and metrics of one batch) and `optim` (optimizer and
schedule). Every knob is a config value in configs/; nothing here hides behind callbacks.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from . import distributed, runtime
from .batches import InMemoryBatches
from .checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from .data import load_splits, train_transform
from .errors import UserError, check_number
from .model import build_model
from .optim import build_optimizer, build_scheduler
from .task import CAPSTONE, Task
from .tracking import Tracker, check_logger

log = logging.getLogger(__name__)
# What to change when the loss becomes nan or inf (runtime.check_finite).
LOSS_ADVICE = "lower optim.lr, set trainer.grad_clip, or (with mixed precision) use trainer.precision=32"


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, float]:
    """Train as `cfg` says, writing config.yaml, metrics.csv and checkpoints/ into `run_dir`.

    Under trainer=ddp, this process first joins the others that torchrun started, and trains on its own GPU.
    """
    check_settings(cfg)
    check_logger(cfg)  # logger=wandb: the wandb package and mode, before any work
    with distributed.process_group(cfg.trainer) as device:
        return train_on(device, cfg, Path(run_dir))


def train_on(device: torch.device, cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    """The whole run, in this process, on `device`."""
    checkpoints = run_dir / "checkpoints"
    rank, world_size = distributed.rank(), distributed.world_size()  # DDP: 0 and 1 in a single process
    main = rank == 0  # DDP: only the main process writes the run folder and logs

    # 1. Where to compute, and randomness that repeats: same seed, same run (on the CPU).
    runtime.set_cpu_threads(cfg.trainer.threads)
    amp_dtype = runtime.autocast_dtype(cfg.trainer.precision, device)
    runtime.seed_everything(cfg.seed + rank)  # DDP: each process its own dropout; DDP copies rank 0's weights

    # 2. Data: the whole dataset as tensors in memory, on the device when it is a GPU.
    with distributed.first_on_each_machine():  # DDP: one process downloads and caches, the others then read
        splits = load_splits(cfg.data)
    data_state = splits.get("state")  # what reading new inputs the same way needs, or None
    splits, transform = training_splits(cfg, splits, world_size)
    train_batches, val_batches = make_batches(cfg, splits, transform, device, rank, world_size)

    # 3. Model, loss, optimizer and learning-rate schedule. The schedule runs per step.
    model = build_model(cfg.model)
    count_training_data(model, splits["train"])
    model = model.to(device)
    task = Task.from_config(cfg)
    steps_per_epoch = len(train_batches)
    total_steps, last_step = step_budget(cfg.trainer, steps_per_epoch)
    optimizer = build_optimizer(cfg.optim, model)
    scheduler = build_scheduler(cfg.optim, optimizer, total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)  # float16 needs loss scaling
    monitor, mode = choose_monitor(cfg.trainer, task)

    # 4. The run's progress. All of it goes into checkpoints, so a resumed run picks up exactly here.
    step, best, bad_epochs = 0, None, 0
    if cfg.resume:
        path = find_checkpoint(cfg.resume)
        state = load_checkpoint(path, CAPSTONE, to_resume=True)
        saved_world_size = state.get("world_size", 1)
        check_resumable(
            state["config"], cfg, path, steps_per_epoch, state["steps_per_epoch"], saved_world_size, world_size
        )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        runtime.set_rng_state(state["rng"][rank])  # one random state per process
        step, best, bad_epochs = state["step"], state["best"], state["bad_epochs"]
        log.info(f"Resumed {path} at step {step} (epoch {step // steps_per_epoch + 1}).")
    if main:  # DDP: one writer
        # metrics.csv, and with logger=wandb the same rows on Weights & Biases (tracking.py)
        tracker = Tracker(cfg, run_dir, resume_step=step if cfg.resume else None)
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    net = torch.compile(model) if cfg.trainer.compile else model  # the same weights, compiled when asked
    # DDP: the same model in every process; backward() averages the gradients of all of them.
    train_net = net
    if cfg.trainer.strategy == "ddp":
        train_net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    def save(name: str) -> None:
        rng = distributed.gather(runtime.rng_state())  # DDP: every process's random state, so resuming repeats it
        if not main:
            return
        save_checkpoint(
            {
                "capstone": CAPSTONE,
                "model": model.state_dict(),  # the model itself, not its DDP wrapper: evaluate.py reads it as is
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "step": step,
                "steps_per_epoch": steps_per_epoch,
                "world_size": world_size,
                "best": best,
                "bad_epochs": bad_epochs,
                "rng": rng,
                "config": OmegaConf.to_container(cfg, resolve=True),
                "data_state": data_state,
            },
            checkpoints / name,
            resumable=name == "last.pt",  # best.pt: what evaluate.py reads, without the optimizer's state
        )

    # 5. The loop. An epoch may start in the middle when the run was resumed there.
    patience = cfg.trainer.early_stopping_patience
    stopped_early = bool(patience and bad_epochs >= patience)  # a resumed run that had stopped early
    if stopped_early:
        log.info(f"This run stopped early already; raise trainer.early_stopping_patience above {bad_epochs} to go on.")
    processes = f" in {world_size} processes" if world_size > 1 else ""
    log.info(
        f"Training {count_parameters(model):,} parameters on {device}{processes} for {last_step:,} steps; "
        f"run in {run_dir}"
    )
    started = time.perf_counter()
    val_metrics: dict[str, float] = {}
    # The mean train/loss of the last log_every_n_steps steps, across epoch ends.
    window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
    stopping = False  # Ctrl-C: stop after this step, in every process at the same step
    with runtime.StopRequest(announce=main) as stop, profiler(cfg.trainer.profile and main, run_dir) as profile:
        while step < last_step and not stopping and not stopped_early:
            epoch, first_batch = divmod(step, steps_per_epoch)
            model.train()
            epoch_totals: dict[str, torch.Tensor] = {}  # after a mid-epoch resume: the batches from there on
            bar = tqdm(
                train_batches.epoch(epoch, start=first_batch),
                desc=f"epoch {epoch + 1}/{cfg.trainer.max_epochs}",
                total=steps_per_epoch,
                initial=first_batch,
                disable=not (cfg.logger.progress_bar and main),
                leave=False,
            )
            for batch in bar:
                with runtime.autocast(device, amp_dtype):
                    loss, stats = task.loss(train_net, batch)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.trainer.grad_clip:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                lr = scheduler.get_last_lr()[0]  # the rate this step used
                scheduler.step()
                step += 1
                add_to(epoch_totals, stats)
                window_loss += loss.detach()  # summed on the device: reading it would wait for the GPU
                window_steps += 1
                if profile is not None:
                    profile.step()
                stopping = distributed.any_process(stop.requested)  # DDP: the processes stop together

                if step % cfg.logger.log_every_n_steps == 0 or step == last_step or stopping:
                    mean_loss = float(distributed.all_reduce_mean(window_loss)) / window_steps  # DDP: of all
                    runtime.check_finite(mean_loss, step, checkpoints, LOSS_ADVICE)
                    samples = window_steps * cfg.data.batch_size * world_size
                    samples_per_s = samples / (time.perf_counter() - window_start)
                    if main:
                        tracker.log({"epoch": epoch + 1, "step": step, "train/loss": mean_loss, "lr": lr})
                    bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}", samples_per_s=f"{samples_per_s:,.0f}")
                    window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
                if step >= last_step or stopping:
                    break
            bar.close()
            if stopping and step % steps_per_epoch:
                save("last.pt")  # Ctrl-C mid-epoch: keep the progress, validate when the epoch is complete
                break

            # Validate, then keep the best checkpoint by the monitored metric and always the last one.
            # DDP: each process validates its share; the sums of all of them make the metrics.
            train_totals = distributed.all_reduce_sums(epoch_totals, device)
            train_metrics = {f"train/{k}": v for k, v in task.metrics(train_totals).items() if k != "loss"}
            distributed.copy_buffers_from_rank0(model)  # DDP: BatchNorm statistics as the checkpoint holds them
            validated = evaluate(net, val_batches, task, device, amp_dtype, across_processes=True)
            val_metrics = {f"val/{k}": v for k, v in validated.items()}
            runtime.check_finite(val_metrics["val/loss"], step, checkpoints, LOSS_ADVICE)
            improved = best is None or (val_metrics[monitor] > best if mode == "max" else val_metrics[monitor] < best)
            if improved:
                best, bad_epochs = val_metrics[monitor], 0
            else:
                bad_epochs += 1
            if main:
                tracker.log({"epoch": epoch + 1, "step": step, **train_metrics, **val_metrics})
            log.info(
                f"epoch {epoch + 1} step {step}: "
                + " ".join(f"{k}={v:.4f}" for k, v in val_metrics.items() if k.count("/") == 1)  # not per class
                + (" (best)" if improved else "")
            )
            if improved:
                save("best.pt")
            save("last.pt")
            stopped_early = bool(patience and bad_epochs >= patience)
            if stopped_early:
                log.info(f"Early stop: {monitor} did not improve for {patience} epochs.")
            stopping = distributed.any_process(stop.requested)  # Ctrl-C while validating: no further epoch

    if main:
        tracker.finish(checkpoints / "best.pt")  # logger=wandb: best.pt as an artifact, then the run ends
    minutes = (time.perf_counter() - started) / 60
    if stopping:
        log.info(f"Stopped at step {step} after {minutes:.1f} min; saved {checkpoints / 'last.pt'}.")
        log.info(f"Continue with: {runtime.continue_command(distributed.launch_command(), run_dir)}")
    elif best is not None:
        log.info(
            f"Done in {minutes:.1f} min: best {monitor}={best:.4f}. Run folder: {run_dir}\n"
            f"Next: python evaluate.py ckpt={checkpoints / 'best.pt'}"
        )
    return {**val_metrics, f"best/{monitor}": best, "step": step, "stopped": stopping}


@torch.no_grad()
def evaluate(model, batches, task, device, amp_dtype=None, *, across_processes=False) -> dict[str, float]:
    """The task's metrics over all `batches`, with the model in eval mode (BatchNorm, dropout).

    across_processes: `batches` are this process's share (trainer=ddp), and the metrics are those of
    the shares of all processes together (the same in each).
    """
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    for batch in batches:
        with runtime.autocast(device, amp_dtype):
            _, stats = task.loss(model, batch)
        add_to(totals, stats)
    model.train(was_training)
    if across_processes:
        totals = distributed.all_reduce_sums(totals, device)
    return task.metrics(totals)


def add_to(totals: dict[str, torch.Tensor], stats: dict[str, torch.Tensor]) -> None:
    for key, value in stats.items():
        totals[key] = totals[key] + value if key in totals else value


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
    runtime.check_precision(cfg.trainer.precision)


def count_training_data(model: torch.nn.Module, train: tuple) -> None:
    """A model that counts statistics of the training data before gradient descent (Naive Bayes
    ratios, say) has a count_training_data method: give it the training split. Most models have none."""
    if hasattr(model, "count_training_data"):
        model.count_training_data(*train)


def training_splits(cfg: DictConfig, splits: dict, world_size: int = 1) -> tuple[dict, Callable | None]:
    """The splits to train and validate on, and the training augmentation. With trainer.overfit_batches
    (debug mode), a few training batches serve as both splits, without augmentation, to learn by heart."""
    if not cfg.trainer.overfit_batches:
        return splits, train_transform(cfg.data)
    size = cfg.trainer.overfit_batches * cfg.data.batch_size * world_size
    few = tuple(t[:size] for t in splits["train"])
    return {"train": few, "val": few}, None


def make_batches(
    cfg: DictConfig, splits: dict, transform, device="cpu", rank: int = 0, world_size: int = 1
) -> tuple[InMemoryBatches, InMemoryBatches]:
    """Training and validation batches as this process sees them (DDP: its share of every global batch
    of batch_size x world_size samples); one sentence when the data are too few for that."""
    train_batches = InMemoryBatches(
        splits["train"],
        cfg.data.batch_size,
        shuffle=True,
        drop_last=True,
        seed=cfg.seed,
        transform=transform,
        device=device,
        lengths=splits.get("train_lengths"),  # texts: batches of similar lengths (see batches.py)
        rank=rank,
        world_size=world_size,
    )
    val_batches = InMemoryBatches(
        splits["val"], cfg.data.eval_batch_size, device=device, rank=rank, world_size=world_size
    )
    if len(train_batches) == 0:
        processes = f" x {world_size} processes" if world_size > 1 else ""
        raise UserError(
            f"data.batch_size={cfg.data.batch_size}{processes} is larger than the "
            f"{train_batches.num_samples} training samples."
        )
    if val_batches.num_samples < world_size:
        raise UserError(
            f"{world_size} processes cannot share {val_batches.num_samples} validation samples; use fewer processes."
        )
    return train_batches, val_batches


def step_budget(trainer_cfg: DictConfig, steps_per_epoch: int) -> tuple[int, int]:
    """The learning-rate schedule's length (max_epochs of steps) and the step the run stops at: the
    same, or trainer.max_steps when that comes first (the schedule keeps its length)."""
    total_steps = trainer_cfg.max_epochs * steps_per_epoch
    return total_steps, min(total_steps, trainer_cfg.max_steps or total_steps)


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


# Settings a resumed run may change: where and how fast it runs, how it logs, and when it stops.
RESUMABLE_CHANGES = (
    "resume",
    "data.root",
    "data.mirrors",
    "data.download_timeout",
    "data.eval_batch_size",
    "trainer.device",
    "trainer.strategy",  # single or ddp: the same training when the number of processes stays the same
    "trainer.backend",
    "trainer.threads",
    "trainer.compile",
    "trainer.max_steps",
    "trainer.max_epochs",
    "trainer.early_stopping_patience",
    "trainer.profile",
    "logger.",
)


def check_resumable(
    saved: dict,
    cfg: DictConfig,
    path: Path,
    steps_per_epoch: int,
    saved_steps: int,
    saved_world_size: int = 1,
    world_size: int = 1,
) -> None:
    """A resumed run continues the same experiment: it may stop later or log differently, nothing more.

    That includes the number of processes (trainer=ddp): data.batch_size is per process, so another
    number of them would train on another global batch.
    """
    if saved_world_size != world_size:
        raise UserError(
            f"{path} was trained by {saved_world_size} process(es) and this run has {world_size}, which would "
            f"change the global batch (data.batch_size x processes); resume it with {saved_world_size} process(es) "
            "in all, or start a new run."
        )
    before, now = flatten(saved), flatten(OmegaConf.to_container(cfg, resolve=True))
    changed = sorted(
        key
        for key in before.keys() | now.keys()
        if before.get(key) != now.get(key) and not key.startswith(RESUMABLE_CHANGES)
    )
    if cfg.optim.scheduler == "onecycle" and before.get("trainer.max_epochs") != now.get("trainer.max_epochs"):
        changed.append("trainer.max_epochs (a one-cycle schedule cannot be stretched)")
    if changed or steps_per_epoch != saved_steps:
        changed = changed or ["the number of training batches"]
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


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


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
