"""Connect Four by search: the alpha-beta players of the strength ladder, and an exact solver.

A learned agent is only as good as the opponents it is measured against. Search gives a ladder
of opponents of known strength: minimax looks `depth` moves ahead (its own and the replies),
assumes both sides play their best, and scores the positions where it stops with a heuristic.

Positions are bitboards, two Python ints, which makes a move a few integer operations:

- bit 7 * column + height is the cell `height` discs up in `column` (0 to 6, left to right);
  bit 7 * column + 6 stays empty, so that no line of four wraps from one column into the next;
- a position is (mine, both): the discs of the player to move, and all discs.

The search is negamax with alpha-beta pruning: a position's value for the player to move is the
best of minus its children's values, and a branch that cannot change the choice is cut off. It
tries the centre columns first (most lines of four go through them) and keeps what it has found
in a transposition table, since many move orders reach the same position.
"""

import numpy as np

from .connect_four import COLUMNS, ROWS

STRIDE = ROWS + 1  # bits per column: its 6 cells and the empty bit above them
LOWEST = [1 << (STRIDE * column) for column in range(COLUMNS)]  # the bottom cell of each column
TOPMOST = [1 << (STRIDE * column + ROWS - 1) for column in range(COLUMNS)]
COLUMN_CELLS = [((1 << ROWS) - 1) << (STRIDE * column) for column in range(COLUMNS)]
CELLS = sum(COLUMN_CELLS)  # the 42 cells of the board
BOTTOM_ROW = sum(LOWEST)
CENTRE_FIRST = (3, 2, 4, 1, 5, 0, 6)
LINES = (1, STRIDE, STRIDE - 1, STRIDE + 1)  # bit steps: up a column, across, the two diagonals
WIN = 1000  # a won position scores WIN plus its empty cells (a quicker win is a better one)


def from_board(board: np.ndarray, player: int) -> tuple[int, int]:
    """(mine, both) for a (6, 7) board of +1/-1/0 (row 0 the top), `player` (+1 or -1) to move."""
    mine = both = 0
    for row, column in np.argwhere(board):
        bit = 1 << (STRIDE * int(column) + ROWS - 1 - int(row))
        both |= bit
        if board[row, column] == player:
            mine |= bit
    return mine, both


def legal(both: int, column: int) -> bool:
    return not both & TOPMOST[column]


def dropped(both: int, column: int) -> int:
    """The cell a disc dropped into `column` lands in."""
    return (both + LOWEST[column]) & COLUMN_CELLS[column]


def play(mine: int, both: int, column: int) -> tuple[int, int]:
    """The position after the mover drops a disc in `column`, seen by the other player, who moves next."""
    return mine ^ both, both | dropped(both, column)


def playable(both: int) -> int:
    """The cells a disc can be dropped into now: the lowest empty cell of each column that has one."""
    return (both + BOTTOM_ROW) & CELLS


def completing_cells(mine: int) -> int:
    """The cells, empty or not, that would give `mine` four in a row."""
    cells = (mine << 1) & (mine << 2) & (mine << 3)  # on top of three in a column
    for step in LINES[1:]:  # across and the diagonals: the gap can be at either end or inside
        two_below, two_above = (mine >> step) & (mine >> 2 * step), (mine << step) & (mine << 2 * step)
        cells |= two_above & ((mine << 3 * step) | (mine >> step))
        cells |= two_below & ((mine << step) | (mine >> 3 * step))
    return cells & CELLS


def empty_cells(both: int) -> int:
    return ROWS * COLUMNS - both.bit_count()


def heuristic(mine: int, both: int) -> int:
    """How good a position is for the mover when the search stops there: the lines of four each side
    could still complete, weighted by the discs it has in them, and its discs in the centre column."""
    theirs = mine ^ both
    return open_lines(mine, theirs) - open_lines(theirs, mine)


def open_lines(mine: int, theirs: int) -> int:
    usable = CELLS & ~theirs  # the cells a line of mine can still run through
    score = 3 * (mine & COLUMN_CELLS[3]).bit_count()
    for step in LINES:
        # Each set bit of `free` starts a window of four cells along `step` with none of theirs.
        free = usable & (usable >> step) & (usable >> 2 * step) & (usable >> 3 * step)
        a, b, c, d = mine, mine >> step, mine >> 2 * step, mine >> 3 * step
        three = free & ((a & b & (c | d)) | ((a | b) & c & d))
        two = free & ((a & b) | (a & c) | (a & d) | (b & c) | (b & d) | (c & d))
        score += 4 * three.bit_count() + two.bit_count()  # a window of three counts 5 in all
    return score


