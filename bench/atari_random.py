"""The random policy's score on Atari games, through a rendered rl repo's own evaluation environment.

    python bench/atari_random.py [--games ALE/Frogger-v5 ALE/Pong-v5] [--episodes 10] [--seed 12345]

A learning curve means little without the floor under it: no published DQN or PPO score exists for
Frogger, so the anchor is measured here. Each game's `--episodes` whole games (as evaluate.py plays
them: configs/env/atari.yaml's preprocessing and sticky actions, no reward clipping, no life loss
ending an episode) with a uniformly random action at every step, all played side by side in ale-py's
vector environment: `random_policy_returns` of the rendered repo's play.py, as evaluate.py plays
it for the random line on the learning curve. Prints one JSON object: per game, the mean, standard
deviation, min and max score.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import render


def random_scores(repo: Path, game: str, episodes: int, seed: int) -> dict[str, float]:
    from omegaconf import OmegaConf
    from rl_agent.play import random_policy_returns  # what evaluate.py draws on the learning curve

    env_cfg = OmegaConf.load(repo / "configs/env/atari.yaml")
    env_cfg.id = game
    scores = random_policy_returns(env_cfg, episodes, seed)
    return {"mean": scores.mean(), "std": scores.std(), "min": scores.min(), "max": scores.max()}


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
