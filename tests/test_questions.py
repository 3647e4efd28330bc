"""copier.yml and presets/: every question has a default, and each preset answers exactly the questions."""

import jinja2
import yaml

from .conftest import PRESETS, ROOT, load_preset


class CopierLoader(yaml.SafeLoader):
    """Reads copier.yml as YAML, keeping Copier's `!include` tag as its pattern."""


CopierLoader.add_constructor("!include", lambda loader, node: f"!include {loader.construct_scalar(node)}")
CONFIG = yaml.load((ROOT / "copier.yml").read_text(), Loader=CopierLoader)
QUESTIONS = {name: spec for name, spec in CONFIG.items() if not name.startswith("_") and spec.get("when") is not False}
CAPSTONES = list(QUESTIONS["capstone"]["choices"].values())


def test_every_question_has_help_and_a_default():
    for name, spec in QUESTIONS.items():
        assert "default" in spec and "help" in spec, name


def test_every_capstone_has_a_preset_and_every_preset_a_capstone():
    assert sorted(CAPSTONES) == sorted(path.stem for path in PRESETS.glob("*.yml"))


def asked(spec: dict, answers: dict) -> bool:
    """Whether copier asks a question, given the answers so far (its `when`, a Jinja expression)."""
    when = spec.get("when", True)
    return when if isinstance(when, bool) else jinja2.Template(when).render(**answers).strip() == "True"


def test_each_preset_answers_exactly_the_questions_its_capstone_asks():
    for capstone in CAPSTONES:
        preset = load_preset(capstone)
        assert preset["capstone"] == capstone
        assert set(preset) == {name for name, spec in QUESTIONS.items() if asked(spec, preset)}, capstone


def test_defaults_come_from_the_presets_not_from_copier_yml():
    derived = {"capstone", "package_name"}  # the choice that selects a preset, and a name derived from another
    for name, spec in QUESTIONS.items():
        if name in derived:
            continue
        if "when" in spec:  # asked of some capstones only: other presets lack the key, so a fallback follows
            assert spec["default"].startswith(f"{{{{ preset.{name} | default("), name
        else:
            assert spec["default"] == f"{{{{ preset.{name} }}}}", name


def test_no_tasks_and_no_jinja_extensions_so_no_trust_is_needed():
    assert "_tasks" not in CONFIG and "_jinja_extensions" not in CONFIG and "_migrations" not in CONFIG
    assert CONFIG["_envops"]["undefined"] == "jinja2.StrictUndefined"


def test_the_readme_shows_the_questions_as_copier_asks_them():
    lines = (ROOT / "README.md").read_text().splitlines()
    shown = [line.removeprefix("🎤 ") for line in lines if line.startswith("🎤")]
    helps = {spec["help"] for spec in QUESTIONS.values()}
    assert shown and all(question in helps for question in shown), set(shown) - helps


def test_the_python_version_question_says_how_to_choose():
    """Copier cannot see the Python that will install the project, so the prompt tells the learner what to pick
    (a version newer than theirs is refused later by pip: "requires a different Python")."""
    assert "python --version" in QUESTIONS["python_version"]["help"]


def test_the_oldest_python_offered_is_the_one_the_project_requires():
    """copier.yml's python_version choices, the presets' defaults and MIN_PYTHON in pyproject.toml.jinja agree."""
    choices = QUESTIONS["python_version"]["choices"]
    pyproject = (ROOT / "template/pyproject.toml.jinja").read_text()
    assert f'{{%- set MIN_PYTHON = "{choices[0]}" %}}' in pyproject
    for preset in ROOT.glob("presets/*.yml"):
        assert yaml.safe_load(preset.read_text())["python_version"] in choices, preset
