"""Segmenting any photo with a trained checkpoint, and drawing the classes over it."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from .classes import CLASSES, PALETTE, VOID, overlay
from .model import build_model
from .plumbing import runtime
from .plumbing.checkpoint import load_checkpoint
from .plumbing.errors import UserError
from .plumbing.files import atomic_write, explained, make_folder
from .plumbing.run_paths import resolve_checkpoint
from .task import CAPSTONE

CAMVID_HEIGHT = 360  # the photos the model learnt from are 360 pixels high (at data.size=null)
MAX_OVERLAY_HEIGHT = 720  # larger photos are drawn at this height, so a phone photo does not fill memory
MAX_PIXELS = 50_000_000  # a photo of more is refused before it is decoded (a 48-megapixel phone's fit)


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


# predict.py's settings, written key=value as evaluate.py's are; ckpt None: the newest run's best.pt.
SETTINGS = {"ckpt": None, "out": "predictions", "device": "auto"}


def split_settings(words: list[str]) -> tuple[list[Path], dict]:
    """predict.py's words: the photos, and the SETTINGS that key=value words change."""
    settings, images = dict(SETTINGS), []
    for word in words:
        key, equals, value = word.partition("=")
        if equals and key in SETTINGS:
            settings[key] = value or SETTINGS[key]
        else:
            images.append(Path(word))
    if not images:
        raise UserError("Which photos? Name one or more, e.g. python predict.py street.jpg ckpt=runs/<date>_<time>.")
    return images, settings


def predict_files(images: list[Path], segment: Segmenter, out_dir: str | Path) -> Iterator[Path]:
    """Write <name>_overlay.png (the photo with its predicted classes in colour, and their key) per image,
    yielding each one's path once it is on disk: a long list stopped by Ctrl-C has shown what it wrote.
    """
    out_dir = make_folder(out_dir, "predictions folder", elsewhere="out=DIR")
    written = []
    for path in images:
        photo = open_photo(path)
        classes = segment(photo)
        pixels = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1)
        target = out_dir / f"{Path(path).stem}_overlay.png"
        for number in range(2, len(images) + 2):  # a.png and a.jpg must not overwrite each other's overlay
            if target not in written:
                break
            target = out_dir / f"{Path(path).stem}_{number}_overlay.png"
        picture = with_key(Image.fromarray(overlay(pixels, classes).numpy()), classes)
        with explained(f"write the overlay {target}", elsewhere="out=DIR"):
            atomic_write(target, lambda file, picture=picture: picture.save(file, format="PNG"))
        written.append(target)
        yield target


def open_photo(path: str | Path) -> Image.Image:
    """The photo at `path`, upright and in RGB, at most MAX_OVERLAY_HEIGHT pixels high.

    A file that is no picture, or one of more than MAX_PIXELS, is a UserError, before it is decoded.
    """
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                megapixels = image.width * image.height / 1e6
                raise UserError(f"{Path(path).name} has {megapixels:.0f} megapixels; pass a photo of at most 50.")
            photo = ImageOps.exif_transpose(image).convert("RGB")  # upright, as a phone shows it
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise UserError(f"Could not read {Path(path).name} as an image ({error}); pass PNG or JPEG files.") from error
    return resize_to_height(photo, MAX_OVERLAY_HEIGHT) if photo.height > MAX_OVERLAY_HEIGHT else photo


def class_shares(classes: torch.Tensor) -> list[tuple[int, float]]:
    """(class id, share of the pixels) for each class the ids [H, W] hold, the largest first; void left out."""
    counts = torch.bincount(classes.flatten(), minlength=VOID + 1)[:VOID]
    return [(int(i), float(counts[i]) / classes.numel()) for i in counts.argsort(descending=True) if counts[i] > 0]


def validation_photos(data_cfg, count: int = 3) -> list[Path]:
    """Up to `count` photos of a run's validation split, spread over it: examples for the demo page."""
    root = Path(data_cfg.root).expanduser()
    if data_cfg.get("val_drive") is None:
        photos = sorted((root / "val").glob("*.png"))
    else:
        photos = sorted((root / "train").glob(f"{data_cfg.val_drive}_*.png"))
    return photos[:: max(1, len(photos) // count)][:count]


def with_key(picture: Image.Image, classes: torch.Tensor) -> Image.Image:
    """The overlay above a key of the classes it shows: each one's colour, name and share of the photo."""
    shown = class_shares(classes)
    if not shown:  # all void: nothing to name
        return picture
    size = max(12, picture.width // 60)  # the text height: readable on a phone photo and on a small one
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: one small bitmap font
        font = ImageFont.load_default()
    pad, swatch = size // 2, size
    entries = [(i, f"{CLASSES[i]} {share:.0%}" if share >= 0.005 else f"{CLASSES[i]} <1%") for i, share in shown]
    widths = [swatch + pad + round(font.getlength(text)) + 2 * pad for _, text in entries]
    width = max(picture.width, *(w + pad for w in widths))
    rows, x = 1, pad
    places = []
    for entry, entry_width in zip(entries, widths, strict=True):
        if x + entry_width > width and x > pad:  # this one starts a new row
            rows, x = rows + 1, pad
        places.append((entry, x, pad + (rows - 1) * (swatch + pad)))
        x += entry_width
    keyed = Image.new("RGB", (width, picture.height + rows * (swatch + pad) + pad), "white")
    keyed.paste(picture, (0, 0))
    draw = ImageDraw.Draw(keyed)
    for (i, text), x, y in places:
        top = picture.height + y
        draw.rectangle((x, top, x + swatch, top + swatch), fill=PALETTE[i], outline="black")
        draw.text((x + swatch + pad, top + swatch // 2), text, fill="black", font=font, anchor="lm")
    return keyed


def resize_to_height(photo: Image.Image, height: int) -> Image.Image:
    width = max(1, round(photo.width * height / photo.height))
    return photo if photo.height == height else photo.resize((width, height), Image.Resampling.BILINEAR)
