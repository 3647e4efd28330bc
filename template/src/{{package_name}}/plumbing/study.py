"""The Optuna study behind search.py: its search space, storage and pruner, and what it leaves behind.

search.py holds the search itself (each trial composes the training config and trains). This module
turns configs/hparams_search/<name>.yaml into Optuna's objects, checked first so that a bad entry is
one sentence, and writes the results: a table of the trials, the best settings, Optuna's plots.
"""

import contextlib
import csv
import logging
import os
import socket
import warnings
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

try:
    import optuna
    from optuna import TrialPruned  # what on_validation raises to stop a trial (search.py lets it through)
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    from optuna.trial import TrialState
except ModuleNotFoundError:
    raise SystemExit(
        'search.py needs Optuna: uv sync --extra dev --extra optuna, or pip install -e ".[optuna]"'
    ) from None

from .errors import UserError
from .files import file_system_error
from .overrides import as_override
from .sweep import markdown_table

log = logging.getLogger(__name__)

PRUNERS = ("median", "hyperband", "none")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # the trials that count towards n_trials
WORKER = "worker"  # a trial's user attribute: host:pid of the process that runs it
RANGE, CHOICES = "{low: NUMBER, high: NUMBER}", "{choices: [a, b, ...]}"  # the search space's entries, in YAML

# Optuna's warnings go to this project's log (and so into each worker's search.log), not to its own
# handler; search.py says what each trial does. Its plotting functions' notice that their interface
# may change is left out.
optuna.logging.disable_default_handler()
optuna.logging.enable_propagation()
optuna.logging.set_verbosity(optuna.logging.WARNING)


