"""train(cfg, run_dir): the algorithm that configs/algo/ names, in a TrainingRun.

configs -> TrainingRun (seeds, device, metrics.csv, checkpoints, resume)
        -> dqn.train, ppo.train or alphazero.train (the algorithm, top to bottom in one file)
"""

from pathlib import Path

from omegaconf import DictConfig

from . import alphazero, dqn, ppo
from .plumbing.errors import UserError
from .plumbing.training_run import TrainingRun

ALGORITHMS = {"dqn": dqn.train, "ppo": ppo.train, "alphazero": alphazero.train}


def train(cfg: DictConfig, run_dir: str | Path, on_validation=None) -> dict:
    """Train as `cfg` says, writing config.yaml, metrics.csv and checkpoints/ into `run_dir`.
    on_validation(evaluations, value), if given, hears the monitored metric after each evaluation (search.py)."""
    if cfg.algo.name not in ALGORITHMS:
        raise UserError(f"algo={cfg.algo.name} is not an algorithm here; use algo=dqn, algo=ppo or algo=alphazero.")
    with TrainingRun(cfg, run_dir, on_validation) as run:
        ALGORITHMS[cfg.algo.name](cfg, run)
    return run.summary()
