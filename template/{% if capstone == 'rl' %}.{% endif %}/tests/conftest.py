"""Test helpers: the project's real Hydra config, composed with test overrides."""

import signal
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# The tests send real Ctrl-Cs (SIGINT) to the commands they start. A suite started with Ctrl-C
# ignored (a background job of a non-interactive shell) would pass that on: restore the default.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def make_cfg():
    """make_cfg(*overrides): configs/train.yaml in smoke mode (a couple of thousand steps)."""

    def compose_train(*overrides: str):
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            return compose("train", overrides=["debug=smoke", *overrides])

    return compose_train


@pytest.fixture
def make_eval_cfg():
    def compose_eval(*overrides: str):
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            return compose("eval", overrides=list(overrides))

    return compose_eval
