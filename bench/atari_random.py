"""The random policy's score on Atari games, through a rendered rl repo's own evaluation environment.

    python bench/atari_random.py [--games ALE/Frogger-v5 ALE/Pong-v5] [--episodes 10] [--seed 12345]

A learning curve means little without the floor under it: no published DQN or PPO score exists for
Frogger, so the anchor is measured here. Each game's `--episodes` whole games (as evaluate.py plays
them: configs/env/atari.yaml's preprocessing and sticky actions, no reward clipping, no life loss
ending an episode) with a uniformly random action at every step, all played side by side in ale-py's
vector environment. Prints one JSON object: per game, the mean, standard deviation, min and max
score, and the mean episode length in agent steps.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import render


def random_scores(repo: Path, game: str, episodes: int, seed: int) -> dict[str, float]:
    from omegaconf import OmegaConf
    from rl_agent.envs import make_envs

    env_cfg = OmegaConf.load(repo / "configs/env/atari.yaml")
    env_cfg.id = game
    envs = make_envs(env_cfg, episodes, training=False)
    envs.reset(seed=seed)
    rng = np.random.default_rng(seed)
    scores, lengths = np.zeros(episodes), np.zeros(episodes)
    finished = np.zeros(episodes, dtype=bool)
    while not finished.all():
        _, rewards, terminated, truncated, _ = envs.step(rng.integers(0, envs.single_action_space.n, episodes))
        scores += np.where(finished, 0.0, rewards)
        lengths += ~finished
        finished |= terminated | truncated
    envs.close()
    summary = {"mean": scores.mean(), "std": scores.std(), "min": scores.min(), "max": scores.max()}
    return {**{key: float(value) for key, value in summary.items()}, "mean_length": float(lengths.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", nargs="+", default=["ALE/Frogger-v5", "ALE/Pong-v5"])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    repo = render(Path(tempfile.mkdtemp(prefix="atari-random-")) / "repo", "rl")
    sys.path.insert(0, str(repo / "src"))
    print(json.dumps({game: random_scores(repo, game, args.episodes, args.seed) for game in args.games}, indent=2))


if __name__ == "__main__":
    main()
