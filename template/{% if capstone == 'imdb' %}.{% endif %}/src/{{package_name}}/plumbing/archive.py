"""Extracting the reviews from aclImdb_v1.tar.gz safely: no member may land outside the target folder."""

import gzip
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from .errors import UserError

# What the capstone reads: the labelled reviews, and which movie each training review is about
# (the validation split holds out whole movies, movies.py). The archive also holds 50,000 unlabelled
# reviews (train/unsup/) and bag-of-words files, which are skipped: extracting them would double
# the time and the disk used.
WANTED = (
    "aclImdb/README",
    "aclImdb/imdb.vocab",
    *(f"aclImdb/{s}/{c}/" for s in ("train", "test") for c in ("neg", "pos")),
    *(f"aclImdb/train/urls_{c}.txt" for c in ("neg", "pos")),
)


def extract_reviews(archive: str | Path, target: str | Path) -> Path:
    """Extract the labelled reviews of `archive` into `target`/aclImdb (what is not there yet), and return it.

    Every member is checked before it is written: an absolute path, a `..`, or a link or device
    (which could point outside `target` or overwrite a file there) stops the extraction with an
    error (a "tar slip"). Extraction goes into a temporary folder inside `target` that is moved
    into place only when complete, so an interrupted run leaves no half dataset behind.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=target, prefix=".extracting-") as tmp:
            with tarfile.open(archive, "r|gz") as tar:  # a stream: one pass over the 84 MB
                for member in tar:
                    check_member(member, archive)
                    if member.isfile() and member.name.startswith(WANTED):
                        # The "data" filter (Python 3.12, and 3.10.12/3.11.4 on) checks again, as a second lock.
                        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                        tar.extract(member, tmp, **extra)
            extracted = Path(tmp, "aclImdb")
            if not extracted.is_dir():
                raise UserError(f"{archive} holds no aclImdb/ reviews; delete it and run again to download it.")
            # Only what is missing moves into place: a folder the user put there (aclImdb/train/ alone,
            # say) is kept as it is, never deleted.
            final = target / "aclImdb"
            final.mkdir(exist_ok=True)
            for item in extracted.iterdir():
                for part in [item] if item.is_file() else item.iterdir():  # README, or train/neg, test/pos, ...
                    destination = final / part.relative_to(extracted)
                    if not destination.exists():
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        part.rename(destination)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:  # truncated or not a tar.gz
        raise UserError(f"{archive} is not a complete tar.gz archive ({error}); delete it and run again.") from error
    return target / "aclImdb"


def check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse a member whose path or kind could write outside the target folder."""
    parts = PurePosixPath(member.name).parts
    unsafe_path = member.name.startswith("/") or ".." in parts or ":" in member.name or "\\" in member.name
    if unsafe_path or not (member.isfile() or member.isdir()):
        raise UserError(f"{archive} holds the unsafe member {member.name!r}; nothing was extracted from it.")
