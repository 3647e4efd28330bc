"""The rendered repositories: the right files, valid Python and YAML, composable configs, lint-clean."""

import ast
import subprocess
import sys

import pytest
import yaml
from hydra import compose, initialize_config_dir

from .conftest import render

SHARED_FILES = {
    ".copier-answers.yml",
    ".github/workflows/ci.yml",
    ".gitignore",
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "train.py",
    "evaluate.py",
    "configs/train.yaml",
    "configs/eval.yaml",
    "configs/optim/adamw.yaml",
    "configs/optim/sgd.yaml",
    "configs/trainer/default.yaml",
    "configs/logger/csv.yaml",
    "configs/experiment/best.yaml",
    "configs/debug/smoke.yaml",
    "configs/debug/overfit.yaml",
    "configs/debug/profile.yaml",
    "tests/conftest.py",
    "tests/test_commands.py",
    "tests/test_download.py",
    "tests/test_training.py",
}
SHARED_MODULES = "__init__ batches checkpoint curves data download errors evaluation fixtures loop metrics_csv"
SHARED_MODULES += " model optim plots runtime task"


def package_files(package: str, modules: str) -> set[str]:
    return {f"src/{package}/{name}.py" for name in f"{SHARED_MODULES} {modules}".split()}


FILES = {
    "mnist": SHARED_FILES
    | package_files("mnist_digits", "")
    | {"configs/data/mnist.yaml", "configs/model/cnn.yaml", "configs/model/mlp.yaml", "tests/test_mnist_data.py"},
    "camvid": SHARED_FILES
    | package_files("camvid_segmentation", "archive augment classes prediction")
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
    "imdb": SHARED_FILES
    | package_files("imdb_sentiment", "archive predict text")
    | {
        "predict.py",
        "configs/data/imdb.yaml",
        "configs/model/bag.yaml",
        "configs/model/lstm.yaml",
        "configs/experiment/lstm.yaml",
        "tests/test_imdb_data.py",
        "tests/test_predict.py",
    },
}
# Config overrides that must compose, per capstone (beyond the debug modes and the recipe).
OVERRIDES = {
    "mnist": ["model=mlp", "optim=sgd"],
    "camvid": ["model=light", "optim=sgd"],
    "imdb": ["model=lstm", "optim=sgd"],
}


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


def test_every_python_file_parses_and_every_yaml_file_loads(capstone_repo):
    _, repo = capstone_repo
    for path in repo.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    for path in [*repo.rglob("*.yaml"), *repo.rglob("*.yml")]:
        assert yaml.safe_load(path.read_text()) is not None, path


@pytest.mark.parametrize("overrides", [[], ["experiment=best"], ["debug=smoke"], ["debug=overfit"], ["debug=profile"]])
def test_hydra_composes_the_training_config(capstone_repo, overrides):
    capstone, repo = capstone_repo
    for extra in ([], OVERRIDES[capstone]):
        with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
            cfg = compose("train", overrides=[*overrides, *extra])
        assert cfg.data.batch_size > 0 and cfg.trainer.max_epochs > 0
        assert (repo / "configs/model" / f"{cfg.model.name}.yaml").is_file()


def test_every_experiment_recipe_composes(capstone_repo):
    _, repo = capstone_repo
    recipes = sorted(path.stem for path in (repo / "configs/experiment").glob("*.yaml"))
    assert "best" in recipes
    for recipe in recipes:
        with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
            cfg = compose("train", overrides=[f"experiment={recipe}"])
        assert (repo / "configs/model" / f"{cfg.model.name}.yaml").is_file(), recipe


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


def test_no_license_renders_no_license_file(tmp_path):
    repo = render(tmp_path / "repo", license="none")
    assert not (repo / "LICENSE").exists()
    assert "license" not in (repo / "pyproject.toml").read_text()


def test_the_answers_reach_the_configs(tmp_path):
    repo = render(tmp_path / "repo", model="mlp", max_epochs=7, batch_size=64, package_name="digits")
    train_cfg = yaml.safe_load((repo / "configs/train.yaml").read_text())
    assert "model: mlp" in (repo / "configs/train.yaml").read_text()
    assert train_cfg["trainer"]["max_epochs"] == 7 and train_cfg["data"]["batch_size"] == 64
    assert (repo / "src/digits/loop.py").is_file()
    assert "from digits.loop import train" in (repo / "train.py").read_text()


def test_the_github_workflow_lints_and_tests_with_tools_the_repo_installs(mnist_repo):
    workflow = yaml.safe_load((mnist_repo / ".github/workflows/ci.yml").read_text())
    commands = "\n".join(step.get("run", "") for step in workflow["jobs"]["test"]["steps"])
    for command in ('pip install -e ".[dev]"', "ruff check .", "ruff format --check .", "python -m pytest"):
        assert command in commands
    pyproject = (mnist_repo / "pyproject.toml").read_text()
    assert 'dev = ["pytest' in pyproject and "ruff" in pyproject
    python = next(s["with"]["python-version"] for s in workflow["jobs"]["test"]["steps"] if "with" in s)
    assert python == yaml.safe_load((mnist_repo / ".copier-answers.yml").read_text())["python_version"]
