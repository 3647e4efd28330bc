"""Sweeps beyond a grid in the rendered repos: an Optuna search (hparams_search=optuna) and SLURM jobs."""

import csv
import json
import math
import subprocess
import sys

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
from omegaconf import OmegaConf

from .conftest import python_env

# Hydra reads configs/hydra/launcher/submitit_slurm.yaml in place of the plugin's config of that name and
# warns that it checks the file against it (the config's comment says so); that warning is expected here.
EXPECTED_SCHEMA_WARNING = "ignore:(?s).*is validated against ConfigStore schema with the same name:UserWarning"
# Each capstone's searched keys, and the other choices (test_render.py's OVERRIDES) they must also exist in.
SEARCHED = {
    "mnist": {"optim.lr", "optim.weight_decay", "model.dropout", "task.label_smoothing"},
    "camvid": {"optim.lr", "optim.weight_decay", "model.dropout", "task.class_weights"},
    "imdb": {"optim.lr", "optim.weight_decay", "model.dropout"},
    "rl": {"algo.lr", "algo.gamma", "algo.hidden"},
}
OTHER_CHOICES = {"mnist": ["model=mlp", "optim=sgd"], "camvid": ["model=light", "optim=sgd"]}
OTHER_CHOICES |= {"imdb": ["model=lstm", "optim=sgd"], "rl": ["algo=dqn", "env=connect_four"]}
# Each job's resources in the presets' renders: (partition, GPUs per node, time limit in minutes).
SLURM = {"mnist": ("gpu", 1, 60), "camvid": ("gpu", 1, 240), "imdb": ("gpu", 1, 60), "rl": (None, None, 60)}


