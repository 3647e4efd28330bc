"""Time-to-solve of an RL recipe over several seeds: `python train.py seed=S`, then `python evaluate.py`.

    python bench/rl_recipe.py [--seeds 1 2 3 4 5] [--episodes 20] [-- overrides]
    python bench/rl_recipe.py -- algo=dqn                # the DQN recipe for CartPole-v1
    python bench/rl_recipe.py --seeds 1 -- experiment=connect_four

Each seed trains in a fresh process, as a user runs it (wall time of the whole process, peak RSS),
then evaluate.py plays `--episodes` greedy episodes with the run's best.pt in evaluation
environments seeded apart from training. CartPole-v1 counts as solved at a mean return >= 475;
for Connect Four the summary gives the ladder: win rates and Elo differences against each opponent of
evaluate.py's `ladder`, and the share of not-losing moves on the proved positions.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import render, train_measured


def evaluate(repo: Path, run_dir: Path, episodes: int) -> dict:
    command = [sys.executable, "evaluate.py", f"ckpt={run_dir}/checkpoints/best.pt", f"episodes={episodes}"]
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    subprocess.run([*command, "gif.enabled=false"], cwd=repo, env=env, check=True, capture_output=True)
    return json.loads((run_dir / "metrics.json").read_text())


def last_step(run_dir: Path) -> int:
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    return int(float(rows[-1].split(",")[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--solved", type=float, default=475.0, help="the mean return that counts as solved")
    parser.add_argument("overrides", nargs="*", help="hydra overrides of the recipe, after --")
    args = parser.parse_args()

    repo = render(Path(tempfile.mkdtemp(prefix="rl-recipe-")) / "repo", "rl")
    print(f"recipe: python train.py {' '.join(args.overrides)}; evaluation: {args.episodes} greedy episodes")
    rows = []
    for seed in args.seeds:
        run_dir = repo / "runs" / f"seed{seed}"
        run_dir.parent.mkdir(exist_ok=True)
        seconds, peak = train_measured(repo, run_dir, [f"seed={seed}", *args.overrides])
        metrics = evaluate(repo, run_dir, args.episodes)
        rows.append((seed, seconds, peak, last_step(run_dir), metrics))
        shown = "  ".join(f"{k.removeprefix('eval/')} {v:.3g}" for k, v in metrics.items() if k.startswith("eval/"))
        print(f"  seed {seed}: {seconds:6.1f} s, {peak:5.0f} MiB, {rows[-1][3]:7d} steps  {shown}", flush=True)

    seconds = [row[1] for row in rows]
    summary = (
        f"median {statistics.median(seconds):.1f} s (min {min(seconds):.1f}, max {max(seconds):.1f}); "
        f"median steps {statistics.median(row[3] for row in rows):.0f}; "
        f"peak RSS {max(row[2] for row in rows):.0f} MiB; "
    )
    if "eval/win_rate_random" in rows[0][4]:  # Connect Four: the ladder (win rates, Elo) and the proved positions
        ladder = [key.removeprefix("eval/win_rate_") for key in rows[0][4] if key.startswith("eval/win_rate_")]
        for opponent in ladder:
            rates = [row[4][f"eval/win_rate_{opponent}"] for row in rows]
            elo = statistics.median(row[4][f"eval/elo_{opponent}"] for row in rows)
            median = statistics.median(rates)
            summary += f"vs {opponent}: win rate median {median:.3f} (min {min(rates):.3f}), Elo {elo:+.0f}; "
        if "eval/not_losing_moves" in rows[0][4]:
            shares = [row[4]["eval/not_losing_moves"] for row in rows]
            summary += f"not-losing moves on proved positions: median {statistics.median(shares):.3f}"
    else:
        solved = sum(row[4]["eval/return_mean"] >= args.solved for row in rows)
        summary += f"eval mean >= {args.solved:g}: {solved}/{len(rows)} seeds"
    print(summary)


if __name__ == "__main__":
    main()
