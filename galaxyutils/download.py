"""Fetch the public GZ2 release: images and filename mapping from Zenodo, Hart+16 votes.

Written on the standard library because none of the usual helpers (pooch, zenodo_get) both
resumes a partial multi-gigabyte download with an HTTP Range request and verifies it against
the checksums Zenodo publishes; the images zip alone is about 3 GB.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

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
    md5: str | None  # None where the publisher gives no checksum
    size: int | None = None


def zenodo_files(record: str, api: str = ZENODO_API) -> list[RemoteFile]:
    """The files of a Zenodo record with their published MD5 checksums."""
    with urllib.request.urlopen(f"{api}/records/{record}", timeout=60) as response:
        entries = json.load(response)["files"]
    files = []
    for entry in entries:
        algorithm, _, digest = entry.get("checksum", "").partition(":")
        files.append(RemoteFile(entry["key"], entry["links"]["self"], digest if algorithm == "md5" else None, entry.get("size")))
    return files


def fetch(remote: RemoteFile, target: Path) -> Path:
    """Download ``remote`` to ``target``, resuming a ``.part`` file left by an earlier attempt,
    and verify its MD5 before renaming it into place. A finished, verified file is kept."""
    target = Path(target)
    if target.exists() and (remote.md5 is None or _md5(target) == remote.md5):
        return target
    partial = target.with_name(target.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(remote.url, headers={"Range": f"bytes={offset}-"} if offset else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        if offset and response.status != 206:  # the server ignored the range: start again
            offset = 0
        total = remote.size or (offset + int(response.headers.get("Content-Length", 0)) or None)
        with open(partial, "ab" if offset else "wb") as out, tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=remote.name) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    if remote.md5 is not None and (actual := _md5(partial)) != remote.md5:
        partial.unlink()
        raise DownloadError(f"{remote.name}: MD5 {actual} does not match the published {remote.md5}; the partial file was removed, run again")
    os.replace(partial, target)
    return target


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


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


def download_gz2(to: Path, api: str = ZENODO_API, hart16_url: str = HART16_URL, record: str = GZ2_ZENODO_RECORD, log=print) -> Path:
    """Download and unpack the GZ2 release into ``to`` in the layout the reader expects."""
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    files = zenodo_files(record, api) + [RemoteFile("gz2_hart16.csv.gz", hart16_url, None)]
    for remote in files:
        path = fetch(remote, to / remote.name)
        log(f"{remote.name}: {'MD5 verified' if remote.md5 else 'no published checksum; sha256 ' + hashlib.sha256(path.read_bytes()).hexdigest()[:16]}")
        if path.suffix == ".zip":
            marker = to / f".{path.name}.extracted"
            if not marker.exists():
                log(f"{path.name}: {safe_extract(path, to / path.stem)} files extracted to {to / path.stem}")
                marker.write_text(remote.md5 or "")
    return to
