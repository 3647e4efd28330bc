"""AlphaZero (Silver et al., 2018) for Connect Four: a tree search guided by a network, and a
network taught by that search.

    repeat:  before every move of `num_games` self-play games played side by side, Monte Carlo
             tree search (MCTS) runs `simulations` simulations from the position. Each one:
                 select:   from the root, follow the move with the highest Q + U (PUCT) down to a
                           position not yet in the tree
                 evaluate: the network gives that position's move priors P and its value V (one
                           forward pass for the new positions of all the games together)
                 back up:  V goes up the path, its sign flipped at every level (a position good
                           for one side is bad for the other); each move's Q is the mean of its values
             -> play a move in proportion to the root's visit counts (the first `temperature_moves`
                of a game, for variety) or the most visited one
             -> when a game ends, each of its positions gets the outcome z (+1 won, 0 draw, -1 lost)
                from the side of the player who moved there, as its value target (mixed with the
                search's own value of the position, `search_value_share`: see below)
             -> learn on minibatches of recent positions, mirrored at random (the board is symmetric):
                the policy head towards the visit counts (cross-entropy), the value head towards z (MSE)

The value target: z says who won, but one blunder late in a game gives every earlier position of
the winner +1, however good its opponent's position was then. The search's value of the position
(the mean value backed up to the root) is less noisy and biased by the network. AlphaZero used z
alone; on a small budget a mix of the two learns faster (the Connect Four team at Oracle reported
the same, "Lessons from AlphaZero", 2018), and `search_value_share: 0` is the paper's target.

The visit counts are a better policy than the priors they started from: search improves the network,
and the better network makes the next searches better. No human game is needed. At play time
(evaluation, the demo) the agent is the network with `play_simulations` simulations per move.

Search uses minimax.py's bitboards and the rules of a settled position: a mover who can complete
four wins (+1), two threats of the opponent cannot both be blocked (-1), a full board is a draw (0),
and a single threat must be blocked (the one move searched). The network is asked only about the
other positions. The settings are in configs/algo/alphazero.yaml, with why each has its value.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from .connect_four import COLUMNS, ROWS, ConnectFourVectorEnv
from .minimax import COLUMN_CELLS, STRIDE, completing_cells, dropped, play, playable
from .networks import PolicyValueNet, build_network
from .plumbing.training_run import TrainingRun

# CELL_BITS[row, column]: the bit of that cell in minimax.py's bitboards (row 0 the top).
CELL_BITS = np.array([[STRIDE * column + ROWS - 1 - row for column in range(COLUMNS)] for row in range(ROWS)])


class Node:
    """A position in the search tree, (mine, both) as in minimax.py, and the statistics of its moves."""

    __slots__ = ("mine", "both", "outcome", "moves", "priors", "visits", "values", "children")

    def __init__(self, mine: int, both: int, outcome: float | None = None):
        self.mine, self.both = mine, both
        # outcome: the exact value for the player to move where the rules settle it, else None.
        # moves: the columns worth searching (a win, a block, or every legal one).
        self.outcome, self.moves = settled(mine, both) if outcome is None else (outcome, [])
        self.priors: list[float] | None = None  # set when the network has seen the position (expanded)
        self.visits = [0] * len(self.moves)
        self.values = [0.0] * len(self.moves)  # the sums of the values backed up through each move
        self.children: list[Node | None] = [None] * len(self.moves)

    def select(self, c_puct: float) -> int:
        """PUCT: the move with the highest Q + U. Q, the mean value found below the move, exploits;
        U, large for a move with a high prior and few visits, explores (Silver et al., 2017)."""
        scale = c_puct * math.sqrt(sum(self.visits) + 1)
        scores = [
            (value / visits if visits else 0.0) + scale * prior / (1 + visits)
            for value, visits, prior in zip(self.values, self.visits, self.priors, strict=True)
        ]
        return scores.index(max(scores))

    def child(self, index: int) -> "Node":
        if self.children[index] is None:
            column = self.moves[index]
            won = completing_cells(self.mine) & dropped(self.both, column)  # the move completes four
            self.children[index] = Node(*play(self.mine, self.both, column), outcome=-1.0 if won else None)
        return self.children[index]


def settled(mine: int, both: int) -> tuple[float | None, list[int]]:
    """What the rules decide about a position before any search: (outcome or None, moves to search)."""
    moves = playable(both)
    wins = completing_cells(mine) & moves
    if wins:
        return 1.0, [column_of(wins)]
    if not moves:
        return 0.0, []  # a full board: a draw
    threats = completing_cells(mine ^ both) & moves  # where the opponent would win next move
    if threats:
        lost = threats & (threats - 1)  # two of them: one can be blocked, not both
        return (-1.0 if lost else None), [column_of(threats)]
    return None, [column for column in range(COLUMNS) if moves & COLUMN_CELLS[column]]


def column_of(cells: int) -> int:
    """The column of the highest set bit of `cells`."""
    return (cells.bit_length() - 1) // STRIDE


def positions(obs: np.ndarray) -> list[tuple[int, int]]:
    """(mine, both) bitboards of observations (n, 2, 6, 7): plane 0 the mover's discs, plane 1 the other's."""
    weights = np.left_shift(1, CELL_BITS, dtype=np.int64)  # bits up to 47: int64 holds them
    mine = (obs[:, 0].astype(np.int64) * weights).sum(axis=(1, 2))
    theirs = (obs[:, 1].astype(np.int64) * weights).sum(axis=(1, 2))
    return [(int(m), int(m | t)) for m, t in zip(mine, theirs, strict=True)]


def observations(nodes: list[Node]) -> np.ndarray:
    """The network's input (n, 2, 6, 7) for the positions of `nodes`: the inverse of positions()."""
    mine = np.array([node.mine for node in nodes], dtype=np.int64)[:, None, None]
    theirs = np.array([node.mine ^ node.both for node in nodes], dtype=np.int64)[:, None, None]
    return np.stack([(mine >> CELL_BITS) & 1, (theirs >> CELL_BITS) & 1], axis=1).astype(np.float32)


