"""The Connect Four strength ladder: whom the agent is measured against, and how.

The opponents, weakest first: `random`; `lookahead` (takes a win, blocks one, else random); and
`minimax<depth>`, alpha-beta search that many moves ahead (minimax.py): minimax2, minimax4,
minimax6. Against each, the games come in pairs: both games of a pair open with the same random
moves (OPENING_MOVES), then the agent plays first in one and second in the other. A greedy agent
is deterministic and minimax nearly so (it picks at random only among equally good moves): from the
empty board most games would repeat, and 200 of them would say little more than a few. Two kinds of
measure:

- per opponent, the shares of games won, drawn and lost, and the Elo difference that result
  implies (scoring 76% means about +200: the rating gap at which the stronger side scores 76%);
- an exact one: on positions proved by the solver (minimax.solve), the share in which the agent's
  move does not turn the game into a loss. Games against search say how often the agent wins;
  this says how often it blunders, whoever it plays.
"""

import math
import re

import numpy as np
import torch

from .connect_four import COLUMNS, OPPONENTS, ROWS, ConnectFourVectorEnv, choose_among
from .minimax import (
    COLUMN_CELLS,
    STRIDE,
    Search,
    completing_cells,
    empty_cells,
    from_board,
    legal,
    play,
    playable,
    solve,
)
from .plumbing.errors import UserError

# Random moves each pair of games opens with: 49 openings. Fewer than 7, so that no game ends in them.
OPENING_MOVES = 2
# The proved positions have this many empty cells (24 discs played): late enough for the solver to
# prove each move in milliseconds, early enough that a wrong move still loses games.
PROVED_EMPTY_CELLS = 18


def opponent(name: str):
    """The player called `name`: a function (env, rng, turn) -> a column for every board."""
    if name in OPPONENTS:
        return OPPONENTS[name]
    found = re.fullmatch(r"minimax(-?\d+)", str(name))
    if found is None:
        raise UserError(
            f"{name} is not a Connect Four opponent: use random, lookahead or minimax<depth> (e.g. minimax4)."
        )
    if int(found[1]) < 1:
        raise UserError(f"{name}: minimax has to look at least 1 move ahead (e.g. minimax2).")
    return MinimaxPlayer(int(found[1]))


class MinimaxPlayer:
    """Alpha-beta search `depth` moves ahead on each board where it is this player's turn."""

    def __init__(self, depth: int):
        self.depth = depth
        self.search = Search()  # one transposition table for all boards and moves: positions recur

    def __call__(self, env: ConnectFourVectorEnv, rng: np.random.Generator, turn: np.ndarray) -> np.ndarray:
        moves = np.zeros(env.num_envs, dtype=np.int64)
        for board in np.flatnonzero(turn):
            position = from_board(env.boards[board], int(env.to_move[board]))
            moves[board] = self.search.best_move(*position, self.depth, rng)
        return moves


def ladder_metrics(network, opponents, games: int, seed: int, prefix: str) -> dict[str, float]:
    """Win, draw and loss rates and the Elo difference against each opponent, `games` games each."""
    for name in opponents:
        opponent(name)  # every name checked before the first game
    metrics = {}
    for name in opponents:
        outcomes = play_matches(network, opponent(name), games, seed)  # a fresh player: its table goes after
        metrics[f"{prefix}win_rate_{name}"] = float(np.mean(outcomes == 1))
        metrics[f"{prefix}draw_rate_{name}"] = float(np.mean(outcomes == 0))
        metrics[f"{prefix}loss_rate_{name}"] = float(np.mean(outcomes == -1))
        metrics[f"{prefix}elo_{name}"] = round(elo_difference(outcomes))
    # A return for every environment: the mean outcome against the last, strongest opponent (+1 win, -1 loss).
    metrics[f"{prefix}return_mean"] = float(outcomes.mean())
    metrics[f"{prefix}return_std"] = float(outcomes.std())
    return metrics


def ladder_table(metrics: dict[str, float], prefix: str = "eval/", gif_opponent: str | None = None) -> str:
    """The ladder as a Markdown table for README.md's results, weakest opponent first, and what
    agent.gif shows (a game against `gif_opponent`)."""
    opponents = [key.removeprefix(f"{prefix}win_rate_") for key in metrics if key.startswith(f"{prefix}win_rate_")]
    rows = ["| against | won | drawn | lost | Elo difference |", "|---|---|---|---|---|"]
    for name in opponents:
        rates = " | ".join(f"{metrics[f'{prefix}{outcome}_rate_{name}']:.1%}" for outcome in ("win", "draw", "loss"))
        rows.append(f"| {name} | {rates} | {metrics[f'{prefix}elo_{name}']:+d} |")
    if f"{prefix}not_losing_moves" in metrics:
        rows += [
            "",
            f"Moves that do not lose on {metrics[f'{prefix}proved_positions']} positions proved by the solver: "
            f"{metrics[f'{prefix}not_losing_moves']:.1%}.",
        ]
    if f"{prefix}gif_outcome" in metrics:
        outcome = {1: "won", 0: "drawn", -1: "lost"}[int(metrics[f"{prefix}gif_outcome"])]
        rows += ["", f"The game below: the agent (red, moving first) against {gif_opponent}, {outcome}."]
    return "\n".join(rows)


