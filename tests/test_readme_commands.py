"""Every command a rendered README shows, run in that rendered repo as a learner would type it.

Commands that train run at smoke size (`debug=smoke` added, on the tiny fixture data): the point is
that the command as printed is accepted and its whole path runs, not the recipe's score (that is
bench/'s job). The `train.py`, `search.py`, `evaluate.py` and `predict.py` commands of one README run
one after another in one Python process, each through its script's own `main` with its own argv,
which saves the ~3 s start-up of each; `torchrun`'s, and predict.py on a photo that the smoke run
writes, run as processes of their own.

A command that cannot run on a machine without a network, a GPU cluster or a second machine is
listed in NOT_HERE with the reason, and what runs in its place; any other command this test does
not know how to run fails it, so a new README line cannot go untested.
"""

import ast
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

from .conftest import CAPSTONES, python_env, run_in_one_process
from .test_readme import RENDER_AND_TRAIN

# What cannot run here, and why: the reason is printed, and the rest of the line is still checked
# to be a known command (so the list cannot hide a typo).
NOT_HERE = {
    "wandb login": "logs in to wandb.ai (no network here); logger=wandb below runs offline without it",
    "--nnodes=2": "a second machine must join; the one-machine torchrun line runs instead",
}
# Shown but not sent: submitting needs a SLURM cluster, so the sweep's first job is composed with that
# launcher and its Hydra config checked (tests/test_sweeps.py checks the launcher's resources).
# The first line of every quick start where there is no GPU: the template README's own line, which
# tests/test_readme.py runs (pip keeps the CPU torch that is here and downloads nothing).
CPU_TORCH = next(shlex.split(line) for line in RENDER_AND_TRAIN if " install torch " in line)
# Added to a train.py command that does not pick a debug mode itself: a few steps on fixture data.
SMOKE = ["debug=smoke"]
# Added to a command that picks its own debug mode (debug=overfit trains 100 epochs otherwise).
SHORT = ["trainer.max_steps=3", "data.root=data/smoke", "data.fixture=true"]


def readme_commands(repo: Path) -> list[list[str]]:
    """The README's bash blocks, a command per line, without their comments."""
    blocks = re.findall(r"^```bash\n(.*?)^```", (repo / "README.md").read_text(), flags=re.DOTALL | re.MULTILINE)
    lines = [line for block in blocks for line in block.splitlines()]
    return [shlex.split(line, comments=True) for line in lines if line.strip()]


def not_here(command: list[str]) -> str | None:
    line = " ".join(command)
    return next((reason for words, reason in NOT_HERE.items() if words in line), None)


def smoke_args(repo: Path, args: list[str]) -> list[str]:
    """A train.py command's overrides at smoke size."""
    if "debug=smoke" in args:
        extra = []
    elif any(arg.startswith("debug=") for arg in args):
        extra = list(SHORT)
        if any("val_size:" in data.read_text() for data in (repo / "configs/data").glob("*.yaml")):
            # The fixture's hundred-odd examples: some left to train on, and a batch that fits in them.
            extra += ["data.val_size=16", "data.batch_size=16"]
    else:
        extra = list(SMOKE)
    if "experiment=atari" in args:  # one PPO update (8 games x 128 steps), evaluated on short games, not whole ones
        extra += ["trainer.total_steps=1024", "trainer.eval_every=1024", "env.max_frames_per_episode=1000"]
    return [*args, *extra]


def check_extra_install(repo: Path, command: list[str]) -> None:
    """`python -m pip install -e ".[extra]"`: the extra exists, and what of it this machine has is new enough.

    Installing is left to tests/test_readme.py (which installs the dev extra into a fresh venv): these
    tests reach no package index. Each requirement must parse, and where its package is installed (the
    template's test stack installs the wandb, optuna and slurm extras' packages), its version must fit.
    """
    (target,) = [word for word in command[4:] if not word.startswith("-")]
    match = re.fullmatch(r"\.\[(\w+)\]", target)
    assert match, f"{shlex.join(command)}: expected a local editable install with one extra"
    extras = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert match[1] in extras, f"{shlex.join(command)}: pyproject.toml has no extra {match[1]!r}"
    for requirement in map(Requirement, extras[match[1]]):
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement} but {version} is here"


def check_uv_sync(repo: Path, command: list[str]) -> None:
    """`uv sync --extra dev --extra X`: the extras exist. tests/test_uv.py runs `uv sync --extra dev` itself."""
    extras = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = [command[i + 1] for i, word in enumerate(command) if word == "--extra"]
    assert named and set(named) <= set(extras) and len(command) == 2 + 2 * len(named), shlex.join(command)


def check_demo_settings(repo: Path, command: list[str]) -> None:
    """`python demo.py key=value ...`: each setting is one demo.py takes. The pages themselves are served,
    and used in a browser, by tests/test_demo_pages.py (a server that runs until stopped has no place here)."""
    (source,) = repo.glob("src/*/plumbing/demo_page.py")
    settings = next(
        node.value
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SETTINGS"
    )
    known = {key.value for key in settings.keys}
    for word in command[2:]:
        assert word.partition("=")[0] in known, f"{shlex.join(command)}: demo.py takes no {word!r}"


