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
