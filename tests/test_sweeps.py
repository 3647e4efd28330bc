"""Beyond a grid in the rendered repos: the Optuna search of search.py, with pruning and several workers; SLURM jobs."""

import csv
import re
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
from omegaconf import OmegaConf
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from .conftest import python_env, run_in_one_process

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
OTHER_CHOICES |= {"imdb": ["model=bag", "model=lstm", "optim=sgd"], "rl": ["algo=dqn", "env=connect_four"]}
# Each job's resources in the presets' renders: (partition, GPUs per node, time limit in minutes).
SLURM = {"mnist": ("gpu", 1, 60), "camvid": ("gpu", 1, 240), "imdb": ("gpu", 1, 60), "rl": (None, None, 60)}


def train(repo, *overrides: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", "-m", *overrides]
    return subprocess.run(command, cwd=repo, env=env or python_env(repo), capture_output=True, text=True, timeout=300)


def search_command(repo, tmp_path, *overrides: str) -> list[str]:
    """search.py on the smoke data, with trials of several epochs (so there is something to prune),
    its study and trials in tmp_path/study."""
    smoke = ["debug=smoke", f"data.root={tmp_path / 'data'}", "trainer.max_steps=null", "trainer.max_epochs=4"]
    return [sys.executable, "search.py", *smoke, f"hparams_search.folder={tmp_path / 'study'}", *overrides]


def load_study(tmp_path, name: str = "mnist") -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "study/journal.log")))
    return optuna.load_study(study_name=name, storage=storage)


def trials_run_by(log: str) -> set[int]:
    return {int(number) for number in re.findall(r"\[search\]\[INFO\] - Trial (\d+): ", log)}


