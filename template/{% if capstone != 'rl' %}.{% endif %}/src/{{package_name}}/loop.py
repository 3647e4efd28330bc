"""The training loop: plain PyTorch, read top to bottom.

    data -> model -> for each step: forward, loss, backward, optimizer step
         -> after each epoch: validate, keep the best and the last checkpoint, maybe stop early

Everything specific to this capstone comes from four neighbours: `data` (the tensors),
`model` (the network), `task` (loss and metrics of one batch) and `optim` (optimizer and
schedule). Every knob is a config value in configs/; nothing here hides behind callbacks.
"""

import contextlib
import logging
import math
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from . import runtime
from .batches import InMemoryBatches
from .checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from .data import load_splits, train_transform
from .errors import UserError
from .metrics_csv import MetricsCSV
from .model import build_model
from .optim import build_optimizer, build_scheduler
from .task import CAPSTONE, Task

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, float]:
    """Train as `cfg` says, writing config.yaml, metrics.csv and checkpoints/ into `run_dir`."""
    run_dir = Path(run_dir)
    checkpoints = run_dir / "checkpoints"

    # 1. Where to compute, and randomness that repeats: same seed, same run (on the CPU).
    check_counts(cfg)
    runtime.set_cpu_threads(cfg.trainer.threads)
    device = runtime.pick_device(cfg.trainer.device)
    amp_dtype = runtime.autocast_dtype(cfg.trainer.precision, device)
    runtime.seed_everything(cfg.seed)

    # 2. Data: the whole dataset as tensors in memory, on the device when it is a GPU.
    splits = load_splits(cfg.data)
    data_state = splits.get("state")  # what reading new inputs the same way needs (IMDB: the vocabulary)
    transform = train_transform(cfg.data)
    if cfg.trainer.overfit_batches:  # debug mode: learn a few batches by heart, no augmentation
        size = cfg.trainer.overfit_batches * cfg.data.batch_size
        few = tuple(t[:size] for t in splits["train"])
        splits, transform = {"train": few, "val": few}, None
    train_batches = InMemoryBatches(
        splits["train"],
        cfg.data.batch_size,
        shuffle=True,
        drop_last=True,
        seed=cfg.seed,
        transform=transform,
        device=device,
        lengths=splits.get("train_lengths"),  # texts: batches of similar lengths (see batches.py)
    )
    val_batches = InMemoryBatches(splits["val"], cfg.data.eval_batch_size, device=device)
    if len(train_batches) == 0:
        raise UserError(
            f"data.batch_size={cfg.data.batch_size} is larger than the {train_batches.num_samples} training samples."
        )

    # 3. Model, loss, optimizer and learning-rate schedule. The schedule runs per step.
    model = build_model(cfg.model).to(device)
    task = Task.from_config(cfg)
    steps_per_epoch = len(train_batches)
    total_steps = cfg.trainer.max_epochs * steps_per_epoch  # the length of the learning-rate schedule
    last_step = min(total_steps, cfg.trainer.max_steps or total_steps)  # max_steps stops early, same schedule
    optimizer = build_optimizer(cfg.optim, model)
    scheduler = build_scheduler(cfg.optim, optimizer, total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)  # float16 needs loss scaling
    monitor, mode = choose_monitor(cfg.trainer, task)

    # 4. The run's progress. All of it goes into checkpoints, so a resumed run picks up exactly here.
    step, best, bad_epochs = 0, None, 0
    if cfg.resume:
        path = find_checkpoint(cfg.resume)
        state = load_checkpoint(path, CAPSTONE)
        check_resumable(state["config"], cfg, path, steps_per_epoch, state["steps_per_epoch"])
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        runtime.set_rng_state(state["rng"])
        step, best, bad_epochs = state["step"], state["best"], state["bad_epochs"]
        log.info(f"Resumed {path} at step {step} (epoch {step // steps_per_epoch + 1}).")
    metrics_csv = MetricsCSV(run_dir / "metrics.csv", resume_step=step if cfg.resume else None)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    net = torch.compile(model) if cfg.trainer.compile else model  # the same weights, compiled when asked

    def save(name: str) -> None:
        save_checkpoint(
            {
                "capstone": CAPSTONE,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "step": step,
                "steps_per_epoch": steps_per_epoch,
                "best": best,
                "bad_epochs": bad_epochs,
                "rng": runtime.rng_state(),
                "config": OmegaConf.to_container(cfg, resolve=True),
                "data_state": data_state,
            },
            checkpoints / name,
        )

    # 5. The loop. An epoch may start in the middle when the run was resumed there.
    patience = cfg.trainer.early_stopping_patience
    stopped_early = bool(patience and bad_epochs >= patience)  # a resumed run that had stopped early
    if stopped_early:
        log.info(f"This run stopped early already; raise trainer.early_stopping_patience above {bad_epochs} to go on.")
    log.info(f"Training {count_parameters(model):,} parameters on {device} for {last_step:,} steps; run in {run_dir}")
    started = time.perf_counter()
    val_metrics: dict[str, float] = {}
    # The mean train/loss of the last log_every_n_steps steps, across epoch ends.
    window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
    with runtime.StopRequest() as stop, profiler(cfg.trainer.profile, run_dir) as profile:
        while step < last_step and not stop.requested and not stopped_early:
            epoch, first_batch = divmod(step, steps_per_epoch)
            model.train()
            epoch_totals: dict[str, torch.Tensor] = {}  # after a mid-epoch resume: the batches from there on
            bar = tqdm(
                train_batches.epoch(epoch, start=first_batch),
                desc=f"epoch {epoch + 1}/{cfg.trainer.max_epochs}",
                total=steps_per_epoch,
                initial=first_batch,
                disable=not cfg.logger.progress_bar,
                leave=False,
            )
            for batch in bar:
                with runtime.autocast(device, amp_dtype):
                    loss, stats = task.loss(net, batch)
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

                if step % cfg.logger.log_every_n_steps == 0 or step == last_step or stop.requested:
                    mean_loss = float(window_loss) / window_steps
                    check_finite(mean_loss, step, checkpoints)
                    samples_per_s = window_steps * cfg.data.batch_size / (time.perf_counter() - window_start)
                    metrics_csv.log({"epoch": epoch + 1, "step": step, "train/loss": mean_loss, "lr": lr})
                    bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}", samples_per_s=f"{samples_per_s:,.0f}")
                    window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
                if step >= last_step or stop.requested:
                    break
            bar.close()
            if stop.requested and step % steps_per_epoch:
                save("last.pt")  # Ctrl-C mid-epoch: keep the progress, validate when the epoch is complete
                break

            # Validate, then keep the best checkpoint by the monitored metric and always the last one.
            train_metrics = {f"train/{k}": v for k, v in task.metrics(epoch_totals).items() if k != "loss"}
            val_metrics = {f"val/{k}": v for k, v in evaluate(net, val_batches, task, device, amp_dtype).items()}
            check_finite(val_metrics["val/loss"], step, checkpoints)
            improved = best is None or (val_metrics[monitor] > best if mode == "max" else val_metrics[monitor] < best)
            if improved:
                best, bad_epochs = val_metrics[monitor], 0
            else:
                bad_epochs += 1
            metrics_csv.log({"epoch": epoch + 1, "step": step, **train_metrics, **val_metrics})
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

    minutes = (time.perf_counter() - started) / 60
    if stop.requested:
        log.info(f"Stopped at step {step} after {minutes:.1f} min; saved {checkpoints / 'last.pt'}.")
        log.info(f"Continue with: python train.py resume={run_dir} (and the overrides this run started with)")
    elif best is not None:
        log.info(
            f"Done in {minutes:.1f} min: best {monitor}={best:.4f}. Run folder: {run_dir}\n"
            f"Next: python evaluate.py ckpt={checkpoints / 'best.pt'}"
        )
    return {**val_metrics, f"best/{monitor}": best, "step": step, "stopped": stop.requested}


