"""bench/RESULTS.md in one command: every figure the project publishes, measured again on this machine.

    python bench/report.py                          # everything: about two hours on 2 CPU cores
    python bench/report.py --repeats 1 --no-suite   # one run of each recipe, no test suite: about 15 minutes
    python bench/report.py --only startup render    # some sections, printed (RESULTS.md is left alone)
    python bench/report.py --only suite --output bench/RESULTS.md   # measure one section again, in place
    python bench/report.py --only recipes --capstones mnist imdb --repeats 5

Sections, each with how it was measured written beside its table:
  recipes   time-to-target, wall time, validation score and peak memory of each capstone's default
            recipe (`python train.py` of the preset, real data from ../shared/datasets, fresh process)
  loop      per-step time of a bare PyTorch loop, the template's loop.py and the Lightning engine
  startup   `python train.py debug=smoke` of each preset against `python -c "import torch"`
  render    `copier copy` of each preset
  imdb      IMDB's default recipe and the bag alone beside the scikit-learn peer (TF-IDF and
            logistic regression, bench/imdb_peer.py) on the same validation movies, taking turns
  camvid    CamVid's default and experiment=best recipes on the held-out drive 0006R0 (about 50
            minutes a round; --camvid-repeats)
  search    IMDB's `python search.py` with the median pruner beside the same search without one:
            what pruning saves (about 6 minutes)
  ladder    the Connect Four ladder: the minimax players' speed, then the DQN self-play recipe
            trained and evaluated against each opponent (about 10 minutes)
  alphazero the AlphaZero recipe for Connect Four trained (about 30 minutes), then played on the
            ladder with its search and as the network alone
  atari_speed  what bounds PPO's steps per second on Atari here: the environment, the network's
            forward pass, the copies, or the update (bench/atari_speed.py, about 3 minutes)
  atari     the random policy's score on Frogger and Pong: the floor under an Atari learning curve
  frogger   experiment=atari_cpu (PPO on Frogger, about 30 minutes) trained, then evaluated beside the
            random policy; its learning curve and GIF go to bench/frogger/
  suite     the whole template test suite (`python -m pytest`)

Only training and validation data are used: the test splits are withheld for independent
evaluation, so every score here is a validation score. The machine is shared and noisy: whatever
is compared takes turns within each repetition, and the tables give medians.
"""

import argparse
import contextlib
import csv
import datetime
import importlib.metadata
import io
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import demo_latency
import torch
import yaml
from camvid_recipe import linked_data_root
from common import (
    DEFAULT_CAMVID,
    DEFAULT_IMDB,
    DEFAULT_MNIST,
    POLL_S,
    REPO,
    compose_train,
    import_rendered,
    render,
    train_measured,
    train_watched,
)
from loop_overhead import LONG, SHORT, bare_loop, template_loop

LADDER_GAMES = 200  # games against each opponent of the ladder
ATARI_EPISODES = 20  # whole games of the random policy per Atari game
SECTIONS = (
    "recipes",
    "imdb",
    "camvid",
    "search",
    "ladder",
    "alphazero",
    "atari",
    "frogger",
    "atari_speed",
    "loop",
    "startup",
    "demo",
    "render",
    "suite",
)
PRESETS = ("mnist", "camvid", "imdb", "rl")


@dataclass(frozen=True)
class Target:
    """The validation number a capstone's default recipe should reach, and the issue's test-set goal it stands for."""

    column: str  # in metrics.csv
    value: float
    goal: str


TARGETS = {
    "mnist": Target("val/acc", 0.99, "test accuracy >= 99.0% within 20 s"),
    "camvid": Target("val/miou", 0.45, "test mIoU >= 0.52 (ENet 0.513) within 15 min"),
    "imdb": Target("val/acc", 0.90, "test accuracy >= 91.0% within 60 s, under 3 GiB"),
    "rl": Target("val/return_mean", 475.0, "CartPole-v1 solved (greedy mean >= 475) within 60 s"),
}


def data_overrides(capstone: str, work: Path, index: int) -> list[str]:
    """Where run `index` finds the real training data: a fresh data root each time, so caches start
    cold as on a learner's first run, linking the files in ../shared instead of copying them."""
    if capstone == "mnist":
        return [f"data.root={DEFAULT_MNIST}"]  # raw IDX files, parsed on every run: nothing to warm
    if capstone == "camvid":
        return [f"data.root={linked_data_root(DEFAULT_CAMVID, work / f'camvid-data{index}')}"]
    if capstone == "imdb":
        reviews = work / "imdb-reviews"
        if not reviews.exists():
            with tarfile.open(DEFAULT_IMDB) as tar:
                tar.extractall(reviews, filter="data")
        root = work / f"imdb-data{index}"
        root.mkdir()
        (root / "aclImdb").symlink_to(reviews / "aclImdb")
        return [f"data.root={root}"]
    return []  # rl: the environment is the data


