"""Every install instruction puts the CPU build of torch before the project, whose install would bring CUDA's."""

import re

import pytest

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
    readme = (rendered(capstone) / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start") :]
    block = re.search(r"```bash\n(.*?)```", quick_start, flags=re.DOTALL)[1].splitlines()
    assert block[0].startswith(CPU_TORCH + "   # no NVIDIA GPU") and block[1] == 'python -m pip install -e ".[dev]"'
    assert first_install_lines(readme)[0].strip() == CPU_TORCH  # no install of the project before it