def test_two_workers_share_one_study_and_never_run_the_same_trial(rendered, tmp_path):
    repo = rendered("mnist")
    # The median pruner compares from the third trial on, after each trial's first epoch.
    command = search_command(repo, tmp_path, "hparams_search.n_trials=6", "hparams_search.startup_trials=2")
    workers = [
        subprocess.Popen(
            command, cwd=repo, env=python_env(repo), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    logs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], "\n".join(log[-3000:] for log in logs)

    study = load_study(tmp_path)
    states = [trial.state for trial in study.trials]
    assert sum(state in (TrialState.COMPLETE, TrialState.PRUNED) for state in states) >= 6
    assert TrialState.FAIL not in states and TrialState.RUNNING not in states
    ran = [trials_run_by(log) for log in logs]
    assert ran[0] and ran[1] and ran[0].isdisjoint(ran[1]), ran  # each worker took trials, never the same one
    assert ran[0] | ran[1] == {trial.number for trial in study.trials}

    # A pruned trial stopped before its last epoch; the finished ones validated 4 times. Whether a trial is
    # pruned here depends on which others had finished when it was judged (the test below has one worker).
    pruned = [trial for trial in study.trials if trial.state == TrialState.PRUNED]
    assert all(len(trial.intermediate_values) < 4 for trial in pruned), states
    assert all(len(t.intermediate_values) == 4 for t in study.trials if t.state == TrialState.COMPLETE)

    # Each trial is a run folder that train.py could have written, with the trial's settings.
    for trial in study.trials:
        run = tmp_path / f"study/trial_{trial.number}"
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert config["optim"]["lr"] == trial.params["optim.lr"] and 5e-4 <= trial.params["optim.lr"] <= 2e-2
        assert (run / "checkpoints/best.pt").is_file() and "Training" in (run / "train.log").read_text()
    best = yaml.safe_load((tmp_path / "study/best_settings.yaml").read_text())
    assert best["trial"] == study.best_trial.number and best["val/acc"] == study.best_value
    fixed = [arg for arg in command[2:] if not arg.startswith("hparams_search")]  # the command's, then the trial's
    assert best["overrides"] == [*fixed, *(f"{key}={value}" for key, value in study.best_trial.params.items())]
    with (tmp_path / "study/search_summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["trial"]) for row in rows] == [t.number for t in study.trials]
    assert (
        f"Pruning stopped {len(pruned)} of {len(study.trials)} trials early"
        in (tmp_path / "study/search_summary.md").read_text()
    )
    assert (tmp_path / "study/optimization_history.png").read_bytes()[:4] == b"\x89PNG"
    # Importances once three complete trials differ in value (on smoke data most reach 100%).
    values = {trial.value for trial in study.trials if trial.state == TrialState.COMPLETE}
    assert (tmp_path / "study/param_importances.png").exists() == (len(values) > 2)


def test_the_median_pruner_stops_hopeless_trials_and_lets_the_first_ones_finish(rendered, tmp_path):
    """One worker and a seeded sampler: the same trials, judged against the same finished ones, on every run.
    With seed 0 the pruner stopped 4 of the 6 trials (torch 2.13, CPU), each below the median of the trials
    before it at the same epoch."""
    repo = rendered("mnist")
    settings = ["hparams_search.n_trials=6", "hparams_search.startup_trials=2", "hparams_search.sampler.seed=0"]
    command = search_command(repo, tmp_path, *settings)
    result = subprocess.run(command, cwd=repo, env=python_env(repo), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trials = load_study(tmp_path).trials
    states = [trial.state for trial in trials]
    assert states[:2] == [TrialState.COMPLETE] * 2, states  # startup_trials: the first ones are never pruned
    pruned = [trial for trial in trials if trial.state == TrialState.PRUNED]
    assert pruned and all(len(trial.intermediate_values) < 4 for trial in pruned), states


def test_a_killed_search_goes_on_with_the_same_command_and_runs_the_cut_trial_again(rendered, tmp_path):
    repo = rendered("mnist")
    # Trials of 15 smoke epochs (a second or two each), so that the kill lands inside the second one.
    command = search_command(repo, tmp_path, "hparams_search.n_trials=2", "hparams_search.pruner=none")
    command += ["trainer.max_epochs=15"]
    worker = subprocess.Popen(command, cwd=repo, env=python_env(repo), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    second = tmp_path / "study/trial_1/metrics.csv"
    deadline = time.monotonic() + 120
    while not second.exists() and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.kill()  # SIGKILL: no handler runs, the journal is left as the crash left it
    worker.communicate()
    cut = load_study(tmp_path).trials
    assert [t.state for t in cut] == [TrialState.COMPLETE, TrialState.RUNNING]

    again = subprocess.run(command, cwd=repo, env=python_env(repo), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Trial 1 was left unfinished by a worker that stopped; its settings run again." in again.stdout
    trials = load_study(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert trials[2].params == cut[1].params and trials[2].user_attrs["retry_of"] == 1


SPACE = "+hparams_search.params"
BAD_SEARCHES = {  # a mistake in the search, and the sentence it gets
    "hparams_search=grid": "Could not find 'hparams_search/grid'",
    "hparams_search.pruner=patient": "hparams_search.pruner=patient is not a pruner here; use one of median, hyperband",
    "hparams_search.params.model.dropout={low:0.5,high:0.1}": "model.dropout has low=0.5 and high=0.1",
    f"{SPACE}.optim.momentum=0.9": "hparams_search.params.optim.momentum must be {low: NUMBER, high: NUMBER}, with log",
    "hparams_search.storage={file}/journal.log": "Could not open the study",
    "optim.lr=abc": "optim.lr=abc must be a number",
    "resume=true": "A trial of search.py is a new run: leave resume= out",
}


def test_a_mistake_in_the_search_is_one_sentence_and_a_failing_trial_lets_the_search_go_on(rendered, tmp_path):
    repo = rendered("mnist")
    (tmp_path / "file").write_text("a file where the study's folder would be\n")
    smoke = search_command(repo, tmp_path)[2:]
    searches = [[*smoke, bad.replace("{file}", str(tmp_path / "file"))] for bad in BAD_SEARCHES]
    # optim.warmup_fraction=1.5 is refused before training: that trial fails, and the next one runs.
    # With this sampler seed the first trial draws 1.5 and the second 0.2 (asserted below).
    refused = "+hparams_search.params.optim.warmup_fraction={choices:[0.2,1.5]}"
    searches.append([*smoke, refused, "hparams_search.n_trials=1", "hparams_search.sampler.seed=5"])
    # The same study, searched with other training settings: its trials would not be alike.
    searches.append([*smoke, "seed=7", refused])
    ran = run_in_one_process([["search.py", *args] for args in searches], cwd=repo, env=python_env(repo))
    for (bad, sentence), (status, output) in zip(BAD_SEARCHES.items(), ran, strict=False):
        assert status == 1 and sentence in output and "Traceback" not in output, (bad, output[-2000:])

    (status, output), (other_status, other_output) = ran[len(BAD_SEARCHES) :]
    assert status == 0 and "optim.warmup_fraction=1.5 must be between 0 and 1" in output, output[-3000:]
    assert other_status == 1 and "was made by a search with the training overrides" in other_output
    trials = load_study(tmp_path).trials  # the same study: the mistaken searches above ran no trial in it
    assert [(t.params["optim.warmup_fraction"], t.state) for t in trials] == [
        (1.5, TrialState.FAIL),
        (0.2, TrialState.COMPLETE),
    ]


def test_without_optuna_search_py_says_how_to_install_it(rendered, tmp_path):
    repo = rendered("mnist")
    code = "import runpy, sys; sys.modules['optuna'] = None  # as if it were not installed\n"
    code += "sys.argv = ['search.py']; runpy.run_path('search.py', run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, env=python_env(repo), capture_output=True, text=True
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    expected = 'search.py needs Optuna: uv sync --extra dev --extra optuna, or pip install -e ".[optuna]"'
    assert result.stderr.strip() == expected


@pytest.mark.filterwarnings(EXPECTED_SCHEMA_WARNING)
def test_the_slurm_launcher_and_the_search_compose(capstone_repo):
    capstone, repo = capstone_repo
    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=submitit_slurm"], return_hydra_config=True)
        search = compose("search", return_hydra_config=True)
        trainings = [compose("train", overrides=[o]) for o in ["debug=smoke", *OTHER_CHOICES[capstone]]]
        both = compose("search", ["hydra/launcher=submitit_slurm", "hparams_search.worker=2"], return_hydra_config=True)

    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == SLURM[capstone]
    assert launcher.cpus_per_task >= 1 and launcher.mem_gb >= 1
    written = yaml.safe_load((repo / "configs/hydra/launcher/submitit_slurm.yaml").read_text())
    assert set(written) == set(OmegaConf.structured(SlurmQueueConf)), "every setting of the plugin, written out"
    assert instantiate(launcher).params["timeout_min"] == launcher.timeout_min

    settings = search.hparams_search
    assert settings.storage == f"runs/search/{capstone}/journal.log" and settings.sampler.seed is None
    assert settings.pruner == "median" and settings.n_trials == 20
    searched = set(flat_keys(OmegaConf.to_container(settings.params)))
    assert searched == SEARCHED[capstone]
    for training in trainings:  # every searched key is a value of the training config, whichever model or algorithm
        assert all(OmegaConf.select(training, key) is not None for key in searched), training
    assert both.hydra.launcher.partition == launcher.partition and both.hydra.sweep.dir.startswith("runs/search/")


def flat_keys(params: dict, prefix: str = "") -> list[str]:
    keys = []
    for name, node in params.items():
        if isinstance(node, dict) and not {"low", "high", "choices"} & set(node):
            keys += flat_keys(node, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


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


def test_a_lightning_search_reports_every_validation_to_the_study(rendered, tmp_path):
    repo = rendered("mnist", engine="lightning")
    command = search_command(repo, tmp_path, "hparams_search.n_trials=2", "hparams_search.pruner=none")
    result = subprocess.run(command, cwd=repo, env=python_env(repo), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trials = load_study(tmp_path).trials
    assert [trial.state for trial in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:  # one report per epoch (ReportValidation); the trial's value is the best of them
        assert sorted(trial.intermediate_values) == [1, 2, 3, 4]
        assert max(trial.intermediate_values.values()) == trial.value
