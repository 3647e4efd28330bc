"""What segmentation adds to the shared loop: a per-pixel loss, and metrics from a confusion matrix."""

import torch
import torch.nn.functional as F

from .classes import CLASSES, NUM_CLASSES, VOID
from .data import class_weights

CAPSTONE = "camvid"


class Task:
    """Cross-entropy per pixel (void ignored, rare classes optionally weighted up), scored by IoU.

    `loss` takes the model's scores for a batch and its masks, and returns the loss to
    optimize and `stats`: sums over the batch, among them the confusion
    matrix (true class x predicted class, counted over labelled pixels), so the loop can add them
    up across batches before `metrics` turns the total into pixel accuracy, class-average accuracy
    and intersection-over-union per class. When the masks are larger than the model's output
    (validation and test score at the full 360x480), the class scores are upsampled to them.
    """

    monitor, mode = "val/miou", "max"  # the metric that picks the best checkpoint, and which way is better
    metric_names = ("loss", "miou", "pixel_acc", "class_acc", *(f"iou/{name}" for name in CLASSES))

    def __init__(self, class_weights: torch.Tensor | None = None, label_smoothing: float = 0.0):
        self.class_weights = class_weights
        self.label_smoothing = label_smoothing

    @classmethod
    def from_config(cls, cfg) -> "Task":
        # Median-frequency weights to the power `task.class_weights`: 1 weighs rare classes fully,
        # 0.5 halfway (their square root), 0 not at all (plain cross-entropy).
        power = float(cfg.task.class_weights)
        weights = class_weights(cfg.data) ** power if power else None
        return cls(class_weights=weights, label_smoothing=cfg.task.label_smoothing)

    def loss(self, logits: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor | int]]:
        masks = masks.long()
        logits = logits.float()  # the loss and the argmax in full precision, also under autocast
        if logits.shape[-2:] != masks.shape[-2:]:
            logits = F.interpolate(logits, size=masks.shape[-2:], mode="bilinear", align_corners=False)
        weights = None if self.class_weights is None else self.class_weights.to(logits.device)
        loss = F.cross_entropy(logits, masks, weight=weights, ignore_index=VOID, label_smoothing=self.label_smoothing)
        # Sums stay on the device: reading them now would make each step wait for the GPU. The loss
        # is a mean per image (each image's pixels averaged first), like the loop's other tasks.
        stats = {
            "loss_sum": loss.detach() * len(masks),
            "count": len(masks),
            "confusion": confusion_matrix(masks, logits.detach().argmax(dim=1)),
        }
        return loss, stats

    @staticmethod
    def metrics(totals: dict[str, torch.Tensor | int]) -> dict[str, float]:
        scores = scores_from_confusion(totals["confusion"].double().cpu())
        per_class = {f"iou/{name}": float(iou) for name, iou in zip(CLASSES, scores["iou"], strict=True)}
        return {
            "loss": float(totals["loss_sum"]) / int(totals["count"]),
            "miou": scores["miou"],
            "pixel_acc": scores["pixel_acc"],
            "class_acc": scores["class_acc"],
            **per_class,
        }


def confusion_matrix(masks: torch.Tensor, predictions: torch.Tensor) -> torch.Tensor:
    """[classes, classes] counts of (true, predicted) over the labelled pixels: one bincount."""
    labelled = masks != VOID
    pairs = masks[labelled] * NUM_CLASSES + predictions[labelled]
    return torch.bincount(pairs, minlength=NUM_CLASSES**2).view(NUM_CLASSES, NUM_CLASSES)


def scores_from_confusion(confusion: torch.Tensor) -> dict:
    """Pixel accuracy, class-average accuracy, IoU per class and their mean, from a confusion matrix.

    IoU of class c = true positives / (pixels labelled c + pixels predicted c - true positives).
    Classes absent from both labels and predictions have no IoU (nan) and are left out of means.
    """
    confusion = confusion.double()
    hits = confusion.diag()
    labelled, predicted = confusion.sum(dim=1), confusion.sum(dim=0)
    iou = hits / (labelled + predicted - hits)  # 0/0 = nan for a class seen nowhere
    recall = hits / labelled
    return {
        "pixel_acc": float(hits.sum() / confusion.sum().clamp(min=1)),
        "class_acc": float(recall.nanmean()),
        "iou": iou,
        "miou": float(iou.nanmean()),
    }
