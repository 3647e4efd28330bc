"""Pictures of the test results: a confusion matrix, and the reviews the model was surest about."""

from pathlib import Path

import torch

from .data import test_reviews
from .task import CLASSES

EXCERPT = 400  # characters of a review shown in examples.md


@torch.no_grad()
def positive_probabilities(model, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """P(positive) and the true label of every review, in the batches' order."""
    model.eval()
    probabilities, labels = [], []
    for tokens, batch_labels in batches:
        probabilities.append(model(tokens).float().softmax(dim=1)[:, 1].cpu())
        labels.append(batch_labels.cpu())
    return torch.cat(probabilities), torch.cat(labels)


def plot_test_predictions(model, batches, out_dir: str | Path, data_cfg=None, examples: int = 5) -> list[Path]:
    """Write confusion_matrix.png and examples.md (the most confident right and wrong reviews) into `out_dir`."""
    import matplotlib  # imported here: training never pays for matplotlib's start-up

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    probabilities, labels = positive_probabilities(model, batches)
    predictions = (probabilities > 0.5).long()
    confusion = torch.bincount(labels * 2 + predictions, minlength=4).view(2, 2)

    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(confusion.numpy(), cmap="Blues")
    for row in range(2):
        for col in range(2):
            count = int(confusion[row, col])
            share = count / max(1, int(confusion[row].sum()))  # of the reviews of this true class
            color = "white" if count > confusion.max() / 2 else "black"
            ax.text(col, row, f"{count:,}\n{share:.1%}", ha="center", va="center", color=color)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=CLASSES, yticklabels=CLASSES)
    ax.set(
        xlabel="predicted", ylabel="true", title=f"Test accuracy {float((predictions == labels).float().mean()):.2%}"
    )
    fig.tight_layout()
    fig.savefig(out_dir / "confusion_matrix.png", dpi=120)
    plt.close(fig)

    written = [out_dir / "confusion_matrix.png"]
    if data_cfg is not None:
        reviews = test_reviews(data_cfg)
        (out_dir / "examples.md").write_text(examples_markdown(reviews, probabilities, labels, examples))
        written.append(out_dir / "examples.md")
    return written


def examples_markdown(reviews, probabilities: torch.Tensor, labels: torch.Tensor, count: int) -> str:
    """The `count` most confident right and the `count` most confident wrong predictions, as markdown."""
    confidence = torch.where(probabilities > 0.5, probabilities, 1 - probabilities)
    right = (probabilities > 0.5).long() == labels
    lines = ["# Test reviews the model was surest about", ""]
    for title, chosen in (("Right", right), ("Wrong", ~right)):
        lines += [f"## {title}, most confident first", ""]
        rows = torch.nonzero(chosen).flatten()
        ranked = rows[confidence[rows].argsort(descending=True)][:count].tolist()
        if not ranked:
            lines += ["(none)", ""]
        for i in ranked:
            predicted = CLASSES[int(probabilities[i] > 0.5)]
            text = reviews.texts[i]
            excerpt = text if len(text) <= EXCERPT else text[:EXCERPT].rsplit(" ", 1)[0] + " ..."
            lines += [
                f"**{predicted}** with probability {float(confidence[i]):.3f}, truly {CLASSES[int(labels[i])]}"
                f" (`{reviews.files[i]}`)",
                "",
                "> " + excerpt.replace("\n", " ").replace("<", "&lt;"),  # shown as text, never as HTML
                "",
            ]
    return "\n".join(lines)
