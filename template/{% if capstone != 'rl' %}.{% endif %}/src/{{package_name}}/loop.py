"""The training loop: plain PyTorch, read top to bottom.

    data -> model -> for each batch: outputs = model(inputs), loss, backward, optimizer step
         -> after each epoch: validate, keep the best model

`train` below is the whole lesson. What every real run needs besides (resuming, metrics.csv and
W&B, checkpoints, Ctrl-C, the progress bar, the profiler) is the `run` object's job
(plumbing/training_run.py): loop.py calls it at a few points and never hides a line of the lesson behind it.

With trainer=ddp, torchrun starts this loop in several processes (one per GPU) that train one
model together: each takes its share of every batch, DistributedDataParallel averages their
gradients, and only rank 0 writes the run folder. The lines marked "DDP" are all it takes;
plumbing/distributed.py holds the rest.

Everything specific to this capstone comes from four neighbours: `data` (the tensors),
`model` (the network), `task` (loss and metrics) and `optim` (optimizer and schedule).
Every knob is a config value in configs/.
"""

from pathlib import Path

import torch
from omegaconf import DictConfig

from .batches import make_batches, training_splits
from .data import load_splits
from .model import build_model
from .optim import build_optimizer, build_scheduler
from .plumbing import distributed, mixed_precision
from .plumbing.training_run import TrainingRun, add_to
from .task import Task


def train(cfg: DictConfig, run_dir: str | Path, on_validation=None) -> dict[str, float]:
    """Train as `cfg` says, writing config.yaml, metrics.csv and checkpoints/ into `run_dir`.
    on_validation(epoch, value), if given, hears the monitored metric after each validation (search.py)."""
    with TrainingRun(cfg, run_dir, on_validation) as run:  # seeds, threads and device; DDP: joins the other processes
        device = run.device

        # 1. Data: the whole dataset as tensors in memory, on the device when it is a GPU.
        with distributed.first_on_each_machine():  # DDP: one process downloads and caches, the others then read
            splits = load_splits(cfg.data)
        splits, augment = training_splits(cfg, splits, run.world_size)  # debug=overfit: a few batches, as they are
        train_batches, val_batches = make_batches(cfg, splits, augment, device, run.rank, run.world_size)

        # 2. Model, loss, optimizer and learning-rate schedule (it changes the rate after every step).
        model = build_model(cfg.model)
        count_training_data(model, splits["train"])
        model = model.to(device)
        task = Task.from_config(cfg)
        optimizer = build_optimizer(cfg.optim, model)
        scheduler = build_scheduler(cfg.optim, optimizer, total_steps=cfg.trainer.max_epochs * len(train_batches))
        scaler = torch.amp.GradScaler(device.type, enabled=run.precision == torch.float16)  # float16 scales the loss
        # resume=...: these states continue from the checkpoint; from here on every checkpoint holds them.
        run.begin(task, train_batches, splits, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler)
        train_model = run.distribute(model)  # DDP: the same model in every process; compiled when asked

        # 3. The loop: each batch is one step of gradient descent.
        for epoch in run.epochs():
            model.train()  # dropout on, BatchNorm learning its statistics
            for inputs, targets in run.batches(train_batches, epoch):
                with run.autocast():  # trainer.precision: bf16 or float16 where asked, else float32
                    outputs = train_model(inputs)
                    loss, stats = task.loss(outputs, targets)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()  # DDP: also averages the gradients of all processes
                if cfg.trainer.grad_clip:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                run.step_done(loss, stats)  # metrics.csv every few steps; a nan loss stops the run
            if run.stopped_mid_epoch:  # Ctrl-C: last.pt holds the progress; validation waits for the whole epoch
                break

            # 4. Validate; the run keeps best.pt when the monitored metric improved, and last.pt.
            run.end_epoch(evaluate(model, val_batches, task, device, run.precision, across_processes=True))
    return run.summary()


@torch.no_grad()
def evaluate(model, batches, task, device, amp_dtype=None, *, across_processes=False) -> dict[str, float]:
    """The task's metrics over all `batches`, with the model in eval mode (BatchNorm, dropout).

    across_processes: `batches` are this process's share (trainer=ddp), and the metrics are those of
    the shares of all processes together (the same in each).
    """
    if across_processes:
        distributed.copy_buffers_from_rank0(model)  # DDP: BatchNorm statistics as the checkpoint holds them
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    for inputs, targets in batches:
        with mixed_precision.autocast(device, amp_dtype):
            _, stats = task.loss(model(inputs), targets)
        add_to(totals, stats)
    model.train(was_training)
    if across_processes:
        totals = distributed.all_reduce_sums(totals, device)
    return task.metrics(totals)


def count_training_data(model: torch.nn.Module, train: tuple) -> None:
    """A model that counts statistics of the training data before gradient descent (Naive Bayes
    ratios, say) has a count_training_data method: give it the training split. Most models have none."""
    if hasattr(model, "count_training_data"):
        model.count_training_data(*train)
