"""Whole-process time of a fixed-length RL run on 1 and on 2 CPU threads, side by side.

    python bench/rl_threads.py [--repeats 5] [--steps 32768] [--busy 1] [-- overrides]
    python bench/rl_threads.py -- experiment=cartpole_dqn

Why: trainer.threads is a config value, and 1 is the default for the RL capstone. A 64-unit MLP
does so little work per call that a second thread mostly waits for the first. Each run has the
same number of steps (no early stop), and the thread counts take turns within each repetition
(swapping which goes first), so load from other processes hits both alike; compare the medians.
`--busy N` keeps N other processes spinning meanwhile: a shared machine, or a laptop doing other work.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import render, train_once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=32768, help="environment steps per run")
    parser.add_argument("--busy", type=int, default=0, help="other processes that keep a core busy meanwhile")
    parser.add_argument("overrides", nargs="*", help="hydra overrides of the recipe to time, after --")
    args = parser.parse_args()
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        compare(args)
    finally:
        for spinner in spinners:
            spinner.kill()


def compare(args) -> None:
    repo = render(Path(tempfile.mkdtemp(prefix="rl-threads-")) / "repo", "rl")
    (repo / "runs").mkdir()
    fixed = [f"trainer.total_steps={args.steps}", "trainer.stop_at=null", *args.overrides]
    print(f"python train.py {' '.join(fixed)}; {args.repeats} repetitions per thread count, {args.busy} busy")
    results: dict[int, list[float]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        for threads in (1, 2) if repeat % 2 == 0 else (2, 1):
            run_dir = repo / "runs" / f"t{threads}-{repeat}"
            results[threads].append(train_once(repo, run_dir, [f"trainer.threads={threads}", *fixed]))
        print(f"  repeat {repeat + 1}: " + "  ".join(f"{t} thread(s) {results[t][-1]:6.1f} s" for t in (1, 2)))
    one, two = (statistics.median(results[t]) for t in (1, 2))
    print(f"median seconds: 1 thread {one:.1f}, 2 threads {two:.1f}; ratio 2/1 = {two / one:.2f}")


if __name__ == "__main__":
    main()
