import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galaxyutils import data, readers, synthetic


@pytest.fixture
def release(tmp_path):
    """A small synthetic release with one of each kind of bad input."""
    root = synthetic.write_release(tmp_path / "release", 10, seed=1, size=96, workers=1)
    images = root / "images"
    (images / "2.jpg").write_bytes(b"not a jpeg at all")  # corrupt
    (images / "3.jpg").write_bytes((images / "4.jpg").read_bytes()[:200])  # truncated
    (images / "5.jpg").write_bytes(b"")  # empty
    (images / "6.jpg").unlink()  # missing
    Image.open(images / "7.jpg").convert("L").save(images / "7.jpg")  # greyscale
    Image.open(images / "8.jpg").resize((150, 90)).save(images / "8.jpg")  # odd size
    Image.new("RGB", (64, 64)).save(images / "999.jpg")  # no catalogue row
    catalogue = pd.read_csv(root / "gz2_hart16.csv", dtype={"dr7objid": str})
    pd.concat([catalogue, catalogue.iloc[[0]]]).to_csv(root / "gz2_hart16.csv", index=False)  # duplicate id
    return root


def test_every_bad_input_is_recorded_or_handled(release, tmp_path):
    catalogue = readers.read_gz2_release(release)
    table, rejects = data.prepare(catalogue, tmp_path / "artifacts", size=24, crop_fraction=0.8, workers=1)
    reasons = dict(zip(rejects.file.map(lambda f: f.rsplit("/", 1)[-1]), rejects.reason))
    assert reasons["6.jpg"] == "image file missing"
    assert reasons["999.jpg"] == "image without catalogue row"
    assert any("duplicate id" in r for r in rejects.reason)
    for name in ("2.jpg", "3.jpg", "5.jpg"):
        assert reasons[name].startswith("unreadable image"), name
    store = np.load(tmp_path / "artifacts" / "images.npy")
    assert store.shape == (len(table), 24, 24, 3) and len(table) == 6  # 10 - missing - 3 unreadable
    # Every input is accounted for: 11 catalogue rows (one a duplicate) and one image no row names.
    assert len(table) + len(rejects) == 11 + 1
    kept = set(table.file_loc.map(lambda f: f.rsplit("/", 1)[-1]))
    assert {"7.jpg", "8.jpg"} <= kept  # greyscale and odd-sized images are converted, not lost
    assert (store.reshape(len(store), -1).max(axis=1) > 0).all()
    saved = pd.read_parquet(tmp_path / "artifacts" / "catalogue.parquet")
    assert list(saved.id_str) == list(table.id_str) and {"id_str", "file_loc"} <= set(saved.columns)
    assert len(pd.read_csv(tmp_path / "artifacts" / "rejects.csv")) == len(rejects)


def test_no_usable_galaxy_is_a_clear_error(tmp_path):
    root = synthetic.write_release(tmp_path / "release", 2, seed=1, size=64, workers=1)
    for path in (root / "images").glob("*.jpg"):
        path.write_bytes(b"broken")
    with pytest.raises(readers.CatalogueError, match="no usable galaxies"):
        data.prepare(readers.read_gz2_release(root), tmp_path / "artifacts", 16, 1.0, workers=1)
    assert len(pd.read_csv(tmp_path / "artifacts" / "rejects.csv")) == 2


def test_store_build_resumes_without_redoing_finished_chunks(tmp_path, monkeypatch):
    root = synthetic.write_release(tmp_path / "release", 8, seed=2, size=64, workers=1)
    paths = sorted(str(p) for p in (root / "images").glob("*.jpg"))
    reference, _ = data.build_image_store(paths, tmp_path / "reference.npy", 16, 1.0, workers=1, chunk=4)
    reference = np.array(reference)

    calls = []
    original = data._load_chunk

    def fail_on_second_chunk(args):
        calls.append(args[0][0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(args)

    monkeypatch.setattr(data, "ProcessPoolExecutor", _InlineExecutor)
    monkeypatch.setattr(data, "_load_chunk", fail_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        data.build_image_store(paths, tmp_path / "store.npy", 16, 1.0, workers=1, chunk=4)
    assert not (tmp_path / "store.npy").exists()  # never a half-written store under the final name
    calls.clear()
    monkeypatch.setattr(data, "_load_chunk", lambda args: calls.append(args[0][0]) or original(args))
    store, errors = data.build_image_store(paths, tmp_path / "store.npy", 16, 1.0, workers=1, chunk=4)
    assert calls == [paths[4]]  # only the unfinished chunk was decoded again
    assert np.array_equal(store, reference) and errors == [None] * 8


class _InlineExecutor:
    """Runs map() in this process, lazily like ProcessPoolExecutor, so a test can interrupt it."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, jobs):
        return (fn(job) for job in jobs)


def test_draft_decoding_matches_a_full_decode(shared_data):
    path = next((shared_data / "gz2_sample" / "images").glob("*.jpg"))
    fast = data.load_image(path, 64, 0.5).astype(float)
    with Image.open(path) as image:
        side = image.size[0] * 0.5
        box = ((image.size[0] - side) / 2, (image.size[1] - side) / 2, (image.size[0] + side) / 2, (image.size[1] + side) / 2)
        slow = np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.LANCZOS, box=box)).astype(float)
    assert np.abs(fast - slow).mean() < 4.0


def test_reads_the_real_gz2_sample(shared_data):
    catalogue = readers.read_gz2_release(shared_data / "gz2_sample")
    assert len(catalogue.table) == 500
    assert "t01_smooth_or_features_a01_smooth_weighted_fraction" in catalogue.vote_columns
    assert catalogue.table.id_str.is_unique
    assert catalogue.rejects.empty, catalogue.rejects.head()


def _jpeg_claiming(path, side: int) -> None:
    """A small JPEG whose header says it is side x side pixels."""
    Image.new("RGB", (16, 16), (120, 80, 40)).save(path, "JPEG")
    raw = bytearray(path.read_bytes())
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5 : sof + 9] = side.to_bytes(2, "big") * 2
    path.write_bytes(bytes(raw))


def test_an_image_whose_header_claims_a_huge_size_is_that_images_reject(tmp_path):
    good, bomb = tmp_path / "good.jpg", tmp_path / "bomb.jpg"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(good)
    _jpeg_claiming(bomb, 30000)
    store, errors = data.build_image_store([str(good), str(bomb)], tmp_path / "store.npy", 8, 1.0, workers=1)
    assert errors[0] is None and store[0].max() > 0
    assert errors[1].startswith("unreadable image: DecompressionBombError")