class WithoutNanNotices(logging.Filter):
    """Drops Optuna's two warnings about a trial that returned nan: search.py returns nan for a trial that
    failed on purpose (a refused setting, Ctrl-C) and has logged why already."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "value nan" not in record.getMessage()


logging.getLogger("optuna.study._optimize").addFilter(WithoutNanNotices())
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def search_space(params: DictConfig, fixed_keys: set[str]) -> dict[str, dict]:
    """The settings to search, by dotted key: {"optim.lr": {"low": 3e-4, "high": 3e-2, "log": True}, ...}.

    `params` nests like the training config. A leaf is a range, {low, high} (whole numbers give
    whole values; log: true samples evenly in the logarithm; step: a grid), or {choices: [...]}.
    A key the command line sets (fixed_keys) keeps that value in every trial and is not searched.
    """
    space: dict[str, dict] = {}

    def walk(node, key: str) -> None:
        if isinstance(node, dict) and node and not {"choices", "low", "high"} & set(node):
            for name, child in node.items():
                walk(child, f"{key}.{name}" if key else str(name))
        elif key not in fixed_keys:
            space[key] = check_range(key, node)

    walk(OmegaConf.to_container(params, resolve=True), "")
    if not space:
        raise UserError("The search space is empty: hparams_search.params names no setting the command leaves free.")
    return space


def check_range(key: str, spec) -> dict:
    """One entry of the search space, or a UserError that says how to write it."""
    where = f"hparams_search.params.{key}"
    if isinstance(spec, dict) and "choices" in spec:
        if set(spec) != {"choices"} or not isinstance(spec["choices"], list) or not spec["choices"]:
            raise UserError(f"{where} must be {CHOICES}: a list of one value or more, and no other key.")
        return spec
    keys_known = isinstance(spec, dict) and set(spec) <= {"low", "high", "log", "step"}
    if not (keys_known and is_number(spec.get("low")) and is_number(spec.get("high"))):
        raise UserError(f"{where} must be {RANGE}, with log: true or step: NUMBER if wanted, or {CHOICES}.")
    if not spec["low"] < spec["high"]:
        raise UserError(f"{where} has low={spec['low']} and high={spec['high']}; low must be below high.")
    if spec.get("log") and spec["low"] <= 0:
        raise UserError(f"{where} has log: true, so its low must be above 0 (it is {spec['low']}).")
    if spec.get("log") and spec.get("step"):
        raise UserError(f"{where} has both log: true and a step; Optuna samples one or the other.")
    return spec


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def suggest(trial: optuna.Trial, space: dict[str, dict]) -> dict:
    """The trial's settings, one value per key of the space, as the study's sampler picks them."""
    settings = {}
    for key, spec in space.items():
        if "choices" in spec:
            settings[key] = trial.suggest_categorical(key, spec["choices"])
            continue
        low, high, step, log_scale = spec["low"], spec["high"], spec.get("step"), bool(spec.get("log"))
        if isinstance(low, int) and isinstance(high, int) and isinstance(step or 1, int):  # whole numbers
            settings[key] = trial.suggest_int(key, low, high, step=step or 1, log=log_scale)
        else:
            settings[key] = trial.suggest_float(key, low, high, step=step, log=log_scale)
    return settings


def report_to(trial: optuna.Trial, monitor: str, at: str):
    """on_validation for the training: report each value to the study, and stop a trial the pruner gives up on."""

    def report(step: int, value: float) -> None:
        trial.report(value, step)
        if trial.should_prune():
            log.info(f"Trial {trial.number} pruned at {at} {step}: {monitor}={value:.4g}")
            raise TrialPruned()

    return report


def as_overrides(settings: dict) -> list[str]:
    """The settings as command-line overrides: optim.lr=0.0031, trainer.grad_clip=null, model=mlp."""
    return [f"{key}={as_override(value)}" for key, value in settings.items()]


def describe(settings: dict) -> str:
    """The settings as overrides, with short numbers: optim.lr=0.003162 model.dropout=0.2."""
    parts = (f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}" for key, value in settings.items())
    return " ".join(parts)


def open_study(search: DictConfig, direction: str, fixed: list[str]) -> optuna.Study:
    """The study hparams_search.study_name in hparams_search.storage, made on first use.

    The storage is a journal file (a path), which several workers may share on one disk, or a
    database URL. A trial that a killed worker of this machine left 'running' is marked failed and
    its settings are queued to run again, so the same command continues a crashed study. `fixed`,
    the command's training overrides, must be those the study was made with: trials of another
    setup (debug=smoke, another environment) would be compared with its trials as if they were alike.
    """
    storage = str(search.storage)
    if storage.startswith("sqlite:///"):  # SQLite makes the file, not its folder
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        if "://" in storage:  # sqlite:///study.db, postgresql://...: Optuna's database storage, whose
            # heartbeat marks a silent worker's trial failed after grace_period seconds, and queues it again
            backend = optuna.storages.RDBStorage(
                storage,
                heartbeat_interval=60,
                grace_period=300,
                failed_trial_callback=optuna.storages.RetryFailedTrialCallback(max_retry=1),
            )
        else:
            Path(storage).parent.mkdir(parents=True, exist_ok=True)
            backend = JournalStorage(JournalFileBackend(storage))
        study = optuna.create_study(
            study_name=search.study_name,
            storage=backend,
            sampler=optuna.samplers.TPESampler(n_startup_trials=search.sampler.n_startup_trials),
            pruner=make_pruner(search),
            direction=direction,
            load_if_exists=True,
        )
    except OSError as error:
        advice = {"elsewhere": "hparams_search.storage=FILE", "path": Path(storage), "then": "search again"}
        raise file_system_error(error, f"open the study {storage}", **advice) from error
    except Exception as error:  # a database URL that cannot be reached or opened (SQLAlchemy's errors)
        raise UserError(f"Could not open the study {storage}: {error}; check hparams_search.storage.") from error
    another_study = "give this search another hparams_search.study_name"
    if study.direction.name.lower() != direction:
        raise UserError(
            f"The study {search.study_name} in {storage} was made to {study.direction.name.lower()} "
            f"its value, and this search would {direction} it; {another_study}."
        )
    made_with = study.user_attrs.get("overrides")
    if made_with is None:
        study.set_user_attr("overrides", fixed)
    elif sorted(made_with) != sorted(fixed):
        raise UserError(
            f"The study {search.study_name} was made by a search with the training overrides "
            f"{' '.join(made_with) or '(none)'}, and this one has {' '.join(fixed) or '(none)'}; "
            f"use those, or {another_study}."
        )
    if search.sampler.seed is not None:  # a seed that moves on with the study, so a continued one tries new settings
        seed = search.sampler.seed + len(study.trials) + 1_000_003 * search.worker
        study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=search.sampler.n_startup_trials)
    retry_trials_of_dead_workers(study)
    return study


def make_pruner(search: DictConfig) -> optuna.pruners.BasePruner:
    """median: stop a trial whose value is worse than the median of the earlier trials' at the same
    epoch. hyperband: successive halving, over budgets of epochs. none: every trial runs to its end."""
    if search.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials, n_warmup_steps=search.prune_after)
    if search.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, search.prune_after))
    if search.pruner == "none":
        return optuna.pruners.NopPruner()
    raise UserError(f"hparams_search.pruner={search.pruner} is not a pruner here; use one of {', '.join(PRUNERS)}.")


def retry_trials_of_dead_workers(study: optuna.Study) -> None:
    """Trials left 'running' by a worker of this machine that is gone (killed, crashed): failed, and queued again.
    (A journal file has no heartbeat; another machine's trials are that machine's workers' to judge.)"""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get(WORKER, "")).rpartition(":")
        # This very process cannot have left it: a pid of ours is another, older process's, reused.
        gone = pid.isdigit() and (int(pid) == os.getpid() or not process_alive(int(pid)))
        if worker_host != host or not gone:
            continue
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        if "retry_of" in trial.user_attrs:  # it ran again already, and its worker stopped again
            log.warning(
                f"Trial {trial.number}, a second try of trial {trial.user_attrs['retry_of']}, was cut short too."
            )
            continue
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        log.warning(f"Trial {trial.number} was left unfinished by a worker that stopped; its settings run again.")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal, only the question whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def failed_since(study: optuna.Study, first: int) -> int:
    """Trials numbered `first` or later that failed: this command's, when `first` is where it began."""
    return sum(trial.number >= first for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))


