"""`copier update`: a repo rendered from an older tagged template keeps its owner's edits and gets the changes.

The first test does what README.md says, command for command: a clone of the template, tagged and
pushed as a maintainer releases it; a project copied from the clone and one copied from the URL at
a tag; a new version; `copier update` in each project.
"""

import shutil
import subprocess
import sys

import pytest
import yaml
from copier import run_copy

from .conftest import ROOT, load_preset
from .test_readme import COPY_AT_A_TAG, RELEASE, RENDER_AND_TRAIN, UPDATE, clone_of_this_checkout, run

ADAMW = "configs/optim/adamw.yaml"
TEMPLATE_ADAMW = "template/{% if capstone != 'rl' %}.{% endif %}/" + ADAMW
ANSWERS = ".copier-answers.yml"


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


def readme_release(template, version: str) -> None:
    """Release the template's last commit as README.md's Versions section says (into a local origin)."""
    for command in RELEASE:
        run(command.replace("v0.2.0", version), cwd=template)


def learner_edits(project) -> None:
    """What a learner does to their project: tune a value, write about it, commit."""
    adamw = project / ADAMW
    adamw.write_text(adamw.read_text().replace("weight_decay: 0.01", "weight_decay: 0.05"))
    with (project / "README.md").open("a") as readme:
        readme.write("\n## My notes\n\nThe 4s and 9s were the hardest.\n")
    git("init", "-q", "-b", "main", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "my capstone, my tuning and notes", cwd=project)


def test_the_readme_flow_from_a_clone_and_from_a_tag_updates_and_keeps_user_edits(tmp_path):
    # The template's repository (its origin, here a local bare one) and a maintainer's clone of it.
    origin, template = tmp_path / "origin.git", clone_of_this_checkout(tmp_path / "deep-capstone")
    git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    git("remote", "add", "origin", origin.as_uri(), cwd=template)
    readme_release(template, "v0.1.0")

    # A learner in the clone: README.md's command, as it stands ("$PWD" in the clone, ../my-mnist).
    copy_in_clone = RENDER_AND_TRAIN[1]
    copied = run(copy_in_clone, cwd=template)
    from_clone = tmp_path / "my-mnist"
    assert "relative" not in copied.stderr  # no warning about the template's path
    # Another learner, without a clone: the repository's URL at a tag (file:// for GitHub: no network).
    (from_url_parent := tmp_path / "elsewhere").mkdir()
    (copy_at_a_tag,) = COPY_AT_A_TAG
    run(copy_at_a_tag.replace("gh:OWNER/deep-capstone", origin.as_uri()).replace("v0.2.0", "v0.1.0"), from_url_parent)
    from_url = from_url_parent / "my-mnist"
    clone_answers, url_answers = (yaml.safe_load((p / ANSWERS).read_text()) for p in (from_clone, from_url))
    assert clone_answers.pop("_src_path") == str(template) and url_answers.pop("_src_path") == origin.as_uri()
    assert clone_answers == url_answers and url_answers["_commit"] == "v0.1.0"  # the same answers, at the same tag
    for project in (from_clone, from_url):
        learner_edits(project)

    # The template improves elsewhere in the same files and is released as v0.2.0.
    template_adamw = template / TEMPLATE_ADAMW
    template_adamw.write_text(template_adamw.read_text() + "# Tip: try lr=1e-3 for bigger models.\n")
    git("commit", "-qam", "a tip", cwd=template)
    readme_release(template, "v0.2.0")

    (update_command,) = UPDATE
    for project in (from_clone, from_url):
        run(update_command, cwd=project)
        adamw = (project / ADAMW).read_text()
        assert "weight_decay: 0.05" in adamw and "# Tip: try lr=1e-3 for bigger models." in adamw, project
        assert "The 4s and 9s were the hardest." in (project / "README.md").read_text()
        assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v0.2.0"
        assert not list(project.rglob("*.rej"))


def test_copying_from_a_relative_path_warns_that_update_would_not_find_the_template(tmp_path):
    """`copier copy ... . ../my-mnist` records `_src_path: .`, which `copier update` reads in the project."""
    command = [sys.executable, "-m", "copier", "copy", "--defaults", "--vcs-ref", "HEAD", "-d", "capstone=mnist"]
    result = subprocess.run([*command, ".", str(tmp_path / "my-mnist")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "records the template as '.', a path relative to where you ran" in result.stderr
    assert "set its _src_path to the template's\nabsolute path or URL" in result.stderr
    # The closing message's next steps: the CPU build of torch before the project (which would bring CUDA's).
    cpu_torch = result.stderr.index("python -m pip install torch --index-url https://download.pytorch.org/whl/cpu")
    assert cpu_torch < result.stderr.index('python -m pip install -e ".[dev]"')


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