def recipes(work: Path, repeats: int, capstones=PRESETS) -> str:
    rows = []
    for capstone in capstones:
        target = TARGETS[capstone]
        repo = render(work / f"recipe-{capstone}", capstone)
        (metrics_csv,) = import_rendered_fresh(repo, "plumbing.metrics_csv")
        runs, finals, bests = [], [], []
        for index in range(repeats):
            run_dir = work / f"recipe-{capstone}-run{index}"
            run = train_watched(repo, run_dir, data_overrides(capstone, work, index), target.column, target.value)
            scores = [
                row[target.column] for row in metrics_csv.read_metrics(run_dir / "metrics.csv") if target.column in row
            ]
            runs.append(run)
            finals.append(scores[-1])
            bests.append(max(scores))
            reached = "never" if run.target_s is None else f"{run.target_s:.1f} s"
            print(
                f"  {capstone} run {index + 1}: {run.wall_s:.1f} s, target {reached}, {target.column} "
                f"{scores[-1]:.4g} (best {max(scores):.4g}), {run.peak_mib:.0f} MiB",
                flush=True,
            )
        reached = [run.target_s for run in runs if run.target_s is not None]
        rows.append(
            f"| {capstone} | {target.column} >= {target.value:g} | "
            + (
                f"**{statistics.median(reached):.1f} s** ({len(reached)}/{repeats} runs)"
                if reached
                else f"never (0/{repeats})"
            )
            + f" | {statistics.median(run.wall_s for run in runs):.1f} s ({spread([run.wall_s for run in runs])})"
            + f" | {statistics.median(finals):.4g} / {statistics.median(bests):.4g}"
            + f" | {statistics.median(run.peak_mib for run in runs):,.0f} MiB | {target.goal} |"
        )
    return f"""## Time to target of each default recipe

How: each preset rendered from this checkout, then `python train.py` with no override but the
data folder, {repeats} time(s), each a fresh process with a fresh data root (cold caches), one after
the other on an otherwise idle machine. *Time to target*: from launch until metrics.csv first
holds a row at or past the target (read every {POLL_S} s); it includes imports, reading the data,
training and the validations before it. *Whole run*: launch to exit (the whole recipe, final
validation and checkpoints). *Peak memory*: the process's maximum resident set size (`wait4`).
All figures are medians. The targets are validation stand-ins for the issues' test-set goals; rl's
`val/` is the greedy evaluation during training, and its recipe stops once it reaches the target.

| capstone | target (val) | time to target | whole run (range) | final / best score | peak memory | issue's goal |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""


def imdb_split_files(repo: Path, reviews: Path, split: Path) -> None:
    """Write the review files of the rendered project's train and validation sides (duplicates
    dropped, whole movies held out, as data.py does) to `split`, for the peer to read."""
    data, movies = import_rendered_fresh(repo, "data", "movies")
    cfg = compose_train(repo, []).data
    folder = reviews / "aclImdb"
    read = data.read_reviews(folder, "train")
    unique = data.first_copies(read.texts)
    train, val = movies.split_by_movie(unique, movies.movies_of(folder, read.files), cfg.val_size, cfg.split_seed)
    split.write_text(json.dumps({"train": [read.files[i] for i in train], "val": [read.files[i] for i in val]}))


def imdb_against_peer(work: Path, repeats: int) -> str:
    repo = render(work / "imdb-peer", "imdb")
    (metrics_csv,) = import_rendered_fresh(repo, "plumbing.metrics_csv")
    data_overrides("imdb", work, 999)  # extracts the reviews once, into work/imdb-reviews
    split = work / "imdb-split.json"
    imdb_split_files(repo, work / "imdb-reviews", split)
    peer = [sys.executable, str(REPO / "bench" / "imdb_peer.py"), str(work / "imdb-reviews" / "aclImdb"), str(split)]
    recipes = {  # name: (run folder, overrides)
        "default (`python train.py`)": ("default", []),
        "the bag alone (`experiment=bag`)": ("bag", ["experiment=bag"]),
    }
    results = {name: [] for name in [*recipes, "scikit-learn peer"]}
    roots = iter(range(1000, 2000))  # fresh data roots, numbered apart from the recipes section's
    for index in range(repeats):
        for name, (folder, overrides) in recipes.items():
            run_dir = work / f"imdb-{folder}-{index}"
            run = train_watched(repo, run_dir, [*data_overrides("imdb", work, next(roots)), *overrides])
            scores = [row["val/acc"] for row in metrics_csv.read_metrics(run_dir / "metrics.csv") if "val/acc" in row]
            results[name].append((run.wall_s, run.peak_mib, max(scores)))
        started = time.perf_counter()
        process = subprocess.Popen(peer, stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"bench/imdb_peer.py failed ({os.waitstatus_to_exitcode(status)})")
        accuracy = json.loads(process.stdout.read())["val/acc"]
        results["scikit-learn peer"].append((wall, usage.ru_maxrss / 1024, accuracy))
        print(f"  imdb round {index + 1}: " + "; ".join(f"{n}: {r[-1]}" for n, r in results.items()), flush=True)
    peer_s = statistics.median(wall for wall, _, _ in results["scikit-learn peer"])
    rows = []
    for name, runs in results.items():
        walls = [wall for wall, _, _ in runs]
        rows.append(
            f"| {name} | {statistics.median(acc for _, _, acc in runs):.4f} | {statistics.median(walls):.1f} s "
            f"({spread(walls)}) | {statistics.median(walls) / peer_s:.2f} | "
            f"{statistics.median(peak for _, peak, _ in runs):,.0f} MiB |"
        )
    return f"""## IMDB on the validation movies, beside the scikit-learn peer

