"""The plain loop (engine=pytorch) against PyTorch Lightning (engine=lightning): same model, data and steps.

    python bench/engines.py [--data-root DIR] [--repeats 3] [--steps 20 420]

Renders the MNIST preset with each engine and runs `python train.py` on the real training digits
in fresh processes, as a learner would, for a short and a long number of optimizer steps. Per step:
the difference of the two wall times over the extra steps, free of the fixed costs (start-up,
loading data, validation, checkpoints). Whole process: the wall time of the long run. Peak memory:
the long run's peak RSS. The engines take turns within each repetition, so load from other
processes on this shared machine hits both alike; compare the medians and their ratios.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from common import DEFAULT_MNIST, render, train_measured

ENGINES = ("pytorch", "lightning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs=2, default=(20, 420), metavar=("SHORT", "LONG"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="engines-"))
    repos = {engine: render(work / engine, "mnist", engine=engine) for engine in ENGINES}
    short, long = args.steps
    results = {engine: {"step_ms": [], "process_s": [], "peak_mib": []} for engine in ENGINES}
    for repeat in range(args.repeats):
        for engine in ENGINES if repeat % 2 == 0 else ENGINES[::-1]:
            times, peaks = [], []
            for steps in (short, long):
                overrides = [f"data.root={args.data_root.resolve()}", f"trainer.max_steps={steps}"]
                overrides.append("logger.progress_bar=false")
                seconds, peak = train_measured(repos[engine], work / f"{engine}-{repeat}-{steps}", overrides)
                times.append(seconds)
                peaks.append(peak)
            results[engine]["step_ms"].append((times[1] - times[0]) / (long - short) * 1e3)
            results[engine]["process_s"].append(times[1])
            results[engine]["peak_mib"].append(peaks[1])
        print(
            f"repeat {repeat + 1}: "
            + "; ".join(
                f"{engine} {r['step_ms'][-1]:.2f} ms/step, {r['process_s'][-1]:.1f} s, {r['peak_mib'][-1]:.0f} MiB"
                for engine, r in results.items()
            )
        )

    medians = {engine: {key: statistics.median(values) for key, values in r.items()} for engine, r in results.items()}
    print(f"\nmedians over {args.repeats} repeats (MNIST CNN, batch 64, {long} steps for the whole process):")
    print(f"  {'':22}{'pytorch':>10}{'lightning':>11}{'ratio':>8}")
    rows = (("step_ms", "per step (ms)"), ("process_s", "whole process (s)"), ("peak_mib", "peak RSS (MiB)"))
    for key, label in rows:
        plain, lightning = medians["pytorch"][key], medians["lightning"][key]
        print(f"  {label:22}{plain:10.2f}{lightning:11.2f}{lightning / plain:8.2f}")


if __name__ == "__main__":
    main()