@torch.no_grad()
def expand(nodes: list[Node], network: PolicyValueNet) -> list[float]:
    """Give `nodes` their priors (the policy over their moves) in one forward pass; their values."""
    if not nodes:
        return []
    device = next(network.parameters()).device
    logits, values = network(torch.as_tensor(observations(nodes), device=device))
    logits = logits.cpu().numpy()
    for node, row in zip(nodes, logits, strict=True):
        scores = np.exp(row[node.moves] - row[node.moves].max())  # a softmax over the moves searched
        node.priors = (scores / scores.sum()).tolist()
    return values.cpu().tolist()


def search(roots: list[Node], network: PolicyValueNet, simulations: int, c_puct: float, noise=None) -> np.ndarray:
    """Run `simulations` simulations in each root's tree, all roots side by side; the visit counts
    (len(roots), 7). noise(priors) -> priors, if given, is mixed into each root's priors first."""
    expand([root for root in roots if root.priors is None], network)
    if noise is not None:
        for root in roots:
            root.priors = noise(root.priors)
    for _ in range(simulations):
        paths, leaves = [], []
        for root in roots:
            path, node = [], root
            while node.priors is not None and node.moves:  # down the tree to a position not yet evaluated
                index = node.select(c_puct)
                path.append((node, index))
                node = node.child(index)
                if node.outcome is not None:  # settled by the rules: no need to ask the network
                    break
            if node.outcome is not None:
                back_up(path, node.outcome)
            else:
                paths.append(path)
                leaves.append(node)
        for path, value in zip(paths, expand(leaves, network), strict=True):
            back_up(path, value)
    counts = np.zeros((len(roots), COLUMNS))
    for row, root in enumerate(roots):
        counts[row, root.moves] = root.visits
    return counts


def back_up(path: list[tuple[Node, int]], value: float) -> None:
    """`value` is the last position's, for its mover; one level up it is the other player's."""
    for node, index in reversed(path):
        value = -value
        node.visits[index] += 1
        node.values[index] += value


