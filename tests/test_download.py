"""The GZ2 download against a fake release served on 127.0.0.1; no test touches the internet."""

import hashlib
import io
import json
import re
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import REPO_ROOT
from galaxyutils import download, readers, synthetic


class FakeRelease:
    """Serves a Zenodo-like record API and files, honouring Range requests, and logs requests."""

    def __init__(self, files: dict[str, bytes], checksums: dict[str, str] | None = None):
        self.files, self.requests = files, []
        self.cut_after: dict[str, int] = {}  # name -> bytes sent before the connection drops
        self.checksums = checksums or {n: "md5:" + hashlib.md5(b).hexdigest() for n, b in files.items() if n.endswith((".zip", ".csv"))}
        release = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                name = self.path.removeprefix("/files/")
                self.send_response(200 if name in release.files else 404)
                self.send_header("Content-Length", str(len(release.files.get(name, b""))))
                self.end_headers()

            def do_GET(self):
                release.requests.append((self.path, self.headers.get("Range")))
                if self.path == "/api/records/3565489":
                    entries = [{"key": n, "size": len(b), "checksum": release.checksums.get(n, ""), "links": {"self": f"{release.url}/files/{n}"}}
                               for n, b in release.files.items() if n != "gz2_hart16.csv.gz"]
                    return self._send(200, json.dumps({"files": entries}).encode())
                name = self.path.removeprefix("/files/")
                if name not in release.files:
                    return self._send(404, b"")
                body, status = release.files[name], 200
                if match := re.match(r"bytes=(\d+)-", self.headers.get("Range") or ""):
                    body, status = body[int(match.group(1)):], 206
                if name in release.cut_after:  # promise the whole body, send part of it, hang up
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: release.cut_after.pop(name)])
                    self.close_connection = True
                    return
                self._send(status, body)

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture
def fake_release(tmp_path):
    source = synthetic.write_release(tmp_path / "source", 4, seed=0, size=64, workers=1)
    images = {f"images/{p.name}": p.read_bytes() for p in (source / "images").glob("*.jpg")}
    files = {
        "images_gz2.zip": _zip(images),
        "gz2_filename_mapping.csv": (source / "gz2_filename_mapping.csv").read_bytes(),
        "gz2_hart16.csv.gz": __import__("gzip").compress((source / "gz2_hart16.csv").read_bytes()),
    }
    release = FakeRelease(files)
    yield release
    release.close()


def test_download_builds_a_release_the_reader_accepts(fake_release, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "galaxyutils", "download", "gz2", "--to", str(tmp_path / "gz2"),
         "--zenodo-api", f"{fake_release.url}/api", "--hart16-url", f"{fake_release.url}/files/gz2_hart16.csv.gz"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "images_gz2.zip: MD5 verified" in result.stdout and "gz2_filename_mapping.csv: MD5 verified" in result.stdout
    assert "gz2_hart16.csv.gz: length checked, no published checksum" in result.stdout
    catalogue = readers.read_catalogue("auto", tmp_path / "gz2")
    assert len(catalogue.table) == 4 and catalogue.rejects.empty


def test_partial_download_resumes_with_a_range_request(fake_release, tmp_path):
    content = fake_release.files["images_gz2.zip"]
    (tmp_path / "images_gz2.zip.part").write_bytes(content[:1000])
    remote = download.RemoteFile("images_gz2.zip", f"{fake_release.url}/files/images_gz2.zip", "md5:" + hashlib.md5(content).hexdigest(), len(content))
    path = download.fetch(remote, tmp_path / "images_gz2.zip")
    assert path.read_bytes() == content
    assert fake_release.requests[-1] == ("/files/images_gz2.zip", "bytes=1000-")
    fake_release.requests.clear()
    download.fetch(remote, tmp_path / "images_gz2.zip")  # verified file present: nothing fetched
    assert fake_release.requests == []


def test_checksum_mismatch_is_refused_and_the_partial_file_removed(fake_release, tmp_path):
    remote = download.RemoteFile("gz2_filename_mapping.csv", f"{fake_release.url}/files/gz2_filename_mapping.csv", "md5:" + "0" * 32)
    with pytest.raises(download.DownloadError, match="does not match the published"):
        download.fetch(remote, tmp_path / "mapping.csv")
    assert not (tmp_path / "mapping.csv").exists() and not (tmp_path / "mapping.csv.part").exists()


@pytest.mark.parametrize("member", ["../escape.jpg", "images/../../escape.jpg", "/tmp/absolute-escape.jpg"])
def test_extraction_refuses_members_that_escape(member, tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip({"images/ok.jpg": b"fine", member: b"evil"}))
    with pytest.raises(download.DownloadError, match="outside"):
        download.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "images" / "ok.jpg").exists()  # refused whole, nothing written
    assert not (tmp_path / "escape.jpg").exists()


