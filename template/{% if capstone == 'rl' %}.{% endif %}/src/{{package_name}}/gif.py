"""Animated GIFs of the agent playing, written with Pillow (no video codecs needed)."""

from pathlib import Path

import numpy as np
from PIL import Image


def save_gif(frames: list[np.ndarray], path: str | Path, fps: int = 30, width: int | None = None) -> Path:
    """Write RGB frames (height x width x 3, uint8) as a looping GIF, scaled to `width` pixels if given."""
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)).convert("RGB") for frame in frames]
    if width and images[0].width != width:
        height = round(images[0].height * width / images[0].width)
        images = [image.resize((width, height), Image.Resampling.BILINEAR) for image in images]
    # One palette for the whole animation, made from up to 16 frames spread over it: Pillow's default,
    # a palette per frame, takes about 30x longer to write the same picture.
    samples = images[:: max(1, len(images) // 16)][:16]
    montage = Image.new("RGB", (images[0].width, images[0].height * len(samples)))
    for i, sample in enumerate(samples):
        montage.paste(sample, (0, i * sample.height))
    palette = montage.quantize(colors=256)
    images = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = max(round(1000 / fps), 20)  # milliseconds per frame; browsers slow down anything below 20
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0, optimize=True)
    return path