class SearchingPlayer(nn.Module):
    """The AlphaZero agent as it plays: the network and `simulations` simulations of search per move,
    then the most visited move. simulations=0: the network alone (its highest prior)."""

    def __init__(self, network: PolicyValueNet, simulations: int, c_puct: float):
        super().__init__()
        self.network, self.simulations, self.c_puct = network, simulations, c_puct

    @torch.no_grad()
    def act(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The move for each board of `obs`; `mask` is not needed, as the search plays only legal moves."""
        if self.simulations == 0:
            return self.network.act(obs, mask)
        roots = [Node(*position) for position in positions(obs.cpu().numpy())]
        counts = search(roots, self.network, self.simulations, self.c_puct)
        return torch.as_tensor(counts.argmax(axis=1), device=obs.device)


class Replay:
    """The most recent `capacity` self-play positions with their targets: visit shares and value."""

    def __init__(self, capacity: int, seed: int):
        self.obs = np.zeros((capacity, 2, ROWS, COLUMNS), dtype=bool)
        self.policies = np.zeros((capacity, COLUMNS), dtype=np.float32)
        self.values = np.zeros(capacity, dtype=np.float32)
        self.capacity, self.size, self.position = capacity, 0, 0
        self.rng = np.random.default_rng(seed)

    def add(self, obs: np.ndarray, policies: np.ndarray, values: np.ndarray) -> None:
        rows = (self.position + np.arange(len(values))) % self.capacity
        self.obs[rows], self.policies[rows], self.values[rows] = obs, policies, values
        self.position = int(rows[-1] + 1) % self.capacity
        self.size = min(self.size + len(values), self.capacity)

    def sample(self, batch_size: int, device) -> tuple[torch.Tensor, ...]:
        """A minibatch, half of it mirrored left to right: a mirrored position is as good or bad,
        with its moves mirrored too, and the network sees twice the positions."""
        rows = self.rng.integers(0, self.size, batch_size)
        obs, policies = self.obs[rows].astype(np.float32), self.policies[rows]
        mirror = self.rng.random(batch_size) < 0.5
        obs[mirror], policies[mirror] = obs[mirror, :, :, ::-1], policies[mirror, ::-1]
        return tuple(torch.as_tensor(array, device=device) for array in (obs, policies, self.values[rows]))


def train(cfg: DictConfig, run: TrainingRun) -> None:
    algo = cfg.algo
    device = run.device
    env = ConnectFourVectorEnv(algo.num_games)
    network = build_network(algo, cfg.env, env.single_observation_space.shape, COLUMNS).to(device)
    player = SearchingPlayer(network, algo.play_simulations, algo.c_puct)  # what the evaluations play
    # Weight decay, as in AlphaZero: the replay holds a few thousand games; without it the network
    # learns them by heart.
    optimizer = torch.optim.AdamW(network.parameters(), lr=algo.lr, weight_decay=algo.weight_decay)
    resumed = run.restore(model=network, optimizer=optimizer)
    # The replay is not saved: a resumed run plays learning_starts positions before it learns again.
    replay = Replay(algo.replay_positions, seed=cfg.seed + run.step)
    rng = np.random.default_rng(cfg.seed + run.step)
    updates = resumed.get("updates", 0) if resumed else 0

    def noise(priors: list[float]) -> list[float]:
        """Dirichlet noise on the root's priors: every move gets tried now and then, even one the
        network dismisses (alpha about 10 / the number of legal moves, as AlphaZero chose)."""
        if len(priors) == 1:
            return priors
        share = algo.noise_fraction
        return ((1 - share) * np.array(priors) + share * rng.dirichlet([algo.dirichlet_alpha] * len(priors))).tolist()

    def state() -> dict:
        return {"model": network.state_dict(), "optimizer": optimizer.state_dict(), "updates": updates}

    obs, _ = env.reset(seed=run.env_seed)
    roots = [Node(*position) for position in positions(obs)]
    # Each game so far: per move, (obs, visit shares, mover, the search's value of the position).
    games: list[list] = [[] for _ in range(algo.num_games)]
    value_losses, policy_losses, lengths = [], [], []
    while True:
        # 1. Search from every game's position, then move: early in a game in proportion to the
        # visits, so that games differ; later the most visited move.
        network.eval()
        counts = search(roots, network, algo.simulations, algo.c_puct, noise)
        shares = counts / counts.sum(axis=1, keepdims=True)
        early = np.array([len(game) < algo.temperature_moves for game in games])
        sampled = [rng.choice(COLUMNS, p=row) if first else -1 for row, first in zip(shares, early, strict=True)]
        moves = np.where(early, sampled, shares.argmax(axis=1))
        for game, board_obs, board_shares, mover, root in zip(games, obs, shares, env.to_move, roots, strict=True):
            game.append((board_obs, board_shares, mover, sum(root.values) / sum(root.visits)))
        # Keep the chosen move's subtree: its visits are the next search's head start.
        roots = [root.children[root.moves.index(move)] for root, move in zip(roots, moves, strict=True)]
        obs, rewards, terminated, _, info = env.step(moves)
        run.record(info, rewards)
        run.step += algo.num_games

        # 2. A finished game's positions go into the replay, each with its value target: the outcome
        # for its mover, mixed with the search's value.
        for board in np.flatnonzero(terminated):
            board_obs, board_shares, movers, searched = (np.array(column) for column in zip(*games[board], strict=True))
            outcomes = info["winner"][board] * movers.astype(np.float32)
            targets = (1 - algo.search_value_share) * outcomes + algo.search_value_share * searched
            replay.add(board_obs, board_shares, targets.astype(np.float32))
            lengths.append(len(games[board]))
            games[board] = []
        # A finished game starts again from the empty board (the environment has reset it).
        roots = [
            Node(*position) if done else root
            for root, done, position in zip(roots, terminated, positions(obs), strict=True)
        ]

        # 3. Learn: the policy towards the search's visit shares, the value towards its target.
        if replay.size >= algo.learning_starts:
            network.train()
            for _ in range(algo.updates_per_move):
                batch_obs, batch_policies, batch_values = replay.sample(algo.batch_size, device)
                logits, values = network(batch_obs)
                value_loss = F.mse_loss(values, batch_values)
                policy_loss = -(batch_policies * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
                loss = value_loss + policy_loss
                run.check_update(loss)  # nan or inf: the run stops (see training_run.py)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                updates += 1
                value_losses.append(value_loss.item())
                policy_losses.append(policy_loss.item())

        if run.step % cfg.logger.log_every_n_steps < algo.num_games:  # the first step past each multiple
            values = {"replay_positions": replay.size}
            if value_losses:
                values |= {"value_loss": float(np.mean(value_losses)), "policy_loss": float(np.mean(policy_losses))}
            if lengths:
                values["game_length"] = float(np.mean(lengths))
            run.log(values)
            value_losses, policy_losses, lengths = [], [], []
        if run.end_of_iteration(player, state):
            break
    env.close()