How: the imdb preset rendered; its validation split (about 5,000 training reviews of movies that
training never sees, `movies.py`) written out, so that all three are scored on the same reviews.
Then {repeats} round(s), each taking turns: `python train.py` (the default recipe: the fastText bag
and Naive Bayes regression trained together for 3 epochs), `python train.py experiment=bag` (the
bag alone at its own recipe, the default before the ensemble), and `python bench/imdb_peer.py`
(scikit-learn's TF-IDF of words and word pairs with logistic regression, untuned: what a
practitioner tries first). `experiment=best` is the default recipe trained on the validation
reviews too, so it has no validation score of its own: with `data.train_on_val=false` it is the
first row. Each is a whole fresh process; train.py gets a fresh data root (a cold token cache).
*Accuracy*: the best validation accuracy of the run (what best.pt holds); the peer's, at its end.
Medians.

| recipe | validation accuracy | whole process (range) | time against the peer | peak memory |
|---|---|---|---|---|
{chr(10).join(rows)}
"""


def camvid_on_held_out_drive(work: Path, repeats: int) -> str:
    """CamVid's default and experiment=best recipes, scored on the drive that training never sees."""
    repo = render(work / "camvid-drive", "camvid")
    (metrics_csv,) = import_rendered_fresh(repo, "plumbing.metrics_csv")
    recipes = {"default (`python train.py`)": [], "`experiment=best`": ["experiment=best"]}
    results = {name: [] for name in recipes}
    roots = iter(range(2000, 3000))  # fresh data roots (cold decode caches), numbered apart from the others'
    for index in range(repeats):
        for number, (name, overrides) in enumerate(recipes.items()):
            run_dir = work / f"camvid-drive-{number}-{index}"
            run = train_watched(repo, run_dir, [*data_overrides("camvid", work, next(roots)), *overrides])
            rows = [row for row in metrics_csv.read_metrics(run_dir / "metrics.csv") if "val/miou" in row]
            best = max(rows, key=lambda row: row["val/miou"])
            results[name].append((run.wall_s, run.peak_mib, best["val/miou"], rows[-1]["val/miou"], best))
            score = f"best val/miou {best['val/miou']:.4f}"
            print(f"  camvid {name} run {index + 1}: {run.wall_s:.0f} s, {score}", flush=True)
    lines = []
    for name, runs in results.items():
        walls = [run[0] for run in runs]
        best_row = sorted(runs, key=lambda run: run[2])[len(runs) // 2][4]  # the median run's best epoch
        weakest = sorted((value, key.removeprefix("val/iou/")) for key, value in best_row.items() if "iou/" in key)[:3]
        best, final = (statistics.median(run[column] for run in runs) for column in (2, 3))
        lines.append(
            f"| {name} | {best:.4f} | {final:.4f}"
            f" | {statistics.median(walls) / 60:.1f} min ({spread([w / 60 for w in walls])}) | "
            f"{statistics.median(run[1] for run in runs):,.0f} MiB | "
            + ", ".join(f"{cls} {value:.2f}" for value, cls in weakest)
            + " |"
        )
    return f"""## CamVid on the held-out drive

How: the camvid preset rendered, then {repeats} round(s) of `python train.py` (the default recipe) and
`python train.py experiment=best`, each a whole fresh process with a fresh data root (cold decode
cache), one after the other. Validation is `data.val_drive=0006R0`: the 101 frames of the drive that
training never sees (SegNet's val/ frames of drive 0016E5 join training), scored at the full 480x360.
*Best*: the best epoch's validation mIoU (what best.pt holds); *final*: the last epoch's. Medians.
The issue's goals are on the withheld test split: default >= 0.52 within 15 min, best >= 0.58.

| recipe | best val mIoU | final val mIoU | whole process (range) | peak memory | weakest classes (IoU, best epoch) |
|---|---|---|---|---|---|
{chr(10).join(lines)}
"""


SEARCH_TRIALS = 16


def search_pruning(work: Path, repeats: int) -> str:
    """IMDB's search.py with the median pruner and without one, on the real reviews: what pruning saves."""
    repo = render(work / "imdb-search", "imdb")
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    results = {}
    for number, pruner in enumerate(("median", "none")):
        folder = work / f"search-{pruner}"
        command = [sys.executable, "search.py", *data_overrides("imdb", work, 3000 + number)]
        command += [f"hparams_search.{key}" for key in (f"pruner={pruner}", f"folder={folder}", "sampler.seed=0")]
        command.append(f"hparams_search.n_trials={SEARCH_TRIALS}")
        wall = timed(command, repo, env)
        with (folder / "search_summary.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        finished = [row for row in rows if row["state"] in ("complete", "pruned")]
        results[pruner] = {
            "wall": wall,
            "pruned": sum(row["state"] == "pruned" for row in rows),
            "validations": sum(int(row["validations"]) for row in finished),
            "best": max(float(row["val/acc"]) for row in rows if row["state"] == "complete"),
            "saving": (folder / "search_summary.md").read_text().strip().splitlines()[-1],
        }
        print(f"  search with pruner={pruner}: {wall:.0f} s, {results[pruner]}", flush=True)
    full = results["none"]
    lines = [
        f"| {pruner} | {r['pruned']} of {SEARCH_TRIALS} | {r['validations']} | {r['wall'] / 60:.1f} min | "
        f"{r['wall'] / full['wall']:.2f} | {r['best']:.4f} |"
        for pruner, r in results.items()
    ]
    return f"""## Hyperparameter search: what pruning saves

How: the imdb preset rendered, then `python search.py hparams_search.n_trials={SEARCH_TRIALS}
hparams_search.sampler.seed=0` on the real training reviews (validation: the held-out movies), once
with the default median pruner and once with `hparams_search.pruner=none`, each a whole fresh
process with a fresh data root, one after the other (one run each). *Validations*: epochs trained
and validated, over all trials; the TPE sampler follows the results, so the two searches try
different settings after their first trials. IMDB's default recipe trains 3 epochs, so a pruned
trial saves at most two thirds of its training.
The pruned search's own summary says: "{results["median"]["saving"]}"

| pruner | trials pruned | validations | whole search | time against no pruning | best val accuracy |
|---|---|---|---|---|---|
{chr(10).join(lines)}
"""


def connect_four_ladder(work: Path, repeats: int) -> str:
    """The Connect Four ladder: its players' speed, and the DQN self-play recipe measured on it."""
    repo = render(work / "ladder-rl", "rl")
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    speed_command = [sys.executable, str(REPO / "bench/ladder_speed.py"), "--repo", str(repo), "--rounds", str(repeats)]
    speed = json.loads(subprocess.run(speed_command, env=env, capture_output=True, text=True, check=True).stdout)
    speed_rows = [
        f"| {name} | {figures['positions_per_s']:,.0f} | {figures['ms_per_move']:.1f} ms |"
        for name, figures in speed.items()
        if name.startswith("minimax")
    ]
    run_dir = work / "ladder-dqn"
    seconds, peak = train_measured(repo, run_dir, ["experiment=connect_four_dqn", "seed=1"])
    evaluate = [sys.executable, "evaluate.py", f"ckpt={run_dir}/checkpoints/best.pt", f"episodes={LADDER_GAMES}"]
    subprocess.run([*evaluate, "gif.enabled=false"], cwd=repo, env=env, check=True, capture_output=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    opponents = [key.removeprefix("eval/win_rate_") for key in metrics if key.startswith("eval/win_rate_")]
    ladder_rows = [
        f"| {name} | {metrics[f'eval/win_rate_{name}']:.3f} | {metrics[f'eval/draw_rate_{name}']:.3f} "
        f"| {metrics[f'eval/loss_rate_{name}']:.3f} | {metrics[f'eval/elo_{name}']:+d} |"
        for name in opponents
    ]
    return f"""## Connect Four ladder

How: `bench/ladder_speed.py` in a rendered rl repo: minimax at each depth plays 20 games against the
lookahead player (from the empty board), its search timed alone ({repeats} rounds, median); positions are the nodes its
alpha-beta search visits. Proving evaluate.py's 200 positions (18 empty cells, every legal move of
each solved): {speed["proved_positions_s"]:.1f} s. Then `python train.py experiment=connect_four_dqn seed=1`
(DQN self-play, {seconds / 60:.1f} min whole process, peak {peak:,.0f} MiB) and `python evaluate.py
episodes={LADDER_GAMES}`: {LADDER_GAMES} games against each opponent, in pairs that open with the same
two random moves, the agent first in one game of each pair.
These are evaluation games, not a held-out split: the opponents are the test.

| player | positions searched per second | time per move |
|---|---|---|
{chr(10).join(speed_rows)}

| DQN recipe against | win | draw | loss | Elo difference |
|---|---|---|---|---|
{chr(10).join(ladder_rows)}

Moves that do not lose, on the 200 proved positions: {metrics["eval/not_losing_moves"]:.3f}.
"""


def alphazero_ladder(work: Path) -> str:
    """The AlphaZero recipe, trained once and played on the ladder with its search and without."""
    repo = render(work / "alphazero-rl", "rl")
    run_dir = work / "alphazero"
    seconds, peak = train_measured(repo, run_dir, ["experiment=connect_four", "seed=1"])
    return alphazero_evaluated(repo, run_dir, seconds, peak)


def alphazero_evaluated(repo: Path, run_dir: Path, seconds: float, peak: float) -> str:
    """The ladder section for an AlphaZero run folder that took `seconds` and `peak` MiB to train."""
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    (metrics_csv,) = import_rendered_fresh(repo, "plumbing.metrics_csv")
    # Rows logged across an evaluation count its minutes too: the median is the self-play's own speed.
    speeds = [row["train/sps"] for row in metrics_csv.read_metrics(run_dir / "metrics.csv") if "train/sps" in row]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())["algo"]
    evaluate = [sys.executable, "evaluate.py", f"ckpt={run_dir}/checkpoints/best.pt", f"episodes={LADDER_GAMES}"]
    ladders, eval_seconds = {}, {}
    for name, extra in (("search", []), ("alone", ["simulations=0", "gif.enabled=false"])):
        started = time.perf_counter()
        subprocess.run([*evaluate, *extra], cwd=repo, env=env, check=True, capture_output=True)
        eval_seconds[name] = time.perf_counter() - started
        ladders[name] = json.loads((run_dir / "metrics.json").read_text())
    searching = ladders["search"]
    opponents = [key.removeprefix("eval/win_rate_") for key in searching if key.startswith("eval/win_rate_")]

    def cells(metrics: dict, name: str) -> str:
        rates = "/".join(f"{metrics[f'eval/{kind}_rate_{name}']:.3f}" for kind in ("win", "draw", "loss"))
        return f"{rates} | {metrics[f'eval/elo_{name}']:+d}"

    table = [f"| {name} | {cells(searching, name)} | {cells(ladders['alone'], name)} |" for name in opponents]
    gif = {1: "won", 0: "drawn", -1: "lost"}[int(searching["eval/gif_outcome"])]
    return f"""## AlphaZero on the Connect Four ladder

How: `python train.py experiment=connect_four seed=1` (the default recipe for Connect Four) in a rendered rl repo
({searching["train/step"]:,} self-play moves, {config["num_games"]} games side by side, {config["simulations"]}
simulations a move: {seconds / 60:.1f} min whole process, evaluations included, peak {peak:,.0f} MiB; self-play
and learning ran at {statistics.median(speeds):,.0f} moves per second, median of the logged rows). Then
`python evaluate.py episodes={LADDER_GAMES}` on its best.pt twice: with its search ({config["play_simulations"]}
simulations a move, {eval_seconds["search"] / 60:.1f} min) and as the network alone (`simulations=0`: the
move with the highest prior, {eval_seconds["alone"] / 60:.1f} min). {LADDER_GAMES} games against each opponent,
in pairs that open with the same two random moves, the agent first in one game of each pair (the ladder section
above has the DQN recipe on the same games). These are evaluation games, not a held-out split.

| against | with search: win/draw/loss | Elo | network alone: win/draw/loss | Elo |
|---|---|---|---|---|
{chr(10).join(table)}

Moves that do not lose, on the 200 proved positions: {searching["eval/not_losing_moves"]:.3f} with search,
{ladders["alone"]["eval/not_losing_moves"]:.3f} for the network alone. The game in agent.gif (the agent first,
against minimax4, configs/eval.yaml: gif.opponent): {gif}.
"""


def atari_random(work: Path, repeats: int) -> str:
    """The random policy's Atari scores (bench/atari_random.py), the anchor for a learning curve."""
    command = [sys.executable, str(REPO / "bench/atari_random.py"), "--episodes", str(ATARI_EPISODES)]
    scores = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    rows = [
        f"| {game} | {f['mean']:.1f} | {f['std']:.1f} | {f['min']:.0f} to {f['max']:.0f} |"
        for game, f in scores.items()
    ]
    return f"""## Atari: the random policy

How: `bench/atari_random.py`. {ATARI_EPISODES} whole games of each, played side by side in a rendered rl
repo's evaluation environment (configs/env/atari.yaml: ale-py's vector environment, 4 frames a step,
sticky actions, at most 108,000 frames a game, the true score: no reward clipping, no life loss
ending a game), a uniformly random action at every step (evaluate.py's random line on the learning
curve, `random_policy_returns`); seed 12345. No published DQN or PPO score
for Frogger exists, so this is the anchor a learning curve is read against.

| game | mean score | standard deviation | range |
|---|---|---|---|
{chr(10).join(rows)}
"""


def frogger_recipe(work: Path) -> str:
    """experiment=atari_cpu trained once, then evaluated beside the random policy; its learning curve
    and GIF are kept in bench/frogger/ for this report to show."""
    repo = render(work / "frogger-rl", "rl")
    run_dir = work / "frogger"
    seconds, peak = train_measured(repo, run_dir, ["experiment=atari_cpu", "seed=1"])
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    evaluate = [sys.executable, "evaluate.py", f"ckpt={run_dir}/checkpoints/best.pt", f"episodes={ATARI_EPISODES}"]
    started = time.perf_counter()
    subprocess.run([*evaluate, "gif.max_frames=1500"], cwd=repo, env=env, check=True, capture_output=True)
    eval_minutes = (time.perf_counter() - started) / 60
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (metrics_csv,) = import_rendered_fresh(repo, "plumbing.metrics_csv")
    rows = metrics_csv.read_metrics(run_dir / "metrics.csv")
    speeds = [row["train/sps"] for row in rows if "train/sps" in row]
    curve = [
        f"| {int(row['step']):,} | {row['val/return_mean']:.1f} | {row['val/return_std']:.1f} |"
        for row in rows
        if "val/return_mean" in row
    ]
    shown = REPO / "bench/frogger"
    shown.mkdir(exist_ok=True)
    for name in ("returns.png", "agent.gif"):
        (shown / name).write_bytes((run_dir / name).read_bytes())
    trained, random = metrics["eval/return_mean"], metrics["eval/random_return_mean"]
    return f"""## Atari: Frogger in 30 minutes

How: `python train.py experiment=atari_cpu seed=1` in a rendered rl repo (PPO on ALE/Frogger-v5: the
Nature CNN at half width, 2 epochs a rollout, {metrics["train/step"]:,} steps; {seconds / 60:.1f} min whole
process, evaluations included, peak {peak:,.0f} MiB; {statistics.median(speeds):,.0f} steps per second,
median of the logged rows). Then `python evaluate.py episodes={ATARI_EPISODES}` on its best.pt
({eval_minutes:.1f} min): {ATARI_EPISODES} whole games (every life, the true score, sticky actions, at
most 108,000 frames), the agent drawing its actions from its policy (configs/env/atari.yaml:
eval_policy), and a uniformly random policy on the same evaluation environments. These are games
seeded apart from training, not a held-out split.

| policy | mean score | standard deviation |
|---|---|---|
| trained (best.pt) | {trained:.1f} | {metrics["eval/return_std"]:.1f} |
| random | {random:.1f} | {metrics["eval/random_return_std"]:.1f} |

The trained agent scores {trained / random:.1f} times the random policy. The evaluations during
training (10 games each, seeded apart from these), by environment steps:

| steps | mean score | standard deviation |
|---|---|---|
{chr(10).join(curve)}

![Frogger learning curve](frogger/returns.png) ![The trained agent playing](frogger/agent.gif)
"""


def atari_speed(work: Path, repeats: int) -> str:
    """What bounds PPO's steps per second on Atari here (bench/atari_speed.py): each part timed alone."""
    command = [sys.executable, str(REPO / "bench/atari_speed.py"), "--rounds", str(repeats)]
    speed = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    parts = {
        "env": "ale-py's vector environment, random actions (C++ threads, frame skip 4, 84 x 84, 4 frames)",
        "copies": "observations into a tensor and actions back",
        "act": "the network's forward pass that picks the actions (a batch of 8)",
        "learn": "PPO's update: 4 epochs of 4 minibatches over each rollout of 1,024 steps",
        "whole": "all four one after the other: 1 / (sum of 1 / each)",
    }
    rows = [f"| {part} | {speed[part]:,.0f} | {what} |" for part, what in parts.items()]
    bound = min(("env", "copies", "act", "learn"), key=lambda part: speed[part])
    next_slowest = min(speed[part] for part in ("env", "copies", "act", "learn") if part != bound)
    return f"""## Atari: what bounds PPO's steps per second

How: `bench/atari_speed.py` in a rendered rl repo, ALE/Frogger-v5 with experiment=atari's settings
(8 environments, rollouts of 128 steps, 4 epochs of 4 minibatches, the Nature CNN, 2 threads). Each
part of a PPO iteration timed alone for 10 s, as game steps per second of that part ({repeats} rounds, median).

| part | steps per second | what |
|---|---|---|
{chr(10).join(rows)}

The bound on this CPU is `{bound}`: the next slowest part would allow {next_slowest:,.0f} steps per second.
"""


def import_rendered_fresh(repo: Path, *modules: str):
    """Modules of the package rendered in `repo`, even where a package of the same name was imported
    from another rendered repo before (the mnist preset with another engine, say)."""
    package = next(path.name for path in (repo / "src").iterdir() if (path / "__init__.py").exists())
    for name in [name for name in sys.modules if name == package or name.startswith(f"{package}.")]:
        del sys.modules[name]
    sys.path.insert(0, str(repo / "src"))
    return import_rendered(repo, package, *modules)


def spread(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}" if len(values) > 1 else "one run"


def loop(work: Path, repeats: int) -> str:
    """Per-step time of three loops on the same model and batches: bare, loop.py, Lightning."""
    repo = render(work / "loop-lightning", "mnist", engine="lightning")  # holds both loop.py and the Lightning engine
    names = ("data", "model", "optim", "loop", "lightning_train")
    package = SimpleNamespace(**dict(zip(names, import_rendered_fresh(repo, *names), strict=True)))
    # Full precision in all three: the bare loop has no autocast, and the loop is what is compared.
    cfg = compose_train(repo, [f"data.root={DEFAULT_MNIST}", "logger.progress_bar=true", "trainer.precision=32"])
    torch.set_num_threads(cfg.trainer.threads)

    def lightning(cfg, steps, run_dir):
        cfg.trainer.max_steps = steps
        logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # its start-up lines, on every run
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            package.lightning_train.train(cfg, run_dir)

    loops = {
        "bare PyTorch": lambda cfg, steps, run_dir: bare_loop(package, cfg, steps),
        "template loop.py": lambda cfg, steps, run_dir: template_loop(package, cfg, steps, run_dir),
        "Lightning engine": lightning,
    }
    for name, run in loops.items():  # once untimed: lazy initialisation (kernels, allocator) counts for none
        run(cfg.copy(), SHORT, work / f"loop-warmup-{name.split()[0]}")
    per_step = {name: [] for name in loops}
    for repeat in range(repeats):
        order = list(loops) if repeat % 2 == 0 else list(loops)[::-1]
        for name in order:
            times = []
            for steps in (SHORT, LONG):
                started = time.perf_counter()
                loops[name](cfg.copy(), steps, work / f"loop-{repeat}-{len(times)}-{name.split()[0]}")
                times.append(time.perf_counter() - started)
            per_step[name].append((times[1] - times[0]) / (LONG - SHORT) * 1e3)
        print("  loop repeat", repeat + 1, ", ".join(f"{n} {v[-1]:.2f} ms" for n, v in per_step.items()), flush=True)
    bare = statistics.median(per_step["bare PyTorch"])
    rows = [
        f"| {name} | {statistics.median(values):.2f} | {spread(values)} | {statistics.median(values) / bare:.3f} |"
        for name, values in per_step.items()
    ]
    return f"""## Loop overhead: bare PyTorch, loop.py, Lightning

How: the MNIST CNN of the default recipe on the real training digits, batch {cfg.data.batch_size},
{cfg.trainer.threads} thread(s), float32, in one process (`bench/report.py --only loop`). *Bare*: slice a seeded
permutation, forward, the same loss, backward, AdamW step, scheduler step. *loop.py*: the
template's `train()` with its progress bar (drawn into a string), metrics and checkpoints.
*Lightning*: the `engine=lightning` project's `train()` (pytorch_lightning.Trainer). Each runs
{SHORT} and {LONG} steps; per step = (time of {LONG} - time of {SHORT}) / {LONG - SHORT}, so start-up,
validation and checkpoints cancel. One untimed round first, then the three take turns, {repeats}
repetitions.

| loop | ms per step, median | range | against bare |
|---|---|---|---|
{chr(10).join(rows)}
"""


def timed(command: list[str], cwd: Path, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def startup(work: Path, repeats: int) -> str:
    repos = {capstone: render(work / f"startup-{capstone}", capstone) for capstone in PRESETS}
    commands = {"python -c 'import torch'": ([sys.executable, "-c", "import torch"], work, None)}
    for capstone, repo in repos.items():
        env = {**os.environ, "PYTHONPATH": str(repo / "src")}
        commands[f"{capstone}: python train.py debug=smoke"] = ([sys.executable, "train.py", "debug=smoke"], repo, env)
    for command, cwd, env in commands.values():  # once untimed: fixtures made, files in the page cache
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    seconds = {name: [] for name in commands}
    for repeat in range(repeats):
        for name, (command, cwd, env) in commands.items():
            seconds[name].append(timed(command, cwd, env))
        print(f"  startup repeat {repeat + 1}", flush=True)
    torch_s = statistics.median(seconds["python -c 'import torch'"])
    rows = [
        f"| `{name}` | {statistics.median(v):.2f} s | {spread(v)} | {statistics.median(v) / torch_s:.2f} |"
        for name, v in seconds.items()
    ]
    return f"""## Start-up: a smoke run against importing torch

How: each preset rendered, then `python train.py debug=smoke` (a few optimizer steps, or for rl a
couple of thousand environment steps, on tiny data made offline on the first call, then validation
and checkpoints) as a whole process, against `python -c "import torch"`; one untimed
round first, then {repeats} timed rounds taking turns. The difference is what the project adds to
torch's own import: Hydra, the data, the model, a few steps and writing the run folder (for rl,
mostly its 2,048 training steps and two evaluations: its smoke run is a short training).

| command | wall time, median | range | against `import torch` |
|---|---|---|---|
{chr(10).join(rows)}
"""


def demo_pages(work: Path, repeats: int) -> str:
    """The demo pages: how long demo.py takes to serve, and how long a page takes to answer."""
    figures = demo_latency.measure(work, repeats)
    rows = [
        f"| {capstone} | {f['start']:.1f} s ({f['start_range'][0]:.1f}-{f['start_range'][1]:.1f}) "
        f"| {f['served'] * 1000:.0f} ms | {f['alone'] * 1000:.0f} ms | {f['served'] / f['alone']:.1f} |"
        for capstone, f in figures.items()
    ]
    return f"""## Demo pages: start-up and answers

How: `bench/demo_latency.py`. Each capstone's default model (trained by a smoke run: its size, not
its skill) served by `python demo.py` as a fresh process, from its start until the page answers an
HTTP request ({repeats} starts, median and range); then one prediction at a time through the
running server as a visitor's request travels (Gradio's queue, the upload, pre- and post-processing),
sent with gradio_client: {demo_latency.REQUESTS} requests after an untimed one, median; beside it,
the same prediction called in-process without the server. Inputs: a 400x400 drawing of a digit, a
review of 230 words, a 480x360 photo. The targets: an answer under 1 s, a start under 10 s.

| capstone | start until the page answers | answer through the server | in-process | server / in-process |
|---|---|---|---|---|
{chr(10).join(rows)}
"""


def render_times(work: Path, repeats: int) -> str:
    seconds = {preset: [] for preset in PRESETS}
    for repeat in range(repeats):
        for preset in PRESETS:
            started = time.perf_counter()
            render(work / f"render-{preset}-{repeat}", preset)
            seconds[preset].append(time.perf_counter() - started)
    rows = [f"| {preset} | {statistics.median(v):.2f} s | {spread(v)} |" for preset, v in seconds.items()]
    return f"""## Rendering

How: `python -m copier copy -q --defaults --vcs-ref HEAD --data-file presets/<preset>.yml . DEST`
as a fresh process (copier clones this checkout, then renders), {repeats} rounds taking turns.

| preset | wall time, median | range |
|---|---|---|
{chr(10).join(rows)}
"""


def suite(work: Path, repeats: int) -> str:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=REPO, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "no output"
    # pytest's short summary (-ra): "FAILED <test> - <the first line of its error>", kept whole for the report.
    lines = result.stdout.splitlines()
    failed = [line.split(maxsplit=1)[1] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    print(f"  suite: {seconds:.0f} s, {summary}", flush=True)
    return f"""## Template test suite

How: `python -m pytest` in this checkout (the settings of pyproject.toml: pytest-xdist, up to 4
workers, `--dist worksteal`), packages already installed, once. The rendered projects' own
suites, notebooks, downloads from a local server and the fault tests run inside it.

| wall time | result |
|---|---|
| {seconds:.0f} s ({seconds / 60:.1f} min) | {summary.strip("= ")} (exit code {result.returncode}) |
""" + "".join(f"\nFailed: `{line[:500]}`" for line in failed)


def checkout() -> str:
    """The commit measured, and whether uncommitted changes were part of it (render() includes them)."""
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("torch", "pytorch-lightning", "hydra-core", "gymnasium", "copier")
    )
    return (
        f"- CPU: {os.cpu_count()} x {cpu} (torch CPU capability {torch.backends.cpu.get_cpu_capability()}), "
        f"{memory_kib / 2**20:.0f} GiB memory; GPU: {gpu}\n"
        f"- Python {platform.python_version()} on {platform.platform()}; {versions}\n"
    )


MEASURE = {
    "imdb": imdb_against_peer,
    "loop": loop,
    "startup": startup,
    "demo": demo_pages,
    "render": render_times,
    "suite": suite,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each recipe")
    parser.add_argument("--camvid-repeats", type=int, default=1, help="rounds of CamVid's two recipes (50 min each)")
    parser.add_argument("--rounds", type=int, default=5, help="repetitions of the loop, start-up and render timings")
    parser.add_argument("--capstones", nargs="+", choices=PRESETS, default=PRESETS, help="whose recipes to run")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, help="measure these sections: printed, or replaced in --output"
    )
    parser.add_argument("--no-suite", action="store_true", help="leave out the 10-minute test suite")
    parser.add_argument(
        "--output", type=Path, help="where the report goes (default: bench/RESULTS.md, or stdout with --only)"
    )
    args = parser.parse_args()
    sections = args.only or [s for s in SECTIONS if not (s == "suite" and args.no_suite)]
    output = args.output or (None if args.only else REPO / "bench" / "RESULTS.md")
    for path in (DEFAULT_MNIST, DEFAULT_CAMVID, DEFAULT_IMDB):
        if {"recipes", "imdb", "camvid", "search"} & set(sections) and not path.exists():
            sys.exit(f"{path} is missing: the recipes need the real training data (or leave them out with --only).")

    header = report_header(args)  # the commit and the machine's load before anything is measured
    measured_before = output.read_text() if args.only and output is not None and output.exists() else None
    started = time.perf_counter()
    parts = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        for section in sections:
            print(f"{section} ...", flush=True)
            if section == "recipes":
                part = recipes(Path(tmp), args.repeats, args.capstones)
                parts.append(keep_other_rows(part, measured_before, args.capstones))
            elif section == "imdb":
                parts.append(imdb_against_peer(Path(tmp), args.repeats))
            elif section == "camvid":
                parts.append(camvid_on_held_out_drive(Path(tmp), args.camvid_repeats))
            elif section == "search":
                parts.append(search_pruning(Path(tmp), 1))
            elif section == "ladder":
                parts.append(connect_four_ladder(Path(tmp), args.repeats))
            elif section == "alphazero":
                parts.append(alphazero_ladder(Path(tmp)))
            elif section == "atari":
                parts.append(atari_random(Path(tmp), 1))
            elif section == "frogger":
                parts.append(frogger_recipe(Path(tmp)))
            elif section == "atari_speed":
                parts.append(atari_speed(Path(tmp), args.repeats))
            else:
                parts.append(MEASURE[section](Path(tmp), args.rounds))
            minutes = (time.perf_counter() - started) / 60
            done = "" if len(parts) == len(sections) else f" ({len(parts)} of {len(sections)} sections so far)"
            report = header.format(minutes=f"{minutes:.0f}{done}") + "\n".join(parts)
            if measured_before is not None:  # --only into an existing report: the other sections stay
                report = replace_sections(measured_before, parts, header.format(minutes=f"{minutes:.0f}"))
            if output is not None:  # after each section, so that a failure later keeps what was measured
                output.write_text(report)
    if output is None:
        print(report)
    else:
        print(f"wrote {output}")


def keep_other_rows(part: str, before: str | None, capstones) -> str:
    """The recipes section `part`, with the rows of the capstones it did not run again (--capstones)
    taken from the report measured `before`, and a line that says which rows those are."""
    if before is None or set(capstones) == set(PRESETS):
        return part
    title = part.splitlines()[0]
    section = next((text for text in re.split(r"(?m)^(?=## )", before) if text.startswith(title)), "")
    kept = [line for line in section.splitlines() if line.startswith("| ") and line.split(" | ")[0][2:] in PRESETS]
    kept = [line for line in kept if line.split(" | ")[0][2:] not in capstones]
    if not kept:
        return part
    names = ", ".join(line.split(" | ")[0][2:] for line in kept)
    note = f"The rows of {names} were not measured again by this command: they are the earlier report's."
    return part.rstrip("\n") + "\n" + "\n".join(kept) + f"\n\n{note}\n"


def replace_sections(report: str, parts: list[str], header: str) -> str:
    """`report` with the sections of the same titles as `parts` measured again, and a line that says so."""
    head, *sections = re.split(r"(?m)^(?=## )", report)
    fresh = {part.splitlines()[0]: part for part in parts}
    sections = [fresh.pop(section.splitlines()[0], section) for section in sections] + list(fresh.values())
    written_by = header.split("\n\n")[1].replace("Written by", "Re-measured by", 1).replace("\n", " ")
    titles = ", ".join(f'"{title.removeprefix("## ")}"' for title in (part.splitlines()[0] for part in parts))
    # The line of an earlier re-measure of the same sections goes when all its figures are gone: when
    # this command measured every capstone it did (a row it measured alone would lose its source).
    kept = [
        paragraph
        for paragraph in head.rstrip("\n").split("\n\n")
        if not (paragraph.startswith(f"{titles}: ") and capstones_of(paragraph) <= capstones_of(written_by))
    ]
    head = "\n\n".join(kept) + f"\n\n{titles}: {written_by}\n\n"
    return head + "\n".join(section.rstrip("\n") + "\n" for section in sections)


def capstones_of(command_line: str) -> set[str]:
    """The capstones a `python bench/report.py ...` line measured: its --capstones, or all of them."""
    named = re.search(r"--capstones ((?:[a-z]+ ?)+)", command_line)
    return set(named.group(1).split()) if named else set(PRESETS)


def report_header(args) -> str:
    command = " ".join(["python bench/report.py", *sys.argv[1:]])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"""# Benchmark results

Written by `{command}` on {datetime.date.today()} ({checkout()}) in {{minutes}} minutes,
on this machine (load average at the start: {load}):

{machine()}
Every figure below says how it was measured; rerun the command to measure them again. Earlier
measurements (recipe tuning, threads, precision, tokenizers, Atari and Connect Four, engines) are in
[HISTORY.md](HISTORY.md) with the scripts that made them.

"""


if __name__ == "__main__":
    main()
