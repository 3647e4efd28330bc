"""Per-step cost of the template's loop.py against a bare PyTorch loop, same model and batches.

    python bench/loop_overhead.py [--data-root DIR] [--repeats 5]

Both loops train the default MNIST CNN on the real training digits. Each is run for a short and
a long number of steps; the difference divided by the extra steps is the per-step time, free of
the fixed costs both share (loading data, building the model, the final validation and
checkpoint). The two loops take turns within each repetition, so load from other processes
on this shared machine hits both alike; compare the medians and their ratio.
"""

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from common import DEFAULT_MNIST, compose_train, import_rendered, render

SHORT, LONG = 20, 220


def bare_loop(package, cfg, steps: int) -> None:
    """The minimum: slice batches from a seeded permutation, forward, loss, backward, step."""
    torch.manual_seed(cfg.seed)
    images, labels = package.data.load_splits(cfg.data)["train"]
    model = package.model.build_model(cfg.model)
    optimizer = package.optim.build_optimizer(cfg.optim, model)
    scheduler = package.optim.build_scheduler(cfg.optim, optimizer, steps)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(cfg.seed))
    size = cfg.data.batch_size
    for step in range(steps):
        rows = order[step * size : (step + 1) * size]
        loss = F.cross_entropy(model(images[rows]), labels[rows], label_smoothing=cfg.task.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()


def template_loop(package, cfg, steps: int, run_dir: Path) -> None:
    """loop.py as `python train.py` runs it, progress bar included (drawn into a string, not the terminal)."""
    cfg.trainer.max_steps = steps
    with contextlib.redirect_stderr(io.StringIO()):
        package.loop.train(cfg, run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="loop-overhead-"))
    repo = render(work / "repo")
    modules = ("data", "model", "optim", "loop")
    package = SimpleNamespace(**dict(zip(modules, import_rendered(repo, "mnist_digits", *modules), strict=True)))
    # Full precision in both: the bare loop has no autocast, and the loop is what is compared.
    overrides = [f"data.root={args.data_root.resolve()}", "logger.progress_bar=true", "trainer.precision=32"]
    cfg = compose_train(repo, overrides)
    torch.set_num_threads(cfg.trainer.threads)

    per_step = {"bare": [], "loop.py": []}
    for repeat in range(args.repeats):
        for name in ("bare", "loop.py") if repeat % 2 == 0 else ("loop.py", "bare"):
            times = []
            for steps in (SHORT, LONG):
                started = time.perf_counter()
                if name == "bare":
                    bare_loop(package, cfg.copy(), steps)
                else:
                    template_loop(package, cfg.copy(), steps, work / f"run-{repeat}-{steps}")
                times.append(time.perf_counter() - started)
            per_step[name].append((times[1] - times[0]) / (LONG - SHORT))
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1] * 1e3:.2f} ms/step" for k, v in per_step.items()))

    bare, loop = (statistics.median(per_step[k]) for k in ("bare", "loop.py"))
    paired = statistics.median(t / b for t, b in zip(per_step["loop.py"], per_step["bare"], strict=True))
    setting = f"{cfg.data.batch_size} digits a step, {cfg.trainer.threads} thread"
    print(f"\nmedian per step over {args.repeats} repeats ({setting}):")
    print(f"  bare PyTorch loop  {bare * 1e3:7.2f} ms")
    print(f"  template loop.py   {loop * 1e3:7.2f} ms")
    print(f"  ratio of medians   {loop / bare:7.3f}")
    print(f"  median of the per-repeat ratios {paired:.3f}")


if __name__ == "__main__":
    main()
