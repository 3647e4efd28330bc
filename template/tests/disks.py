"""Real faulty disks for the tests: a read-only folder and a full one, as a learner's machine makes them.

Nothing here imitates the failure: the kernel refuses the writes. As a normal user, chmod makes a
folder read-only; root may write anyway, so as root the folder is mounted read-only onto itself
instead. A full disk is a tiny tmpfs, which only root may mount. Where the machine allows neither,
the test is skipped and says why.
"""

import contextlib
import os
import re
import subprocess
from pathlib import Path

import pytest


def refused_in(folder: Path) -> str:
    """What the sentence for a write refused in `folder` says: read-only as root, no permission otherwise."""
    where = re.escape(str(folder))
    return f"({where} is on a read-only file system|you have no permission to write in {where})"


def mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder`, with what it holds now, read-only for as long as the block runs."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.name == "nt":
        pytest.skip("Windows folders have no read-only mode that stops new files")
    if os.geteuid() != 0:
        folders = [folder, *(path for path in folder.rglob("*") if path.is_dir())]
        for path in folders:
            path.chmod(0o555)
        try:
            yield folder
        finally:
            for path in folders:
                path.chmod(0o755)
        return
    if not (mount("--bind", str(folder), str(folder)) and mount("-o", "remount,bind,ro", str(folder))):
        subprocess.run(["umount", str(folder)], capture_output=True)
        pytest.skip("running as root, where only a read-only mount stops writes, and mount is not allowed here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@contextlib.contextmanager
def full_disk(folder: Path, size: str = "256k"):
    """`folder` as an empty file system of `size` bytes, which fills up once that much is written."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.name == "nt" or os.geteuid() != 0 or not mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)):
        pytest.skip("a full disk needs a tiny tmpfs, which only root may mount (and mount must be allowed)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
