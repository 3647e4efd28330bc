"""The demo page: watch the agent play a fresh episode, or, for Connect Four, play against it.

The network plays greedily (always its best action; AlphaZero's after its search), as in
evaluation. A Connect Four game is played on the page, a move each: click a column (or its
number) to drop a disc.
"""

import random
import tempfile
from pathlib import Path

import gradio as gr
from omegaconf import OmegaConf

from .connect_four import CELL, COLUMNS, board_image, winning_line
from .evaluation import algorithm_name, load_network
from .gif import save_gif
from .play import GameAgainstAgent, record_episode
from .plumbing import runtime
from .plumbing.checkpoint import load_checkpoint
from .plumbing.demo_page import page_header

MAX_FRAMES = 600  # an episode on the page: 20 seconds at 30 frames per second (CartPole ends at 500 steps)
GIF_WIDTH = 360
COLOURS = {1: "red", -1: "yellow"}


def build_page(checkpoint: Path, device: str, repository: str) -> gr.Blocks:
    """The Gradio page of a checkpoint; `repository`: the project's URL, linked from the page."""
    state = load_checkpoint(checkpoint, "rl")
    trained = OmegaConf.create(state["config"])
    network = load_network(state, trained, runtime.pick_device(device), checkpoint)
    algorithm = algorithm_name(trained.algo.name)
    if trained.env.name == "connect_four":
        what = (
            "The agent learnt Connect Four by playing against itself, with no human games to learn from. "
            "Drop a disc by clicking a column; four in a row wins."
        )
        metrics = {
            "eval/win_rate_random": "wins against a random player",
            "eval/win_rate_lookahead": "against lookahead",
            "eval/win_rate_minimax4": "against minimax searching 4 moves ahead",
        }
        header = page_header(f"Connect Four against a {algorithm} agent", what, repository, checkpoint, metrics)
        return connect_four_page(network, header)
    what = "The agent learnt by trial and error, from rewards alone. Each click plays a fresh episode (a new start)."
    title = f"A {algorithm} agent plays {trained.env.id}"
    return episode_page(
        network, trained.env, page_header(title, what, repository, checkpoint, {"eval/return_mean": "mean return"})
    )


def episode_page(network, env_cfg, header: str) -> gr.Blocks:
    """A page that plays one evaluation episode per click and shows it as an animation, with its return."""
    gifs = tempfile.TemporaryDirectory(prefix="demo-episodes-")  # removed when the server stops

    def play():
        frames, episode_return = record_episode(network, env_cfg, seed=random.randrange(2**31), max_frames=MAX_FRAMES)
        with tempfile.NamedTemporaryFile(dir=gifs.name, suffix=".gif", delete=False) as file:
            path = save_gif(frames, file.name, fps=30, width=GIF_WIDTH)
        cut = " (the animation stops there)" if len(frames) == MAX_FRAMES else ""
        return str(path), f"**Return {episode_return:g}** in {len(frames) - 1} steps{cut}."

    with gr.Blocks(title="Reinforcement learning agent") as page:
        gr.Markdown(header)
        button = gr.Button("Play a fresh episode", variant="primary", elem_id="play")
        result = gr.Markdown(elem_id="result")
        animation = gr.Image(label="The agent playing", interactive=False, elem_id="episode")
        button.click(play, None, [animation, result])
        page.load(play, None, [animation, result])  # an episode to watch, before a visitor does anything
    return page


def connect_four_page(network, header: str) -> gr.Blocks:
    """A page to play Connect Four against the network: the board, a button per column, who starts."""

    def new_game(starts: str):
        game = GameAgainstAgent(network, person_first=starts.startswith("You"))
        return picture(game), status(game), game

    def play(column: int, game: GameAgainstAgent):
        try:
            game.play(column)
        except ValueError as error:  # a full column, or a game that is over: say so, and change nothing
            gr.Warning(str(error))
        return picture(game), status(game), game

    def clicked(game: GameAgainstAgent, event: gr.SelectData):
        return play(min(COLUMNS - 1, event.index[0] // CELL), game)

    with gr.Blocks(title="Connect Four") as page:
        gr.Markdown(header)
        gr.HTML(BOARD_STYLE)
        with gr.Row():
            with gr.Column(elem_id="board-area"):
                with gr.Row():
                    buttons = [gr.Button(str(c + 1), min_width=0, elem_id=f"column-{c + 1}") for c in range(COLUMNS)]
                board = gr.Image(show_label=False, interactive=False, buttons=[], elem_id="board")
            with gr.Column():
                result = gr.Markdown(elem_id="status")
                starts = gr.Radio(
                    ["You start (red)", "The agent starts (red)"], value="You start (red)", label="New game"
                )
                again = gr.Button("New game", variant="primary", elem_id="new-game")
        game = gr.State()
        for column, button in enumerate(buttons):
            button.click(play, [gr.State(column), game], [board, result, game])
        board.select(clicked, game, [board, result, game])
        again.click(new_game, starts, [board, result, game])
        page.load(new_game, starts, [board, result, game])
    return page


# The column buttons as wide as the board's columns: the board at its own size (plus its box's
# padding), the buttons in a row above it.
BOARD_STYLE = (
    "<style>#board-area { max-width: " + str(COLUMNS * CELL + 40) + "px; }"
    "#board-area button { min-width: 0; padding: 4px 0; }</style>"
)


def picture(game: GameAgainstAgent):
    """The board as it stands; once someone has won, the line of four ringed in white."""
    return board_image(game.board, highlight=winning_line(game.board) if game.winner else ())


def status(game: GameAgainstAgent) -> str:
    """The sentence beside the board: whose move it is, or how the game ended."""
    you, agent = COLOURS[game.person], COLOURS[-game.person]
    if game.winner is None:
        played = "" if game.last_move is None else f"The agent played column {game.last_move + 1}. "
        return f"{played}**Your move:** you are {you}."
    if game.winner == 0:
        return "**A draw:** the board is full. Start a new game?"
    if game.winner == game.person:
        return f"**You win!** Four {you} discs in a row. Start a new game?"
    return f"**The agent wins** with column {game.last_move + 1}: four {agent} discs in a row. Start a new game?"
