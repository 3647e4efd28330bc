"""Files on disk: written whole or not at all, and every file-system failure as one sentence.

Data, caches, checkpoints and reports all write through here. A write goes to a temporary file in
the same folder, which is renamed over the target once complete (a rename within one file system
is atomic), so a reader sees the old file or the new one, never half of one. What the disk refuses
(it is full, read-only, not yours; a file stands where a folder must be) becomes a UserError that
names the path and says what to do, instead of a traceback that ends in `[Errno 28]`.
"""

import contextlib
import errno
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import UserError

log = logging.getLogger(__name__)


class DiskError(UserError):
    """The disk refused: full, read-only, not the user's, or a file where a folder must be."""


def what_went_wrong(error: OSError, elsewhere: str | None = None, path: str | Path | None = None) -> tuple[str, str]:
    """(what the disk said, in words; what to do about it) for a failed file-system call.

    `elsewhere` is how to pick another place, e.g. "data.root=DIR", added to the advice where
    another place would help. `path` is the file being written, for errors that name none (a
    full disk reported by write()).
    """
    path = Path(error.filename) if error.filename else Path(path) if path else None
    other = f" ({elsewhere})" if elsewhere else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" that holds {path.parent}" if path else ""
        return f"the disk{where} is full", "free some disk space"
    if error.errno == errno.EROFS:
        return f"{nearest(path) or 'it'} is on a read-only file system", f"use a folder you can write to{other}"
    if error.errno in (errno.EACCES, errno.EPERM):
        there = nearest(path) or "there"
        return f"you have no permission to write in {there}", f"make it writable, or use another folder{other}"
    if error.errno in (errno.ENOTDIR, errno.EEXIST) and path is not None:
        blocker = file_in_the_way(path)
        return f"{blocker} is a file where a folder must be", f"move {blocker} away, or use another folder{other}"
    if error.errno == errno.EISDIR:
        return f"{path} is a folder where a file must be", f"move {path} away, or use another folder{other}"
    if error.errno == errno.ENOENT:
        return f"{path or 'a folder on the way'} does not exist (any more)", f"check the path{other}"
    return f"{error.strerror or error}{f' ({path})' if path else ''}", f"check the path{other}"


def nearest(path: Path | None) -> Path | None:
    """The nearest of `path` and its folders that exists: the folder a new (temporary) file was refused in."""
    if path is None:
        return None
    return next((candidate for candidate in (path, *path.parents) if candidate.exists()), path)


def file_in_the_way(path: Path) -> Path:
    """The file that stands where `path` or one of the folders above it must be (else `path` itself)."""
    for candidate in (path, *path.parents):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return path


def file_system_error(
    error: OSError,
    doing: str,
    *,
    elsewhere: str | None = None,
    path: str | Path | None = None,
    kept: str = "",
    then: str = "run again",
) -> DiskError:
    """The sentence for `error`: "Could not <doing>: <what the disk said>[; <kept>]; <what to do>, then <then>."

    `kept` says what survived (e.g. "the previous last.pt is intact"), `then` what to run next.
    """
    reason, advice = what_went_wrong(error, elsewhere, path)
    kept = f"; {kept}" if kept else ""
    return DiskError(f"Could not {doing}: {reason}{kept}; {advice}, then {then}.")


@contextlib.contextmanager
def explained(doing: str, **how) -> Iterator[None]:
    """Within this block, an OSError becomes `file_system_error(error, doing, **how)`."""
    try:
        yield
    except OSError as error:
        raise file_system_error(error, doing, **how) from error


def make_folder(path: str | Path, role: str, **how) -> Path:
    """`path` as an existing folder (made, with its parents, when missing); `role` names it, e.g. "data folder"."""
    path = Path(path)
    with explained(f"create the {role} {path}", **how):
        path.mkdir(parents=True, exist_ok=True)
    return path


def temporary_beside(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new, empty hidden file in `path`'s folder, open for writing: (file descriptor, its path).

    Created with mode 0o666 less the umask, as open() would create `path` itself (tempfile.mkstemp
    would give 0o600, and checkpoints nobody else could read).
    """
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:  # another writer's temporary file, by a chance of 1 in 4 billion
            continue


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write(file)` on a temporary file beside `path`, flush it to disk, then rename it over `path`.

    Raises the OSError of a failed write (see `explained`); the temporary file is gone then, and a
    previous `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except RuntimeError as error:
        # torch.save reports a failed write as "RuntimeError: [enforce fail at inline_container.cc...]",
        # with the file's OSError (e.g. ENOSPC) as its context: that OSError is what went wrong.
        tmp.unlink(missing_ok=True)
        if isinstance(error.__context__, OSError):
            raise error.__context__ from error
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, role: str, **how) -> None:
    """Write `text` to `path` atomically, or raise one sentence; `role` names the file, e.g. "metrics.json"."""
    path = Path(path)
    with explained(f"write the {role} {path}", **how):
        atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_cache(path: str | Path, write: Callable[[BinaryIO], None]) -> bool:
    """Write a cache file atomically; whether it was written.

    A cache only saves time, so a disk that refuses it (read-only, full, not yours) is a warning,
    and the run goes on with what it computed.
    """
    path = Path(path)
    try:
        atomic_write(path, write)
        return True
    except OSError as error:
        reason, advice = what_went_wrong(error, path=path)
        log.warning(f"Could not write the cache {path} ({reason}), so later runs will redo this work; {advice}.")
        return False