def train(repo, *overrides: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", "-m", *overrides]
    return subprocess.run(command, cwd=repo, env=env or python_env(repo), capture_output=True, text=True, timeout=300)


def optuna_search(repo, tmp_path, sweep: str, *overrides: str) -> subprocess.CompletedProcess:
    """A 2-trial smoke search; the study file goes into a folder that does not exist yet."""
    storage = f"hydra.sweeper.storage=sqlite:///{tmp_path / 'optuna/study.db'}"
    places = [f"data.root={tmp_path / 'data'}", f"hydra.sweep.dir={tmp_path / sweep}", storage]
    result = train(repo, "hparams_search=optuna", "debug=smoke", "hydra.sweeper.n_trials=2", *places, *overrides)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def study_trials(tmp_path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="mnist", storage=f"sqlite:///{tmp_path / 'optuna/study.db'}").trials


def test_an_optuna_search_runs_its_trials_and_the_same_command_continues_the_study(rendered, tmp_path):
    repo = rendered("mnist")
    optuna_search(repo, tmp_path, "sweep")

    summaries = [json.loads((tmp_path / f"sweep/{n}/summary.json").read_text()) for n in (0, 1)]
    values = [summary["best/val/acc"] for summary in summaries]
    assert all(math.isfinite(value) for value in values)
    for summary in summaries:  # each trial trained with the settings Optuna suggested, within the search space
        lr = float(next(o for o in summary["overrides"].split() if o.startswith("optim.lr=")).split("=")[1])
        assert 3e-4 <= lr <= 3e-2
    results = yaml.safe_load((tmp_path / "sweep/optimization_results.yaml").read_text())
    assert set(results["best_params"]) == SEARCHED["mnist"] and results["best_value"] == max(values)
    with (tmp_path / "sweep/sweep_summary.csv").open(newline="") as f:
        assert [row["run"] for row in csv.DictReader(f)] == ["0", "1"]
    first = study_trials(tmp_path)
    assert [(t.number, t.state.name, t.value) for t in first] == [(n, "COMPLETE", values[n]) for n in (0, 1)]

    optuna_search(repo, tmp_path, "sweep_again")  # e.g. after a crash: a new sweep folder, the same study
    trials = study_trials(tmp_path)
    assert [(t.number, t.state.name) for t in trials] == [(n, "COMPLETE") for n in range(4)]
    assert {t.params["optim.lr"] for t in trials[2:]}.isdisjoint(t.params["optim.lr"] for t in first)  # new settings


def test_a_failing_trial_is_recorded_as_failed_and_the_search_goes_on(rendered, tmp_path):
    repo = rendered("mnist")
    # optim.warmup_fraction=1.5 is refused with a UserError before training. With this sampler seed the
    # first trial draws 1.5 and the second 0.2 (asserted below, so a change in Optuna's sampling shows).
    refused = "optim.warmup_fraction=choice(0.2,1.5)"
    result = optuna_search(repo, tmp_path, "sweep", refused, "hydra.sweeper.sampler.seed=0")
    assert "optim.warmup_fraction=1.5 must be between 0 and 1" in result.stdout + result.stderr

    trials = study_trials(tmp_path)
    assert [(t.params["optim.warmup_fraction"], t.state.name) for t in trials] == [(1.5, "FAIL"), (0.2, "COMPLETE")]
    results = yaml.safe_load((tmp_path / "sweep/optimization_results.yaml").read_text())
    assert results["best_params"]["optim.warmup_fraction"] == 0.2 and math.isfinite(results["best_value"])
    assert "| 0 |  |  | failed |" in (tmp_path / "sweep/sweep_summary.md").read_text()


@pytest.mark.filterwarnings(EXPECTED_SCHEMA_WARNING)
def test_the_slurm_launcher_and_the_optuna_search_compose(capstone_repo):
    capstone, repo = capstone_repo
    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=submitit_slurm"], return_hydra_config=True)
        searches = [compose("train", overrides=["hparams_search=optuna"], return_hydra_config=True)]
        searches += [compose("train", overrides=["hparams_search=optuna", o]) for o in OTHER_CHOICES[capstone]]
        both = compose("train", ["hparams_search=optuna", "hydra/launcher=submitit_slurm"], return_hydra_config=True)

    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == SLURM[capstone]
    assert launcher.cpus_per_task >= 1 and launcher.mem_gb >= 1
    written = yaml.safe_load((repo / "configs/hydra/launcher/submitit_slurm.yaml").read_text())
    assert set(written) == set(OmegaConf.structured(SlurmQueueConf)), "every setting of the plugin, written out"
    assert instantiate(launcher).params["timeout_min"] == launcher.timeout_min

    sweeper = searches[0].hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert sweeper.direction == "maximize" and sweeper.max_failure_rate == 1.0 and sweeper.n_jobs == 1
    assert sweeper.storage == f"sqlite:///runs/optuna/{capstone}.db" and sweeper.sampler.seed is None
    assert set(sweeper.params) == SEARCHED[capstone]
    for search in searches:  # every searched key is a value of the training config, whichever model or algorithm
        assert all(OmegaConf.select(search, key) is not None for key in SEARCHED[capstone])
    assert both.hydra.sweeper.storage == sweeper.storage and both.hydra.launcher.partition == launcher.partition


@pytest.mark.filterwarnings(EXPECTED_SCHEMA_WARNING)
def test_a_slurm_sweep_submits_one_job_array_with_the_configured_resources(rendered, tmp_path):
    """No cluster here: a stand-in `sbatch` keeps the job script submitit hands it, then refuses the job."""
    repo = rendered("mnist")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = tmp_path / "job.sh"
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {script}\necho "sbatch: no cluster here" >&2\nexit 1\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit only checks that srun exists
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = python_env(repo)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"

    sweep = ["debug=smoke", "optim.lr=1e-3,3e-4", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    result = train(repo, "hydra/launcher=submitit_slurm", "hydra.launcher.partition=a100", *sweep, env=env)
    assert result.returncode != 0 and "sbatch: no cluster here" in result.stderr
    lines = script.read_text().splitlines()
    for option in ["--array=0-1%2", "--partition=a100", "--gpus-per-node=1", "--time=60", "--cpus-per-task=4"]:
        assert f"#SBATCH {option}" in lines, option
