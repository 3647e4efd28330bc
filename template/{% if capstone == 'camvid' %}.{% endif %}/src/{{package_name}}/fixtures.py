"""A tiny CamVid in the real SegNet layout (PNG photos and id masks), for `debug=smoke` and the tests.

Each fake street scene is a few rectangles, each of one class and painted in that class's
colour with noise, over a void background: easy to learn, so a falling loss and a rising IoU
show that the whole pipeline (files, decoding, augmentation, model, loop, metrics) works. File
names start with the drive, as the real ones do (DRIVES), so the split by drive runs as on CamVid.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from .classes import NUM_CLASSES, PALETTE, VOID
from .plumbing.files import atomic_write

COUNTS = {"train": 24, "val": 8, "test": 8}
# The drive of each fake frame, in order, as in SegNet's split: train/ holds frames of three drives
# (here 8 of 0006R0, which data.val_drive holds out), val/ and test/ frames of others.
DRIVES = {"train": ["0006R0"] * 8 + ["0016E5"] * 16, "val": ["0016E5"] * 8, "test": ["Seq05VD"] * 8}
COLOURS = np.array(PALETTE, dtype=np.float32)


def fake_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A photo (H, W, 3) and its mask (H, W): horizontal bands of classes, and boxes on top."""
    mask = np.full((height, width), VOID, dtype=np.uint8)
    edges = np.sort(rng.choice(np.arange(1, height), size=3, replace=False))
    for band, (top, bottom) in enumerate(zip([0, *edges], [*edges, height], strict=True)):
        mask[top:bottom, : width - 4] = (
            rng.integers(0, NUM_CLASSES) if band else 0
        )  # sky on top; a void strip at the right
    for _ in range(rng.integers(1, 4)):
        h, w = rng.integers(height // 6, height // 2), rng.integers(width // 8, width // 3)
        y, x = rng.integers(0, height - h), rng.integers(0, width - w)
        mask[y : y + h, x : x + w] = rng.integers(0, NUM_CLASSES)
    photo = COLOURS[mask] + rng.normal(0, 12, size=(height, width, 3))
    return np.clip(photo, 0, 255).astype(np.uint8), mask


def write_fake_camvid(root: str | Path, height: int = 72, width: int = 96, seed: int = 0) -> Path:
    """Write train/, val/, test/ and their annot/ folders with fake scenes into `root`, unless there.

    Each file is written atomically (files.atomic_write): a second run that starts meanwhile, on
    the same folder, reads whole files only.
    """
    root = Path(root)
    if all((root / f"{split}.txt").exists() for split in COUNTS):
        return root
    rng = np.random.default_rng(seed)
    for split, count in COUNTS.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        annot = root / f"{split}annot"
        annot.mkdir(exist_ok=True)
        names = [f"{drive}_{split}{i:05d}.png" for i, drive in zip(range(count), DRIVES[split], strict=True)]
        for name in names:
            photo, mask = fake_scene(rng, height, width)
            for image, path in ((Image.fromarray(photo, "RGB"), root / split), (Image.fromarray(mask, "L"), annot)):
                atomic_write(path / name, lambda f, image=image: image.save(f, format="PNG"))
        # The split list as SegNet writes it, written last: its presence marks a complete split.
        lines = [f"/SegNet/CamVid/{split}/{name} /SegNet/CamVid/{split}annot/{name}\n" for name in names]
        atomic_write(root / f"{split}.txt", lambda f, lines=lines: f.write("".join(lines).encode()))
    return root
