"""bench/report.py, the command that writes bench/RESULTS.md, on a section that needs no real data."""

import re
import subprocess
import sys

from .conftest import ROOT


def test_report_measures_a_section_again_in_place(tmp_path):
    """--only SECTION --output FILE: that section replaced with fresh figures, the others kept as they were."""
    report = tmp_path / "RESULTS.md"
    report.write_text("# Benchmark results\n\nWritten by ...\n\n## Rendering\n\nold figures\n\n## Other\n\nkept\n")
    command = [sys.executable, "bench/report.py", "--only", "render", "--rounds", "1", "--output", str(report)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    text = report.read_text()
    assert "old figures" not in text and text.count("## Rendering") == 1
    assert text.endswith("## Other\n\nkept\n")
    assert '"Rendering": Re-measured by `python bench/report.py --only render' in text
    for preset in ("mnist", "camvid", "imdb", "rl"):  # one row each, with the seconds copier took
        assert re.search(rf"^\| {preset} \| \d+\.\d\d s \| one run \|$", text, flags=re.MULTILINE), preset


def test_a_partial_re_measure_keeps_the_line_that_dates_the_rows_it_left():
    """--capstones: the line dating an earlier run stays while a row of it is still in the table."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import report
    finally:
        sys.path.remove(str(ROOT / "bench"))
    earlier = '"Recipes": Re-measured by `python bench/report.py --only recipes --capstones mnist rl` on day 1'
    old = f"# Benchmark results\n\nWritten by ...\n\n{earlier}\n\n## Recipes\n\nold\n"

    def header(capstones: str) -> str:
        return f"# Benchmark results\n\nWritten by `python bench/report.py --only recipes{capstones}` on day 2\n\n"

    partial = report.replace_sections(old, ["## Recipes\n\nnew\n"], header(" --capstones mnist"))
    assert earlier in partial and "--capstones mnist` on day 2" in partial
    complete = report.replace_sections(old, ["## Recipes\n\nnew\n"], header(" --capstones mnist rl"))
    assert earlier not in complete and "--capstones mnist rl` on day 2" in complete
    everything = report.replace_sections(old, ["## Recipes\n\nnew\n"], header(""))
    assert earlier not in everything
