"""Wall time and validation mean IoU of the CamVid capstone's training recipes, as a user runs them.

    python bench/camvid_recipe.py [--data-root DIR] [--repeats N]           # the default recipe
    python bench/camvid_recipe.py --experiment best                         # experiment=best
    python bench/camvid_recipe.py -- model=light trainer.max_epochs=60     # extra hydra overrides

Targets (the issue): the default recipe reaches test mIoU >= 0.45 with the WHOLE `python train.py`
process (imports, PNG decoding, training, validation, checkpoints) under 20 minutes on a 2-core
CPU; experiment=best reaches >= 0.55. The test split is withheld here, so this reports validation
mIoU (the 101 val images, scored at the full 480x360). The data root is linked into a temporary
folder, so the decode cache starts cold, as on a user's first run, and nothing is written beside
the real data.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from common import DEFAULT_CAMVID, import_rendered, render, train_once


def linked_data_root(source: Path, folder: Path) -> Path:
    """A data root whose split folders are links to `source`'s: a fresh cache, the same files."""
    folder.mkdir(parents=True)
    for name in ("train", "trainannot", "val", "valannot", "test", "testannot"):
        if (source / name).is_dir():
            (folder / name).symlink_to((source / name).resolve())
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_CAMVID)
    parser.add_argument("--experiment", default=None, help="a recipe from configs/experiment/, e.g. best")
    parser.add_argument("--repeats", type=int, default=1, help="runs to take the median of (each takes minutes)")
    parser.add_argument("--curve", action="store_true", help="also print val/miou after every epoch")
    parser.add_argument("overrides", nargs="*", help="extra hydra overrides, after --")
    args = parser.parse_args()
    recipe = f"experiment={args.experiment}" if args.experiment else "the default recipe"
    recipe += f" with {' '.join(args.overrides)}" if args.overrides else ""

    with tempfile.TemporaryDirectory() as tmp:
        repo = render(Path(tmp) / "repo", "camvid")
        (metrics_csv,) = import_rendered(repo, "camvid_segmentation", "plumbing.metrics_csv")
        print(f"{recipe}: {args.repeats} run(s) of python train.py", flush=True)
        seconds, final, best = [], [], []
        for index in range(args.repeats):
            root = linked_data_root(args.data_root, Path(tmp) / f"data{index}")
            overrides = [f"data.root={root}", *args.overrides]
            if args.experiment:
                overrides.append(f"experiment={args.experiment}")
            run_dir = Path(tmp) / f"run{index}"
            wall = train_once(repo, run_dir, overrides)
            rows = [row for row in metrics_csv.read_metrics(run_dir / "metrics.csv") if "val/miou" in row]
            scores = [row["val/miou"] for row in rows]
            seconds.append(wall)
            final.append(scores[-1])
            best.append(max(scores))
            print(
                f"  run {index + 1}: {wall:6.1f} s  final val/miou {scores[-1]:.4f}  best {max(scores):.4f} "
                f"(pixel acc {rows[scores.index(max(scores))]['val/pixel_acc']:.4f}, {len(scores)} epochs)",
                flush=True,
            )
            if args.curve:
                print("  epoch val/miou: " + " ".join(f"{i + 1}:{s:.3f}" for i, s in enumerate(scores)))

    print(
        f"median over {args.repeats}: wall {statistics.median(seconds):.1f} s (min {min(seconds):.1f}, "
        f"max {max(seconds):.1f}), final val/miou {statistics.median(final):.4f}, "
        f"best val/miou {statistics.median(best):.4f}"
    )


if __name__ == "__main__":
    main()
