"""What bounds PPO's steps per second on Atari on this CPU: the environment, the network, or the copies.

    python bench/atari_speed.py [--game ALE/Frogger-v5] [--seconds 10] [--rounds 3]

In a rendered rl repo, with experiment=atari's settings (8 environments, rollouts of 128 steps,
4 epochs of 4 minibatches, the Nature CNN, 2 threads), each part of a PPO iteration is timed alone,
as steps of the game per second of that part:

- env: ale-py's vector environment stepped with random actions (its C++ threads, frame skip 4,
  grayscale 84 x 84, 4 frames stacked: configs/env/atari.yaml);
- copies: the observations from NumPy into a tensor and the actions back;
- act: the network's forward pass that picks the actions, on one batch of 8 observations;
- learn: PPO's update, forward and backward over the rollout 4 times, per step of the rollout.

A PPO iteration does all four one after the other, so the whole runs at 1 / (sum of 1 / each).
Each figure is the median of `--rounds` rounds. Prints one JSON object.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import render


def per_second(work, seconds: float) -> float:
    """Calls of work() per second, over about `seconds` (after one call to warm up)."""
    work()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        work()
        calls += 1
    return calls / (time.perf_counter() - started)


def measure(repo: Path, game: str, seconds: float) -> dict[str, float]:
    from omegaconf import OmegaConf
    from rl_agent.envs import make_envs
    from rl_agent.networks import build_network

    recipe = OmegaConf.load(repo / "configs/experiment/atari.yaml")
    algo = OmegaConf.merge(OmegaConf.load(repo / "configs/algo/ppo.yaml"), recipe.algo)
    env_cfg = OmegaConf.load(repo / "configs/env/atari.yaml")
    env_cfg.id = game
    torch.set_num_threads(recipe.trainer.threads)
    num_envs, rollout = algo.num_envs, algo.num_envs * algo.rollout_steps

    envs = make_envs(env_cfg, num_envs)
    obs, _ = envs.reset(seed=0)
    rng = np.random.default_rng(0)
    n_actions = envs.single_action_space.n
    network = build_network(algo, env_cfg, obs.shape[1:], n_actions)
    figures = {"env": num_envs * per_second(lambda: envs.step(rng.integers(0, n_actions, num_envs)), seconds)}

    def copies():
        actions = torch.as_tensor(obs).float().sum().long().repeat(num_envs)  # touch the tensor, like a network
        return actions.numpy()

    figures["copies"] = num_envs * per_second(copies, seconds)
    batch = torch.as_tensor(obs)
    with torch.no_grad():
        figures["act"] = num_envs * per_second(lambda: network.action_and_value(batch), seconds)

    optimizer = torch.optim.Adam(network.parameters(), lr=algo.lr)
    minibatch = torch.as_tensor(np.repeat(obs, rollout // algo.minibatches // num_envs, axis=0))
    actions = torch.zeros(len(minibatch), dtype=torch.long)

    def update_minibatch():
        _, log_prob, entropy, value = network.action_and_value(minibatch, action=actions)
        loss = -log_prob.mean() - entropy.mean() + value.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    # One rollout learns update_epochs x minibatches minibatch updates.
    minibatch_rate = per_second(update_minibatch, seconds)
    figures["learn"] = rollout * minibatch_rate / (algo.update_epochs * algo.minibatches)
    envs.close()
    figures["whole"] = 1 / sum(1 / figures[part] for part in ("env", "copies", "act", "learn"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="ALE/Frogger-v5")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    repo = render(Path(tempfile.mkdtemp(prefix="atari-speed-")) / "repo", "rl")
    sys.path.insert(0, str(repo / "src"))
    rounds = [measure(repo, args.game, args.seconds) for _ in range(args.rounds)]
    print(json.dumps({part: statistics.median(r[part] for r in rounds) for part in rounds[0]}, indent=2))


if __name__ == "__main__":
    main()
