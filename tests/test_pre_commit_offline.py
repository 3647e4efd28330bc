"""The git hooks of a rendered repo run offline: local hooks, with the dev extra's ruff and nbstripout."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

BADLY_FORMATTED = "import os\nx=1\n"  # an unused import (ruff check --fix removes it) and no spaces (ruff format)


def git(*args, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_a_commit_runs_the_hooks_offline_and_fixes_code_and_notebooks(mnist_repo, tmp_path):
    for tool in ("pre_commit", "nbstripout"):
        assert importlib.util.find_spec(tool), f"{tool} is in the dev group: python -m pip install --group dev"
    config = yaml.safe_load((mnist_repo / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]  # nothing to fetch from GitHub
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert sorted(hooks) == ["nbstripout", "ruff-check", "ruff-format"]
    assert all(hook["language"] == "system" for hook in hooks.values())

    repo = shutil.copytree(mnist_repo, tmp_path / "repo")
    assert git("init", "-q", "-b", "main", cwd=repo).returncode == 0
    git("add", "-A", cwd=repo)
    assert git("commit", "-qm", "my capstone", cwd=repo).returncode == 0

    # As `make install` does, then a commit with no network: any download goes to a closed port and fails.
    offline = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # the dev extra's tools
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),  # no hook environments from earlier runs
        **{proxy: "http://127.0.0.1:9" for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")},
    }
    install = subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=repo, env=offline, text=True)
    assert install.returncode == 0
    code = repo / "src/mnist_digits/extra.py"
    code.write_text(BADLY_FORMATTED)
    notebook = repo / "notebooks/capstone.ipynb"
    story = json.loads(notebook.read_text())
    cell = next(cell for cell in story["cells"] if cell["cell_type"] == "code")
    cell["execution_count"] = 7
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["a megabyte of pictures\n"]}]
    notebook.write_text(json.dumps(story, indent=1) + "\n")

    git("add", "-A", cwd=repo)
    refused = git("commit", "-qm", "quick and dirty", cwd=repo, env=offline)
    assert refused.returncode != 0  # the hooks fixed the files: the commit waits for a look at them
    assert "files were modified by this hook" in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    assert code.read_text() == "x = 1\n"
    fixed = next(cell for cell in json.loads(notebook.read_text())["cells"] if cell["cell_type"] == "code")
    assert fixed["outputs"] == [] and fixed["execution_count"] is None

    git("add", "-A", cwd=repo)
    committed = git("commit", "-qm", "tidy", cwd=repo, env=offline)
    assert committed.returncode == 0, committed.stdout + committed.stderr
    assert git("status", "--porcelain", cwd=repo).stdout == ""
