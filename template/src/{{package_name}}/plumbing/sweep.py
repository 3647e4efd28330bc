"""Sweeps with Hydra's multirun: one run folder per setting, and a table of them all at the end.

python train.py -m optim.lr=1e-3,3e-4 seed=1,2   ->  runs/multirun/<date>_<time>/{0,1,2,3}/
                                                     runs/multirun/<date>_<time>/sweep_summary.md

search.py, an Optuna search, writes its own table (plumbing/study.py).
"""

import csv
import json
import logging
import math
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

SUMMARY = "summary.json"
log = logging.getLogger(__name__)


def save_summary(run_dir: str | Path, summary: dict, overrides: list[str]) -> None:
    """summary.json in the run folder: the run's final numbers and the overrides that made it."""
    numbers = {key: value for key, value in summary.items() if isinstance(value, int | float)}
    row = {"overrides": " ".join(overrides), **numbers}
    (Path(run_dir) / SUMMARY).write_text(json.dumps(row, indent=2) + "\n")


class SweepSummary(Callback):
    """Hydra calls this once all runs of a multirun have ended (configs/train.yaml: hydra.callbacks).

    It writes sweep_summary.csv and sweep_summary.md into the sweep folder: one row per run, with
    its overrides and its best monitored value; a run that failed has no numbers.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if config.hydra.job.name != "train":  # search.py's workers as SLURM jobs: the study has its own table
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        runs = sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name))
        rows = []
        for run in runs:
            summary = run / SUMMARY
            rows.append({"run": run.name, **(json.loads(summary.read_text()) if summary.is_file() else {})})
        if not rows:
            return
        best = [key for key in dict.fromkeys(k for row in rows for k in row) if key.startswith("best/")]
        columns = ["run", "overrides", *best, "step"]
        with (sweep_dir / "sweep_summary.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        cells = [[row.get(column, "failed" if column == "step" else "") for column in columns] for row in rows]
        table = markdown_table(columns, cells)
        (sweep_dir / "sweep_summary.md").write_text(table)
        log.info("Sweep of %d runs in %s:\n%s", len(rows), sweep_dir, table)


def markdown_table(columns: list[str], rows: list[list]) -> str:
    """A Markdown table: numbers to 4 significant figures, nan as an empty cell."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def format_cell(value) -> str:
    return ("" if math.isnan(value) else f"{value:.4g}") if isinstance(value, float) else str(value)
