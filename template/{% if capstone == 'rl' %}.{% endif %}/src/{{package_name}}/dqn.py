"""Deep Q-Network (Mnih et al., 2015), with the Double-DQN target (van Hasselt et al., 2016) as an option.

    repeat:  act epsilon-greedily (a random action with probability epsilon, else argmax Q)
             -> store the transition in the replay buffer
             -> every `train_frequency` steps: `gradient_steps` regression steps of Q(s, a) towards
                r + gamma * max_a' Q_target(s', a') on random minibatches of past transitions
             -> every `target_update_frequency` updates: move the target network towards Q

The settings are in configs/algo/dqn.yaml, with why each has its value.
"""

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from .envs import action_mask, make_envs
from .networks import build_network, masked
from .plumbing.training_run import TrainingRun


class ReplayBuffer:
    """The last `capacity` transitions in preallocated arrays; sampling is uniform."""

    def __init__(self, capacity: int, obs_shape, obs_dtype, n_actions: int, seed: int):
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        # Legal actions in next_obs (where a game ended: the new game's, unused as it has no future).
        self.next_masks = np.ones((capacity, n_actions), dtype=bool)
        self.capacity, self.size, self.position = capacity, 0, 0
        self.rng = np.random.default_rng(seed)

    def add(self, obs, next_obs, actions, rewards, terminated, next_masks) -> None:
        for i in range(len(actions)):  # one row per environment
            p = self.position
            self.obs[p], self.next_obs[p], self.actions[p] = obs[i], next_obs[i], actions[i]
            self.rewards[p], self.terminated[p] = rewards[i], terminated[i]
            if next_masks is not None:
                self.next_masks[p] = next_masks[i]
            self.position = (p + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, device) -> tuple[torch.Tensor, ...]:
        rows = self.rng.integers(0, self.size, batch_size)
        arrays = (self.obs, self.actions, self.rewards, self.next_obs, self.terminated, self.next_masks)
        return tuple(torch.as_tensor(array[rows], device=device) for array in arrays)

    def state_dict(self) -> dict:
        """The filled part as tensors (checkpoints load with weights_only=True)."""
        fields = ("obs", "next_obs", "actions", "rewards", "terminated", "next_masks")
        state = {name: torch.from_numpy(getattr(self, name)[: self.size].copy()) for name in fields}
        return {**state, "position": self.position, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        size = len(state["actions"])
        if size > self.capacity:
            raise ValueError(f"the saved buffer holds {size} transitions, more than algo.buffer_size={self.capacity}")
        # Oldest first, so that a larger buffer fills its empty rows before overwriting old ones.
        oldest = state["position"] % size if size else 0
        for name in ("obs", "next_obs", "actions", "rewards", "terminated", "next_masks"):
            getattr(self, name)[:size] = np.roll(state[name].numpy(), -oldest, axis=0)
        self.size, self.position = size, size % self.capacity
        self.rng.bit_generator.state = state["rng"]


def epsilon_at(step: int, algo: SimpleNamespace, total_steps: int) -> float:
    """Exploration: epsilon falls linearly from start_epsilon to end_epsilon over the first
    `exploration_fraction` of the run, then stays."""
    span = max(algo.exploration_fraction * total_steps, 1)
    return max(algo.end_epsilon, algo.start_epsilon + (algo.end_epsilon - algo.start_epsilon) * step / span)


def train(cfg: DictConfig, run: TrainingRun) -> None:
    # Plain values: the loop reads a dozen settings at every step, and a DictConfig lookup costs
    # microseconds (together, about a sixth of a CartPole step's time).
    algo = SimpleNamespace(**OmegaConf.to_container(cfg.algo, resolve=True))
    total_steps, log_every = cfg.trainer.total_steps, cfg.logger.log_every_n_steps
    device = run.device
    envs = make_envs(cfg.env, algo.num_envs)
    obs_space, n_actions = envs.single_observation_space, envs.single_action_space.n
    q_network = build_network(algo, cfg.env, obs_space.shape, n_actions).to(device)
    target_network = build_network(algo, cfg.env, obs_space.shape, n_actions).to(device)
    target_network.load_state_dict(q_network.state_dict())
    optimizer = torch.optim.Adam(q_network.parameters(), lr=algo.lr)
    buffer = ReplayBuffer(algo.buffer_size, obs_space.shape, obs_space.dtype, n_actions, seed=cfg.seed)
    resumed = run.restore(model=q_network, target_model=target_network, optimizer=optimizer)
    if resumed and "replay_buffer" in resumed:
        run.restore(replay_buffer=buffer)
    # Zero-sum games in turns (Connect Four self-play): the next state is the opponent's, whose
    # best value is our loss, so it enters the target with a minus sign.
    discount = -algo.gamma if cfg.env.turn_based else algo.gamma
    rng = np.random.default_rng(cfg.seed + run.step)
    updates = resumed.get("updates", 0) if resumed else 0
    learning_starts = algo.learning_starts
    if resumed and "replay_buffer" not in resumed:  # resumed without its memory: refill it first
        learning_starts += run.step

    def state() -> dict:
        saved = {"model": q_network.state_dict(), "target_model": target_network.state_dict()}
        saved |= {"optimizer": optimizer.state_dict(), "updates": updates}
        if algo.save_replay_buffer:
            saved["replay_buffer"] = buffer.state_dict()
        return saved

    obs, info = envs.reset(seed=run.env_seed)
    mask = action_mask(info)
    losses, q_values = [], []
    while True:
        # 1. Act: explore with probability epsilon, else exploit what Q has learned.
        epsilon = epsilon_at(run.step, algo, total_steps)
        random_actions = random_legal_actions(rng, mask, algo.num_envs, n_actions)
        legal = None if mask is None else torch.as_tensor(mask, device=device)
        greedy = q_network.act(torch.as_tensor(obs, device=device), legal)
        actions = np.where(rng.random(algo.num_envs) < epsilon, random_actions, greedy.cpu().numpy())

        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        run.record(info, rewards)
        # 2. Remember. An episode cut by a time limit restarted at once: its true next state, which
        # the target bootstraps from, is in final_obs. (Terminated rows never bootstrap.)
        real_next_obs = next_obs.copy()
        for i in np.flatnonzero(truncated & ~terminated):
            real_next_obs[i] = info["final_obs"][i]
        next_mask = action_mask(info)
        # A time limit is not the end of the task: only `terminated` stops the bootstrap.
        buffer.add(obs, real_next_obs, actions, rewards, terminated, next_mask)
        obs, mask = next_obs, next_mask
        run.step += algo.num_envs

        # 3. Learn from a random minibatch of the past, every train_frequency steps.
        if run.step > learning_starts and (run.step // algo.num_envs) % algo.train_frequency == 0:
            for _ in range(algo.gradient_steps):
                b_obs, b_actions, b_rewards, b_next_obs, b_terminated, b_next_masks = buffer.sample(
                    algo.batch_size, device
                )
                with torch.no_grad():
                    target_q = masked(target_network(b_next_obs), b_next_masks)
                    if algo.double_dqn:  # Q picks the next action, the target network values it: less overestimation
                        next_actions = masked(q_network(b_next_obs), b_next_masks).argmax(dim=1, keepdim=True)
                        next_q = target_q.gather(1, next_actions).squeeze(1)
                    else:
                        next_q = target_q.max(dim=1).values
                    next_q = torch.where(b_terminated.bool(), 0.0, next_q)  # an ended game has no future
                    td_target = b_rewards + discount * next_q
                q = q_network(b_obs).gather(1, b_actions[:, None]).squeeze(1)
                loss = F.smooth_l1_loss(q, td_target) if algo.loss == "huber" else F.mse_loss(q, td_target)
                run.check_update(loss)  # nan or inf: the run stops (see training_run.py)

                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if algo.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(q_network.parameters(), algo.max_grad_norm)
                optimizer.step()
                updates += 1
                losses.append(loss.item())
                q_values.append(q.mean().item())

                # 4. The target network follows Q slowly (tau < 1) or jumps to it (tau = 1).
                if updates % algo.target_update_frequency == 0:
                    with torch.no_grad():
                        for target, online in zip(target_network.parameters(), q_network.parameters(), strict=True):
                            target.lerp_(online, algo.tau)

        if run.step % log_every < algo.num_envs:  # the first step past each multiple
            values = {"epsilon": epsilon}
            if losses:
                values |= {"td_loss": float(np.mean(losses)), "q_value": float(np.mean(q_values))}
            run.log(values)
            losses, q_values = [], []
        if run.end_of_iteration(q_network, state):
            break
    envs.close()


def random_legal_actions(rng: np.random.Generator, mask: np.ndarray | None, num_envs: int, n_actions: int):
    """A uniformly random action per environment, among the legal ones where the game has a mask."""
    if mask is None:
        return rng.integers(0, n_actions, num_envs)
    return (rng.random((num_envs, n_actions)) * mask).argmax(axis=1)
