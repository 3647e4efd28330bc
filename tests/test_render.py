"""The rendered repositories: the right files, valid Python and YAML, composable configs, lint-clean."""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from .conftest import render

COMMON_FILES = {
    ".copier-answers.yml",
    ".github/workflows/ci.yml",
    ".gitignore",
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "train.py",
    "evaluate.py",
    "search.py",
    "demo.py",
    "configs/train.yaml",
    "configs/search.yaml",
    "configs/eval.yaml",
    "configs/logger/csv.yaml",
    "configs/logger/wandb.yaml",
    "configs/debug/smoke.yaml",
    "configs/hparams_search/optuna.yaml",
    "configs/hydra/launcher/submitit_slurm.yaml",
    "notebooks/capstone.ipynb",
    "tests/conftest.py",
    "tests/test_commands.py",
    "tests/test_training.py",
    "tests/test_checkpoint.py",
    "tests/test_files.py",
    "tests/test_demo_page.py",
    "tests/disks.py",
    "CITATION.cff",
    ".pre-commit-config.yaml",
    "Makefile",
}
SUPERVISED_FILES = COMMON_FILES | {
    "configs/optim/adamw.yaml",
    "configs/optim/sgd.yaml",
    "configs/trainer/default.yaml",
    "configs/trainer/ddp.yaml",
    "configs/experiment/best.yaml",
    "configs/debug/overfit.yaml",
    "configs/debug/profile.yaml",
    "tests/test_download.py",
}
# The lesson at the top of src/<package>/; the plumbing of every run one level down, in plumbing/.
SUPERVISED_MODULES = "__init__ batches curves data evaluation fixtures loop model optim plots task"
PLUMBING = "plumbing/__init__ plumbing/checkpoint plumbing/demo_page plumbing/demo_screenshot plumbing/errors"
PLUMBING += " plumbing/files"
PLUMBING += " plumbing/metrics_csv"
PLUMBING += " plumbing/overrides plumbing/report plumbing/run_folder plumbing/run_paths plumbing/runtime"
PLUMBING += " plumbing/study plumbing/sweep"
PLUMBING += " plumbing/tracking"
SUPERVISED_MODULES += f" {PLUMBING} plumbing/distributed plumbing/download plumbing/mixed_precision plumbing/settings"
SUPERVISED_MODULES += " plumbing/training_run"
RL_MODULES = (
    "__init__ alphazero connect_four demo dqn envs evaluation gif ladder minimax networks play plots ppo training"
)
RL_MODULES += f" {PLUMBING} plumbing/training_run"


def package_files(package: str, modules: str) -> set[str]:
    return {f"src/{package}/{name}.py" for name in modules.split()}


FILES = {
    "mnist": SUPERVISED_FILES
    | package_files("mnist_digits", f"{SUPERVISED_MODULES} demo prediction")
    | {
        "configs/data/mnist.yaml",
        "configs/model/cnn.yaml",
        "configs/model/mlp.yaml",
        "tests/test_mnist_data.py",
        "tests/test_prediction.py",
    },
    "camvid": SUPERVISED_FILES
    | package_files("camvid_segmentation", f"{SUPERVISED_MODULES} plumbing/archive augment classes demo prediction")
    | {
        "src/camvid_segmentation/camvid_manifest.tsv",
        "predict.py",
        "configs/data/camvid.yaml",
        "configs/model/unet.yaml",
        "configs/model/light.yaml",
        "tests/test_camvid_data.py",
        "tests/test_camvid_metrics.py",
        "tests/test_predict.py",
    },
    "imdb": SUPERVISED_FILES
    | package_files("imdb_sentiment", f"{SUPERVISED_MODULES} plumbing/archive demo explain movies predict text")
    | {
        "predict.py",
        "configs/data/imdb.yaml",
        "configs/model/bag.yaml",
        "configs/model/naive_bayes.yaml",
        "configs/model/ensemble.yaml",
        "configs/model/lstm.yaml",
        "configs/experiment/bag.yaml",
        "configs/experiment/lstm.yaml",
        "tests/test_imdb_data.py",
        "tests/test_naive_bayes.py",
        "tests/test_predict.py",
        "tests/test_explain.py",
    },
    "rl": COMMON_FILES
    | package_files("rl_agent", RL_MODULES)
    | {
        "configs/algo/dqn.yaml",
        "configs/algo/ppo.yaml",
        "configs/algo/alphazero.yaml",
        "configs/env/cartpole.yaml",
        "configs/env/atari.yaml",
        "configs/env/connect_four.yaml",
        "configs/experiment/cartpole_dqn.yaml",
        "configs/experiment/cartpole_ppo.yaml",
        "configs/experiment/connect_four.yaml",
        "configs/experiment/connect_four_dqn.yaml",
        "configs/experiment/atari.yaml",
        "configs/experiment/atari_dqn.yaml",
        "configs/experiment/atari_cpu.yaml",
        "tests/test_connect_four.py",
        "tests/test_ladder.py",
        "tests/test_alphazero.py",
        "tests/test_gif.py",
        "tests/test_atari.py",
    },
}
SUPERVISED_MODES = [[], ["experiment=best"], ["debug=smoke"], ["debug=overfit"], ["debug=profile"]]
# Config overrides that must compose, per capstone, each alone and on top of each mode.
OVERRIDES = {
    "mnist": ["model=mlp", "optim=sgd", "logger=wandb"],
    "camvid": ["model=light", "optim=sgd"],
    "imdb": ["model=lstm", "model=naive_bayes", "model=ensemble", "optim=sgd"],
    "rl": ["algo=dqn", "env=connect_four", "experiment=connect_four_dqn", "logger=wandb"],
}
MODES = {"mnist": SUPERVISED_MODES, "camvid": SUPERVISED_MODES, "imdb": SUPERVISED_MODES, "rl": [[], ["debug=smoke"]]}


