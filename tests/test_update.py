"""`copier update`: a repo rendered from an older tagged template keeps its owner's edits and gets the changes."""

import shutil
import subprocess
import sys

import pytest
import yaml
from copier import run_copy

from .conftest import ROOT, load_preset

ADAMW = "configs/optim/adamw.yaml"
TEMPLATE_ADAMW = "template/{% if capstone != 'rl' %}.{% endif %}/" + ADAMW


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def release(template, version: str) -> None:
    """Commit the template's working tree and tag it, as a release of the template is made."""
    git("add", "-A", cwd=template)
    git("commit", "-qm", f"template {version}", cwd=template)
    git("tag", version, cwd=template)


def update(project) -> subprocess.CompletedProcess:
    """As README.md says: from inside the project, its work committed; it updates to the newest tag."""
    command = [sys.executable, "-m", "copier", "update", "--defaults"]
    return subprocess.run(command, cwd=project, check=True, capture_output=True, text=True)


@pytest.fixture
def template_and_project(tmp_path):
    """This template as a git repo tagged v0.1.0, and an mnist project rendered from it and committed."""
    template, project = tmp_path / "template", tmp_path / "project"
    shutil.copytree(ROOT, template, ignore=shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "bench"))
    git("init", "-q", "-b", "main", cwd=template)
    release(template, "v0.1.0")
    run_copy(str(template), project, data=load_preset("mnist"), defaults=True, quiet=True, vcs_ref="v0.1.0")
    git("init", "-q", "-b", "main", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "my capstone", cwd=project)
    return template, project


def test_update_brings_template_changes_and_keeps_user_edits(template_and_project):
    template, project = template_and_project
    # The learner tunes a value and writes about their project.
    adamw = project / ADAMW
    adamw.write_text(adamw.read_text().replace("weight_decay: 0.01", "weight_decay: 0.05"))
    with (project / "README.md").open("a") as readme:
        readme.write("\n## My notes\n\nThe 4s and 9s were the hardest.\n")
    git("commit", "-qam", "my tuning and notes", cwd=project)

    # The template improves elsewhere in the same files and is released as v0.2.0.
    template_adamw = template / TEMPLATE_ADAMW
    template_adamw.write_text(template_adamw.read_text() + "# Tip: try lr=1e-3 for bigger models.\n")
    release(template, "v0.2.0")
    update(project)

    assert "weight_decay: 0.05" in adamw.read_text()
    assert "# Tip: try lr=1e-3 for bigger models." in adamw.read_text()
    assert "The 4s and 9s were the hardest." in (project / "README.md").read_text()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v0.2.0"
    assert not list(project.rglob("*.rej"))


def test_a_conflicting_update_leaves_both_versions_in_conflict_markers(template_and_project):
    """The learner and the template change the same line: nothing is lost, git shows the conflict."""
    template, project = template_and_project
    adamw = project / ADAMW
    adamw.write_text(adamw.read_text().replace("weight_decay: 0.01", "weight_decay: 0.05"))
    git("commit", "-qam", "my weight decay", cwd=project)
    template_adamw = template / TEMPLATE_ADAMW
    template_adamw.write_text(template_adamw.read_text().replace("weight_decay: 0.01", "weight_decay: 0.02"))
    release(template, "v0.2.0")
    update(project)

    text = adamw.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text  # as README.md says
    assert "weight_decay: 0.05" in text and "weight_decay: 0.02" in text  # both versions kept
    assert ADAMW in git("status", "--porcelain", cwd=project)  # left for the learner to resolve and commit


def test_a_question_added_in_a_later_version_gets_its_default(template_and_project):
    template, project = template_and_project
    with (template / "copier.yml").open("a") as questions:
        questions.write("\ncode_of_conduct:\n  type: bool\n  help: Add a code of conduct?\n  default: true\n")
    (template / "template/{% if code_of_conduct %}CODE_OF_CONDUCT.md{% endif %}.jinja").write_text(
        "# Code of conduct of {{ project_name }}\n"
    )
    release(template, "v0.2.0")
    update(project)  # --defaults: the new question is not asked; it takes its default

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["code_of_conduct"] is True and answers["_commit"] == "v0.2.0"
    assert (project / "CODE_OF_CONDUCT.md").read_text() == "# Code of conduct of mnist-digits\n"
