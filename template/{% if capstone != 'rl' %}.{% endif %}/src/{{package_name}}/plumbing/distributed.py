"""Training with several processes at once (trainer=ddp): who is who, and sums over all of them.

    torchrun --nproc_per_node=4 train.py trainer=ddp     four processes on this machine, one per GPU

torchrun starts one copy of train.py per GPU (or per share of the CPU), on one machine or on several,
and tells each copy its place in environment variables: RANK (0 to WORLD_SIZE - 1, over all machines),
LOCAL_RANK (which GPU of this machine is its own), WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Every copy
runs the same loop (loop.py) on its own share of each batch, and DistributedDataParallel averages the
gradients of all of them during backward(), so they all take the same optimizer step and keep the same
weights. Only rank 0 writes the run folder (config.yaml, metrics.csv, checkpoints, summary.json) and logs;
the others log warnings and errors only. Hydra still starts in every process, in rank 0's run folder
(run_paths.run_dir_for): the others write the same .hydra/ files there, and their warnings and errors
go to its train.log too, which is where one looks for them.
"""

import contextlib
import gc
import io
import logging
import os

import torch
import torch.distributed as dist

from . import runtime
from .errors import UserError

TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_flags = None  # a CPU (gloo) group for yes/no questions between steps, so that asking never waits for a GPU


@contextlib.contextmanager
def process_group(trainer_cfg):
    """Joins the other processes for the run under trainer=ddp, and yields this process's device.

    trainer=single (the default) is one process: the device is trainer.device, nothing is joined.
    """
    global _flags
    started = int(os.environ.get("WORLD_SIZE", 1))
    if trainer_cfg.strategy == "single":
        if started > 1:
            raise UserError(
                f"torchrun started {started} processes, but trainer.strategy=single would train {started} "
                "separate copies of the model into one folder; add trainer=ddp to train one model together."
            )
        yield runtime.pick_device(trainer_cfg.device)
        return
    if trainer_cfg.strategy != "ddp":
        raise UserError(f"trainer.strategy={trainer_cfg.strategy} is not single or ddp.")
    if not all(name in os.environ for name in TORCHRUN_VARIABLES):
        raise UserError(
            "trainer=ddp needs the processes that torchrun starts; "
            "launch with torchrun --nproc_per_node=N train.py trainer=ddp (N: the number of GPUs)."
        )
    device = device_of_this_process(trainer_cfg.device)
    backend = trainer_cfg.get("backend") or ("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    _flags = dist.new_group(backend="gloo") if backend != "gloo" else dist.group.WORLD
    if not is_main():
        logging.getLogger().setLevel(logging.WARNING)  # rank 0 tells the story; the others only their problems
    try:
        yield device
        # A finished run: free what still holds the group (the DDP wrapper, cycles the garbage collector has
        # not reached yet), then wait until every process is here. A process that tore its connections down
        # while another still used them was seen to abort (gloo, CPU) after the run had finished.
        gc.collect()
        dist.barrier(group=_flags)
    finally:
        _flags = None
        dist.destroy_process_group()


@contextlib.contextmanager
def first_on_each_machine():
    """The first process of each machine goes first (to download, extract and cache data); the others then.

    So they never write the same files at once: they find them ready, as a second run would.
    """
    first = int(os.environ.get("LOCAL_RANK", 0)) == 0
    if dist.is_initialized() and not first:
        dist.barrier(group=_flags)  # wait for the first ones
    yield
    if dist.is_initialized() and first:
        dist.barrier(group=_flags)  # let the others go


def device_of_this_process(name: str) -> torch.device:
    """trainer=ddp: this machine's GPU number LOCAL_RANK when it has CUDA GPUs, else the CPU."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if name not in ("auto", "cuda"):
        raise UserError(
            f"trainer.device={name}: under trainer=ddp each process takes GPU number LOCAL_RANK, "
            "so use trainer.device=auto, cuda or cpu."
        )
    local_rank, gpus = int(os.environ["LOCAL_RANK"]), torch.cuda.device_count()
    if local_rank >= gpus:
        raise UserError(
            f"torchrun started more processes on this machine than its {gpus} CUDA GPUs; "
            f"use torchrun --nproc_per_node={gpus} (or trainer.device=cpu)."
        )
    return torch.device("cuda", local_rank)


def rank() -> int:
    """This process's number, 0 to world_size() - 1; rank 0 is the one that writes."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """How many processes train together: 1 unless trainer=ddp under torchrun."""
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def all_reduce_sums(totals: dict, device: torch.device) -> dict:
    """`totals` (a task's stats: sums, never means) added up over all processes; as they are in one process.

    Every process must pass the same keys. The result is the same in every process, so all of them
    compute the same metrics and make the same decisions (best checkpoint, early stopping).
    """
    if not dist.is_initialized():
        return totals
    summed = {}
    for key, value in totals.items():
        summed[key] = torch.as_tensor(value, device=device).clone()  # a copy: the caller's totals stay its own
        dist.all_reduce(summed[key])
    return summed


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of `value` over all processes (each has trained on as many samples as the others)."""
    if not dist.is_initialized():
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / dist.get_world_size()


def any_process(flag: bool) -> bool:
    """True in every process when `flag` is True in any of them: Ctrl-C reaches each at its own step."""
    if not dist.is_initialized():
        return flag
    flags = torch.tensor([int(flag)])
    dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=_flags)
    return bool(flags.item())


def gather(obj) -> list:
    """[obj of rank 0, obj of rank 1, ...] in every process; [obj] in one process.

    `obj` travels as torch.save's bytes, as in a checkpoint (tensors, numbers, strings, lists, dicts).
    """
    if not dist.is_initialized():
        return [obj]
    saved = io.BytesIO()
    torch.save(obj, saved)
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, saved.getvalue(), group=_flags)
    return [torch.load(io.BytesIO(data), weights_only=True) for data in gathered]


def copy_buffers_from_rank0(model: torch.nn.Module) -> None:
    """Give every process rank 0's buffers (BatchNorm's running statistics), as the checkpoint holds them.

    DistributedDataParallel copies them at the start of each training step; after the last step of an
    epoch each process has updated its own, so validation would otherwise use slightly different ones.
    """
    if dist.is_initialized():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def launch_command() -> str:
    """How this run was started, for messages that say how to continue it."""
    if not dist.is_initialized():
        return "python train.py"
    per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", world_size()))
    machines = "" if per_machine == world_size() else " (on each machine, with its --nnodes and --rdzv_endpoint)"
    return f"torchrun --nproc_per_node={per_machine} train.py{machines}"
