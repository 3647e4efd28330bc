"""The demo page: draw a digit (or upload a picture of one) and watch the model read it.

Beside the answer, the page shows the probabilities of all ten digits and the 28x28 picture the
model actually read (prediction.as_mnist_digit): a thin, small or off-centre stroke becomes a
centred, MNIST-like digit, which is why the drawing does not have to fill the canvas.
"""

from pathlib import Path

import gradio as gr
import pandas as pd
from PIL import Image, ImageDraw, UnidentifiedImageError

from .plumbing.demo_page import page_header
from .plumbing.errors import UserError
from .prediction import DigitReader, as_mnist_digit

SHOWN = 224  # the side at which the 28x28 input is shown: 8 screen pixels per pixel, no smoothing
METRICS = {"test/acc": "test accuracy"}  # of metrics.json, for the header
PAPER = Image.new("RGBA", (400, 400), "white")  # the canvas, under the strokes


class PictureInput(gr.Image):
    """gr.Image that says what is wrong with an upload that is no picture, instead of Gradio's bare "Error"."""

    is_template = True  # Gradio's mark for a subclass that its parent's widget draws

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError):  # Pillow cannot read it
            raise gr.Error("That file is not a picture: upload a PNG or JPEG of one digit.") from None


def example_drawing() -> Image.Image:
    """A 7 as a visitor might draw it: the canvas holds it, and the page reads it, before anyone draws."""
    drawing = PAPER.copy()
    ImageDraw.Draw(drawing).line([(130, 90), (280, 90), (185, 320)], fill=(0, 0, 0, 255), width=28, joint="curve")
    return drawing


def build_page(checkpoint: Path, device: str, repository: str) -> gr.Blocks:
    """The Gradio page of a checkpoint; `repository`: the project's URL, linked from the page."""
    reader = DigitReader(checkpoint, device)
    example = example_drawing()

    def read(picture: Image.Image | None):
        if picture is None:
            return None, None, None
        try:
            digit = as_mnist_digit(picture)
        except UserError as error:
            raise gr.Error(str(error)) from None
        probabilities = reader(digit)
        chart = pd.DataFrame({"digit": [str(d) for d in range(10)], "probability": probabilities})
        answer = {str(d): p for d, p in enumerate(probabilities)}
        seen = Image.fromarray(digit).resize((SHOWN, SHOWN), Image.Resampling.NEAREST)
        return answer, chart, seen

    def read_drawing(drawing: dict | None):
        canvas = None if drawing is None else drawing.get("composite")
        if canvas is None or canvas.getextrema()[0] > 127:  # a cleared canvas: nothing to read, nothing to say
            return None, None, None
        return read(canvas)

    with gr.Blocks(title="Handwritten digits") as page:
        what = "A neural network trained on MNIST's handwritten digits reads yours: draw one, or upload a picture."
        gr.Markdown(page_header("Handwritten digit recognition", what, repository, checkpoint, METRICS))
        with gr.Row():
            with gr.Column():
                with gr.Tab("Draw"):
                    canvas = gr.Sketchpad(
                        value={"background": PAPER, "layers": [example], "composite": example},
                        label="Draw one digit (pick the brush on the left first; the bin clears the example)",
                        image_mode="L",  # black strokes on white: the page inverts them as MNIST's are
                        type="pil",
                        canvas_size=(400, 400),
                        brush=gr.Brush(default_size=28, colors=["#000000"], color_mode="fixed"),
                        layers=False,
                        elem_id="canvas",
                    )
                with gr.Tab("Upload"):
                    upload = PictureInput(label="A picture of one digit", type="pil", elem_id="upload")
            with gr.Column():
                answer = gr.Label(label="The model reads", num_top_classes=3, elem_id="answer")
                chart = gr.BarPlot(
                    x="digit", y="probability", y_lim=[0, 1], label="Probability of each digit", sort="x", height=220
                )
                seen = gr.Image(
                    label="What the model saw: 28 x 28 pixels", interactive=False, height=SHOWN, elem_id="seen"
                )
        outputs = [answer, chart, seen]
        canvas.change(read_drawing, canvas, outputs, trigger_mode="always_last", show_progress="hidden")
        page.load(read_drawing, canvas, outputs)  # the example's answer, before a visitor does anything
        upload.change(read, upload, outputs)
    return page
