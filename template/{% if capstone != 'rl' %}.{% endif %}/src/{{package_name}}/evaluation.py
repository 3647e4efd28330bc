"""Test-set evaluation of a checkpoint: metrics.json and plots beside the run that made it."""

import json

from omegaconf import DictConfig, OmegaConf

from .batches import InMemoryBatches
from .curves import plot_training_curves
from .data import load_test
from .loop import evaluate
from .model import build_model
from .plots import plot_test_predictions
from .plumbing import mixed_precision, runtime
from .plumbing.checkpoint import load_checkpoint
from .plumbing.errors import check_number
from .plumbing.files import write_text
from .plumbing.report import check_report, report_evaluation
from .plumbing.run_paths import checkpoint_named
from .plumbing.tracking import log_evaluation
from .task import CAPSTONE, Task

# What a results section filled from a smoke run says first (evaluate.py report=true).
SMOKE = "These figures come from the tiny fixture data of a smoke run, not the real test split."


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, float]:
    """Evaluate `cfg.ckpt` on the test split; write metrics.json and plots into its run folder."""
    path = checkpoint_named(cfg)  # a .pt file, or a run folder or its checkpoints/ folder: best.pt
    check_number(cfg, "batch_size", whole=True, least=1, null="the run's data.eval_batch_size")
    check_report(cfg.report)
    state = load_checkpoint(path, CAPSTONE)
    trained = OmegaConf.create(state["config"])  # the run's own config: same model, same data
    data_cfg = trained.data
    if cfg.data.root:
        data_cfg.root = cfg.data.root

    device = runtime.pick_device(cfg.device)
    amp_dtype = mixed_precision.autocast_dtype(trained.trainer.precision, device)  # as validation computed it
    model = build_model(trained.model)
    model.load_state_dict(state["model"])
    model.to(device).eval()
    test = load_test(data_cfg, state.get("data_state"))  # read exactly as in training
    test_batches = InMemoryBatches(test, cfg.batch_size or data_cfg.eval_batch_size, device=device)
    task = Task.from_config(trained)
    metrics = {f"test/{k}": v for k, v in evaluate(model, test_batches, task, device, amp_dtype).items()}

    run_dir = path.parent.parent
    written = json.dumps({**metrics, "checkpoint": str(path), "step": state["step"]}, indent=2)
    write_text(run_dir / "metrics.json", written, "test metrics", elsewhere="a copy of the run folder")
    if cfg.plots:
        with mixed_precision.autocast(device, amp_dtype):
            plot_test_predictions(model, test_batches, run_dir, data_cfg)
        if (run_dir / "metrics.csv").exists():
            plot_training_curves(run_dir / "metrics.csv", run_dir / "training_curves.png")
    log_evaluation(trained, run_dir)  # a logger=wandb run: metrics.json and the plots to its W&B run
    # README.md's results section and its pictures in results/; for a smoke run, only if asked (report=true).
    report_evaluation(run_dir, path, cfg.report, smoke=SMOKE if trained.data.fixture else None)
    return metrics
