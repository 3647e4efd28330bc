"""Rendering the template for the tests: one render per session, shared by the tests that only read it."""

import os
from pathlib import Path

import pytest
import yaml
from copier import run_copy

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "presets"


def load_preset(capstone: str) -> dict:
    return yaml.safe_load((PRESETS / f"{capstone}.yml").read_text())


def render(dst: Path, preset: str = "mnist", **answers) -> Path:
    """Render presets/<preset>.yml, with `answers` changed, into `dst`, as `copier copy --defaults` does."""
    run_copy(str(ROOT), dst, data={**load_preset(preset), **answers}, defaults=True, quiet=True, unsafe=False)
    return dst


CAPSTONES = ("mnist", "camvid", "imdb", "rl")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """rendered(capstone, **answers): that capstone's preset with `answers` changed, rendered once per session."""
    repos = {}

    def get(capstone: str, **answers) -> Path:
        key = (capstone, *sorted(answers.items()))
        if key not in repos:
            folder = tmp_path_factory.mktemp("render") / load_preset(capstone)["project_name"]
            repos[key] = render(folder, capstone, **answers)
        return repos[key]

    return get


@pytest.fixture(scope="session")
def mnist_repo(rendered) -> Path:
    return rendered("mnist")


@pytest.fixture(params=CAPSTONES)
def capstone_repo(request, rendered) -> tuple[str, Path]:
    """Each capstone's rendered repo in turn: (capstone, repo)."""
    return request.param, rendered(request.param)


@pytest.fixture(autouse=True)
def git_identity(monkeypatch):
    """Copier and the update test commit with git; give git a name without touching the user's config."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "deep-capstone tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tests@deep-capstone.invalid")


def python_env(repo: Path) -> dict:
    """The environment for running a rendered repo's commands without installing it."""
    return {**os.environ, "PYTHONPATH": str(repo / "src")}
