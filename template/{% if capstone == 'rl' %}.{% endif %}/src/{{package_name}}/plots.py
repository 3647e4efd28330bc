"""The learning curve: episodic return against environment steps, with the solved threshold and the
random policy's return."""

from pathlib import Path

from .plumbing.metrics_csv import read_metrics


def plot_returns(
    metrics_csv: str | Path,
    out: str | Path,
    solved: float | None = None,
    title: str = "",
    random_return: float | None = None,
) -> Path:
    import matplotlib  # imported here: only evaluation pays for matplotlib's start-up

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_csv)
    train = [(r["step"], r["train/episode_return"]) for r in rows if "train/episode_return" in r]
    evals = [(r["step"], r["val/return_mean"], r.get("val/return_std", 0.0)) for r in rows if "val/return_mean" in r]
    win_rates = sorted({k for r in rows for k in r if k.startswith("val/win_rate_")})
    fig, ax = plt.subplots(figsize=(7, 4.4), layout="constrained")
    if train:
        ax.plot(*zip(*train, strict=True), lw=1, alpha=0.6, label="training episodes (mean per log row)")
    if win_rates:  # Connect Four: the share of games won against each opponent
        for key in win_rates:
            ax.plot(*zip(*[(r["step"], r[key]) for r in rows if key in r], strict=True), "o-", label=key[4:])
        ax.set(ylabel="win rate", ylim=(0, 1.02))
    elif evals:
        steps, means, stds = zip(*evals, strict=True)
        ax.errorbar(steps, means, yerr=stds, fmt="o-", capsize=3, label="evaluation (mean ± std)")
        ax.set(ylabel="episodic return")
    if solved is not None and not win_rates:
        ax.axhline(solved, color="green", ls="--", lw=1, label=f"solved ({solved:g})")
    if random_return is not None and not win_rates:  # what the curve has to beat to show any learning
        ax.axhline(random_return, color="grey", ls=":", lw=1.5, label=f"random policy ({random_return:.3g})")
    ax.set(xlabel="environment steps", title=title or "Learning curve")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, frameon=False)  # below the axes: never over the curve
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)