def test_a_download_that_breaks_off_keeps_its_partial_and_resumes(fake_release, tmp_path):
    content = fake_release.files["gz2_hart16.csv.gz"]
    remote = download.RemoteFile("gz2_hart16.csv.gz", f"{fake_release.url}/files/gz2_hart16.csv.gz", None)  # no checksum published
    fake_release.cut_after["gz2_hart16.csv.gz"] = 300
    with pytest.raises(download.DownloadError, match="run again to resume"):
        download.fetch(remote, tmp_path / "gz2_hart16.csv.gz")
    assert not (tmp_path / "gz2_hart16.csv.gz").exists() and (tmp_path / "gz2_hart16.csv.gz.part").read_bytes() == content[:300]
    path = download.fetch(remote, tmp_path / "gz2_hart16.csv.gz")
    assert path.read_bytes() == content and fake_release.requests[-1] == ("/files/gz2_hart16.csv.gz", "bytes=300-")


def test_a_short_file_left_in_place_is_fetched_again(fake_release, tmp_path):
    content = fake_release.files["gz2_hart16.csv.gz"]
    (tmp_path / "gz2_hart16.csv.gz").write_bytes(content[:100])  # what an unchecked rename used to leave
    remote = download.RemoteFile("gz2_hart16.csv.gz", f"{fake_release.url}/files/gz2_hart16.csv.gz", None)
    assert download.fetch(remote, tmp_path / "gz2_hart16.csv.gz").read_bytes() == content


@pytest.mark.parametrize("algorithm", ["sha256", "sha1"])
def test_every_published_checksum_kind_is_verified(fake_release, tmp_path, algorithm):
    content = fake_release.files["gz2_filename_mapping.csv"]
    url = f"{fake_release.url}/files/gz2_filename_mapping.csv"
    right = f"{algorithm}:" + hashlib.new(algorithm, content).hexdigest()
    assert download.fetch(download.RemoteFile("m.csv", url, right), tmp_path / "right.csv").read_bytes() == content
    with pytest.raises(download.DownloadError, match=f"{algorithm.upper()} .* does not match"):
        download.fetch(download.RemoteFile("m.csv", url, f"{algorithm}:" + "0" * 40), tmp_path / "wrong.csv")


def test_a_fetch_reads_the_file_once_to_check_it_and_logs_its_sha256(fake_release, tmp_path, monkeypatch, caplog):
    content = fake_release.files["images_gz2.zip"]
    remote = download.RemoteFile("images_gz2.zip", f"{fake_release.url}/files/images_gz2.zip", "md5:" + hashlib.md5(content).hexdigest(), len(content))
    reads = []
    real_digests = download._digests
    monkeypatch.setattr(download, "_digests", lambda path, algorithms: reads.append(path.name) or real_digests(path, algorithms))
    with caplog.at_level("INFO", logger="galaxyutils"):
        download.fetch(remote, tmp_path / "images_gz2.zip")
        download.fetch(remote, tmp_path / "images_gz2.zip")  # already in place: checked again, not fetched
    assert reads == ["images_gz2.zip.part", "images_gz2.zip"]
    sha256 = hashlib.sha256(content).hexdigest()[:16]
    assert [record.getMessage() for record in caplog.records] == [f"images_gz2.zip: MD5 verified; sha256 {sha256}"] * 2
