"""Connect Four as a Gymnasium vector environment: many boards, one NumPy array, both players.

Why not PettingZoo's connect_four_v3: self-play needs every board's next move from the same network
in one batched forward pass, while PettingZoo's AEC API steps one board and one player at a time.
Here all boards advance together, which makes self-play about a hundred times cheaper per move.

The rules: two players drop discs into 7 columns of 6 rows; four in a row (across, down or
diagonal) wins; a full board is a draw. Every step is one move of the player whose turn it is,
and everything the agent sees is from that player's point of view:

- observation: 2 x 6 x 7 floats, plane 0 the mover's discs, plane 1 the opponent's (row 0 is the top);
- reward: +1 when the move wins, 0 otherwise; a move into a full column loses (-1);
- info["action_mask"]: the columns that are not full, for the player who moves next.

A game that ends resets at once (Gymnasium's same-step autoreset): the observation returned is
the new game's; info["final_obs"] and info["final_board"] hold the last position of the old one.
"""

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space

ROWS, COLUMNS = 6, 7


class ConnectFourVectorEnv(gym.vector.VectorEnv):
    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int, render_mode: str | None = None):
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, (2, ROWS, COLUMNS), np.float32)
        self.single_action_space = gym.spaces.Discrete(COLUMNS)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        # +1: the first player's disc, -1: the second player's, 0: empty.
        self.boards = np.zeros((num_envs, ROWS, COLUMNS), np.int8)
        self.to_move = np.ones(num_envs, np.int8)  # +1 or -1: whose turn it is on each board
        self.heights = np.zeros((num_envs, COLUMNS), np.int8)  # discs in each column

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)  # seeds self.np_random, which no rule uses: the game itself is deterministic
        self.boards[:] = 0
        self.to_move[:] = 1
        self.heights[:] = 0
        return self.observations(), {"action_mask": self.legal_moves()}

    def step(self, actions):
        actions = np.asarray(actions, dtype=np.int64)
        envs = np.arange(self.num_envs)
        illegal = self.heights[envs, actions] >= ROWS
        legal = ~illegal
        rows = ROWS - 1 - self.heights[envs, actions]
        self.boards[envs[legal], rows[legal], actions[legal]] = self.to_move[legal]
        self.heights[envs[legal], actions[legal]] += 1

        won = legal & four_in_a_row(self.boards == self.to_move[:, None, None])
        full = self.heights.min(axis=1) >= ROWS
        terminated = won | illegal | full
        rewards = np.where(won, 1.0, np.where(illegal, -1.0, 0.0)).astype(np.float32)
        truncated = np.zeros(self.num_envs, dtype=bool)
        winners = np.where(won, self.to_move, np.where(illegal, -self.to_move, 0))

        self.to_move = -self.to_move
        info = {}
        if terminated.any():
            info["final_obs"] = np.where(terminated[:, None, None, None], self.observations(), 0.0)
            info["_final_obs"] = terminated
            info["winner"] = winners  # +1 first player, -1 second player, 0 draw (read where terminated)
            info["final_board"] = self.boards.copy()
            self.boards[terminated] = 0
            self.heights[terminated] = 0
            self.to_move[terminated] = 1
        info["action_mask"] = self.legal_moves()
        return self.observations(), rewards, terminated, truncated, info

    def observations(self) -> np.ndarray:
        """Each board from the point of view of the player to move: (own discs, opponent's discs)."""
        mover = self.to_move[:, None, None]
        return np.stack([self.boards == mover, self.boards == -mover], axis=1).astype(np.float32)

    def legal_moves(self) -> np.ndarray:
        return self.heights < ROWS

    def render(self, index: int = 0) -> np.ndarray:
        """Board `index` as an RGB image: blue frame, red discs first player, yellow second."""
        return board_image(self.boards[index])


