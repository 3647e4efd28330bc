"""Playing with a trained network: evaluation episodes (Connect Four's matches: ladder.py), a recorded
game, and a game against a person.

Training explores (random actions, sampled policies). Evaluation plays in environments seeded apart
from the training ones and takes the best action the network knows, except where the environment
says otherwise (configs/env/*.yaml: eval_policy): an Atari agent plays its policy as it was trained.
"""

import numpy as np
import torch

from .connect_four import ConnectFourVectorEnv, board_image, winning_line
from .envs import make_envs
from .ladder import ladder_metrics


def evaluate_policy(
    network, env_cfg, episodes: int, seed: int, prefix: str = "val/", opponents=None
) -> dict[str, float]:
    """The metrics of `episodes` greedy episodes (Connect Four: games against each opponent of
    `opponents`, by default env.opponents: ladder.py)."""
    if env_cfg.name == "connect_four":
        return ladder_metrics(network, opponents or env_cfg.opponents, episodes, seed, prefix)
    returns = play_episodes(network, env_cfg, episodes, seed)
    return {f"{prefix}return_mean": float(returns.mean()), f"{prefix}return_std": float(returns.std())}


def to_tensor(array, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array), device=device)


def evaluation_actions(network, env_cfg, seed: int):
    """choose(obs) -> the actions evaluation plays (env.eval_policy): greedy, or drawn from the policy
    (DQN: a random action 5% of the time) with random numbers of their own, so that an evaluation
    leaves training's random numbers as they were, and the same seed plays the same games."""
    device = next(network.parameters()).device
    rng = None
    if env_cfg.get("eval_policy", "greedy") == "sampled":  # runs saved before the setting existed: greedy
        rng = torch.Generator(device=device).manual_seed(seed)
    return lambda obs: network.act(to_tensor(obs, device), rng=rng).cpu().numpy()


@torch.no_grad()
def play_episodes(network, env_cfg, episodes: int, seed: int) -> np.ndarray:
    """The returns of `episodes` evaluation episodes, played side by side (one environment each)."""
    choose = evaluation_actions(network, env_cfg, seed)
    return run_episodes(lambda obs, envs: choose(obs), env_cfg, episodes, seed)


def random_policy_returns(env_cfg, episodes: int, seed: int) -> np.ndarray:
    """The returns of `episodes` episodes of a uniformly random policy: the floor under a learning curve."""
    return run_episodes(lambda obs, envs: envs.action_space.sample(), env_cfg, episodes, seed)


def run_episodes(choose, env_cfg, episodes: int, seed: int) -> np.ndarray:
    """The returns of `episodes` episodes in evaluation environments, actions from choose(obs, envs)."""
    envs = make_envs(env_cfg, episodes, training=False)
    obs, info = envs.reset(seed=seed)
    envs.action_space.seed(seed)  # the random policy's actions, reproducible
    returns = np.zeros(episodes)
    finished = np.zeros(episodes, dtype=bool)
    while not finished.all():
        obs, rewards, terminated, truncated, info = envs.step(choose(obs, envs))
        returns += np.where(finished, 0.0, rewards)
        finished |= terminated | truncated  # an environment that restarts plays on, uncounted
    envs.close()
    return returns


@torch.no_grad()
def record_episode(network, env_cfg, seed: int, max_frames: int) -> tuple[list[np.ndarray], float]:
    """RGB frames of one evaluation episode, for the GIF in the README (at most `max_frames`), and its
    return. Connect Four: record_game instead.
    """
    choose = evaluation_actions(network, env_cfg, seed)
    if env_cfg.name == "atari":  # ale-py's vector env renders no colour frames: show what the agent sees
        envs = make_envs(env_cfg, 1, training=False)
        obs, _ = envs.reset(seed=seed)
        frames, episode_return = [], 0.0
        while len(frames) < max_frames:
            frames.append(np.repeat(obs[0, -1][:, :, None], 3, axis=2))
            obs, reward, terminated, truncated, _ = envs.step(choose(obs))
            episode_return += float(reward[0])
            if terminated[0] or truncated[0]:
                break
        envs.close()
        return frames, episode_return
    import gymnasium as gym

    env = gym.make(env_cfg.id, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed)
    frames, episode_return = [env.render()], 0.0
    while len(frames) < max_frames:
        action = int(choose(obs[None])[0])
        obs, reward, terminated, truncated, _ = env.step(action)
        frames.append(env.render())
        episode_return += float(reward)
        if terminated or truncated:
            break
    env.close()
    return frames, episode_return


@torch.no_grad()
def record_game(network, player, seed: int, tries: int = 10) -> tuple[list[np.ndarray], float]:
    """RGB frames of a Connect Four game of the network (red, first) against `player`, for the GIF in
    the README, and its outcome (+1 win, 0 draw, -1 loss). Games against a player that chooses at
    random among equal moves differ by seed: up to `tries` are played, and the first one won is kept."""
    device = next(network.parameters()).device
    for attempt in range(tries):
        rng = np.random.default_rng(seed + attempt)
        env = ConnectFourVectorEnv(1)
        obs, info = env.reset(seed=seed)
        boards = [env.boards[0].copy()]
        while True:
            if env.to_move[0] == 1:
                move = network.act(to_tensor(obs, device), to_tensor(info["action_mask"], device)).cpu().numpy()
            else:
                move = player(env, rng, np.ones(1, dtype=bool))
            obs, _, terminated, _, info = env.step(move)
            boards.append(info["final_board"][0] if terminated[0] else env.boards[0].copy())
            if terminated[0]:
                break
        if info["winner"][0] == 1:
            break
    # A move every half second at 30 frames per second; the final position, its line of four ringed
    # in white, stays for 2 seconds.
    # Each position is drawn once and repeated (save_gif converts a repeated picture once).
    final = board_image(boards[-1], highlight=winning_line(boards[-1]))
    frames = [picture for picture in map(board_image, boards) for _ in range(15)] + [final] * 45
    return frames, float(info["winner"][0])


class GameAgainstAgent:
    """Connect Four between a person and the network, a move each: the demo page's game.

    The network plays greedily (AlphaZero's after its search), as in evaluation. `board` is the
    position to show (+1 red, who moves first; -1 yellow), `winner` None until the game ends (then
    +1, -1 or 0 for a draw).
    """

    def __init__(self, network, person_first: bool = True):
        self.network, self.device = network, next(network.parameters()).device
        self.env = ConnectFourVectorEnv(1)
        self.obs, self.info = self.env.reset()
        self.board, self.winner, self.last_move = self.env.boards[0].copy(), None, None
        self.person = 1 if person_first else -1
        if not person_first:
            self.agent_moves()

    def play(self, column: int) -> None:
        """The person's move in `column` (0 to 6), then the network's reply; a ValueError if it cannot be played."""
        if self.winner is not None:
            raise ValueError("The game is over: start a new one.")
        if not self.info["action_mask"][0, column]:
            raise ValueError(f"Column {column + 1} is full: pick another one.")
        self.move(column)
        if self.winner is None:
            self.agent_moves()

    @torch.no_grad()
    def agent_moves(self) -> None:
        mask = to_tensor(self.info["action_mask"], self.device)
        self.move(int(self.network.act(to_tensor(self.obs, self.device), mask)[0]))

    def move(self, column: int) -> None:
        self.obs, _, terminated, _, self.info = self.env.step(np.array([column]))
        self.last_move = column
        if terminated[0]:  # the environment has already begun a new game: keep the final position
            self.board, self.winner = self.info["final_board"][0].copy(), int(self.info["winner"][0])
        else:
            self.board = self.env.boards[0].copy()
