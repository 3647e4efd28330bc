"""The demo page: type or paste a review and see what the model makes of it, word by word.

The page shows the sentiment with its probability, the review with each word coloured by how far
it pushed the model towards positive or negative, and the words and word pairs that pushed most
(explain.py says how each push is measured, for each model).
"""

import html
from pathlib import Path

import gradio as gr

from .explain import explain_review
from .model import BiLSTMClassifier
from .plumbing.demo_page import page_header
from .predict import SentimentClassifier

MAX_CHARACTERS = 20_000  # the longest IMDB review has about 13,700; longer text is cut here, and said so
EXAMPLE = (
    "I went in expecting a dull costume drama and came out moved. The two leads are wonderful, the "
    "script is sharp and funny, and only the last twenty minutes drag a little. Highly recommended."
)


def build_page(checkpoint: Path, device: str, repository: str) -> gr.Blocks:
    """The Gradio page of a checkpoint; `repository`: the project's URL, linked from the page."""
    classify = SentimentClassifier(checkpoint, device)
    if isinstance(classify.model, BiLSTMClassifier):
        how = "Each word's colour is how much the score (the log-odds of positive) falls when that word is left out."
    else:
        how = "Each word's colour is its exact share of the model's score (the log-odds of positive)."

    def read(text: str):
        if not text or not text.strip():
            raise gr.Error("Type or paste a review first.")
        if len(text) > MAX_CHARACTERS:
            gr.Warning(f"The review was cut to its first {MAX_CHARACTERS:,} characters.")
            text = text[:MAX_CHARACTERS]
        explanation = explain_review(classify, text)
        if not explanation.words_read:
            raise gr.Error("The review has no words the model reads: write a sentence or two.")
        label = {"positive": explanation.positive, "negative": 1 - explanation.positive}
        return label, words_html(explanation.segments), pushes_html(explanation.pushes)

    with gr.Blocks(title="Movie review sentiment") as page:
        what = "A model trained on IMDB movie reviews tells whether a review is positive or negative, and why."
        gr.Markdown(page_header("Movie review sentiment", what, repository, checkpoint, {"test/acc": "test accuracy"}))
        with gr.Row():
            with gr.Column():
                review = gr.Textbox(
                    label="A movie review", value=EXAMPLE, lines=8, max_length=MAX_CHARACTERS, elem_id="review"
                )
                button = gr.Button("Read the review", variant="primary", elem_id="read")
            with gr.Column():
                answer = gr.Label(label="The model reads it as", elem_id="answer")
        gr.Markdown(
            f"**Words that pushed towards positive (green) or negative (red).** {how} Hover over a word for its push."
        )
        words = gr.HTML(elem_id="words")
        pushes = gr.HTML(elem_id="pushes")
        button.click(read, review, [answer, words, pushes])
        review.submit(read, review, [answer, words, pushes])
        page.load(read, review, [answer, words, pushes])  # the example's answer, before a visitor does anything
    return page


GREEN, RED = "22, 163, 74", "220, 38, 38"


def words_html(segments: list[tuple[str, float | None]]) -> str:
    """The review with each word's background green (positive push) or red, stronger for larger pushes."""
    strongest = max((abs(push) for _, push in segments if push is not None), default=0.0) or 1.0
    spans = []
    for piece, push in segments:
        if push is None:
            spans.append(html.escape(piece))
            continue
        colour, alpha = (GREEN if push > 0 else RED), 0.8 * abs(push) / strongest
        style = f"background: rgba({colour}, {alpha:.2f}); border-radius: 4px; padding: 1px 2px"
        spans.append(f'<span title="{push:+.3f}" style="{style}">{html.escape(piece)}</span>')
    return f'<div style="line-height: 2; font-size: 1.05rem">{"".join(spans)}</div>'


def pushes_html(pushes: list[tuple[str, float]], shown: int = 8) -> str:
    """The words and n-grams that pushed most each way, as two columns of bars."""
    strongest = max((abs(push) for _, push in pushes), default=0.0) or 1.0
    columns = []
    for title, colour, side in (("Towards positive", GREEN, 1), ("Towards negative", RED, -1)):
        rows = "".join(
            f'<div style="display: flex; align-items: center; gap: 8px; margin: 3px 0">'
            f'<span style="width: 11rem; text-align: right">{html.escape(ngram)}</span>'
            f'<span style="width: {120 * abs(push) / strongest:.0f}px; height: 14px; background: rgb({colour}); '
            f'border-radius: 3px"></span><span>{push:+.2f}</span></div>'
            for ngram, push in [item for item in pushes if item[1] * side > 0][:shown]
        )
        columns.append(f'<div style="flex: 1; min-width: 18rem"><b>{title}</b>{rows or "<p>none</p>"}</div>')
    return f'<div style="display: flex; flex-wrap: wrap; gap: 24px">{"".join(columns)}</div>'
