"""What every algorithm's run needs besides the algorithm: seeds, device, metrics.csv, evaluation
every so often, checkpoints, resuming, and stopping (when solved, out of steps, or on Ctrl-C).

dqn.py, ppo.py and alphazero.py call it at four points: `record(info, rewards)` after each
environment step, `check_update(loss, ...)` at each gradient step (to stop a diverged run),
`log(values)` after each update, and `end_of_iteration(...)` to evaluate, save and decide to stop.
"""

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ..envs import finished_episodes
from ..ladder import opponent
from ..play import evaluate_policy
from . import runtime
from .errors import UserError, check_number
from .run_folder import RunFolder, changed_settings, refuse_resume
from .tracking import check_logger

log = logging.getLogger(__name__)
CAPSTONE = "rl"
DIVERGED_ADVICE = "lower algo.lr and train again"  # a diverged run (check_update): what to change
# Settings a resumed run may change besides run_folder.RESUMABLE_CHANGES: how long it trains (the
# schedules then stretch: see the README), how it evaluates, and whether DQN saves its replay buffer.
ALSO_RESUMABLE = (
    "trainer.total_steps",
    "trainer.eval_every",
    "trainer.eval_episodes",
    "trainer.stop_at",
    "env.opponents",
    "env.eval_policy",
    "algo.save_replay_buffer",
)


