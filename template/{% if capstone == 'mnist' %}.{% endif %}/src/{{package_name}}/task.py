"""What digit classification adds to the shared loop: the loss and metrics of a batch."""

import torch
import torch.nn.functional as F

CAPSTONE = "mnist"
NUM_CLASSES = 10


class Task:
    """Cross-entropy on 10 classes, and accuracy from counts of right answers.

    `loss` takes the model's scores for a batch and its labels, and returns the loss to
    optimize and `stats`: sums over the batch (never means), so the
    loop can add them up across batches, and across processes, before `metrics` divides.
    With label smoothing, the loss (and so train/loss and val/loss) cannot fall below about 0.5.
    """

    monitor, mode = "val/acc", "max"  # the metric that picks the best checkpoint, and which way is better
    metric_names = ("loss", "acc")

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    @classmethod
    def from_config(cls, cfg) -> "Task":
        return cls(label_smoothing=cfg.task.label_smoothing)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor | int]]:
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        # Sums stay on the device: reading them now would make each step wait for the GPU.
        stats = {
            "loss_sum": loss.detach().float() * len(labels),
            "correct": (logits.detach().argmax(dim=1) == labels).sum(),
            "count": len(labels),
        }
        return loss, stats

    @staticmethod
    def metrics(totals: dict[str, torch.Tensor | int]) -> dict[str, float]:
        count = int(totals["count"])
        return {"loss": float(totals["loss_sum"]) / count, "acc": float(totals["correct"]) / count}
