"""Reading any picture of a digit with a trained checkpoint, prepared as MNIST's digits were.

MNIST's digits are not photos scaled down: each was cut to its strokes, scaled so that its longer
side is 20 pixels (anti-aliased, so the edges are grey), and placed in a 28x28 black field with its
centre of mass in the middle (LeCun et al., 1998). A model trained on them expects exactly that: a
white, centred, thick digit on black. `as_mnist_digit` does the same to a drawing or an upload,
so what the model reads looks like what it learnt from.
"""

from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image, ImageOps

from .data import MEAN, STD
from .model import build_model
from .plumbing import runtime
from .plumbing.checkpoint import load_checkpoint
from .plumbing.errors import UserError
from .plumbing.run_paths import resolve_checkpoint
from .task import CAPSTONE

FIELD, BOX = 28, 20  # MNIST's image side, and the side of the box each digit was scaled into
INK = 0.2  # the share of full ink a pixel needs to count as part of a stroke (less is paper or noise)


def as_mnist_digit(picture: Image.Image) -> np.ndarray:
    """uint8 [28, 28]: the picture's digit in white on black, its longer side 20 pixels, centred by mass.

    A picture with a light background (a pen on paper, a drawing) is inverted first.
    """
    gray = np.asarray(ImageOps.exif_transpose(picture).convert("L"), dtype=np.float32) / 255
    ink = 1 - gray if np.median(gray) > 0.5 else gray  # MNIST's digits are light strokes on black
    ink = np.clip((ink - np.median(ink)) / max(1e-6, 1 - np.median(ink)), 0, 1)  # paper to 0, however grey
    rows, columns = np.nonzero(ink > INK)
    if len(rows) == 0:
        raise UserError("There is no digit in the picture: draw one, or upload a picture of one.")
    strokes = ink[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    scale = BOX / max(strokes.shape)
    size = (max(1, round(strokes.shape[1] * scale)), max(1, round(strokes.shape[0] * scale)))
    small = np.asarray(Image.fromarray(strokes).resize(size, Image.Resampling.LANCZOS)).clip(0, 1)
    # Place the box so that its centre of mass falls on the field's centre, as far as the field allows.
    y, x = np.mgrid[: small.shape[0], : small.shape[1]]
    mass = small.sum()
    top = int(np.clip(round(FIELD / 2 - (y * small).sum() / mass - 0.5), 0, FIELD - small.shape[0]))
    left = int(np.clip(round(FIELD / 2 - (x * small).sum() / mass - 0.5), 0, FIELD - small.shape[1]))
    field = np.zeros((FIELD, FIELD), np.float32)
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    return (field * 255).round().astype(np.uint8)


class DigitReader:
    """A trained model: a 28x28 MNIST-style digit in, the probability of each of the 10 digits out."""

    def __init__(self, ckpt: str | Path | None = None, device: str = "auto"):
        self.checkpoint = resolve_checkpoint(ckpt)
        state = load_checkpoint(self.checkpoint, CAPSTONE)
        self.device = runtime.pick_device(device)
        self.model = build_model(OmegaConf.create(state["config"]).model)
        self.model.load_state_dict(state["model"])
        self.model.to(self.device).eval()

    @torch.no_grad()
    def __call__(self, digit: np.ndarray) -> list[float]:
        """P(0), ..., P(9) for a uint8 [28, 28] digit, normalized as the training digits were."""
        pixels = torch.from_numpy(digit).float().div(255).sub(MEAN).div(STD)
        logits = self.model(pixels[None, None].to(self.device))
        return logits.float().softmax(dim=1)[0].tolist()
