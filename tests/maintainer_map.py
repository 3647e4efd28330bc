"""Where each rendered file comes from: the table of CONTRIBUTING.md, generated from template/.

    python -m tests.maintainer_map            # print the table
    python -m tests.maintainer_map --write    # write it into CONTRIBUTING.md, between its markers

template/ holds the files every render gets, and overlay folders whose names are a Jinja condition
that renders to "." when it holds (`{% if capstone == 'imdb' %}.{% endif %}`): their contents land
at the top of the render, beside the common files. A few file names carry their own condition
(LICENSE). tests/test_maintainer_map.py checks the table against template/ and against the test
manifest of rendered files (tests/test_render.py), so that neither can drift from the other.
"""

import re
import sys
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
BEGIN, END = "<!-- maintainer map: begin -->", "<!-- maintainer map: end -->"
EXCLUDED = ("__pycache__", ".pyc", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints")
CONDITION = re.compile(r"\{%-? if (.+?) -?%\}")


def template_files() -> list[Path]:
    return sorted(
        path.relative_to(TEMPLATE)
        for path in TEMPLATE.rglob("*")
        if path.is_file() and not any(part in str(path) for part in EXCLUDED)
    )


def render_path(source: Path, answers: dict) -> str | None:
    """The path `source` renders to under `answers`, or None when a condition leaves it out."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    context = {**answers, "_copier_conf": {"answers_file": ".copier-answers.yml"}}
    parts = []
    for part in source.parts:
        rendered = environment.from_string(part).render(context)
        if not rendered:
            return None
        if rendered != ".":
            parts.append(rendered)
    return "/".join(parts).removesuffix(".jinja")


def condition_of(source: Path) -> str:
    """The conditions in `source`'s folder and file names, joined by "and"; "every render" when none."""
    found = [condition for part in source.parts for condition in CONDITION.findall(part)]
    return " and ".join(f"`{condition}`" for condition in found) or "every render"


def overlay_of(source: Path) -> str:
    """The overlay folder `source` sits in, or the common files of template/."""
    first = source.parts[0]
    return f"`{first}/`" if len(source.parts) > 1 and first.startswith("{%") else "`template/` (common)"


def rows() -> list[tuple[str, str, str]]:
    """(rendered path, where it comes from, when) for every file of template/, in rendered-path order."""
    answers = {"package_name": "<package>", "capstone": "any", "engine": "any", "license": "any"}
    table = []
    for source in template_files():
        shown = re.sub(r"\{%.*?%\}", "", str(source))  # the name without its conditions
        shown = render_path(Path(*[part for part in Path(shown).parts if part != "."]), answers) or shown
        table.append((shown.removeprefix("./"), overlay_of(source), condition_of(source)))
    return sorted(table)


def table() -> str:
    lines = ["| rendered file | from | when |", "|---|---|---|"]
    lines += [f"| `{path}` | {origin} | {when} |" for path, origin, when in rows()]
    return "\n".join(lines)


def rendered_files(capstone: str, package: str, engine: str = "pytorch", license: str = "MIT") -> set[str]:
    """The files a render of `capstone` gets, by the template's folder and file names alone."""
    answers = {"package_name": package, "capstone": capstone, "engine": engine, "license": license}
    paths = (render_path(source, answers) for source in template_files())
    return {path for path in paths if path is not None}


def write() -> None:
    text = CONTRIBUTING.read_text()
    before, rest = text.split(BEGIN)
    _, after = rest.split(END)
    CONTRIBUTING.write_text(f"{before}{BEGIN}\n{table()}\n{END}{after}")


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write()
    else:
        print(table())
