"""Rendering the template for the tests: one render per session, shared by the tests that only read it."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from copier import run_copy

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "presets"

# The tests send real Ctrl-Cs (SIGINT) to the commands they start. A suite started with Ctrl-C
# ignored (a background job of a non-interactive shell) would pass that on: restore the default.
signal.signal(signal.SIGINT, signal.default_int_handler)


def load_preset(capstone: str) -> dict:
    return yaml.safe_load((PRESETS / f"{capstone}.yml").read_text())


def render(dst: Path, preset: str = "mnist", **answers) -> Path:
    """Render presets/<preset>.yml, with `answers` changed, into `dst`, as `copier copy --defaults` does."""
    # vcs_ref HEAD: this checkout as it is (uncommitted changes included), even where release tags exist.
    data = {**load_preset(preset), **answers}
    run_copy(str(ROOT), dst, data=data, defaults=True, quiet=True, unsafe=False, vcs_ref="HEAD")
    return dst


CAPSTONES = ("mnist", "camvid", "imdb", "rl")


# Measured seconds of the slow tests in a whole run on the 2-core CI machine (the first key a test's id
# holds counts); any other slow test is taken to need about 40.
SLOW_SECONDS = {
    "fresh_git_repo[rl]": 125,
    "fresh_git_repo[mnist]": 115,
    "fresh_git_repo[imdb]": 60,
    "fresh_git_repo[camvid]": 55,
    "lightning_repos_own": 70,
    "readme_shows_runs[camvid]": 38,
    "readme_shows_runs[rl]": 35,
    "test_rl_an_episode": 40,
    "test_uv": 30,
    "test_demo_pages": 28,
    "readme_shows_runs": 28,
}


def pytest_collection_modifyitems(items):
    """Share the tests marked slow (a minute or more each) between the two halves of the list, and
    start each half with its share.

    pytest-xdist (--dist worksteal) hands each of the two workers one half of the list and lets the
    one that finishes first take tests from the end of the other's half: so each worker begins with
    about as many slow seconds as the other (longest first, each to the half with fewer so far), and
    the many short tests fill the gaps, instead of one worker running the slow tests one by one.
    """
    slow = [item for item in items if item.get_closest_marker("slow")]
    fast = [item for item in items if not item.get_closest_marker("slow")]
    seconds = {item: next((s for key, s in SLOW_SECONDS.items() if key in item.nodeid), 40) for item in slow}
    halves: tuple[list, list] = ([], [])
    for item in sorted(slow, key=seconds.get, reverse=True):
        min(halves, key=lambda half: sum(seconds[i] for i in half)).append(item)
    fast_in_first = max(0, len(items) // 2 - len(halves[0]))
    items[:] = halves[0] + fast[:fast_in_first] + halves[1] + fast[fast_in_first:]


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


# Runs a rendered repo's command lines (train.py, search.py, evaluate.py, predict.py: a JSON list of
# argv lists, the script first) one after another in one Python process, each through the script's own
# main, and prints a marker with each one's exit status. Start-up (PyTorch, Hydra: ~3 s) is paid once.
IN_ONE_PROCESS = """
import json, os, runpy, sys
from omegaconf import OmegaConf

for number, argv in enumerate(json.loads(sys.argv[1])):
    for resolver in ("run_dir", "pid"):  # train.py and search.py register theirs again on each run
        OmegaConf.clear_resolver(resolver)
    sys.argv = argv
    try:
        runpy.run_path(argv[0], run_name="__main__")
        status = 0
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    sys.stderr.flush()
    print(f"=== command {number} exit {status}", flush=True)
"""
MARKER = r"^=== command \d+ exit (\d+)$"


def run_in_one_process(commands: list[list[str]], cwd: Path, env: dict) -> list[tuple[int, str]]:
    """Run `commands` (argv lists, the script first) in one Python process; each one's exit status and output."""
    runner = [sys.executable, "-c", IN_ONE_PROCESS, json.dumps(commands)]
    result = subprocess.run(
        runner, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600
    )
    parts = re.split(MARKER, result.stdout, flags=re.MULTILINE)  # output, status, output, status, ..., the rest
    outputs, statuses = parts[0:-1:2], [int(status) for status in parts[1::2]]
    assert len(statuses) == len(commands), result.stdout[-5000:]  # the process itself ended early
    return list(zip(statuses, outputs, strict=True))


# Tests of the supervised renders' shared tests/test_commands.py that end before the capstone's data or
# model is touched: a mistyped or ill-typed override, an unknown config option, evaluate.py without a
# checkpoint, resume=true without a run, Ctrl-C before training begins.
BEFORE_THE_CAPSTONE = (
    "mistyped_override",
    "wrong_type",
    "unknown_config_option",
    "evaluate_without_a_checkpoint",
    "resume_true_without_runs",
    "ctrl_c_before_training_begins",
)
# And those that run the loop's own lines for Ctrl-C and resume=true, the same whatever the capstone;
# tests/test_faults.py kills and resumes each capstone's run, and tests/test_readme_commands.py runs
# each README's resume=true line.
THE_LOOPS_OWN = ("ctrl_c_saves_a_checkpoint", "resume_true_continues")


def assert_own_tests_pass(repo: Path, *args: str, basetemp: Path) -> None:
    """Run a rendered repo's own test suite (or `args` of it) in a fresh process; it must pass.

    Its temporary folders go to `basetemp` (a folder of the calling test's): left to itself, each such
    run makes a numbered folder beside this suite's and deletes the older ones, a few seconds of work.
    """
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}", *args]
    result = subprocess.run(command, cwd=repo, env=python_env(repo), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
