"""Per-step time of the default MNIST training step on 1 and on 2 CPU threads, side by side.

    python bench/threads.py [--data-root DIR] [--repeats 7] [--steps 40] [-- overrides]

Why: trainer.threads is a config value because torch's default is not always the fastest. On a
small CPU, a small model's threads can wait for each other more than they compute, above all
when other processes are busy too. The thread counts take turns within each repetition (and
swap which goes first), so load from other processes hits both alike; compare the medians.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from common import DEFAULT_MNIST, compose_train, import_rendered, median_step_seconds, render


def seconds_per_step(model, optimizer, task, batches, threads: int, warmup: int) -> float:
    """Median seconds of one optimizer step over `batches`, after `warmup` untimed steps."""
    torch.set_num_threads(threads)
    return median_step_seconds(model, optimizer, task, batches, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repetitions per thread count")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per repetition")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before each timing")
    parser.add_argument("overrides", nargs="*", help="hydra overrides of the recipe to time, after --")
    args = parser.parse_args()

    repo = render(Path(tempfile.mkdtemp(prefix="threads-")) / "repo")
    cfg = compose_train(repo, [f"data.root={args.data_root.resolve()}", *args.overrides])
    data, model_module, optim, task_module = import_rendered(repo, "mnist_digits", "data", "model", "optim", "task")
    torch.manual_seed(0)
    model = model_module.build_model(cfg.model).train()
    optimizer = optim.build_optimizer(cfg.optim, model)
    task = task_module.Task.from_config(cfg)
    images, labels = data.load_splits(cfg.data)["train"]
    size, count = cfg.data.batch_size, args.warmup + args.steps
    batches = [(images[i * size : (i + 1) * size], labels[i * size : (i + 1) * size]) for i in range(count)]
    print(f"model {dict(cfg.model)}, batch {size}; {args.repeats} x {args.steps} steps per thread count")

    results: dict[int, list[float]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        for threads in (1, 2) if repeat % 2 == 0 else (2, 1):
            results[threads].append(seconds_per_step(model, optimizer, task, batches, threads, args.warmup))
        print(f"  repeat {repeat + 1}: " + "  ".join(f"{t} thread(s) {results[t][-1] * 1e3:6.1f} ms" for t in (1, 2)))

    one, two = (statistics.median(results[t]) for t in (1, 2))
    steps_per_epoch = len(labels) // size
    print(f"median ms/step: 1 thread {one * 1e3:.1f}, 2 threads {two * 1e3:.1f}; ratio 1/2 = {one / two:.2f}")
    epoch = f"one epoch ({steps_per_epoch} steps)"
    print(f"{epoch}: {one * steps_per_epoch:.0f} s on 1 thread, {two * steps_per_epoch:.0f} s on 2")


if __name__ == "__main__":
    main()
