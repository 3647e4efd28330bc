"""The networks: a torso that reads an observation, and the heads each algorithm puts on it.

The torso follows the observation: an MLP for a vector (CartPole's 4 numbers), the Nature-DQN CNN
for stacked Atari frames (Mnih et al., 2015), a small CNN for a Connect Four board. AlphaZero's
network (a residual tower with a policy and a value head) reads Connect Four boards only.
"""

import math

import torch
from torch import nn
from torch.distributions import Categorical

NATURE_CHANNELS = (32, 64, 64)  # the filters of Mnih et al.'s three convolutions
EVAL_EPSILON = 0.05  # DQN's share of random actions when evaluation samples (env.eval_policy)


def layer(module: nn.Module, gain: float = math.sqrt(2)) -> nn.Module:
    """Orthogonal weights and zero biases: the initialisation PPO and DQN implementations use."""
    nn.init.orthogonal_(module.weight, gain)
    nn.init.zeros_(module.bias)
    return module


def torso(kind: str, obs_shape: tuple[int, ...], hidden: int, activation: str = "tanh", channels=None) -> nn.Sequential:
    """The feature extractor for one observation kind (configs/env/*.yaml: `network`; the CNN's
    convolutions have `channels` filters: env.cnn_channels)."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    if kind == "mlp":
        return nn.Sequential(
            nn.Flatten(), layer(nn.Linear(math.prod(obs_shape), hidden)), act(), layer(nn.Linear(hidden, hidden)), act()
        )
    if kind == "nature_cnn":  # input: frames as bytes, 4 x 84 x 84
        first, second, third = channels or NATURE_CHANNELS
        return nn.Sequential(
            ScaleBytes(),
            layer(nn.Conv2d(obs_shape[0], first, 8, stride=4)),  # 84 x 84 -> 20 x 20
            nn.ReLU(),
            layer(nn.Conv2d(first, second, 4, stride=2)),  # -> 9 x 9
            nn.ReLU(),
            layer(nn.Conv2d(second, third, 3, stride=1)),  # -> 7 x 7
            nn.ReLU(),
            nn.Flatten(),
            layer(nn.Linear(third * 7 * 7, hidden)),
            nn.ReLU(),
        )
    if kind == "board_cnn":  # input: 2 x 6 x 7 planes; padding keeps every cell, so edges count too
        planes, rows, columns = obs_shape
        return nn.Sequential(
            layer(nn.Conv2d(planes, 64, 3, padding=1)),
            nn.ReLU(),
            layer(nn.Conv2d(64, 64, 3, padding=1)),
            nn.ReLU(),
            nn.Flatten(),
            layer(nn.Linear(64 * rows * columns, hidden)),
            nn.ReLU(),
        )
    raise ValueError(f"unknown network {kind}")


class ScaleBytes(nn.Module):
    """Pixels arrive as 0-255 bytes (four times smaller in memory); the network wants 0-1 floats."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255.0


class QNetwork(nn.Module):
    """DQN: one estimated return Q(s, a) per action."""

    def __init__(self, kind: str, obs_shape, n_actions: int, hidden: int, activation: str = "relu", channels=None):
        super().__init__()
        self.torso = torso(kind, obs_shape, hidden, activation, channels)
        self.head = layer(nn.Linear(hidden, n_actions), gain=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(obs))

    @torch.no_grad()
    def act(
        self, obs: torch.Tensor, mask: torch.Tensor | None = None, rng: torch.Generator | None = None
    ) -> torch.Tensor:
        """The greedy action: the one with the highest Q among the legal ones. With `rng` (env.eval_policy:
        sampled), a random legal action instead 5% of the time: DQN's evaluation (Mnih et al., 2015)."""
        scores = masked(self(obs), mask)
        greedy = scores.argmax(dim=1)
        if rng is None:
            return greedy
        random = torch.multinomial(scores.isfinite().float(), 1, generator=rng).squeeze(1)
        explore = torch.rand(len(greedy), generator=rng, device=greedy.device) < EVAL_EPSILON
        return torch.where(explore, random, greedy)