@torch.no_grad()
def evaluate(model, batches, task, device, amp_dtype=None) -> dict[str, float]:
    """The task's metrics over all `batches`, with the model in eval mode (BatchNorm, dropout)."""
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    for batch in batches:
        with runtime.autocast(device, amp_dtype):
            _, stats = task.loss(model, batch)
        add_to(totals, stats)
    model.train(was_training)
    return task.metrics(totals)


def add_to(totals: dict[str, torch.Tensor], stats: dict[str, torch.Tensor]) -> None:
    for key, value in stats.items():
        totals[key] = totals[key] + value if key in totals else value


def check_finite(loss: float, step: int, checkpoints: Path) -> None:
    """Stop a diverged run before it overwrites a good checkpoint with a broken one."""
    if not math.isfinite(loss):
        kept = (
            f"the last good checkpoint is {checkpoints / 'last.pt'}"
            if (checkpoints / "last.pt").exists()
            else "no checkpoint was written"
        )
        raise UserError(
            f"The loss became {loss} by step {step}, so training stopped and {kept}; "
            "lower optim.lr, set trainer.grad_clip, or (with mixed precision) use trainer.precision=32."
        )


def check_counts(cfg: DictConfig) -> None:
    """Settings that count something must count at least one, or the loop would divide by zero."""
    for key in ("data.batch_size", "data.eval_batch_size", "trainer.max_epochs", "logger.log_every_n_steps"):
        value = OmegaConf.select(cfg, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"{key}={value} must be a whole number of at least 1.")


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
    "trainer.threads",
    "trainer.compile",
    "trainer.max_steps",
    "trainer.max_epochs",
    "trainer.early_stopping_patience",
    "trainer.profile",
    "logger.",
)


def check_resumable(saved: dict, cfg: DictConfig, path: Path, steps_per_epoch: int, saved_steps: int) -> None:
    """A resumed run continues the same experiment: it may stop later or log differently, nothing more."""
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
