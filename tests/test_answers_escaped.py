"""Answers with quotes, backslashes and accents render files that their own parsers read back unchanged."""

import json
import subprocess
import sys
import warnings

import nbformat
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10: the TOML parser pip itself uses
    from pip._vendor import tomli as tomllib

DESCRIPTION = 'Sentiment "reviews" with a back\\slash, it\'s Zoë\'s "last"'
AUTHOR = 'Ann "A\\B" O\'Neil'
EMAIL = 'ann"o\\neil@example.com'


def test_quotes_and_backslashes_in_answers_render_valid_files(rendered):
    repo = rendered("mnist", description=DESCRIPTION, author_name=AUTHOR, author_email=EMAIL)

    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    assert project["description"] == DESCRIPTION
    assert project["authors"] == [{"name": AUTHOR, "email": EMAIL}]

    init = repo / "src/mnist_digits/__init__.py"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an invalid escape sequence is a warning before Python 3.12
        code = compile(init.read_text(), str(init), "exec", dont_inherit=True)
    docstring = code.co_consts[0]
    assert " ".join(docstring.split()) == f"mnist-digits: {DESCRIPTION}"

    citation = yaml.safe_load((repo / "CITATION.cff").read_text())
    assert citation["abstract"] == DESCRIPTION
    assert citation["authors"] == [{"given-names": 'Ann "A\\B"', "family-names": "O'Neil", "email": EMAIL}]

    notebook = nbformat.read(repo / "notebooks/capstone.ipynb", as_version=4)
    nbformat.validate(notebook)
    json.loads((repo / "notebooks/capstone.ipynb").read_text())
    assert DESCRIPTION in (repo / "README.md").read_text()

    for check in (["check", "."], ["format", "--check", "."]):
        lint = subprocess.run([sys.executable, "-m", "ruff", *check], cwd=repo, capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
