"""Downloading a data file safely: several mirrors, a checksum, and no half-written files."""

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import UserError
from .files import explained, file_system_error, make_folder, temporary_beside

CHUNK = 1 << 20
log = logging.getLogger(__name__)


class DownloadError(UserError):
    """No mirror delivered a file with the right checksum."""


def download(filename: str, mirrors: list[str], folder: str | Path, md5: str | None, timeout: float = 60.0) -> Path:
    """Fetch `filename` into `folder` from the first mirror that serves it with the right md5.

    `md5=None` skips the checksum, for files whose bytes may change (archives a code host makes
    on request); the caller then checks what they contain.

    A file already in `folder` (downloaded before, or placed by hand) is used when its md5 is
    right. Bytes go to a temporary file that is renamed into place only after its checksum
    matched, so an interrupted or corrupt download never looks complete. A folder that cannot
    hold the file (read-only, full, a file in its place) is one sentence that says so, not a
    mirror's failure.
    """
    folder = Path(folder)
    target = folder / filename
    if target.exists():
        if md5 is not None and file_md5(target) != md5:
            raise UserError(
                f"{target} is not the expected file (its md5 differs); delete it and run again to download it."
            )
        return target
    make_folder(folder, "data folder", elsewhere="data.root=DIR")
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{filename}"
        log.info(f"Downloading {url}")
        try:
            _fetch(url, target, md5, timeout)
            return target
        # URLError, HTTPError and timeouts are OSErrors; a cut connection is an HTTPException.
        except (OSError, http.client.HTTPException, ValueError) as error:
            failures.append(f"{url} ({why(error)})")
    tried = "; ".join(failures) or "no mirrors configured"
    raise DownloadError(
        f"Could not download {filename} (tried: {tried}). "
        f"Download it by hand and place it at {target.resolve()}, then run again."
    )


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def why(error: Exception) -> str:
    """What went wrong with one mirror, in words a search engine knows ("HTTP 404 Not Found", "timed out")."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    return str(getattr(error, "reason", error))


def _fetch(url: str, target: Path, md5: str | None, timeout: float) -> None:
    """One mirror's try. Errors of the network are OSErrors; those of the disk here become a UserError."""
    request = urllib.request.Request(url, headers={"User-Agent": "deep-capstone"})
    saving = f"save {target.name} into {target.parent}"
    with explained(saving, elsewhere="data.root=DIR"):
        fd, tmp = temporary_beside(target, ".part")
    try:
        digest = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=target.name, leave=False) as bar:
                while chunk := response.read(CHUNK):
                    try:
                        out.write(chunk)
                        out.flush()  # so that a full disk shows here, not when the file closes
                    except OSError as error:  # the disk, not the mirror: trying the next one would not help
                        raise file_system_error(error, saving, elsewhere="data.root=DIR", path=tmp) from error
                    digest.update(chunk)
                    bar.update(len(chunk))
        if md5 is not None and digest.hexdigest() != md5:
            raise ValueError(f"md5 {digest.hexdigest()} instead of {md5}")
        with explained(saving, elsewhere="data.root=DIR"):
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
