"""The demo page: upload a street photo (or pick a validation photo) and see every pixel's class.

The page shows the photo with the predicted classes drawn over it in the CamVid colours, and a
key of all 11 classes with the share of the photo each one covers.
"""

import html
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from omegaconf import OmegaConf

from .classes import CLASSES, PALETTE, overlay
from .plumbing.checkpoint import load_checkpoint
from .plumbing.demo_page import page_header
from .plumbing.errors import UserError
from .prediction import Segmenter, class_shares, open_photo, validation_photos
from .task import CAPSTONE

METRICS = {"test/miou": "test mean IoU", "test/pixel_acc": "pixel accuracy"}  # of metrics.json, for the header


class PhotoInput(gr.Image):
    """gr.Image that checks an upload as predict.py does first (open_photo): a file that is no photo,
    or too large a one, is a sentence on the page instead of Gradio's bare "Error"."""

    is_template = True  # Gradio's mark for a subclass that its parent's widget draws

    def preprocess(self, payload):
        if payload is not None:
            try:
                open_photo(payload.path)
            except UserError as error:
                raise gr.Error(str(error)) from None
        return super().preprocess(payload)


def build_page(checkpoint: Path, device: str, repository: str) -> gr.Blocks:
    """The Gradio page of a checkpoint; `repository`: the project's URL, linked from the page."""
    segment = Segmenter(checkpoint, device)
    examples = example_files(checkpoint)

    def read(path: str | None):
        if path is None:
            return None, key_html([])
        photo = open_photo(path)  # checked on upload by PhotoInput
        classes = segment(photo)
        pixels = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1)
        return overlay(pixels, classes).numpy(), key_html(class_shares(classes))

    pick = ", or pick one below" if examples else ""
    what = (
        "A fully convolutional network trained on CamVid's street scenes from a car (Cambridge, UK) gives every "
        f"pixel of a photo one of 11 classes. Upload a street photo{pick}."
    )
    with gr.Blocks(title="Street scene segmentation") as page:
        gr.Markdown(page_header("Street scene segmentation", what, repository, checkpoint, METRICS))
        with gr.Row():
            with gr.Column():
                photo = PhotoInput(
                    label="A street photo (at most 10 MB and 50 megapixels)",
                    type="filepath",
                    sources=["upload", "clipboard"],
                    elem_id="photo",
                )
                if examples:
                    gr.Examples([str(path) for path in examples], photo, label="Example photos")
            with gr.Column():
                classes = gr.Image(label="Each pixel's class", interactive=False, elem_id="classes")
                key = gr.HTML(key_html([]), elem_id="key")
        photo.change(read, photo, [classes, key])
        if examples:  # the first example's classes, before a visitor does anything
            page.load(lambda: open_photo(examples[0]), None, photo)  # a picture, wherever its file lies
    return page


def example_files(checkpoint: Path) -> list[Path]:
    """Photos a visitor can pick: those in examples/ (where a Space keeps its copies), else three of
    the checkpoint's validation photos when its data is here."""
    pictures = sorted(path for path in Path("examples").glob("*") if path.suffix.lower() in {".png", ".jpg", ".jpeg"})
    return pictures or validation_photos(OmegaConf.create(load_checkpoint(checkpoint, CAPSTONE)["config"]).data)


KEY_STYLE = """<style>
.key { columns: 2; column-gap: 24px }
.key-row { display: flex; align-items: center; gap: 8px; margin: 2px 0 }
.key-swatch { width: 14px; height: 14px; border-radius: 3px }
.key-name { width: 6.5rem }
.key-bar { height: 10px }
</style>"""


def key_html(shares: list[tuple[int, float]]) -> str:
    """All 11 classes, each with its colour and the share of the photo it covers (none yet: blank)."""
    covered = dict(shares)
    order = [i for i, _ in shares] + [i for i in range(len(CLASSES)) if i not in covered]
    rows = []
    for i in order:
        share = covered.get(i)
        colour = "rgb({}, {}, {})".format(*PALETTE[i])
        text = "" if share is None else (f"{share:.0%}" if share >= 0.005 else "<1%")
        rows.append(
            f'<div class="key-row" style="opacity: {1 if share else 0.45}">'
            f'<span class="key-swatch" style="background: {colour}"></span>'
            f'<span class="key-name">{html.escape(CLASSES[i])}</span>'
            f'<span class="key-bar" style="width: {140 * (share or 0):.0f}px; background: {colour}"></span>'
            f"<span>{text}</span></div>"
        )
    return f'{KEY_STYLE}<div class="key">{"".join(rows)}</div>'
