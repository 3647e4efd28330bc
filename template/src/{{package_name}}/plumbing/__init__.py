"""The plumbing every training run needs and no lesson is about: checkpoints and the run folder,
resuming, Ctrl-C, DDP processes, metrics.csv and W&B, downloads, sweeps, the README's results,
and errors said in one sentence. The lesson (data, model, task, loop, optim, plots) is one level up."""
