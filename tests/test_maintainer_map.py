"""CONTRIBUTING.md's map of where each rendered file comes from: true to template/ and to the test manifest."""

import pytest

from .conftest import CAPSTONES, load_preset
from .maintainer_map import BEGIN, CONTRIBUTING, END, rendered_files, table
from .test_render import FILES


def test_the_map_in_contributing_is_the_one_the_template_gives():
    text = CONTRIBUTING.read_text()
    written = text.split(BEGIN)[1].split(END)[0].strip()
    assert written == table(), "the map is out of date: run python -m tests.maintainer_map --write"


@pytest.mark.parametrize("capstone", CAPSTONES)
def test_the_map_predicts_exactly_the_files_a_render_gets(capstone):
    # The folder and file names alone, by the map's rules, give the manifest the render tests check.
    predicted = rendered_files(capstone, load_preset(capstone)["package_name"])
    assert predicted == FILES[capstone]


def test_the_map_knows_the_lightning_engine_adds_its_two_files():
    package = load_preset("mnist")["package_name"]
    added = rendered_files("mnist", package, engine="lightning") - rendered_files("mnist", package)
    assert added == {f"src/{package}/lightning_train.py", f"src/{package}/lightning_module.py"}