class TrainingRun(RunFolder):
    """One run of an algorithm: its place (device, seeds), its progress, its evaluations and its folder.

    The folder's rules (config.yaml and metrics.csv, best.pt and last.pt, what a resumed run may
    change) are run_folder.py's, the same as the supervised capstones follow.
    """

    def __init__(self, cfg: DictConfig, run_dir: str | Path, on_validation: Callable[[int, float], None] | None = None):
        check_settings(cfg)
        check_logger(cfg)  # logger=wandb: the wandb package and mode, before any step
        super().__init__(cfg, run_dir, CAPSTONE, monitor=cfg.env.monitor, mode="max")

        # Small networks: the thread count decides the speed (trainer.threads in configs/train.yaml).
        runtime.set_cpu_threads(cfg.trainer.threads)
        self.device = runtime.pick_device(cfg.trainer.device)
        runtime.seed_everything(cfg.seed)
        if self.load_resumed(lambda state, path: check_resumable(state, cfg, path)):
            runtime.set_rng_state(self.resumed["rng"])
            log.info("Resuming %s at step %d", self.resumed_from, self.step)  # environment steps, all copies summed
        self.solved = False
        self.on_validation = on_validation  # search.py's pruner: it may stop the run by raising optuna.TrialPruned

        # Read at every step: plain numbers, not DictConfig lookups (microseconds each).
        self.total_steps, self.eval_every = cfg.trainer.total_steps, cfg.trainer.eval_every
        self.next_eval = (self.step // self.eval_every + 1) * self.eval_every
        self.returns: list[float] = []  # episodes finished since the last log row
        self.lengths: list[float] = []
        self.clock, self.clock_step = time.perf_counter(), self.step
        self.started = self.clock
        self.largest_reward = 0.0  # the largest |reward| seen: the scale of the returns (check_update)
        self.stop_request = runtime.StopRequest()

    def __enter__(self):
        self.stop_request.__enter__()
        return self

    def __exit__(self, *exc):
        self.stop_request.__exit__(*exc)
        if exc[0] is None:
            self.finish(self.started, stopped=self.stop_request.requested)

    @property
    def env_seed(self) -> int:
        """The seed of the environments: the run's seed, moved on when resuming so that the
        resumed run does not replay the episodes it started with."""
        return self.cfg.seed + self.step

    def restore(self, **modules) -> dict | None:
        """Load the resumed checkpoint's state into `modules` (networks, optimizer); returns it."""
        if self.resumed is None:
            return None
        for name, module in modules.items():
            try:
                module.load_state_dict(self.resumed[name])
            except (KeyError, RuntimeError, ValueError) as error:
                raise UserError(
                    f"The checkpoint's {name} does not fit this run ({str(error).splitlines()[0]}); "
                    "resume with the settings it was trained with, or start a new run."
                ) from None
        return self.resumed

    def record(self, info: dict, rewards: np.ndarray) -> None:
        """Keep the returns and lengths of the episodes that ended in the last step, and the reward scale."""
        self.largest_reward = max(self.largest_reward, float(np.abs(rewards).max()))
        returns, lengths = finished_episodes(info)
        self.returns += returns.tolist()
        self.lengths += lengths.tolist()

    def log(self, values: dict[str, float]) -> None:
        """One row of metrics.csv: the losses given, episodes since the last row, steps per second."""
        now = time.perf_counter()
        row = {"step": self.step, **{f"train/{k}": float(v) for k, v in values.items()}}
        row["train/sps"] = (self.step - self.clock_step) / max(now - self.clock, 1e-9)
        if self.returns:
            row["train/episode_return"] = float(np.mean(self.returns))
            row["train/episode_length"] = float(np.mean(self.lengths))
            row["train/episodes"] = len(self.returns)
        self.returns, self.lengths = [], []
        self.clock, self.clock_step = now, self.step
        self.log_row(row)

    def check_update(self, loss: torch.Tensor, values: torch.Tensor | None = None) -> None:
        """Stop a diverged run, before its checkpoints are overwritten: a loss of nan or inf, or
        (PPO's critic) value estimates far outside what the rewards allow.

        The second rule catches a finite explosion: with algo.lr=1e9, PPO's value loss reached 1e19
        with the entropy at 0 and a return of 9, and nothing was nan. A return is a discounted sum of
        rewards, so no true value exceeds largest |reward| / (1 - gamma) in size (100 for CartPole);
        an estimate ten times beyond that is no estimate but a critic that has diverged. Rewards are
        taken to be at least 1, so that a run which has seen no reward yet is not stopped. The PPO
        recipe for CartPole, solved, came to 0.88 of the bound at most. DQN passes no values: the max
        in its target overestimates for a while, and its CartPole recipe, which solves the game, went
        past ten times the bound (Q = 1,060) by step 6,144; a loss of nan or inf stops it.
        """
        runtime.check_finite(loss, self.step, self.checkpoints, DIVERGED_ADVICE)
        if values is None:
            return
        gamma = min(abs(self.cfg.algo.gamma), 0.999)  # Connect Four's self-play discounts by -gamma
        bound = max(self.largest_reward, 1.0) / (1.0 - gamma)
        largest = float(values.detach().abs().max())
        if not largest <= 10 * bound:  # `not <=`: nan as well
            runtime.stop_diverged(
                f"The value estimates reached {largest:.3g} by step {self.step}, more than ten times the largest "
                f"return the rewards allow ({bound:.3g})",
                self.checkpoints,
                DIVERGED_ADVICE,
            )

    def check_weights(self, network: torch.nn.Module) -> None:
        """Never save a checkpoint of weights that became nan or inf."""
        if not all(torch.isfinite(p).all() for p in network.parameters()):
            runtime.stop_diverged(
                f"The network's weights became nan or inf by step {self.step}", self.checkpoints, DIVERGED_ADVICE
            )

    def end_of_iteration(self, network: torch.nn.Module, state: Callable[[], dict]) -> bool:
        """Evaluate and save when due; True when the run should stop.

        `state()` gives what the algorithm needs to resume (networks, optimizer, ...), called only
        when a checkpoint is written.
        """
        out_of_steps = self.step >= self.total_steps
        if self.step >= self.next_eval or out_of_steps:
            self.check_weights(network)
            self.evaluate(network, state)
            self.next_eval = (self.step // self.eval_every + 1) * self.eval_every
        elif self.stop_request.requested:
            self.check_weights(network)
            self.save("last.pt", self.checkpoint(state()))
        return out_of_steps or self.solved or self.stop_request.requested

    def evaluate(self, network: torch.nn.Module, state: Callable[[], dict]) -> dict[str, float]:
        """Play evaluation episodes (env.eval_policy); keep last.pt, and best.pt when the monitored metric improves."""
        network.eval()
        metrics = evaluate_policy(network, self.cfg.env, self.cfg.trainer.eval_episodes, seed=10**6 + self.step)
        network.train()
        monitored = metrics[self.monitor]
        self.log_row({"step": self.step, **metrics})
        self.keep(monitored, self.checkpoint(state()))
        target = self.cfg.trainer.stop_at
        self.solved = target is not None and monitored >= target
        shown = "  ".join(f"{k.removeprefix('val/')} {v:.3g}" for k, v in metrics.items())
        log.info("step %d  eval: %s%s", self.step, shown, "  (solved)" if self.solved else "")
        if self.on_validation is not None:
            self.on_validation(math.ceil(self.step / self.eval_every), monitored)  # evaluations so far
        return metrics

    def checkpoint(self, state: dict) -> dict:
        """`state` and what it was trained with (run_folder.py adds the capstone, step and best value)."""
        return {
            "algo": self.cfg.algo.name,
            "env": self.cfg.env.id,
            "rng": runtime.rng_state(),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            **state,
        }

    def summary(self) -> dict[str, float]:
        best = -math.inf if self.best is None else self.best  # -inf: never evaluated, the worst for a sweep
        best = {"best": best, f"best/{self.monitor}": best}
        return {"step": self.step, **best, "solved": self.solved, "stopped": self.stop_request.requested}


COUNTS = ["trainer.total_steps", "trainer.eval_every", "trainer.eval_episodes", "logger.log_every_n_steps"]
ALGO_COUNTS = {
    "ppo": ["num_envs", "rollout_steps", "minibatches", "update_epochs"],
    "dqn": ["num_envs", "buffer_size", "batch_size", "train_frequency", "gradient_steps", "target_update_frequency"],
    "alphazero": ["num_games", "simulations", "channels", "blocks", "replay_positions", "batch_size"],
}
CHOICES = {
    "env.network": ("mlp", "nature_cnn", "board_cnn"),
    "env.eval_policy": ("greedy", "sampled"),
    "algo.activation": ("tanh", "relu"),
    "algo.loss": ("mse", "huber"),
}


def check_settings(cfg: DictConfig) -> None:
    """Settings that would fail later (a ZeroDivisionError, a KeyError mid-run), checked before anything starts."""
    counts = COUNTS + [f"algo.{key}" for key in ALGO_COUNTS.get(cfg.algo.name, [])]
    for key in counts:
        check_number(cfg, key, whole=True, least=1)
    check_number(cfg, "algo.lr", above=0)
    check_number(cfg, "algo.max_grad_norm", above=0, null="no clipping")
    if cfg.algo.name == "ppo":
        check_number(cfg, "algo.target_kl", above=0, null="never stop the epochs early")
    if cfg.algo.name == "alphazero":
        check_alphazero(cfg)
    check_number(cfg, "trainer.stop_at", null="use all trainer.total_steps")
    for key, allowed in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value is not None and value not in allowed:
            raise UserError(f"{key}={value} is not one of {', '.join(allowed)}.")
    if cfg.algo.name == "ppo" and cfg.algo.minibatches > cfg.algo.num_envs * cfg.algo.rollout_steps:
        raise UserError(
            f"algo.minibatches={cfg.algo.minibatches} is more than the {cfg.algo.num_envs * cfg.algo.rollout_steps} "
            "steps of a rollout (num_envs x rollout_steps); use fewer minibatches."
        )
    channels = cfg.env.get("cnn_channels")  # the Atari CNN's filters per convolution
    if channels is not None and not (
        OmegaConf.is_list(channels)
        and len(channels) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels)
    ):
        shown = OmegaConf.to_container(channels) if OmegaConf.is_list(channels) else channels
        raise UserError(f"env.cnn_channels={shown} must be three whole numbers of at least 1, e.g. [32,64,64].")
    monitors = []
    if cfg.env.name == "connect_four":
        for name in cfg.env.opponents:
            opponent(name)  # an unknown name or a depth below 1: its UserError now, not at the first evaluation
        monitors = [f"val/win_rate_{name}" for name in cfg.env.opponents]
    monitors.append("val/return_mean")
    if cfg.env.monitor not in monitors:
        raise UserError(f"env.monitor={cfg.env.monitor} is not measured here; use {' or '.join(monitors)}.")


def check_alphazero(cfg: DictConfig) -> None:
    if cfg.env.name != "connect_four":
        raise UserError(
            f"algo=alphazero searches with the rules of Connect Four and cannot play {cfg.env.id}; "
            "use env=connect_four (experiment=connect_four), or algo=ppo or algo=dqn."
        )
    check_number(cfg, "algo.play_simulations", whole=True, least=0)
    check_number(cfg, "algo.temperature_moves", whole=True, least=0)
    check_number(cfg, "algo.learning_starts", whole=True, least=1)
    check_number(cfg, "algo.updates_per_move", whole=True, least=1)
    for key in ("algo.c_puct", "algo.dirichlet_alpha"):
        check_number(cfg, key, above=0)
    check_number(cfg, "algo.weight_decay", least=0)
    for key in ("algo.noise_fraction", "algo.search_value_share"):
        check_number(cfg, key, least=0)
        if OmegaConf.select(cfg, key) > 1:
            raise UserError(f"{key}={OmegaConf.select(cfg, key)} must be a share, between 0 and 1.")


def check_resumable(saved: dict, cfg: DictConfig, path: Path) -> None:
    """A resumed run continues the same experiment: it may train longer or evaluate differently, nothing more."""
    if saved.get("algo") != cfg.algo.name or saved.get("env") != cfg.env.id:
        raise UserError(
            f"{path} trained algo={saved.get('algo')} on {saved.get('env')}, but this run is algo={cfg.algo.name} "
            f"on {cfg.env.id}; resume with the same algo and env, or start a new run."
        )
    changed = changed_settings(saved["config"], cfg, ALSO_RESUMABLE)
    if changed:
        refuse_resume(path, changed)
