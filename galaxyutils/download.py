"""Fetch the public GZ2 release: images and filename mapping from Zenodo, Hart+16 votes.

Written on the standard library because none of the usual helpers (pooch, zenodo_get) both
resumes a partial multi-gigabyte download with an HTTP Range request and verifies it against
the checksums Zenodo publishes (of whatever algorithm); the images zip alone is about 3 GB.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

ZENODO_API = "https://zenodo.org/api"
GZ2_ZENODO_RECORD = "3565489"  # Galaxy Zoo 2 images (images_gz2.zip, gz2_filename_mapping.csv)
HART16_URL = "https://gz2hart.s3.amazonaws.com/gz2_hart16.csv.gz"  # linked from data.galaxyzoo.org
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that cannot be completed or verified."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    checksum: str | None  # "algorithm:hexdigest" as published (md5, sha256, ...); None where none is
    size: int | None = None  # bytes, as published; else the server's Content-Length is used


def zenodo_files(record: str, api: str = ZENODO_API) -> list[RemoteFile]:
    """The files of a Zenodo record with their published checksums and sizes."""
    with urllib.request.urlopen(f"{api}/records/{record}", timeout=60) as response:
        entries = json.load(response)["files"]
    return [RemoteFile(entry["key"], entry["links"]["self"], entry.get("checksum") or None, entry.get("size")) for entry in entries]


def _digests(path: Path, algorithms: set[str]) -> dict[str, str]:
    """Each algorithm's hex digest of ``path``, from one read of the file (the release's images
    are gigabytes)."""
    if unknown := sorted(algorithms - hashlib.algorithms_available):
        raise DownloadError(f"{path.name}: the published checksum uses {unknown[0]!r}, which this Python cannot compute")
    digests = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            for digest in digests.values():
                digest.update(block)
    return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}


def _remote_size(url: str) -> int | None:
    """The server's Content-Length for ``url`` (a HEAD request), or None when it does not say."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60) as response:
            length = response.headers.get("Content-Length")
    except OSError:
        return None
    return int(length) if length else None


def check(path: Path, remote: RemoteFile, size: int | None) -> tuple[str | None, str]:
    """What is wrong with ``path`` as a copy of ``remote`` (its size and published checksum;
    None when it matches), and the file's SHA-256 for the log."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"{actual} bytes, not the {size} published", ""
    algorithm, _, expected = (remote.checksum or "").partition(":")
    algorithm = algorithm.lower()
    digests = _digests(path, {"sha256"} | ({algorithm} if algorithm else set()))
    if algorithm and digests[algorithm] != expected.lower():
        return f"{algorithm.upper()} {digests[algorithm]} does not match the published {expected}", digests["sha256"]
    return None, digests["sha256"]


def fetch(remote: RemoteFile, target: Path) -> Path:
    """Download ``remote`` to ``target``, resuming a ``.part`` file left by an earlier attempt
    (a Range request), and check its length and checksum before renaming it into place.

    A download that ends short (a dropped connection) keeps its ``.part`` for the next attempt;
    one that arrives complete but wrong is removed. A file already in place is kept only if it
    passes the same checks (the server's length where nothing else is published). The log names
    what was checked and the file's SHA-256.
    """
    target = Path(target)
    size = remote.size
    if target.exists():
        if size is None:
            size = _remote_size(remote.url)
        problem, sha256 = check(target, remote, size)
        if problem is None:
            _log_checked(remote, sha256)
            return target
        target.unlink()  # ours, from an earlier attempt that was not checked this well
    partial = target.with_name(target.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(remote.url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            if offset and response.status != 206:  # the server ignored the range: start again
                offset = 0
            length = response.headers.get("Content-Length")
            size = size or (offset + int(length) if length else None)
            with open(partial, "ab" if offset else "wb") as out, tqdm(total=size, initial=offset, unit="B", unit_scale=True, desc=remote.name) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"{remote.name}: the download broke off ({type(error).__name__}: {error}); "
                            f"{partial.stat().st_size if partial.exists() else 0} bytes are kept in {partial.name}: run again to resume") from None
    received = partial.stat().st_size
    if size is not None and received < size:
        raise DownloadError(f"{remote.name}: arrived short, {received} of {size} bytes; the partial file is kept: run again to resume")
    problem, sha256 = check(partial, remote, size)
    if problem is not None:
        partial.unlink()
        raise DownloadError(f"{remote.name}: {problem}; the partial file was removed, run again")
    os.replace(partial, target)
    _log_checked(remote, sha256)
    return target


def _log_checked(remote: RemoteFile, sha256: str) -> None:
    how = f"{remote.checksum.partition(':')[0].upper()} verified" if remote.checksum else "length checked, no published checksum"
    logger.info(f"{remote.name}: {how}; sha256 {sha256[:16]}")


def safe_extract(archive: Path, destination: Path) -> int:
    """Extract a zip into ``destination``, refusing the whole archive if any member's path would
    land outside it (absolute paths, ``..``). Returns the number of files extracted."""
    destination = Path(destination).resolve()
    with zipfile.ZipFile(archive) as zipped:
        members = zipped.infolist()
        for member in members:
            path = (destination / member.filename).resolve()
            if not path.is_relative_to(destination):
                raise DownloadError(f"{archive.name}: member {member.filename!r} would be written outside {destination}; nothing extracted")
        count = 0
        for member in tqdm(members, desc=f"extracting {archive.name}", unit="file"):
            if member.is_dir():
                continue
            path = destination / member.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(member) as source, open(path, "wb") as out:
                shutil.copyfileobj(source, out)
            count += 1
    return count


def download_gz2(to: Path, api: str = ZENODO_API, hart16_url: str = HART16_URL, record: str = GZ2_ZENODO_RECORD) -> Path:
    """Download and unpack the GZ2 release into ``to`` in the layout the reader expects."""
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    files = zenodo_files(record, api) + [RemoteFile("gz2_hart16.csv.gz", hart16_url, None)]
    for remote in files:
        path = fetch(remote, to / remote.name)
        if path.suffix == ".zip":
            marker = to / f".{path.name}.extracted"
            if not marker.exists():
                logger.info(f"{path.name}: {safe_extract(path, to / path.stem)} files extracted to {to / path.stem}")
                marker.write_text(remote.checksum or "")
    return to
