"""Every command in README.md, run as a learner would run it (with the paths made temporary)."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import yaml

from .conftest import ROOT

RENDER_AND_TRAIN = [
    "python -m pip install copier",
    'copier copy --defaults --data-file presets/mnist.yml "$PWD" ../my-mnist',  # also run by tests/test_update.py
    "cd ../my-mnist",
    "python -m pip install torch --index-url https://download.pytorch.org/whl/cpu",
    'python -m pip install -e ".[dev]"',
    "python train.py",
]
COPY_AT_A_TAG = ["copier copy --vcs-ref v0.2.0 --defaults -d capstone=mnist gh:OWNER/deep-capstone my-mnist"]
TEST_THE_TEMPLATE = ["python -m pip install --group dev", "python -m pytest"]
UPDATE = ["copier update --defaults"]  # run by tests/test_update.py
RELEASE = ["git tag v0.2.0", "git push origin v0.2.0"]  # run by tests/test_update.py, into a local origin


def readme_commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    return [[line.strip() for line in block.splitlines() if line.strip()] for block in blocks]


def test_the_readme_shows_exactly_the_commands_these_tests_run():
    assert readme_commands() == [RENDER_AND_TRAIN, COPY_AT_A_TAG, TEST_THE_TEMPLATE, UPDATE, RELEASE]


def test_ci_runs_the_readme_test_commands():
    ci = (ROOT / ".ci/run").read_text().splitlines()
    assert all(command in ci for command in TEST_THE_TEMPLATE)


def clone_of_this_checkout(dst: Path) -> Path:
    """This checkout, uncommitted changes included, as a fresh git repository: one commit, no tags."""
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "bench"))
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "this checkout"]):
        subprocess.run(["git", *command], cwd=dst, check=True, capture_output=True)
    return dst


def run(command: str, cwd, python=sys.executable) -> subprocess.CompletedProcess:
    """Run a README command as bash would: "$PWD" is the folder it runs in; python and copier are `python`'s."""
    args = shlex.split(command.replace('"$PWD"', shlex.quote(str(cwd))))
    if args[0] == "python":
        args[0] = str(python)
    elif args[0] == "copier":
        args = [str(python), "-m", "copier", *args[1:]]
    # The PyTorch index cannot be reached here: pip would try it five more times, 8 s of back-off, before it
    # settles for the torch that is installed. A learner's pip, which reaches it, asks once.
    env = {**os.environ, "PIP_RETRIES": "0"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_render_install_and_train_as_the_readme_says(tmp_path):
    install_copier, copy, cd, install_torch, install, train = RENDER_AND_TRAIN
    run(install_copier, cwd=tmp_path)  # already there: pip only checks
    # In a clone of the template (this checkout, untagged: copier would take a release tag over the work tree).
    template = clone_of_this_checkout(tmp_path / "deep-capstone")
    run(copy, cwd=template)
    project = tmp_path / "my-mnist"
    assert cd == "cd ../my-mnist" and (project / "train.py").is_file()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_src_path"] == str(template)

    # A fresh virtual environment that sees this one's packages, so the install adds only the project.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = env_dir / "bin" / "python"
    # torch is there already (the CPU build, as on CI): pip keeps it and downloads no torch.
    installed_torch = run(install_torch, cwd=project, python=python).stdout
    assert "Requirement already satisfied: torch" in installed_torch and "Downloading torch" not in installed_torch
    run(install, cwd=project, python=python)
    installed = run("python -c 'import mnist_digits; print(mnist_digits.__file__)'", project, python).stdout
    assert str(project / "src") in installed

    # No network in tests: a fake MNIST in the real format lies where the real one would be
    # downloaded, and data.fixture=true says so (without it, train.py refuses files whose md5 is not
    # the official one). Everything else is the default recipe.
    fixtures = "from mnist_digits.fixtures import write_fake_mnist; write_fake_mnist('data/mnist', n_train=5600)"
    run(f'python -c "{fixtures}"', cwd=project, python=python)
    run(f"{train} data.fixture=true", cwd=project, python=python)
    runs = list((project / "runs").glob("*/checkpoints/best.pt"))
    assert len(runs) == 1
    config = yaml.safe_load((runs[0].parent.parent / "config.yaml").read_text())
    assert config["data"]["root"] == "data/mnist" and config["trainer"]["max_epochs"] == 2
