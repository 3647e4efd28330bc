"""The results section of README.md: the test metrics and pictures of the latest evaluated run.

evaluate.py calls `update_readme` once it has written metrics.json and the pictures. The section
lies between two marker lines in README.md; only the text between them is replaced, so the rest of
the README stays exactly as you wrote it. runs/ is left out of git (.gitignore), so the section
does not point into it: the pictures and metrics.json are copied into results/, beside the README,
and GitHub shows them from there. Commit results/ together with README.md.

A smoke run's figures are no result: `report_evaluation` leaves the section alone for them (and
says so in one line), unless evaluate.py is given report=true; the section then says, above its
table, where the figures come from.
"""

import json
import logging
import re
import shutil
from pathlib import Path

from .errors import UserError
from .files import explained, make_folder, write_text

log = logging.getLogger(__name__)

START = "<!-- results:start -->"
END = "<!-- results:end -->"
RESULTS = "results"  # the folder beside README.md that holds the copies; git tracks it
NOT_METRICS = {"checkpoint", "step", "train/step"}  # what metrics.json says about the run, not about the model
# A picture of the demo page (python demo.py screenshot=results/demo.png, or one taken by hand): shown, never removed.
DEMO_SCREENSHOT = "demo.png"


def report_evaluation(
    run_dir: str | Path,
    checkpoint: str | Path,
    report,
    smoke: str | None,
    pictures: tuple[str, ...] = ("*.png",),
    table: str | None = None,
) -> Path | None:
    """evaluate.py's `report` setting: fill README.md's results section, or say in one line why not.

    `smoke` is None for a run on the real data; for a smoke run, the sentence that says where its
    figures come from instead. report=auto fills the section for real runs only, report=true for any
    run (a smoke run's section then opens with `smoke`), report=false never. `pictures`: the file name
    patterns of the pictures evaluate.py wrote into the run folder, shown in the section. `table`:
    Markdown that says more than the list of metrics can, shown first (the list then folds away).
    """
    check_report(report)
    if report is False:
        return None
    if smoke and report == "auto":
        log.info("README.md's results section was left alone. %s To fill it anyway, labelled so: report=true.", smoke)
        return None
    return update_readme(run_dir, checkpoint, note=smoke, pictures=pictures, table=table)


def check_report(report) -> None:
    """A UserError unless evaluate.py's `report` setting is one it knows (checked before the evaluation)."""
    if not (isinstance(report, bool) or report == "auto"):
        raise UserError(f"report={report} must be auto, true or false.")


def update_readme(
    run_dir: str | Path,
    checkpoint: str | Path,
    note: str | None = None,
    pictures: tuple[str, ...] = ("*.png",),
    table: str | None = None,
) -> Path | None:
    """Fill the results section of the README of the project that holds `run_dir`; its path, or None.

    That README is the nearest README.md in the run folder or a folder above it (runs/<date>_<time>/
    lies in the project). Without one, or without both markers in it, nothing is written.
    `checkpoint` is the file evaluate.py evaluated: the section names it. `note`, if given, opens
    the section (a smoke run's: where its figures come from).
    """
    run_dir = Path(run_dir).resolve()
    readme = next((d / "README.md" for d in (run_dir, *run_dir.parents) if (d / "README.md").is_file()), None)
    if readme is None:
        log.info("No README.md in %s or above it: no results section to fill.", run_dir)
        return None
    raw = readme.read_bytes().decode("utf-8")  # bytes, so that line endings stay exactly as they were
    start, end = raw.find(START), raw.find(END)
    if start < 0 or end < start:
        log.warning("%s has no %s ... %s lines: its results section was left alone.", readme, START, END)
        return None

    project = readme.parent
    old_links = set(re.findall(rf"\]\({RESULTS}/([^)\s/]+)\)", raw[start:end]))  # file names, never a path
    shown = copy_results(run_dir, project / RESULTS, pictures)
    for name in old_links - set(shown) - {DEMO_SCREENSHOT}:  # pictures of an earlier run that this one did not make
        (project / RESULTS / name).unlink(missing_ok=True)
    newline = "\r\n" if "\r\n" in raw else "\n"
    section = results_markdown(run_dir, Path(checkpoint).name, project, shown, table)
    if note:
        section = f"> **{note}**\n\n{section}"
    section = section.replace("\n", newline)
    updated = raw[: start + len(START)] + newline + section + newline + raw[end:]
    write_text(readme, updated, "results section of")  # all or nothing: never half a README
    log.info("Results of %s written into %s (pictures in %s/).", run_dir.relative_to(project), readme.name, RESULTS)
    return readme


def copy_results(run_dir: Path, results: Path, pictures: tuple[str, ...]) -> list[str]:
    """Copy metrics.json, the pictures (file name patterns) and notes (.md) of the run into `results`; their names."""
    files = [run_dir / "metrics.json", *(path for pattern in pictures for path in sorted(run_dir.glob(pattern)))]
    files += sorted(run_dir.glob("*.md"))
    files = [path for path in files if path.is_file()]
    make_folder(results, "results folder")
    for path in files:
        with explained(f"copy {path.name} into {results}"):
            shutil.copyfile(path, results / path.name)
    return [path.name for path in files]


def results_markdown(run_dir: Path, checkpoint: str, project: Path, shown: list[str], table: str | None = None) -> str:
    """The section: where the numbers come from, a table of them (after `table`, if given), and the pictures."""
    written = json.loads((run_dir / "metrics.json").read_text())
    step = written.get("step", written.get("train/step"))
    at_step = f", step {step:,}" if isinstance(step, int) else ""
    lines = [
        f"The evaluation of the run `{run_dir.relative_to(project).as_posix()}` (checkpoint `{checkpoint}`{at_step}),"
        f" written here by `python evaluate.py`. [`{RESULTS}/`]({RESULTS}/) holds copies of its `metrics.json` and"
        " of the pictures shown here.",
        "",
    ]
    metrics = ["| metric | value |", "|---|---|"]
    for key, value in written.items():
        if key not in NOT_METRICS and isinstance(value, int | float) and not isinstance(value, bool):
            metrics.append(f"| `{key}` | {number(value)} |")
    if table:  # the table tells it; every metric stays one click away
        lines += [table, "", "<details><summary>Every metric</summary>", "", *metrics, "", "</details>"]
    else:
        lines += metrics
    for name in shown:
        path = f"{RESULTS}/{name}"
        if name.endswith(".md"):
            lines += ["", f"More in [{name}]({path})."]
        elif name != "metrics.json":
            lines += ["", f"![{Path(name).stem.replace('_', ' ')}]({path})"]
    lines += ["", "Try the model in a browser: `python demo.py` serves a page for it ([how](#try-it-in-a-browser))."]
    if (project / RESULTS / DEMO_SCREENSHOT).is_file():
        lines += ["", f"![the demo page]({RESULTS}/{DEMO_SCREENSHOT})"]
    return "\n".join(lines)


def number(value: float) -> str:
    """A metric as the table shows it: whole numbers as they are, others to 4 decimals (1 above 100)."""
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