@contextlib.contextmanager
def log_into(path: Path):
    """Also write the log to `path` while the block runs: a trial's train.log in its own folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def write_results(study: optuna.Study, folder: Path, monitor: str, fixed: list[str], plots: bool = True) -> None:
    """search_summary.csv and .md (a row per trial), best_settings.yaml, and Optuna's plots, in `folder`."""
    trials = study.get_trials(deepcopy=False)
    if not trials:
        return
    keys = list(dict.fromkeys(key for trial in trials for key in trial.params))
    columns = ["trial", "state", monitor, "validations", *keys]
    rows = [[t.number, t.state.name.lower(), reported_value(t), len(t.intermediate_values)] for t in trials]
    rows = [row + [t.params.get(key, "") for key in keys] for row, t in zip(rows, trials, strict=True)]
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "search_summary.csv").open("w", newline="") as f:
        csv.writer(f).writerows([columns, *rows])
    saving = pruning_saving(trials)
    (folder / "search_summary.md").write_text(markdown_table(columns, rows) + "\n" + saving + "\n")
    if not plots:  # after each trial: the table only
        return
    log.info(f"The study's trials ({len(trials)}): {folder / 'search_summary.md'}. {saving}")
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        overrides = [*fixed, *as_overrides(best.params)]
        result = {"trial": best.number, monitor: best.value, "overrides": overrides}
        (folder / "best_settings.yaml").write_text(yaml.safe_dump(result, sort_keys=False))
        log.info(f"Best: trial {best.number}, {monitor}={best.value:.4g}: python train.py {' '.join(overrides)}")
        save_plots(study, folder, monitor, importances=len({t.value for t in complete}) > 2)


def reported_value(trial) -> float | str:
    """A complete trial's value (its best); a pruned one's last report; nothing for a failed one."""
    if trial.value is not None:
        return trial.value
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        return trial.intermediate_values[max(trial.intermediate_values)]
    return ""


def pruning_saving(trials: list) -> str:
    """How much training the pruner saved, in trials' worth: the validations the pruned trials did not run."""
    full = max((len(t.intermediate_values) for t in trials if t.state == TrialState.COMPLETE), default=0)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    if not full:
        return "No trial has run to its end yet."
    saved = sum(max(0, full - len(t.intermediate_values)) for t in pruned) / full
    return (
        f"Pruning stopped {len(pruned)} of {len(trials)} trials early, which saved {saved:.1f} trials' worth of "
        f"training (a whole trial reports {full} validation{'s' if full > 1 else ''})."
    )


def save_plots(study: optuna.Study, folder: Path, monitor: str, importances: bool) -> None:
    """optimization_history.png (each trial's value, and the best so far) and, once three complete trials
    differ in value (fewer say nothing about which setting matters), param_importances.png."""
    import matplotlib

    matplotlib.use("Agg")  # files, no window
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    drawn = {"optimization_history": plots.plot_optimization_history}
    if importances:
        drawn["param_importances"] = plots.plot_param_importances
    for name, plot in drawn.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. that importances are equal among very few trials
                axes = plot(study, target_name=monitor)
        except (ValueError, RuntimeError) as error:  # e.g. a study without a complete trial
            log.info(f"No {name}.png yet: {error}")
            continue
        axes.figure.set_size_inches(8, 5)
        axes.figure.tight_layout()
        axes.figure.savefig(folder / f"{name}.png", dpi=120)
        plt.close(axes.figure)