class ActorCritic(nn.Module):
    """PPO: a policy (logits over actions) and a value estimate V(s).

    Vectors get two separate torsos (for CartPole that learns faster than sharing);
    images and boards share one torso, as convolutions are the expensive part.
    """

    def __init__(self, kind: str, obs_shape, n_actions: int, hidden: int, activation: str = "tanh", channels=None):
        super().__init__()
        self.actor_torso = torso(kind, obs_shape, hidden, activation, channels)
        self.critic_torso = torso(kind, obs_shape, hidden, activation) if kind == "mlp" else self.actor_torso
        self.actor = layer(nn.Linear(hidden, n_actions), gain=0.01)  # near-uniform policy at the start
        self.critic = layer(nn.Linear(hidden, 1), gain=1.0)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.critic_torso(obs)).squeeze(-1)

    def policy(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> Categorical:
        return Categorical(logits=masked(self.actor(self.actor_torso(obs)), mask))

    def action_and_value(self, obs, mask=None, action=None):
        """Sample an action (or score a given one): action, its log-probability, entropy, V(s)."""
        if self.critic_torso is self.actor_torso:  # one pass through the shared torso
            features = self.actor_torso(obs)
            dist = Categorical(logits=masked(self.actor(features), mask))
            value = self.critic(features).squeeze(-1)
        else:
            dist, value = self.policy(obs, mask), self.value(obs)
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), value

    @torch.no_grad()
    def act(
        self, obs: torch.Tensor, mask: torch.Tensor | None = None, rng: torch.Generator | None = None
    ) -> torch.Tensor:
        """The greedy action: the most probable legal one. With `rng` (env.eval_policy: sampled), an
        action drawn from the policy, as in training."""
        logits = masked(self.actor(self.actor_torso(obs)), mask)
        if rng is None:
            return logits.argmax(dim=1)
        return torch.multinomial(logits.softmax(dim=1), 1, generator=rng).squeeze(1)


class PolicyValueNet(nn.Module):
    """AlphaZero: move priors (logits) and the position's value for the player to move, in [-1, 1].

    A tower of residual blocks reads the board; two small heads read the tower. A residual block
    adds its input to its output, so a deeper tower starts as (nearly) the shallower one and
    gradients reach the first layers undiminished (He et al., 2016).
    """

    def __init__(self, obs_shape, n_actions: int, channels: int, blocks: int):
        super().__init__()
        planes, rows, columns = obs_shape
        self.stem = nn.Sequential(layer(nn.Conv2d(planes, channels, 3, padding=1)), nn.ReLU())
        self.tower = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.policy_head = nn.Sequential(
            layer(nn.Conv2d(channels, 2, 1)), nn.ReLU(), nn.Flatten(), layer(nn.Linear(2 * rows * columns, n_actions))
        )
        self.value_head = nn.Sequential(
            layer(nn.Conv2d(channels, 1, 1)),
            nn.ReLU(),
            nn.Flatten(),
            layer(nn.Linear(rows * columns, 64)),
            nn.ReLU(),
            layer(nn.Linear(64, 1), gain=1.0),
            nn.Tanh(),
        )

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.tower(self.stem(obs))
        return self.policy_head(features), self.value_head(features).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The network alone, without search: the legal move with the highest prior."""
        return masked(self(obs)[0], mask).argmax(dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.convs = nn.Sequential(
            layer(nn.Conv2d(channels, channels, 3, padding=1)),
            nn.ReLU(),
            layer(nn.Conv2d(channels, channels, 3, padding=1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.convs(x))


def masked(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Illegal actions get -inf: probability 0 for the policy, never the argmax of Q."""
    return scores if mask is None else scores.masked_fill(~mask, float("-inf"))


def build_network(algo_cfg, env_cfg, obs_shape, n_actions: int) -> nn.Module:
    """The network of the algorithm (configs/algo/: width and activation) for the environment's
    observations (configs/env/: which torso)."""
    if algo_cfg.name == "alphazero":
        return PolicyValueNet(tuple(obs_shape), n_actions, algo_cfg.channels, algo_cfg.blocks)
    network = QNetwork if algo_cfg.name == "dqn" else ActorCritic
    channels = env_cfg.get("cnn_channels")  # None (runs saved before the setting): the Nature CNN's
    return network(env_cfg.network, tuple(obs_shape), n_actions, algo_cfg.hidden, algo_cfg.activation, channels)
