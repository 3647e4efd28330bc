"""Safe by construction: rendering runs no code, and downloads come over HTTPS and are verified."""

import subprocess
import sys

import yaml

from .conftest import PRESETS, ROOT


def test_copier_copy_works_without_trust(tmp_path):
    """No tasks, migrations or Jinja extensions: the plain command renders, with no --trust.

    (The other tests render every capstone through copier's API with unsafe=False, the same check.)
    """
    command = [sys.executable, "-m", "copier", "copy", "--quiet", "--defaults", "--data-file"]
    result = subprocess.run([*command, str(PRESETS / "imdb.yml"), str(ROOT), str(tmp_path)], capture_output=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "train.py").is_file()


def test_every_download_mirror_is_https(rendered):
    for capstone in ("mnist", "camvid", "imdb"):
        (data_config,) = (rendered(capstone) / "configs/data").glob("*.yaml")
        mirrors = yaml.safe_load(data_config.read_text())["mirrors"]
        assert mirrors and all(mirror.startswith("https://") for mirror in mirrors), (capstone, mirrors)