def run_process(args: list[str], repo: Path, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{shlex.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def sample_photo(repo: Path, cwd: Path) -> Path:
    """A street photo for predict.py: one of the smoke run's fixture photos."""
    photos = sorted((cwd / "data/smoke").rglob("*.png"))
    assert photos, "the smoke run wrote no fixture photos"
    return next(photo for photo in photos if "annot" not in photo.parent.name)


@pytest.mark.slow
@pytest.mark.parametrize("capstone", CAPSTONES)
def test_every_command_the_readme_shows_runs(rendered, tmp_path, capstone):
    repo = rendered(capstone)
    workspace = tmp_path / "workspace"  # the learner's clone: the commands write runs/ and data/ here
    workspace.mkdir()
    for name in ("train.py", "evaluate.py", "predict.py", "search.py", "configs"):
        if (repo / name).exists():
            (workspace / name).symlink_to(repo / name)
    env = {**python_env(repo), "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wandb")}
    env |= {"WANDB_CACHE_DIR": str(tmp_path / "wandb"), "WANDB_CONFIG_DIR": str(tmp_path / "wandb")}

    commands = [command[2:] if command[:2] == ["uv", "run"] else command for command in readme_commands(repo)]
    trains, composed, later, skipped = [], [], [], []
    for command in commands:  # `uv run python ...` runs as `python ...` here: tests/test_uv.py runs uv itself
        if reason := not_here(command):
            skipped.append(f"{shlex.join(command)}: {reason}")
        elif command == CPU_TORCH:
            continue  # run by tests/test_readme.py
        elif command[:5] == ["python", "-m", "pip", "install", "-e"]:
            check_extra_install(repo, command)
        elif command[:2] == ["uv", "sync"]:
            check_uv_sync(repo, command)
        elif (
            command[:2] in (["python", "train.py"], ["python", "search.py"])
            and "hydra/launcher=submitit_slurm" in command
        ):
            # No SLURM cluster here: the first job of the sweep, its Hydra config printed, must use the
            # launcher of submitit's SLURM plugin.
            composed.append(len(trains))
            trains.append(
                [command[1], *(arg.split(",")[0] for arg in command[2:] if arg != "-m"), *SMOKE, "--cfg", "hydra"]
            )
        elif command[:2] == ["python", "search.py"]:
            trains.append(["search.py", *smoke_args(repo, command[2:]), "hparams_search.n_trials=2"])
        elif command[:2] == ["python", "train.py"]:
            args = smoke_args(repo, command[2:])
            if "resume=true" in args:
                trains.append(["train.py", *SMOKE])  # a run to continue: the latest, with the same settings
            trains.append(["train.py", *args])
        elif command[:2] == ["python", "demo.py"]:
            check_demo_settings(repo, command)
        elif command[0] == "torchrun" or command[:2] in (["python", "evaluate.py"], ["python", "predict.py"]):
            later.append(command)  # they need the smoke run's checkpoint or processes of their own
        else:
            pytest.fail(f"{shlex.join(command)}: a README command this test does not know how to run")
    assert trains[0] == ["train.py", *SMOKE], "the README's first training command is the smoke run"
    # The smoke run, which the README's next commands use, in a folder named in advance: then evaluate.py
    # and predict.py run in the same process as the training commands, after them.
    first_run = "runs/smoke"
    trains[0] = [*trains[0], f"hydra.run.dir={first_run}"]
    after, processes = [], []  # commands that need a fixture photo, which the smoke run writes; torchrun
    for command in later:
        line = shlex.join(command).replace("runs/<date>_<time>", first_run)
        if command[0] == "torchrun":
            # Two processes on this 2-core machine, whatever the README's GPU count.
            args = [re.sub(r"^--nproc_per_node=\d+$", "--nproc_per_node=2", arg) for arg in shlex.split(line)[1:]]
            processes.append([sys.executable, "-m", "torch.distributed.run", *args, *SMOKE])
        elif "my_street.jpg" in line:
            after.append(line)
        else:
            trains.append(shlex.split(line)[1:])

    ran = run_in_one_process(trains, cwd=workspace, env=env)
    failed = [
        f"python {shlex.join(trains[number])} exited {status}:\n{output[-2000:]}"
        for number, (status, output) in enumerate(ran)
        if status != 0
    ]
    assert not failed, "\n\n".join(failed)
    for number in composed:
        assert "submitit_launcher.SlurmLauncher" in ran[number][1], ran[number][1][-3000:]

    for line in after:
        args = shlex.split(line.replace("my_street.jpg", str(sample_photo(repo, workspace))))
        run_process([sys.executable, *args[1:]], repo, workspace, env)
    for args in processes:
        run_process(args, repo, workspace, env)
    if skipped:
        print("Not run here:", *skipped, sep="\n  ")


def test_not_here_names_only_lines_some_readme_shows(rendered):
    """An entry of NOT_HERE that no README shows any more would hide nothing: drop it."""
    lines = {" ".join(command) for capstone in CAPSTONES for command in readme_commands(rendered(capstone))}
    assert all(any(words in line for line in lines) for words in NOT_HERE)
