"""Segmenting any photo with a trained checkpoint, and drawing the classes over it."""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from PIL import Image, ImageOps, UnidentifiedImageError

from . import runtime
from .checkpoint import load_checkpoint, resolve_checkpoint
from .classes import overlay
from .errors import UserError
from .model import build_model
from .task import CAPSTONE

CAMVID_HEIGHT = 360  # the photos the model learnt from are 360 pixels high (at data.size=null)
MAX_OVERLAY_HEIGHT = 720  # larger photos are drawn at this height, so a phone photo does not fill memory


class Segmenter:
    """A trained model with the settings it was trained with: photo in, class ids out."""

    def __init__(self, ckpt: str | Path | None = None, device: str = "auto"):
        self.checkpoint = resolve_checkpoint(ckpt)
        state = load_checkpoint(self.checkpoint, CAPSTONE)
        trained = OmegaConf.create(state["config"])
        # The height the model saw CamVid photos at: a street should appear at about the same scale.
        self.height = CAMVID_HEIGHT if trained.data.size is None else int(trained.data.size[0])
        self.device = runtime.pick_device(device)
        self.model = build_model(trained.model)
        self.model.load_state_dict(state["model"])
        self.model.to(self.device).eval()

    @torch.no_grad()
    def __call__(self, photo: Image.Image) -> torch.Tensor:
        """Class ids [H, W] for a photo, at the photo's own size.

        The photo is scaled to the height the model was trained at, keeping its aspect ratio, and
        the class scores are scaled back up to the photo's size.
        """
        width, height = photo.size
        small = resize_to_height(photo, self.height)
        pixels = torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1)[None].to(self.device)
        logits = F.interpolate(self.model(pixels).float(), size=(height, width), mode="bilinear", align_corners=False)
        return logits.argmax(dim=1)[0].cpu()


def predict_files(images: list[Path], ckpt: str | Path | None, out_dir: Path, device: str = "auto") -> list[Path]:
    """Write <name>_overlay.png (the photo with its predicted classes in colour) per image into `out_dir`."""
    segment = Segmenter(ckpt, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in images:
        try:
            with Image.open(path) as image:
                photo = ImageOps.exif_transpose(image).convert("RGB")  # upright, as a phone shows it
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
            raise UserError(f"Could not read {path} as an image ({error}); pass PNG or JPEG files.") from error
        if photo.height > MAX_OVERLAY_HEIGHT:
            photo = resize_to_height(photo, MAX_OVERLAY_HEIGHT)
        classes = segment(photo)
        pixels = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1)
        target = out_dir / f"{Path(path).stem}_overlay.png"
        for number in range(2, len(images) + 2):  # a.png and a.jpg must not overwrite each other's overlay
            if target not in written:
                break
            target = out_dir / f"{Path(path).stem}_{number}_overlay.png"
        Image.fromarray(overlay(pixels, classes).numpy()).save(target)
        written.append(target)
    return written


def resize_to_height(photo: Image.Image, height: int) -> Image.Image:
    width = max(1, round(photo.width * height / photo.height))
    return photo if photo.height == height else photo.resize((width, height), Image.Resampling.BILINEAR)
