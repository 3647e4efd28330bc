"""What sentiment classification adds to the shared loop: the loss and metrics of a batch."""

import torch
import torch.nn.functional as F

CAPSTONE = "imdb"
CLASSES = ("negative", "positive")  # label 0 and label 1; "positive" is the class precision and recall are about


class Task:
    """Cross-entropy on two classes; accuracy, precision, recall and F1 from counts.

    `loss` takes the model's scores for a batch and its labels, and returns the loss to
    optimize and `stats`: sums over the batch (never means), so the
    loop can add them up across batches, and across processes, before `metrics` divides.
    """

    monitor, mode = "val/acc", "max"  # the metric that picks the best checkpoint, and which way is better
    metric_names = ("loss", "acc", "precision", "recall", "f1")

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    @classmethod
    def from_config(cls, cfg) -> "Task":
        return cls(label_smoothing=cfg.task.label_smoothing)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor | int]]:
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        predicted = logits.detach().argmax(dim=1)
        # Sums stay on the device: reading them now would make each step wait for the GPU.
        stats = {
            "loss_sum": loss.detach() * len(labels),
            "count": len(labels),
            "true_pos": ((predicted == 1) & (labels == 1)).sum(),
            "false_pos": ((predicted == 1) & (labels == 0)).sum(),
            "false_neg": ((predicted == 0) & (labels == 1)).sum(),
            "true_neg": ((predicted == 0) & (labels == 0)).sum(),
        }
        return loss, stats

    @staticmethod
    def metrics(totals: dict[str, torch.Tensor | int]) -> dict[str, float]:
        tp, fp, fn, tn = (float(totals[key]) for key in ("true_pos", "false_pos", "false_neg", "true_neg"))
        count = int(totals["count"])
        precision = tp / (tp + fp) if tp + fp else 0.0  # no review called positive: no precision to speak of
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "loss": float(totals["loss_sum"]) / count,
            "acc": (tp + tn) / count,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
