"""The environments, always as a Gymnasium vector environment: N copies stepped together.

DQN and PPO see the same interface whatever the game: `reset(seed)` and `step(actions)` on
arrays of N, same-step autoreset (an episode that ends is restarted at once; its last observation
is in info["final_obs"]), and info["episode"] with the return and length of finished episodes.
"""

import os
import sys

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from .connect_four import ConnectFourVectorEnv
from .plumbing.errors import UserError

# Gymnasium draws the classic-control games (the GIFs of evaluate.py) with pygame, whose SDL looks
# for a display at its start and, on a Linux machine without one, prints "error: XDG_RUNTIME_DIR is
# invalid or not set" although the drawing works. Its offscreen driver draws the same pictures in
# silence. Only where no display exists, and never over a choice made in the environment.
if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def make_envs(env_cfg, num_envs: int, *, training: bool = True) -> gym.vector.VectorEnv:
    """`num_envs` copies of the environment configs/env/<name>.yaml describes.

    `training=False` gives the game as it is scored (every life, unclipped rewards) for evaluation.
    """
    if env_cfg.name == "connect_four":
        return ConnectFourVectorEnv(num_envs)
    if env_cfg.name == "atari":
        return make_atari(env_cfg, num_envs, training)
    if str(env_cfg.id).startswith("ALE/"):  # Atari needs its own preprocessing and network
        raise UserError(f"env.id={env_cfg.id} is an Atari game: python train.py env=atari env.id={env_cfg.id}")
    try:
        envs = gym.make_vec(
            env_cfg.id, num_envs, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}
        )
    except gym.error.Error as error:
        raise UserError(f"env.id={env_cfg.id} is not a Gymnasium environment ({error}); try CartPole-v1.") from None
    if not isinstance(envs.single_action_space, gym.spaces.Discrete):
        raise UserError(
            f"env.id={env_cfg.id} has {envs.single_action_space} actions, but DQN and PPO here choose among a "
            "discrete set of actions; pick an environment with Discrete actions (e.g. CartPole-v1, Acrobot-v1)."
        )
    return RecordEpisodeStatistics(envs)


def make_atari(env_cfg, num_envs: int, training: bool) -> gym.vector.VectorEnv:
    """ALE games through ale-py's own vector environment (C++ threads, preprocessing built in).

    The standard preprocessing of Mnih et al. (2015) and Machado et al. (2018): up to 30 no-op
    actions at the start, every 4th frame (max-pooled over the last two), grayscale, 84 x 84, the
    last 4 frames stacked, sticky actions (25%), at most 108,000 frames per game.
    """
    try:
        import ale_py
    except ImportError:
        raise UserError('env=atari needs ale-py: pip install -e ".[atari]"') from None
    gym.register_envs(ale_py)
    try:
        envs = gym.make_vec(
            env_cfg.id,
            num_envs,
            vectorization_mode="vector_entry_point",
            autoreset_mode=AutoresetMode.SAME_STEP,
            frameskip=env_cfg.frame_skip,
            stack_num=env_cfg.frame_stack,
            img_height=env_cfg.screen_size,
            img_width=env_cfg.screen_size,
            noop_max=env_cfg.noop_max,
            repeat_action_probability=env_cfg.repeat_action_probability,
            max_num_frames_per_episode=env_cfg.max_frames_per_episode,
            episodic_life=False,  # episodes are whole games; AtariTrainingSignals marks lost lives
            reward_clipping=False,  # the recorded returns are the game's score; clipping comes after
        )
    except gym.error.Error as error:
        raise UserError(
            f"env.id={env_cfg.id} is not an ALE game ({error}); try ALE/Frogger-v5 or ALE/Pong-v5."
        ) from None
    envs = RecordEpisodeStatistics(envs)
    if training:
        envs = AtariTrainingSignals(envs, env_cfg.episodic_life, env_cfg.clip_rewards)
    return envs


class AtariTrainingSignals(gym.vector.VectorWrapper):
    """What DQN and PPO learn from on Atari, beyond the score (Mnih et al., 2015):

    - episodic life: losing a life ends the episode for learning (no value is carried over it),
      while the game itself goes on, so the agent learns that dying is bad in every game;
    - reward clipping to -1, 0, +1: one learning rate fits every game's score scale.
    The episode statistics (info["episode"]) are recorded underneath, on the real game and score.
    """

    def __init__(self, env, episodic_life: bool, clip_rewards: bool):
        super().__init__(env)
        self.episodic_life, self.clip_rewards = episodic_life, clip_rewards
        self.lives = None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.lives = info["lives"].copy()
        return obs, info

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        if self.episodic_life:  # after a real game over the new game has more lives: not a loss
            terminated = terminated | (info["lives"] < self.lives)
        self.lives = info["lives"].copy()
        if self.clip_rewards:
            rewards = np.sign(rewards)
        return obs, rewards, terminated, truncated, info


def action_mask(info: dict) -> np.ndarray | None:
    """The legal actions per environment where the game has illegal ones (Connect Four), else None."""
    return info.get("action_mask")


def finished_episodes(info: dict) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of the episodes that ended in this step (empty arrays if none)."""
    if "episode" not in info:
        return np.empty(0), np.empty(0)
    done = info["_episode"]
    return info["episode"]["r"][done], info["episode"]["l"][done]
