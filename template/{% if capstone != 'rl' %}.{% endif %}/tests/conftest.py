"""Test helpers: the project's real Hydra config, composed with test overrides, on tiny data."""

import signal
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# The tests send real Ctrl-Cs (SIGINT) to the commands they start. A suite started with Ctrl-C
# ignored (a background job of a non-interactive shell) would pass that on: restore the default.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def make_cfg(tmp_path):
    """compose(*overrides): configs/train.yaml in smoke mode, on fake data under tmp_path, never the network."""

    def compose_train(*overrides: str):
        overrides = ["debug=smoke", f"data.root={tmp_path / 'data'}", "data.mirrors=[]", *overrides]
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            return compose("train", overrides=overrides)

    return compose_train


@pytest.fixture
def make_eval_cfg():
    def compose_eval(*overrides: str):
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            return compose("eval", overrides=list(overrides))

    return compose_eval
