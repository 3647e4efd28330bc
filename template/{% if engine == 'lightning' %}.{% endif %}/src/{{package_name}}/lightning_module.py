"""The project's model, data and metrics, in the two shapes PyTorch Lightning drives.

`CapstoneModule` (a LightningModule) says what one training or validation step does, with the
same network (model.py), loss and metrics (task.py), optimizer and schedule (optim.py) as the
plain loop in loop.py. `CapstoneData` (a LightningDataModule) serves the same in-memory batches
(batches.py). Nothing here is a second copy of the lesson: read loop.py for that.
"""

import itertools

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from .batches import InMemoryBatches, make_batches, training_splits
from .data import load_splits
from .model import build_model
from .optim import build_optimizer, build_scheduler
from .plumbing import distributed, runtime
from .plumbing.settings import step_budget
from .plumbing.training_run import add_to
from .task import CAPSTONE, Task


class CapstoneModule(pl.LightningModule):
    """One step of training or validation; Lightning runs the loop around it."""

    def __init__(self, cfg: DictConfig, data_state=None):
        super().__init__()
        self.cfg = cfg
        self.model = build_model(cfg.model)
        self.task = Task.from_config(cfg)
        self.data_state = data_state  # kept in checkpoints (IMDB: the vocabulary), as loop.py does
        self.train_totals: dict[str, torch.Tensor] = {}
        self.val_totals: dict[str, torch.Tensor] = {}

    @property
    def steps_per_epoch(self) -> int:
        return len(self.trainer.datamodule.train_batches)

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss, stats = self.task.loss(self.model(inputs), targets)
        add_to(self.train_totals, stats)
        # "step" and "epoch" name the row of metrics.csv, counted as loop.py counts them.
        lr = self.lr_schedulers().get_last_lr()[0]
        # sync_dist: under DDP, the mean loss over every process's share of the batch, as loop.py logs it.
        self.log_dict({"train/loss": loss.detach(), "lr": lr}, prog_bar=True, sync_dist=True)
        self.log_dict({"step": self.global_step + 1.0, "epoch": self.global_step // self.steps_per_epoch + 1.0})
        return loss

    def validation_step(self, batch, batch_idx):
        inputs, targets = batch
        _, stats = self.task.loss(self.model(inputs), targets)
        add_to(self.val_totals, stats)

    def on_validation_epoch_end(self):
        # Sums over every batch, and over every process under DDP, then one division: exact metrics.
        totals, self.val_totals = distributed.all_reduce_sums(self.val_totals, self.device), {}
        metrics = {f"val/{name}": value for name, value in self.task.metrics(totals).items()}
        if self.train_totals:  # train/acc etc. of the epoch, as loop.py logs them beside val/
            train = self.task.metrics(distributed.all_reduce_sums(self.train_totals, self.device))
            metrics.update({f"train/{name}": value for name, value in train.items() if name != "loss"})
        self.train_totals = {}
        # Every process holds the same numbers now; sync_dist averages equals, and so keeps Lightning content.
        epoch = (self.global_step - 1) // self.steps_per_epoch + 1.0
        self.log_dict({**metrics, "step": float(self.global_step), "epoch": epoch}, sync_dist=True)

    def configure_optimizers(self):
        optimizer = build_optimizer(self.cfg.optim, self.model)
        total_steps, _ = step_budget(self.cfg.trainer, self.steps_per_epoch)  # the schedule spans max_epochs
        scheduler = build_scheduler(self.cfg.optim, optimizer, total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Beside Lightning's own keys, the keys evaluate.py and predict.py read (see checkpoint.py)."""
        checkpoint.update(
            {
                "capstone": CAPSTONE,
                "engine": "lightning",
                "model": self.model.state_dict(),  # shares storage with checkpoint["state_dict"]: saved once
                "step": self.global_step,
                "steps_per_epoch": self.steps_per_epoch,
                "config": OmegaConf.to_container(self.cfg, resolve=True),
                "data_state": self.data_state,
                "world_size": distributed.world_size(),
                # Every process's random state (DDP: each has its own dropout), to go on as if uninterrupted.
                "rng": distributed.gather(runtime.rng_state()),
            }
        )

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        runtime.set_rng_state(checkpoint["rng"][distributed.rank()])


class EpochBatches:
    """The training batches from the step the run is at to the end of its epoch (or to `last_step`).

    Like loop.py, it finds its place from the optimizer steps taken so far, which Lightning restores
    on resume: a run stopped mid-epoch (Ctrl-C, trainer.max_steps) goes on with the next batch of the
    same shuffled epoch. `state_dict` tells Lightning that this loader can resume mid-epoch.
    """

    def __init__(self, batches: InMemoryBatches, trainer: pl.Trainer, last_step: int):
        self.batches, self.trainer, self.last_step = batches, trainer, last_step

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        epoch, start = divmod(self.trainer.global_step, len(self.batches))
        stop = min(len(self.batches), self.last_step - epoch * len(self.batches))
        return itertools.islice(self.batches.epoch(epoch, start=start), stop - start)

    def state_dict(self) -> dict:
        return {"step": self.trainer.global_step}

    def load_state_dict(self, state: dict) -> None:
        pass  # the place follows from trainer.global_step, restored by Lightning before iterating


class CapstoneData(pl.LightningDataModule):
    """The dataset as tensors in memory, cut into batches as loop.py cuts them."""

    def __init__(self, cfg: DictConfig):
        super().__init__()
        self.cfg = cfg
        splits = load_splits(cfg.data)
        self.data_state = splits.get("state")  # what reading new inputs the same way needs
        world_size = distributed.world_size()
        self.splits, self.transform = training_splits(cfg, splits, world_size)
        # On the CPU for now, to check the sizes and count the steps of an epoch before the trainer starts.
        self.train_batches, self.val_batches = self.batches(world_size=world_size)

    def batches(self, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1):
        return make_batches(self.cfg, self.splits, self.transform, device, rank, world_size)

    def setup(self, stage: str) -> None:
        # Now the trainer knows the device and the processes: the tensors move there once, and
        # under DDP each process takes its share of every batch.
        trainer = self.trainer
        self.train_batches, self.val_batches = self.batches(
            trainer.strategy.root_device, trainer.global_rank, trainer.world_size
        )

    def train_dataloader(self):
        _, last_step = step_budget(self.cfg.trainer, len(self.train_batches))
        return EpochBatches(self.train_batches, self.trainer, last_step)

    def val_dataloader(self):
        return self.val_batches
