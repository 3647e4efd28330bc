"""What digit classification adds to the shared loop: the loss and metrics of a batch."""

import torch
import torch.nn.functional as F

CAPSTONE = "mnist"
NUM_CLASSES = 10


class Task:
    """Cross-entropy on 10 classes; accuracy and a confusion matrix from summed counts.

    `loss` returns the loss to optimize and `stats`: sums over the batch (never means), so the
    loop can add them up across batches, and across processes, before `metrics` divides.
    """

    monitor, mode = "val/acc", "max"  # the metric that picks the best checkpoint

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    @classmethod
    def from_config(cls, cfg) -> "Task":
        return cls(label_smoothing=cfg.label_smoothing)

    def loss(self, model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        images, labels = batch
        logits = model(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        with torch.no_grad():
            predictions = logits.argmax(dim=1)
            confusion = torch.bincount(labels * NUM_CLASSES + predictions, minlength=NUM_CLASSES**2)
        stats = {
            "loss_sum": loss.detach().float() * len(labels),
            "count": torch.tensor(len(labels), device=labels.device),
            "confusion": confusion.view(NUM_CLASSES, NUM_CLASSES),  # rows: true digit, columns: predicted
        }
        return loss, stats

    @staticmethod
    def metrics(totals: dict[str, torch.Tensor]) -> dict[str, float]:
        count = totals["count"].item()
        return {
            "loss": totals["loss_sum"].item() / count,
            "acc": totals["confusion"].diagonal().sum().item() / count,
        }
