"""Per-step time of the default MNIST CNN training step on 1 vs 2 CPU threads.

    python bench/threads.py [--data-root DIR] [--repeats 7] [--steps 40]

Why: trainer.threads defaults to 1 because, on a small, busy CPU, a small model's threads
often wait for each other more than they compute. This measures that claim on this machine.
The thread counts take turns within each repetition (and swap which goes first), so a burst
of load from other processes hits both about equally; the medians are what to compare.
"""

import argparse
import ast
import gzip
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
MEAN, STD = 0.1307, 0.3081  # the normalization the rendered data.py applies


def render(dest: Path) -> Path:
    """Render the MNIST capstone from this checkout, so the benchmark times the current template."""
    subprocess.run(
        ["copier", "copy", "-q", "--defaults", "--data-file", str(REPO / "presets/mnist.yml"), str(REPO), str(dest)],
        check=True,
    )
    return dest


def config_value(path: Path, key: str):
    """The value of the first `key: value` line of a simple YAML file (no PyYAML: stdlib only)."""
    for line in path.read_text().splitlines():
        match = re.match(rf"\s*{key}:\s*([^#]+)", line)
        if match:
            return ast.literal_eval(match.group(1).strip())
    raise KeyError(f"{key} not in {path}")


def load_images(root: Path, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` training digits, normalized as in training (the IDX header is 16/8 bytes)."""
    with gzip.open(root / "train-images-idx3-ubyte.gz") as f:
        pixels = f.read()[16 : 16 + count * 784]
    with gzip.open(root / "train-labels-idx1-ubyte.gz") as f:
        labels = f.read()[8 : 8 + count]
    images = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).view(count, 1, 28, 28)
    return images.float().div(255).sub(MEAN).div(STD), torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()


def time_steps(model, optimizer, task, batches, threads: int, warmup: int) -> float:
    """Median seconds per optimizer step over `batches`, after `warmup` untimed steps."""
    torch.set_num_threads(threads)
    times = []
    for index, batch in enumerate(batches):
        start = time.perf_counter()
        loss, _ = task.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared/datasets/mnist/raw")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repetitions per thread count")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per repetition")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before each timing")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        repo = render(Path(tmp) / "repo")
        configs = repo / "configs"
        sys.path.insert(0, str(repo / "src"))
        from mnist_digits.model import CNN  # noqa: E402  (importable only once rendered)
        from mnist_digits.task import Task  # noqa: E402

        # The default recipe's model and batch size, read from the rendered configs.
        channels = config_value(configs / "model/cnn.yaml", "channels")
        hidden = config_value(configs / "model/cnn.yaml", "hidden")
        dropout = config_value(configs / "model/cnn.yaml", "dropout")
        lr = config_value(configs / "optim/adamw.yaml", "lr")
        batch_size = config_value(configs / "train.yaml", "batch_size")
        train_size = 60000 - config_value(configs / "data/mnist.yaml", "val_size")

    torch.manual_seed(0)
    model = CNN(channels=tuple(channels), hidden=hidden, dropout=dropout).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    task = Task()
    steps = args.warmup + args.steps
    images, labels = load_images(args.data_root, steps * batch_size)
    batches = list(zip(images.split(batch_size), labels.split(batch_size), strict=True))
    print(f"CNN channels={channels} hidden={hidden}, batch_size={batch_size}; {args.repeats} x {args.steps} steps")

    results: dict[int, list[float]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        order = (1, 2) if repeat % 2 == 0 else (2, 1)  # swap who goes first: no systematic head start
        for threads in order:
            results[threads].append(time_steps(model, optimizer, task, batches, threads, args.warmup))
        print(f"  repeat {repeat + 1}: " + "  ".join(f"{t} thread(s) {results[t][-1] * 1e3:6.1f} ms" for t in (1, 2)))

    one, two = (statistics.median(results[t]) for t in (1, 2))
    print(f"median ms/step: 1 thread {one * 1e3:.1f}, 2 threads {two * 1e3:.1f}; 1-thread/2-thread = {one / two:.2f}")
    epoch_steps = train_size // batch_size
    print(f"(<1: one thread is faster.) One epoch of {epoch_steps} steps: {one * epoch_steps:.0f} s on 1 thread, "
          f"{two * epoch_steps:.0f} s on 2")


if __name__ == "__main__":
    main()