class Search:
    """Alpha-beta negamax to a fixed depth, with a transposition table kept between moves."""

    EXACT, LOWER, UPPER = 0, 1, 2  # what a table entry's value is: the value, or a bound on it

    def __init__(self, table_size: int = 250_000):
        # key -> (depth, kind, value, best column); about 200 bytes an entry, so at most about 50 MB
        self.table: dict[int, tuple[int, int, int, int]] = {}
        self.table_size = table_size
        self.nodes = 0  # positions visited, for the speed figure in bench/

    def value(self, mine: int, both: int, depth: int, alpha: int = -2 * WIN, beta: int = 2 * WIN) -> int:
        """The mover's value of the position, searched `depth` moves ahead (exact within alpha..beta)."""
        self.nodes += 1
        empty, moves = empty_cells(both), playable(both)
        if completing_cells(mine) & moves:
            return WIN + empty - 1  # the mover wins with this move
        if empty == 0:
            return 0  # a full board with no four: a draw
        threats = completing_cells(mine ^ both) & moves  # where the opponent would win next move
        if threats & (threats - 1):
            return -(WIN + empty - 2)  # two of them: one can be blocked, not both
        if depth == 0:
            return heuristic(mine, both)
        key = mine + both  # unique per position: both + mine sets the bit above each column's discs
        entry = self.table.get(key)
        first = None
        if entry is not None:
            stored_depth, kind, stored, first = entry
            if stored_depth >= depth:
                if kind == self.EXACT:
                    return stored
                if kind == self.LOWER:
                    alpha = max(alpha, stored)
                elif kind == self.UPPER:
                    beta = min(beta, stored)
                if alpha >= beta:
                    return stored
        start_alpha, best, best_column = alpha, -2 * WIN, None
        # A threat must be blocked: that is the only move worth searching.
        columns = [(threats.bit_length() - 1) // STRIDE] if threats else self.ordered(both, first)
        for column in columns:
            score = -self.value(*play(mine, both, column), depth - 1, -beta, -alpha)
            if score > best:
                best, best_column = score, column
            alpha = max(alpha, score)
            if alpha >= beta:
                break
        kind = self.UPPER if best <= start_alpha else self.LOWER if best >= beta else self.EXACT
        if len(self.table) >= self.table_size:
            self.table.clear()
        self.table[key] = (depth, kind, best, best_column)
        return best

    @staticmethod
    def ordered(both: int, first: int | None) -> list[int]:
        """The legal columns, the table's best one first, then from the centre out."""
        columns = [column for column in CENTRE_FIRST if legal(both, column) and column != first]
        return columns if first is None else [first, *columns]

    def best_move(self, mine: int, both: int, depth: int, rng: np.random.Generator) -> int:
        """The column minimax picks; equally good columns are chosen among at random, so that games
        against it differ. Deepening one move at a time lets each search order the next one's moves."""
        winning = completing_cells(mine) & playable(both)
        if winning:
            return (winning.bit_length() - 1) // STRIDE
        columns = [column for column in range(COLUMNS) if legal(both, column)]
        rng.shuffle(columns)
        scores = {}
        for searched in range(1, depth + 1):
            columns.sort(key=lambda column: -scores.get(column, 0))  # stable: ties stay shuffled
            alpha, scores = -2 * WIN, {}
            for column in columns:
                scores[column] = -self.value(*play(mine, both, column), searched - 1, -2 * WIN, -alpha)
                alpha = max(alpha, scores[column])
        return max(columns, key=lambda column: scores[column])  # the first of the best, in shuffled order


def solve(mine: int, both: int, search: Search | None = None) -> int:
    """The game's value with perfect play from here, for the player to move: +1 win, 0 draw, -1 loss.

    A full-depth search with the window (-1, 1) only has to tell win, draw and loss apart, which
    prunes far more than finding the exact score would. Practical up to about 14 empty cells here.
    """
    search = search or Search()
    value = search.value(mine, both, empty_cells(both), -1, 1)
    return (value > 0) - (value < 0)
