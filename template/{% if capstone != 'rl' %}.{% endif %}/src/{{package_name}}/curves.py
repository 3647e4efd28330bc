"""Training curves from metrics.csv: the loss per logged step and the validation metrics per epoch."""

from pathlib import Path

from .plumbing.metrics_csv import read_metrics


def plot_training_curves(metrics_csv: str | Path, out: str | Path) -> Path:
    import matplotlib  # imported here: only evaluation pays for matplotlib's start-up

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = read_metrics(metrics_csv)
    losses = [(r["step"], r["train/loss"]) for r in rows if "train/loss" in r]
    # The headline scores only: per-class ones (val/<metric>/<class>) would crowd this plot.
    headline = {k for r in rows for k in r if k.startswith("val/") and k != "val/loss" and k.count("/") == 1}
    val_keys = sorted(headline)
    # Log-scale ticks as plain numbers (2.4, 0.05) rather than 2.4x10^0, from 1e-4 to 1e4.
    with plt.rc_context({"axes.formatter.min_exponent": 4}):
        fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.8))
        if losses:
            ax_loss.plot(*zip(*losses, strict=True), label="train", lw=1)
        val_loss = [(r["step"], r["val/loss"]) for r in rows if "val/loss" in r]
        if val_loss:
            ax_loss.plot(*zip(*val_loss, strict=True), "o-", label="validation")
        ax_loss.set(xlabel="step", ylabel="loss", yscale="log", title="Loss")
        ax_loss.legend()
        for key in val_keys:
            ax_val.plot(*zip(*[(r["step"], r[key]) for r in rows if key in r], strict=True), "o-", label=key)
        ax_val.set(xlabel="step", title="Validation metrics")
        ax_val.grid(alpha=0.3)
        for ax in (ax_loss, ax_val):
            ax.xaxis.set_major_locator(MaxNLocator("auto", steps=[1, 2, 5, 10], integer=True))  # whole steps
        if val_keys:
            ax_val.legend()
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        plt.close(fig)
    return Path(out)