def files_of(repo):
    return {str(path.relative_to(repo)) for path in repo.rglob("*") if path.is_file()}


def test_exactly_the_capstones_files_are_rendered(capstone_repo):
    capstone, repo = capstone_repo
    assert files_of(repo) == FILES[capstone]


def test_no_template_syntax_is_left(capstone_repo):
    _, repo = capstone_repo
    for name in files_of(repo):
        text = (repo / name).read_text()
        assert "{{" not in text and "{%" not in text and "jinja" not in name, name


# Words that belong to one capstone (its data set, model, environment); another capstone's render must
# not contain them. GIFs are the rl capstone's (its agent playing); the others draw PNGs.
OWN_WORDS = {
    "mnist": r"\bmnist\b|\bdigits?\b|handwrit",
    "camvid": r"camvid|segmentation|\bmiou\b|u-net|\bunet\b",
    "imdb": r"\bimdb\b|\breviews?\b|vocabular|sentiment|tokeni[sz]",
    "rl": r"cartpole|gymnasium|\bepisodes?\b|\bppo\b|\bdqn\b|atari|connect four|frogger|\bgifs?\b",
}


def test_a_render_names_no_other_capstone(capstone_repo):
    """A rendered repo holds only its capstone: no other capstone's data, model or environment in any file."""
    capstone, repo = capstone_repo
    leaks = []
    for name in sorted(files_of(repo)):
        if Path(name).suffix in {".png", ".gif", ".pt", ".gz"}:
            continue
        for number, line in enumerate((repo / name).read_text().splitlines(), start=1):
            for other, words in OWN_WORDS.items():
                if other != capstone and re.search(words, line, flags=re.IGNORECASE):
                    leaks.append(f"{name}:{number}: [{other}] {line.strip()}")
    assert not leaks, "\n".join(leaks)


def test_every_python_file_parses_and_every_yaml_file_loads(capstone_repo):
    _, repo = capstone_repo
    for path in repo.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    for path in [*repo.rglob("*.yaml"), *repo.rglob("*.yml")]:
        assert yaml.safe_load(path.read_text()) is not None, path


def test_hydra_composes_the_training_config(capstone_repo):
    capstone, repo = capstone_repo
    for mode in MODES[capstone]:
        for extra in ([], OVERRIDES[capstone]):
            with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
                cfg = compose("train", overrides=[*mode, *extra])
            if capstone == "rl":
                assert cfg.trainer.total_steps > 0 and (repo / "configs/algo" / f"{cfg.algo.name}.yaml").is_file()
            else:
                assert cfg.data.batch_size > 0 and cfg.trainer.max_epochs > 0
                assert (repo / "configs/model" / f"{cfg.model.name}.yaml").is_file()


def test_every_experiment_recipe_composes(capstone_repo):
    capstone, repo = capstone_repo
    recipes = sorted(path.stem for path in (repo / "configs/experiment").glob("*.yaml"))
    assert recipes and ("best" in recipes or capstone == "rl")
    for recipe in recipes:
        with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
            cfg = compose("train", overrides=[f"experiment={recipe}"])
        group, name = ("algo", cfg.algo.name) if capstone == "rl" else ("model", cfg.model.name)
        assert (repo / "configs" / group / f"{name}.yaml").is_file(), recipe


