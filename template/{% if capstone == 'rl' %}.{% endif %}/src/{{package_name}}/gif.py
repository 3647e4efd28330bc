"""Animated GIFs of the agent playing, written with Pillow (no video codecs needed)."""

from pathlib import Path

import numpy as np
from PIL import Image


def save_gif(frames: list[np.ndarray], path: str | Path, fps: int = 30, width: int | None = None) -> Path:
    """Write RGB frames (height x width x 3, uint8) as a looping GIF, scaled to `width` pixels if given.

    A picture held on screen is one array repeated (play.record_game holds each position for half a
    second): it is converted once, and Pillow writes the repeats as one frame that lasts longer.
    """
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    pictures = {}  # id of each distinct array: its image
    for frame in frames:
        if id(frame) not in pictures:
            pictures[id(frame)] = Image.fromarray(np.asarray(frame, dtype=np.uint8)).convert("RGB")
    first = next(iter(pictures.values()))
    if width and first.width != width:
        height = round(first.height * width / first.width)
        pictures = {key: image.resize((width, height), Image.Resampling.BILINEAR) for key, image in pictures.items()}
    # One palette for the whole animation, made from up to 16 pictures spread over it: Pillow's default,
    # a palette per frame, takes about 30x longer to write the same picture.
    distinct = list(pictures.values())
    samples = distinct[:: max(1, len(distinct) // 16)][:16]
    montage = Image.new("RGB", (samples[0].width, samples[0].height * len(samples)))
    for i, sample in enumerate(samples):
        montage.paste(sample, (0, i * sample.height))
    palette = montage.quantize(colors=256)
    pictures = {key: image.quantize(palette=palette, dither=Image.Dither.NONE) for key, image in pictures.items()}
    images = [pictures[id(frame)] for frame in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = max(round(1000 / fps), 20)  # milliseconds per frame; browsers slow down anything below 20
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0, optimize=True)
    return path
