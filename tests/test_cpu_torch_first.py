"""Every install instruction puts the CPU build of torch before the project, whose install would bring CUDA's."""

import re

import pytest
import tomllib

from .conftest import CAPSTONES, ROOT
from .test_readme import RENDER_AND_TRAIN

CPU_TORCH = "python -m pip install torch --index-url https://download.pytorch.org/whl/cpu"


def first_install_lines(readme: str) -> list[str]:
    """The `pip install` lines of a README's commands and prose, in the order a reader meets them."""
    return re.findall(r"python -m pip install [^`\n#]*", readme)


def test_the_template_readme_installs_cpu_torch_before_the_project():
    readme = (ROOT / "README.md").read_text()
    installs = [line.strip() for line in first_install_lines(readme) if "copier" not in line]
    assert installs[:2] == [CPU_TORCH, 'python -m pip install -e ".[dev]"']
    assert RENDER_AND_TRAIN.index(CPU_TORCH) < RENDER_AND_TRAIN.index('python -m pip install -e ".[dev]"')


@pytest.mark.parametrize("capstone", CAPSTONES)
def test_each_quick_start_installs_cpu_torch_before_the_project(rendered, capstone):
    """With uv, the quick start's first line: `uv sync` takes torch from PyTorch's CPU index, through the
    uv group that pyproject.toml adds by default. With pip, the CPU build first, then the project."""
    repo = rendered(capstone)
    readme = (repo / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start") :]
    uv_block, pip_block = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.DOTALL)[:2]
    assert uv_block.startswith("uv sync --extra dev ")
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    uv = pyproject["tool"]["uv"]
    assert uv["default-groups"] == ["cpu"] and pyproject["dependency-groups"]["cpu"] == ["torch>=2.4"]
    assert uv["sources"]["torch"] == [{"index": "pytorch-cpu", "group": "cpu"}]
    assert uv["index"] == [{"name": "pytorch-cpu", "url": "https://download.pytorch.org/whl/cpu", "explicit": True}]
    assert pip_block.splitlines() == [CPU_TORCH, 'python -m pip install -e ".[dev]"']
    installs = [line.strip() for line in first_install_lines(readme) if line.strip() != "python -m pip install uv"]
    assert installs[0] == CPU_TORCH  # no pip install of the project before it