def elo_difference(outcomes: np.ndarray) -> float:
    """The rating gap the results imply (a win scores 1, a draw 1/2). A clean sweep has no finite
    gap, so the score is held half a game away from 0 and from all: 200 wins of 200 give +1040."""
    games = len(outcomes)
    score = float(np.clip((np.mean(outcomes) + 1) / 2, 0.5 / games, 1 - 0.5 / games))
    return 400 * math.log10(score / (1 - score))


def play_matches(network, player, games: int, seed: int) -> np.ndarray:
    """Connect Four against `player`: +1 win, 0 draw, -1 loss per game for the network, which plays
    greedily (AlphaZero's: with its search, alphazero.SearchingPlayer)."""
    device = next(network.parameters()).device

    @torch.no_grad()
    def greedy(env: ConnectFourVectorEnv, rng: np.random.Generator, turn: np.ndarray) -> np.ndarray:
        moves = np.zeros(env.num_envs, dtype=np.int64)
        boards = np.flatnonzero(turn)  # only where it is the network's move: an agent that searches costs more
        if len(boards):
            obs = torch.as_tensor(env.observations()[boards], device=device)
            mask = torch.as_tensor(env.legal_moves()[boards], device=device)
            moves[boards] = network.act(obs, mask).cpu().numpy()
        return moves

    return match(greedy, player, games, seed)


def match(first, second, games: int, seed: int, opening_moves: int = OPENING_MOVES) -> np.ndarray:
    """Games between two players: +1 a win for `first`, 0 a draw, -1 a loss.

    Games 2k and 2k+1 open with the same `opening_moves` random moves; then `first` plays the first
    player's discs in game 2k and the second player's in game 2k+1.
    """
    rng = np.random.default_rng(seed)
    env = ConnectFourVectorEnv(games)
    env.reset(seed=seed)
    for _ in range(opening_moves):
        pairs = choose_among(env.legal_moves()[::2], rng)  # both boards of a pair are the same so far
        env.step(np.repeat(pairs, 2)[:games])
    side = np.where(np.arange(games) % 2 == 0, 1, -1)  # +1: `first` has the first player's discs
    outcome = np.zeros(games)
    finished = np.zeros(games, dtype=bool)
    while not finished.all():
        turn = env.to_move == side
        moves = np.where(turn, first(env, rng, turn & ~finished), second(env, rng, ~turn & ~finished))
        _, _, terminated, _, info = env.step(moves)
        if terminated.any():
            ended = terminated & ~finished
            outcome[ended] = (info["winner"] * side)[ended]
            finished |= terminated
    return outcome


def proved_positions(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` positions with PROVED_EMPTY_CELLS empty cells, each with its losing columns.

    The positions come from games between two lookahead players (seeded), stopped at that many
    empty cells; a position is kept when at least one legal move loses against perfect play and at
    least one does not, so that the choice matters. Returns the boards (count, 6, 7; +1 the player
    to move, -1 the other) and, for each, which of the 7 columns lose (count, 7; False where full).
    """
    rng, search = np.random.default_rng(seed), Search()
    boards, losing = [], []
    while len(boards) < count:
        position = lookahead_game(rng, PROVED_EMPTY_CELLS)
        if position is None:  # the game ended first
            continue
        mine, both = position
        columns = [column for column in range(COLUMNS) if legal(both, column)]
        loses = [column for column in columns if loses_against_perfect_play(mine, both, column, search)]
        if loses and len(loses) < len(columns):
            boards.append(to_board(mine, both))
            losing.append([column in loses for column in range(COLUMNS)])
    return np.array(boards, dtype=np.int8), np.array(losing)


def lookahead_game(rng: np.random.Generator, stop_at: int) -> tuple[int, int] | None:
    """Two lookahead players from the empty board until `stop_at` empty cells; None if someone wins first."""
    mine = both = 0
    while empty_cells(both) > stop_at:
        moves = playable(both)
        if completing_cells(mine) & moves:
            return None
        blocks = completing_cells(mine ^ both) & moves
        if blocks:
            column = (blocks.bit_length() - 1) // STRIDE
        else:
            column = int(rng.choice([column for column in range(COLUMNS) if legal(both, column)]))
        mine, both = play(mine, both, column)
    return mine, both


def loses_against_perfect_play(mine: int, both: int, column: int, search: Search) -> bool:
    if completing_cells(mine) & playable(both) & COLUMN_CELLS[column]:
        return False  # it wins at once
    return solve(*play(mine, both, column), search) > 0  # the opponent, to move, wins


def to_board(mine: int, both: int) -> np.ndarray:
    """A (6, 7) board from the mover's point of view: +1 the mover's discs, -1 the other's (row 0 the top)."""
    board = np.zeros((ROWS, COLUMNS), dtype=np.int8)
    for column in range(COLUMNS):
        for height in range(ROWS):
            bit = 1 << (STRIDE * column + height)
            if both & bit:
                board[ROWS - 1 - height, column] = 1 if mine & bit else -1
    return board


@torch.no_grad()
def not_losing_share(network, boards: np.ndarray, losing: np.ndarray) -> float:
    """The share of proved positions where the network's greedy move does not lose."""
    device = next(network.parameters()).device
    obs = torch.as_tensor(np.stack([boards == 1, boards == -1], axis=1), dtype=torch.float32, device=device)
    legal_columns = torch.as_tensor(boards[:, 0] == 0, device=device)
    columns = network.act(obs, legal_columns).cpu().numpy()
    return float(np.mean(~losing[np.arange(len(boards)), columns]))
