"""What the benchmarks share: rendering the current template, its config and code, the real data."""

import importlib
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parent.parent
# Real MNIST training files, beside this checkout on the development machines (never used by tests).
DEFAULT_MNIST = REPO.parent / "shared" / "datasets" / "mnist" / "raw"


def render(dest: Path, preset: str = "mnist") -> Path:
    """Render a preset from this checkout (uncommitted changes included) into `dest`."""
    preset_file = REPO / f"presets/{preset}.yml"
    command = [sys.executable, "-m", "copier", "copy", "-q", "--defaults", "--data-file", str(preset_file)]
    subprocess.run([*command, str(REPO), str(dest)], check=True)
    return dest


def compose_train(repo: Path, overrides: list[str]):
    """The rendered repo's configs/train.yaml with `overrides`, as `python train.py` would compose it."""
    with initialize_config_dir(config_dir=str(repo / "configs"), version_base="1.3"):
        return compose("train", overrides=overrides)


def import_rendered(repo: Path, package: str, *modules: str):
    """Import modules of a rendered package in this process: the benchmarks time the real code."""
    if str(repo / "src") not in sys.path:
        sys.path.insert(0, str(repo / "src"))
    return [importlib.import_module(f"{package}.{module}") for module in modules]
