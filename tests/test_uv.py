"""A rendered repo installs and trains with uv, as its README says: `uv sync --extra dev`, then `uv run python ...`.

This machine reaches PyPI but not PyTorch's own index, which the rendered pyproject.toml names for
torch; and uv does not read pip's configuration, where this machine's CPU wheel of torch is found. So
the test serves that wheel (found through pip's find-links) as a one-package index, and the copy of
the project under test names it as its `pytorch-cpu` index: the project's settings are used as they
are, with that index's address changed. No CUDA build is downloaded; the lock records one for the
`cuda` group (UV_NO_GROUP=cpu) from PyPI's metadata.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch

from .conftest import python_env


def pip_setting(name: str) -> list[str]:
    """The values of a pip setting (e.g. find-links) in pip's configuration, from every file that sets it."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    values = []
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        if key.split(".")[-1] == name:
            values += value.strip("'\"").split()
    return values


def local_torch_wheel() -> Path:
    """The wheel of the torch this test stack runs, in one of pip's find-links folders."""
    version = torch.__version__
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    for folder in pip_setting("find-links") + os.environ.get("PIP_FIND_LINKS", "").split():
        for wheel in Path(folder.removeprefix("file://")).glob(f"torch-{version}-{tag}-*.whl"):
            return wheel
    pytest.fail(f"No wheel of torch {version} for {tag} in pip's find-links: uv would have to download one.")


@pytest.mark.slow
def test_uv_sync_then_uv_run_trains_with_the_cpu_build_of_pytorch(rendered, tmp_path):
    repo = shutil.copytree(rendered("mnist"), tmp_path / "repo", ignore=shutil.ignore_patterns("__pycache__"))
    # The stand-in index holds a wheel for this Python only, while a lock covers every version the
    # project allows: the copy allows this one (PyTorch's real index has wheels for all of them).
    pyproject = repo / "pyproject.toml"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    text = re.sub(r'^requires-python = ".*"$', f'requires-python = "=={python}.*"', pyproject.read_text(), flags=re.M)
    wheel = local_torch_wheel()
    index = tmp_path / "pytorch-cpu/torch"
    index.mkdir(parents=True)
    (index / "index.html").write_text(f'<html><body><a href="{wheel.as_uri()}">{wheel.name}</a></body></html>\n')
    official = 'url = "https://download.pytorch.org/whl/cpu"'
    assert official in text
    pyproject.write_text(text.replace(official, f'url = "{index.parent.as_uri()}"'))

    env = {key: value for key, value in python_env(repo).items() if not key.startswith(("UV_", "VIRTUAL_ENV"))}
    env |= {"UV_PYTHON": sys.executable}
    env |= {"UV_PYTHON_DOWNLOADS": "never", "PYTHONPATH": ""}  # this Python; the project from .venv, not src/
    if certificates := pip_setting("cert"):  # the certificates pip trusts, for PyPI through this network
        env["SSL_CERT_FILE"] = certificates[0]

    def uv(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(["uv", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"uv {' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    uv("sync", "--extra", "dev")
    lock = tomllib.loads((repo / "uv.lock").read_text())  # the first sync writes it; the README says to commit it
    sources = {package["version"]: package["source"] for package in lock["package"] if package["name"] == "torch"}
    assert sources[torch.__version__] == {"registry": str(index.parent)}  # the cpu group's
    assert {"registry": "https://pypi.org/simple"} in sources.values()  # the cuda group's, for UV_NO_GROUP=cpu
    site = next((repo / ".venv/lib").glob("python*/site-packages"))
    assert not list(site.glob("nvidia*")), "a CUDA library was installed"
    shown = uv("run", "python", "-c", "import torch, mnist_digits; print(torch.__version__, mnist_digits.__file__)")
    version, package = shown.stdout.split()
    assert version == torch.__version__ and Path(package).is_relative_to(repo / "src")  # the project, editable

    trained = uv("run", "python", "train.py", "debug=smoke", f"data.root={tmp_path / 'data'}", "hydra.run.dir=run")
    assert (repo / "run/checkpoints/best.pt").is_file(), trained.stdout[-2000:]
