"""`copier update`: a repo rendered from an older tagged template keeps its owner's edits and gets the changes."""

import shutil
import subprocess
import sys

import yaml
from copier import run_copy

from .conftest import ROOT, load_preset


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


def test_update_brings_template_changes_and_keeps_user_edits(tmp_path):
    template, project = tmp_path / "template", tmp_path / "project"
    shutil.copytree(ROOT, template, ignore=shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "bench"))
    git("init", "-q", "-b", "main", cwd=template)
    git("add", "-A", cwd=template)
    git("commit", "-qm", "template v0.1.0", cwd=template)
    git("tag", "v0.1.0", cwd=template)

    run_copy(str(template), project, data=load_preset("mnist"), defaults=True, quiet=True, vcs_ref="v0.1.0")
    git("init", "-q", "-b", "main", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "my capstone", cwd=project)
    # The learner tunes a value and writes about their project.
    adamw = project / "configs/optim/adamw.yaml"
    adamw.write_text(adamw.read_text().replace("weight_decay: 0.01", "weight_decay: 0.05"))
    with (project / "README.md").open("a") as readme:
        readme.write("\n## My notes\n\nThe 4s and 9s were the hardest.\n")
    git("commit", "-qam", "my tuning and notes", cwd=project)

    # The template improves elsewhere in the same files and is released as v0.2.0.
    template_adamw = template / "template/{% if capstone != 'rl' %}.{% endif %}/configs/optim/adamw.yaml"
    template_adamw.write_text(template_adamw.read_text() + "# Tip: try lr=1e-3 for bigger models.\n")
    git("commit", "-qam", "template v0.2.0", cwd=template)
    git("tag", "v0.2.0", cwd=template)

    # As README.md says; it updates to the newest tag.
    update = [sys.executable, "-m", "copier", "update", "--defaults"]
    subprocess.run(update, cwd=project, check=True, capture_output=True)

    assert "weight_decay: 0.05" in adamw.read_text()
    assert "# Tip: try lr=1e-3 for bigger models." in adamw.read_text()
    assert "The 4s and 9s were the hardest." in (project / "README.md").read_text()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v0.2.0"
    assert not list(project.rglob("*.rej"))