def four_in_a_row(discs: np.ndarray) -> np.ndarray:
    """For a batch of boolean boards (n, 6, 7): which hold four True cells in a line."""
    d = discs
    across = d[:, :, :-3] & d[:, :, 1:-2] & d[:, :, 2:-1] & d[:, :, 3:]
    down = d[:, :-3] & d[:, 1:-2] & d[:, 2:-1] & d[:, 3:]
    diagonal = d[:, :-3, :-3] & d[:, 1:-2, 1:-2] & d[:, 2:-1, 2:-1] & d[:, 3:, 3:]
    anti_diagonal = d[:, 3:, :-3] & d[:, 2:-1, 1:-2] & d[:, 1:-2, 2:-1] & d[:, :-3, 3:]
    return across.any((1, 2)) | down.any((1, 2)) | diagonal.any((1, 2)) | anti_diagonal.any((1, 2))


def winning_moves(boards: np.ndarray, player: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """(n, 7) booleans: the columns where `player` (+1/-1 per board) would win at once."""
    wins = np.zeros(heights.shape, dtype=bool)
    envs = np.arange(len(boards))
    for column in range(COLUMNS):
        open_ = heights[:, column] < ROWS
        trial = boards.copy()
        rows = np.clip(ROWS - 1 - heights[:, column], 0, ROWS - 1)
        trial[envs[open_], rows[open_], column] = player[open_]
        wins[:, column] = open_ & four_in_a_row(trial == player[:, None, None])
    return wins


def random_player(env: ConnectFourVectorEnv, rng: np.random.Generator, turn: np.ndarray) -> np.ndarray:
    """A uniformly random legal column on every board whose `turn` it is (the others' are ignored)."""
    return choose_among(env.legal_moves() & turn[:, None], rng)


def lookahead_player(env: ConnectFourVectorEnv, rng: np.random.Generator, turn: np.ndarray) -> np.ndarray:
    """The one-step-lookahead player: win if a move wins now, else block the opponent's winning
    column, else play a random legal column (on the boards whose `turn` it is)."""
    legal = env.legal_moves()
    wins = winning_moves(env.boards, env.to_move, env.heights)
    blocks = winning_moves(env.boards, -env.to_move, env.heights)
    choice = np.where(wins.any(1, keepdims=True), wins, np.where(blocks.any(1, keepdims=True), blocks, legal))
    return choose_among(choice & turn[:, None], rng)


def choose_among(allowed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One True column per row of `allowed`, uniformly at random (column 0 where none is)."""
    scores = rng.random(allowed.shape) * allowed
    return scores.argmax(axis=1)


# The opponents without search; ladder.py adds minimax<depth> (minimax.py).
OPPONENTS = {"random": random_player, "lookahead": lookahead_player}

CELL = 48  # pixels per board cell in rendered images


def board_image(board: np.ndarray, highlight=()) -> np.ndarray:
    """An RGB picture of one board (6 x 7 cells of CELL pixels); the (row, column) cells of
    `highlight` (a winning line) get a white ring."""
    colours = {0: (245, 245, 245), 1: (220, 40, 40), -1: (245, 200, 30)}
    y, x = np.mgrid[:CELL, :CELL]
    distance = np.hypot(x - CELL / 2 + 0.5, y - CELL / 2 + 0.5)
    disc, ring = distance <= CELL * 0.4, (distance > CELL * 0.4) & (distance <= CELL * 0.48)
    image = np.zeros((ROWS * CELL, COLUMNS * CELL, 3), np.uint8)
    image[:] = (30, 70, 170)
    for row in range(ROWS):
        for column in range(COLUMNS):
            cell = image[row * CELL : (row + 1) * CELL, column * CELL : (column + 1) * CELL]
            cell[disc] = colours[int(board[row, column])]
            if (row, column) in highlight:
                cell[ring] = (255, 255, 255)
    return image


def winning_line(board: np.ndarray) -> list[tuple[int, int]]:
    """The (row, column) cells of a line of four of one colour on `board`, or [] if there is none."""
    for row in range(ROWS):
        for column in range(COLUMNS):
            if board[row, column] == 0:
                continue
            for down, right in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(row + k * down, column + k * right) for k in range(4)]
                if all(0 <= r < ROWS and 0 <= c < COLUMNS and board[r, c] == board[row, column] for r, c in cells):
                    return cells
    return []
