"""notebooks/capstone.ipynb: stored without outputs, and run top to bottom, headless, in smoke mode."""

import json
import shutil
import subprocess
import sys

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from .conftest import ROOT, python_env

NOTEBOOK = "notebooks/capstone.ipynb"
# What a notebook's run leaves in its run folder: the run (train) and its evaluation (evaluate_checkpoint).
RUN_FILES = ["config.yaml", "metrics.csv", "metrics.json", "checkpoints/best.pt", "checkpoints/last.pt"]
EVALUATION_FILES = {
    "mnist": ["training_curves.png", "confusion_matrix.png", "mistakes.png"],
    "camvid": ["training_curves.png", "iou_per_class.png", "predictions.png"],
    "imdb": ["training_curves.png", "confusion_matrix.png", "examples.md"],
    "rl": ["returns.png", "agent.gif"],
}
# The notebook's own plots of the data (digits, class balance, ...), drawn before the evaluation's pictures.
OWN_PLOTS = {"mnist": 2, "camvid": 2, "imdb": 1, "rl": 1}
CASES = [("mnist", {}), ("camvid", {}), ("imdb", {}), ("rl", {}), ("mnist", {"engine": "lightning"})]


def test_the_template_notebooks_are_valid_and_stored_without_outputs():
    notebooks = sorted(ROOT.glob("template/*/notebooks/capstone.ipynb.jinja"))
    assert len(notebooks) == 4  # one per capstone
    for path in notebooks:
        notebook = nbformat.reads(path.read_text(), as_version=4)  # JSON already: its Jinja lies inside strings
        nbformat.validate(notebook)
        assert notebook.nbformat == 4
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (path, cell.id)
        parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
        assert len(parameters) == 1 and "CAPSTONE_NOTEBOOK_SMOKE" in parameters[0].source, path


@pytest.mark.parametrize(("capstone", "answers"), CASES, ids=["mnist", "camvid", "imdb", "rl", "mnist-lightning"])
def test_the_notebook_runs_top_to_bottom_in_smoke_mode(rendered, tmp_path, capstone, answers):
    # A copy: the run writes runs/ into the repo, and the session's render must stay as rendered.
    repo = shutil.copytree(rendered(capstone, **answers), tmp_path / "repo")
    notebook = nbformat.read(repo / NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)
    readme = (repo / "README.md").read_text()

    # The kernel runs in notebooks/, as Jupyter runs it; the smoke variable switches to debug=smoke on
    # fake data; TMPDIR keeps the notebook's temporary data folder inside this test's folder.
    (tmp_path / "tmp").mkdir()
    env = {**python_env(repo), "CAPSTONE_NOTEBOOK_SMOKE": "1", "TMPDIR": str(tmp_path / "tmp")}
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(repo / "notebooks")}}
    )
    client.execute(env=env)  # a cell that raises fails the test with its traceback

    runs = sorted((repo / "runs").iterdir())
    assert len(runs) == 1, runs
    for name in [*RUN_FILES, *EVALUATION_FILES[capstone]]:
        assert (runs[0] / name).is_file(), name
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert ("eval/return_mean" if capstone == "rl" else "test/loss") in metrics

    pictures = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "display_data" and {"image/png", "image/gif"} & set(output.data)
    ]
    shown_by_evaluation = sum(name.endswith((".png", ".gif")) for name in EVALUATION_FILES[capstone])
    assert len(pictures) >= OWN_PLOTS[capstone] + shown_by_evaluation
    errors = [output for cell in code for output in cell.outputs if output.output_type == "error"]
    assert not errors
    # Smoke mode: fake data in the temporary folder, never data/; the README's results section untouched.
    assert not (repo / "data").exists() and not (repo / "results").exists()
    assert (repo / "README.md").read_text() == readme


# Runs a notebook cell (argv[1]) as on Colab, in its own process: with a stand-in `google.colab` module
# and a `subprocess.run` that records each command instead of running it (and makes the clone's folder).
AS_ON_COLAB = """
import json, os, subprocess, sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
commands = []
def record(command, check):
    commands.append(command)
    if command[1] == "clone":
        os.makedirs(os.path.join(command[-1], "src"))
subprocess.run = record
exec(sys.argv[1])
print(json.dumps({"commands": commands, "cwd": os.getcwd()}))
"""


def test_on_colab_the_first_code_cell_clones_the_repository_and_installs_it_beside_colabs_torch(mnist_repo, tmp_path):
    """Colab cannot be reached from here: the cell's commands are checked, not run."""
    notebook = nbformat.reads((mnist_repo / NOTEBOOK).read_text(), as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells[0].id == "colab", "the Colab cell comes before any import of the project"
    result = subprocess.run(
        [sys.executable, "-c", AS_ON_COLAB, code_cells[0].source], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout.splitlines()[-1])
    answers = yaml.safe_load((mnist_repo / ".copier-answers.yml").read_text())
    project, user = answers["project_name"], answers["github_user"]
    assert ran["commands"] == [
        ["git", "clone", "--depth", "1", f"https://github.com/{user}/{project}", project],
        [sys.executable, "-m", "pip", "install", "--quiet", "--editable", project],
    ]
    assert ran["cwd"] == str(tmp_path / project)  # and from here on, the notebook runs as it does locally
    again = subprocess.run(  # a second run of the cell, in the project's folder now: nothing to do
        [sys.executable, "-c", AS_ON_COLAB, code_cells[0].source], cwd=ran["cwd"], capture_output=True, text=True
    )
    assert json.loads(again.stdout.splitlines()[-1]) == {"commands": [], "cwd": ran["cwd"]}, again.stderr
    readme = (mnist_repo / "README.md").read_text()
    badge = f"https://colab.research.google.com/github/{user}/{project}/blob/main/{NOTEBOOK}"
    assert badge in readme and badge in notebook.cells[0].source