def test_hydra_composes_the_evaluation_config(capstone_repo):
    _, repo = capstone_repo
    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        cfg = compose("eval", overrides=["ckpt=runs/x/checkpoints/best.pt"])
    assert cfg.ckpt.endswith("best.pt")


def test_the_rendered_repo_is_lint_clean(capstone_repo):
    _, repo = capstone_repo
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", "."], cwd=repo, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


# What vulture cannot see being used: methods and attributes that PyTorch, Lightning, Hydra, Gymnasium
# or http.server call by name, and arguments that their callback signatures require.
CALLED_BY_NAME = [
    "forward",  # nn.Module.__call__
    "training_step",  # Lightning's LightningModule and LightningDataModule
    "validation_step",
    "on_validation_epoch_end",
    "configure_optimizers",
    "on_save_checkpoint",
    "on_load_checkpoint",
    "setup",
    "train_dataloader",
    "val_dataloader",
    "on_train_batch_end",  # Lightning callbacks
    "on_train_batch_start",
    "on_validation_end",
    "should_stop",
    "FILE_EXTENSION",
    "version",  # Lightning's Logger
    "save_dir",
    "log_hyperparams",
    "log_metrics",
    "SweepSummary",  # Hydra callbacks, named in configs/train.yaml
    "on_multirun_end",
    "one_thread",  # a pytest fixture with autouse=True (rendered rl tests/test_alphazero.py)
    "metadata",  # Gymnasium's vector environment
    "observation_space",
    "close_connection",  # http.server, in the download tests' local server
    "log_message",
    "linkname",  # tarfile.TarInfo, in a test's crafted archive
    "interrupted",  # runtime.StopRequest: the Lightning engine reads it
    "is_template",  # Gradio reads it from a component subclass that its parent's widget draws (the demo pages)
    "binary_location",  # Selenium's ChromeOptions: which browser demo.py screenshot= opens
]
SIGNATURE_ARGUMENTS = ["signum", "frame", "kwargs", "traceback", "batch_idx", "pl_module", "stage", "storage_options"]


def unused_code(repo: Path) -> str:
    """vulture's report of unused functions, classes, methods, variables and imports in a render ("" for none)."""
    python_files = [str(path.relative_to(repo)) for path in repo.glob("*.py")]
    ignored = ",".join(CALLED_BY_NAME + SIGNATURE_ARGUMENTS)
    command = [sys.executable, "-m", "vulture", "src", "tests", *python_files, "--min-confidence", "60"]
    result = subprocess.run([*command, "--ignore-names", ignored], cwd=repo, capture_output=True, text=True)
    return result.stdout + result.stderr if result.returncode else ""


def test_a_render_has_no_unused_code(capstone_repo):
    _, repo = capstone_repo
    assert not unused_code(repo)


def test_a_lightning_render_has_no_unused_code(rendered):
    assert not unused_code(rendered("mnist", engine="lightning"))


def test_the_answers_file_records_the_answers_for_copier_update(mnist_repo):
    answers = yaml.safe_load((mnist_repo / ".copier-answers.yml").read_text())
    assert answers["capstone"] == "mnist" and answers["package_name"] == "mnist_digits"
    assert "_src_path" in answers and "_commit" in answers
    assert "preset" not in answers and "presets" not in answers  # computed values are not stored


@pytest.mark.parametrize(
    ("license", "first_line"),
    [("MIT", "MIT License"), ("Apache-2.0", "Apache License"), ("BSD-3-Clause", "BSD 3-Clause License")],
)
def test_the_license_answer_picks_the_license_text(tmp_path, license, first_line):
    repo = render(tmp_path / "repo", license=license, author_name="Grace Hopper")
    text = (repo / "LICENSE").read_text()
    assert text.strip().startswith(first_line) and "Grace Hopper" in text
    assert f'license = "{license}"' in (repo / "pyproject.toml").read_text()
    citation = yaml.safe_load((repo / "CITATION.cff").read_text())
    assert citation["license"] == license and citation["authors"][0]["family-names"] == "Hopper"
    badge = f"https://img.shields.io/badge/license-{license.replace('-', '--')}-blue.svg"  # shields.io: "--" is a "-"
    assert badge in (repo / "README.md").read_text()


def test_no_license_renders_no_license_file(tmp_path):
    repo = render(tmp_path / "repo", license="none")
    assert not (repo / "LICENSE").exists()
    assert "license" not in (repo / "pyproject.toml").read_text()
    assert "license" not in yaml.safe_load((repo / "CITATION.cff").read_text())
    assert "badge/license" not in (repo / "README.md").read_text()


