"""Pictures of the test results: IoU per class, and test photos with true and predicted classes."""

from pathlib import Path

import torch
import torch.nn.functional as F

from .classes import CLASSES, NUM_CLASSES, PALETTE, overlay
from .task import confusion_matrix, scores_from_confusion


@torch.no_grad()
def predict_masks(model, images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Class ids [N, H, W] at `size` for a batch of photos: the class scores are upsampled first."""
    logits = model(images)
    if logits.shape[-2:] != size:
        logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
    return logits.argmax(dim=1)


def plot_test_predictions(model, batches, out_dir: str | Path, data_cfg=None, examples: int = 6) -> list[Path]:
    """Write iou_per_class.png and predictions.png (photo, truth, prediction) into `out_dir`.

    The batches hold all it draws; `data_cfg` (the test data's settings) is part of the shared
    contract for capstones whose pictures need the raw files.
    """
    import matplotlib  # imported here: training never pays for matplotlib's start-up

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    confusion = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.long)
    # Examples spread over the test set: neighbouring video frames would all look alike.
    every = max(1, batches.num_samples // examples)
    shown = []  # (photo, truth, prediction) at the masks' resolution
    index = 0
    for images, masks in batches:
        predictions = predict_masks(model, images, masks.shape[-2:])
        confusion += confusion_matrix(masks.long(), predictions).cpu()
        for image, mask, prediction in zip(images, masks, predictions, strict=True):
            index += 1
            if (index - 1) % every == 0 and len(shown) < examples:
                photo = F.interpolate(image[None].float(), size=mask.shape, mode="bilinear", align_corners=False)
                shown.append((photo[0].round().clamp(0, 255).byte().cpu(), mask.cpu(), prediction.cpu()))
    scores = scores_from_confusion(confusion)

    fig, ax = plt.subplots(figsize=(8, 4))
    colours = [tuple(c / 255 for c in PALETTE[i]) for i in range(NUM_CLASSES)]
    iou = scores["iou"].nan_to_num(0).tolist()
    bars = ax.bar(CLASSES, iou, color=colours, edgecolor="black", linewidth=0.5)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in iou], fontsize=8)
    ax.axhline(scores["miou"], color="black", linestyle="--", linewidth=1, label=f"mean IoU {scores['miou']:.3f}")
    ax.set(ylabel="IoU on the test images", ylim=(0, 1))
    ax.tick_params(axis="x", rotation=45)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out_dir / "iou_per_class.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(len(shown), 3, figsize=(12, 3 * len(shown)), squeeze=False)
    for row, (photo, truth, prediction) in zip(axes, shown, strict=True):
        for ax, picture, title in zip(
            row,
            (photo.permute(1, 2, 0), overlay(photo, truth), overlay(photo, prediction)),
            ("photo", "ground truth", "prediction"),
            strict=True,
        ):
            ax.imshow(picture.numpy())
            ax.set_title(title, fontsize=10)
            ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[i]) for i in range(NUM_CLASSES)]
    fig.legend(handles, CLASSES, loc="lower center", ncol=6, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(out_dir / "predictions.png", dpi=100)
    plt.close(fig)
    return [out_dir / "iou_per_class.png", out_dir / "predictions.png"]
