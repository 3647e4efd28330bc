"""MNIST: finding or downloading the four IDX files, parsing them, and splitting off validation.

The files are those of LeCun, Cortes and Burges (1998): gzipped IDX files, each a big-endian
header (magic number, dimensions) followed by raw uint8 pixels or labels.
"""

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .fixtures import write_fake_mnist
from .plumbing.download import download
from .plumbing.errors import UserError
from .plumbing.files import explained

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Mean and standard deviation of the training pixels (scaled to [0, 1]).
MEAN, STD = 0.1307, 0.3081
IDX_UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes into an array of its stated shape."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise UserError(
            f"{path} is not a complete gzip file ({error}); delete it and run again to download it afresh."
        ) from error
    if len(raw) < 4 or raw[0:2] != b"\x00\x00" or raw[2] != IDX_UBYTE:
        raise UserError(
            f"{path} does not start with an IDX magic number for unsigned bytes; replace it with the original file."
        )
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(shape)):
        raise UserError(
            f"{path} holds {len(raw) - offset} bytes of data where its header promises {shape}; replace it."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def ensure_files(cfg, split: str) -> list[Path]:
    """The paths of a split's two files in `cfg.root`, downloaded when missing, checked by md5."""
    root = Path(cfg.root).expanduser()
    if cfg.fixture:  # fake digits, made here: they have no official checksum to check
        with explained(f"write the fake MNIST files into {root}", elsewhere="data.root=DIR"):
            write_fake_mnist(root)
        return [root / name for name in FILES[split]]
    return [download(name, list(cfg.mirrors), root, MD5[name], cfg.download_timeout) for name in FILES[split]]


def load_digits(cfg, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as normalized float32 [N, 1, 28, 28] and labels as int64 [N], for `train` or `test`."""
    image_path, label_path = ensure_files(cfg, split)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(f"{image_path} and {label_path} do not hold matching images and labels; replace them.")
    x = torch.from_numpy(images.copy()).unsqueeze(1).float().div_(255).sub_(MEAN).div_(STD)
    return x, torch.from_numpy(labels.astype(np.int64))


def load_splits(cfg) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The training digits split into `train` and `val` (the last `val_size` of a seeded shuffle).

    The split has its own seed (`data.split_seed`), so runs with different training seeds are
    still compared on the same validation digits.
    """
    images, labels = load_digits(cfg, "train")
    if not 0 < cfg.val_size < len(labels):
        raise UserError(f"data.val_size={cfg.val_size} must be between 1 and {len(labels) - 1}.")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(cfg.split_seed))
    train, val = order[: -cfg.val_size], order[-cfg.val_size :]
    return {"train": (images[train], labels[train]), "val": (images[val], labels[val])}


def load_test(cfg, state=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The test digits. `state` (what training saved for reading new data) is None: pixels need nothing."""
    return load_digits(cfg, "test")


def train_transform(cfg):
    """Random small affine warps of the training digits, or None when `data.augment` is off."""
    if not cfg.augment:
        return None
    shift = 2 * cfg.max_shift_px / 28  # affine_grid works in [-1, 1] coordinates
    rotation = torch.deg2rad(torch.tensor(float(cfg.max_rotation_deg)))

    def random_affine(batch, generator):
        images, labels = batch
        n = len(images)

        def uniform(low, high):
            return torch.rand(n, generator=generator, device=images.device) * (high - low) + low

        angle = uniform(-rotation, rotation)
        scale = uniform(1 - cfg.max_scale, 1 + cfg.max_scale)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [
                torch.stack([cos, -sin, uniform(-shift, shift)], dim=1),
                torch.stack([sin, cos, uniform(-shift, shift)], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        # "border" repeats the black edge of the digit's square instead of adding grey.
        return F.grid_sample(images, grid, padding_mode="border", align_corners=False), labels

    return random_affine
