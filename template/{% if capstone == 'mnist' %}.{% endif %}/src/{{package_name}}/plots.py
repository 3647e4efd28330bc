"""Pictures of the test results: where the model confuses digits, and the digits it gets wrong."""

from pathlib import Path

import torch

from .data import MEAN, STD
from .task import NUM_CLASSES


@torch.no_grad()
def predict(model, batches) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, true labels and predicted labels of every test digit, on the CPU."""
    images, labels, predictions = [], [], []
    for x, y in batches:
        images.append(x.cpu())
        labels.append(y.cpu())
        predictions.append(model(x).argmax(dim=1).cpu())
    return torch.cat(images), torch.cat(labels), torch.cat(predictions)


def plot_test_predictions(model, batches, out_dir: str | Path, data_cfg=None, max_mistakes: int = 36) -> list[Path]:
    """Write confusion_matrix.png and mistakes.png into `out_dir`.

    The batches hold all it draws; `data_cfg` (the test data's settings) is part of the shared
    contract for capstones whose pictures need the raw files.
    """
    import matplotlib  # imported here: training never pays for matplotlib's start-up

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    images, labels, predictions = predict(model, batches)
    confusion = torch.bincount(labels * NUM_CLASSES + predictions, minlength=NUM_CLASSES**2).view(NUM_CLASSES, -1)

    fig, ax = plt.subplots(figsize=(6, 5.5))
    # Logarithmic colours: the few mistakes would be invisible next to the large diagonal.
    shown = ax.imshow(confusion.clamp(min=1).numpy(), cmap="Blues", norm=matplotlib.colors.LogNorm())
    dark = confusion.max().item() ** 0.6  # cells above this count are dark blue on the log scale
    for true, pred in torch.cartesian_prod(torch.arange(NUM_CLASSES), torch.arange(NUM_CLASSES)).tolist():
        count = confusion[true, pred].item()
        if count:
            color = "white" if count > dark else "black"
            ax.text(pred, true, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set(xlabel="predicted digit", ylabel="true digit", xticks=range(10), yticks=range(10))
    ax.set_title(f"Confusion matrix: {int(confusion.trace())} of {len(labels)} right")
    fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(out_dir / "confusion_matrix.png", dpi=120)
    plt.close(fig)

    wrong = (predictions != labels).nonzero().flatten()[:max_mistakes]
    columns = 9
    rows = max(1, -(-len(wrong) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong.tolist(), strict=False):
        ax.imshow((images[i, 0] * STD + MEAN).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{int(labels[i])} → {int(predictions[i])}", fontsize=9, color="firebrick")
    mistakes = int((predictions != labels).sum())
    title = f"{len(wrong)} of {mistakes} mistakes (true → predicted)" if mistakes else "No mistakes on the test digits"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_dir / "mistakes.png", dpi=120)
    plt.close(fig)
    return [out_dir / "confusion_matrix.png", out_dir / "mistakes.png"]