def test_the_answers_reach_the_configs(tmp_path):
    repo = render(tmp_path / "repo", model="mlp", max_epochs=7, batch_size=64, package_name="digits")
    train_cfg = yaml.safe_load((repo / "configs/train.yaml").read_text())
    assert "model: mlp" in (repo / "configs/train.yaml").read_text()
    assert train_cfg["trainer"]["max_epochs"] == 7 and train_cfg["data"]["batch_size"] == 64
    assert (repo / "src/digits/loop.py").is_file()
    assert "from digits.loop import train" in (repo / "train.py").read_text()


@pytest.mark.parametrize(
    ("env", "algo", "recipe_algo"),
    [
        ("cartpole", "dqn", "dqn"),
        ("connect_four", "ppo", "alphazero"),
        ("atari", "dqn", "dqn"),
        ("atari", "ppo", "ppo"),
    ],
)
def test_the_rl_answers_pick_the_environment_and_its_recipe(tmp_path, env, algo, recipe_algo):
    """CartPole trains the chosen algorithm; other environments start from their own recipe."""
    repo = render(tmp_path / "repo", "rl", env=env, algo=algo)
    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        cfg = compose("train")
    assert cfg.env.name == env and cfg.algo.name == recipe_algo
    answers = yaml.safe_load((repo / ".copier-answers.yml").read_text())
    assert answers["env"] == env and ("algo" in answers) == (env != "connect_four")
    assert "model" not in answers and "batch_size" not in answers  # supervised questions are not asked


def test_the_github_workflow_lints_and_tests_with_tools_the_repo_installs(mnist_repo):
    workflow = yaml.safe_load((mnist_repo / ".github/workflows/ci.yml").read_text())
    commands = "\n".join(step.get("run", "") for step in workflow["jobs"]["test"]["steps"])
    for command in ("uv sync --extra dev", "uv run ruff check .", "uv run ruff format --check .", "uv run python -m"):
        assert command in commands
    pyproject = (mnist_repo / "pyproject.toml").read_text()
    assert 'dev = ["pytest' in pyproject and "ruff" in pyproject
    python = next(s["with"]["python-version"] for s in workflow["jobs"]["test"]["steps"] if "with" in s)
    answers = yaml.safe_load((mnist_repo / ".copier-answers.yml").read_text())
    assert python == answers["python_version"]

    # The Makefile's shortcuts run the repo's own scripts, and `make lint` checks what CI checks.
    recipes, commands = {}, []
    for line in (mnist_repo / "Makefile").read_text().splitlines():
        if match := re.match(r"([a-z]+):", line):
            commands = recipes.setdefault(match[1], [])
        elif line.startswith("\t"):  # make wants a tab before each command
            commands.append(line.strip())
    assert {"train", "smoke", "evaluate", "search", "test", "lint", "format", "notebook"} <= recipes.keys()
    for name, lines in recipes.items():
        for path in re.findall(r"[\w/]+\.(?:py|ipynb)\b", " ".join(lines)):
            assert (mnist_repo / path).is_file(), (name, path)
    assert [line.replace("$(PYTHON) -m ", "") for line in recipes["lint"]] == ["ruff check .", "ruff format --check ."]
    if shutil.which("make"):
        ckpt = "CKPT=runs/x/checkpoints/best.pt"
        shown = subprocess.run(["make", "-n", "evaluate", ckpt], cwd=mnist_repo, capture_output=True, text=True)
        assert "python evaluate.py ckpt=runs/x/checkpoints/best.pt" in shown.stdout, shown.stderr

    # pre-commit: local hooks running the dev extra's ruff and nbstripout (tests/test_pre_commit_offline.py commits).
    config = yaml.safe_load((mnist_repo / ".pre-commit-config.yaml").read_text())
    hooks = [hook["id"] for repo in config["repos"] for hook in repo["hooks"]]
    assert hooks == ["ruff-check", "ruff-format", "nbstripout"]

    # CITATION.cff: the keys CFF 1.2.0 requires, from the answers.
    citation = yaml.safe_load((mnist_repo / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["message"] and citation["version"] == "0.1.0"
    assert citation["title"] == answers["project_name"] and citation["license"] == answers["license"]
    (author,) = citation["authors"]
    assert f"{author['given-names']} {author['family-names']}" == answers["author_name"]
    assert author["email"] == answers["author_email"]
    github = f"https://github.com/{answers['github_user']}/{answers['project_name']}"
    assert citation["repository-code"] == github
    badge = f"[![CI]({github}/actions/workflows/ci.yml/badge.svg)]({github}/actions/workflows/ci.yml)"
    assert badge in (mnist_repo / "README.md").read_text()
