"""Training images per second of the CamVid models, and what bf16 and channels-last add, side by side.

    python bench/camvid_throughput.py [--data-root DIR] [--repeats 5] [--steps 12] [-- overrides]

Each variant trains on the same augmented batches of real CamVid at the recipe's working
resolution (full steps: forward, loss, backward, AdamW). The variants take turns within each
repetition, so load from other processes hits them alike; compare the medians.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from camvid_recipe import linked_data_root
from common import DEFAULT_CAMVID, compose_train, import_rendered, median_step_seconds, render

# (label, overrides): the default of each model, then the default U-Net without each speed-up.
VARIANTS = [
    ("unet (default: bf16, channels-last)", ["model=unet"]),
    ("light (default: bf16, channels-last)", ["model=light"]),
    ("unet, float32, channels-last", ["model=unet", "trainer.precision=32"]),
    ("unet, bf16, contiguous (NCHW)", ["model=unet", "model.channels_last=false"]),
]


def images_per_second(parts, cfg, batches, warmup: int) -> float:
    """Median training images per second over `batches`, after `warmup` untimed steps."""
    model_module, optim, mixed_precision, task_module = parts
    torch.manual_seed(0)
    model = model_module.build_model(cfg.model).train()
    optimizer = optim.build_optimizer(cfg.optim, model)
    task = task_module.Task.from_config(cfg)
    dtype = mixed_precision.autocast_dtype(cfg.trainer.precision, torch.device("cpu"))
    seconds = median_step_seconds(
        model, optimizer, task, batches, warmup, lambda: mixed_precision.autocast(torch.device("cpu"), dtype)
    )
    return len(batches[0][0]) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_CAMVID)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions per variant")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per repetition")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before each timing")
    parser.add_argument("overrides", nargs="*", help="hydra overrides for every variant, after --")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="camvid-throughput-"))
    repo = render(tmp / "repo", "camvid")
    root = linked_data_root(args.data_root, tmp / "data")
    data, batches_module, *parts = import_rendered(
        repo, "camvid_segmentation", "data", "batches", "model", "optim", "plumbing.mixed_precision", "task"
    )
    configs = {label: compose_train(repo, [f"data.root={root}", *extra, *args.overrides]) for label, extra in VARIANTS}
    first = next(iter(configs.values()))
    torch.set_num_threads(first.trainer.threads)
    train_batches = batches_module.InMemoryBatches(
        data.load_splits(first.data)["train"],
        first.data.batch_size,
        shuffle=True,
        seed=0,
        transform=data.train_transform(first.data),
    )
    batches = list(train_batches.epoch(0))[: args.warmup + args.steps]
    print(
        f"{first.trainer.threads} threads, batch {first.data.batch_size}, crop {list(first.data.crop)} "
        f"of {list(first.data.size)}; {args.repeats} x {args.steps} steps per variant",
        flush=True,
    )

    results: dict[str, list[float]] = {label: [] for label in configs}
    for repeat in range(args.repeats):
        order = list(configs) if repeat % 2 == 0 else list(reversed(configs))
        for label in order:
            results[label].append(images_per_second(parts, configs[label], batches, args.warmup))
        print(
            f"  repeat {repeat + 1}: "
            + ", ".join(f"{label.split(' (')[0]} {results[label][-1]:.1f}" for label in configs),
            flush=True,
        )

    baseline = statistics.median(results[VARIANTS[0][0]])
    print("\n| variant | train images/s (median) | relative to the default U-Net |\n|---|---|---|")
    for label, values in results.items():
        print(f"| {label} | {statistics.median(values):.1f} | {statistics.median(values) / baseline:.2f} |")


if __name__ == "__main__":
    main()
