"""01_data: decode the catalogue's images once into the run's image store.

Reading the catalogue is readers.py's job; here each galaxy's image is centre-cropped and
resized into a uint8 store in catalogue order, and images that cannot be decoded join the
rejects, so row i of the store is always row i of catalogue.parquet.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm  # text bars: a notebook saved by papermill keeps their last state, widget bars show 0%

from .files import save_array_atomic, write_atomic
from .readers import REJECT_COLUMNS, Catalogue, CatalogueError, reject_row

logger = logging.getLogger(__name__)

# Modes PIL gives to high-bit-depth images; converting them to RGB directly clips at 255.
_WIDE_MODES = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I": 65535, "F": 1.0}
CONVERTED = "converted: "  # prefix of a decoding note: the image is kept, changed as it says


def decode_image(path: str | Path, size: int, crop_fraction: float) -> tuple[np.ndarray, str | None]:
    """Decode one image to uint8 size x size x 3 (centre crop, then resize), and a note when it
    had to be converted beyond RGB's usual (a 16-bit image scaled to 8 bits).

    PIL's JPEG draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale in the DCT domain, so a
    424 px galaxy becomes a ~100 px store image without ever building the full-size bitmap.
    Greyscale and palette images are converted to RGB; any image size is accepted.
    """
    with Image.open(path) as image:
        needed = math.ceil(size / crop_fraction)
        image.draft("RGB", (needed, needed))
        note = None
        if image.mode in _WIDE_MODES:
            full_scale = _WIDE_MODES[image.mode]
            pixels = np.asarray(image, dtype=np.float64)
            image = Image.fromarray(np.clip(pixels / full_scale * 255.0, 0, 255).round().astype(np.uint8))
            note = f"{CONVERTED}{'32-bit float' if full_scale == 1.0 else '16-bit'} image scaled to 8 bits (full scale {full_scale})"
        return crop_resize(image, size, crop_fraction), note


def load_image(path: str | Path, size: int, crop_fraction: float) -> np.ndarray:
    """``decode_image`` without its note."""
    return decode_image(path, size, crop_fraction)[0]


def crop_resize(image: Image.Image, size: int, crop_fraction: float) -> np.ndarray:
    """The central ``crop_fraction`` of the shorter side, resized to ``size`` x ``size`` RGB (uint8):
    how the store and every comparison figure see an image."""
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height) * crop_fraction
    left, top = (width - side) / 2, (height - side) / 2
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side), reducing_gap=2.0))


def _load_chunk(args: tuple[list[str], int, float]) -> tuple[np.ndarray, list[str | None]]:
    paths, size, crop_fraction = args
    out = np.zeros((len(paths), size, size, 3), np.uint8)
    errors: list[str | None] = []
    for k, path in enumerate(paths):
        try:
            out[k], note = decode_image(path, size, crop_fraction)
            errors.append(note)
        except Exception as error:  # noqa: BLE001 - whatever one file does wrong (a decompression bomb too) is that file's reject
            errors.append(f"unreadable image: {type(error).__name__}: {error}")
    return out, errors


def build_image_store(
    paths: list[str], out_path: Path, size: int, crop_fraction: float, workers: int = 0, chunk: int = 64
) -> tuple[np.ndarray, list[str | None]]:
    """Decode every path once into ``out_path`` (.npy, uint8 N x size x size x 3), in parallel.

    Work goes to a memory-mapped ``.partial`` file and a ``.done`` mask saved after each chunk, so
    a killed build resumes where it stopped, provided its inputs are unchanged (``inputs_key``:
    otherwise the partial is discarded); the store is renamed into place only when complete.
    Returns the store and, per path, None, the reason it could not be read (its row is zeros), or
    a note starting with ``CONVERTED`` (kept, converted as the note says).
    """
    out_path = Path(out_path)
    partial = out_path.with_suffix(".partial.npy")
    done_path = out_path.with_suffix(".done.npy")
    errors_path = out_path.with_suffix(".errors.npy")
    key_path = out_path.with_suffix(".key")
    n = len(paths)
    key = inputs_key(paths, size, crop_fraction)
    resumable = partial.exists() and done_path.exists() and errors_path.exists() and key_path.exists() and key_path.read_text() == key
    if resumable:
        store = np.load(partial, mmap_mode="r+")
        resumable = store.shape == (n, size, size, 3)
    elif partial.exists():
        logger.warning(f"{partial.name}: a partial store built from other inputs (files, their order, sizes or times, or the crop) is discarded")
    if not resumable:
        write_atomic(lambda tmp: tmp.write_text(key), key_path)
    if resumable:
        done = np.load(done_path)
        errors = list(np.load(errors_path, allow_pickle=False))
    else:
        store = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
        done = np.zeros(n, bool)
        errors = [""] * n
    starts = [s for s in range(0, n, chunk) if not done[s : s + chunk].all()]
    jobs = [(paths[s : s + chunk], size, crop_fraction) for s in starts]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool, tqdm(total=n, initial=int(done.sum()), desc="decoding", unit="img") as bar:
        for start, (images, chunk_errors) in zip(starts, pool.map(_load_chunk, jobs)):
            store[start : start + len(images)] = images
            errors[start : start + len(images)] = [e or "" for e in chunk_errors]
            done[start : start + len(images)] = True
            store.flush()
            save_array_atomic(errors_path, np.array(errors, dtype=str))
            save_array_atomic(done_path, done)
            bar.update(len(images))
            finished = int(done.sum())
            if finished == n or finished // max(1, n // 10) > (finished - len(images)) // max(1, n // 10):
                logger.info(f"decoded {finished:,} of {n:,} images into {out_path.name}")
    del store
    os.replace(partial, out_path)
    done_path.unlink()
    errors_path.unlink()
    key_path.unlink()
    return np.load(out_path, mmap_mode="r"), [e or None for e in errors]


def inputs_key(paths: list[str], size: int, crop_fraction: float) -> str:
    """Hash of what a store is built from: every path in order with its size and modification
    time, the side and the crop. A partial store is resumed only under the same key."""
    digest = hashlib.sha256(f"{size} {crop_fraction}\n".encode())
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def _decode_into_store(table: pd.DataFrame, store_path: Path, size: int, crop_fraction: float, workers: int) -> tuple[pd.DataFrame, list]:
    """Decode ``table.file_loc`` into ``store_path``; rows that fail leave the table and the store,
    rows that were converted keep a ``decode_note`` saying how."""
    scratch = store_path.with_name(store_path.stem + ".all.npy")
    store, errors = build_image_store(list(table["file_loc"]), scratch, size, crop_fraction, workers)
    bad = np.array([e is not None and not e.startswith(CONVERTED) for e in errors], bool)
    rejects = [reject_row(i, f, e) for (i, f), e, b in zip(table[["id_str", "file_loc"]].itertuples(index=False), errors, bad) if b]
    save_array_atomic(store_path, np.ascontiguousarray(store[~bad]))
    del store
    scratch.unlink()
    notes = pd.Series([e[len(CONVERTED):] if e and not b else None for e, b in zip(errors, bad)], index=table.index, dtype=object)
    kept = table.loc[~bad].copy()  # a copy is also consolidated: assigning to a frame built column by column warns
    kept["decode_note"] = notes[~bad]
    kept = kept.reset_index(drop=True)
    if kept.decode_note.isna().all():
        kept = kept.drop(columns="decode_note")
    return kept, rejects


def prepare(catalogue: Catalogue, artifacts: Path, size: int, crop_fraction: float, workers: int = 0,
            extra: list[Catalogue] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build ``catalogue.parquet``, ``images.npy`` and ``rejects.csv`` in ``artifacts``.

    Images that cannot be decoded join the rejects and leave the catalogue and the store, so
    row i of the store is always row i of the catalogue. ``extra`` catalogues (unlabelled
    training images) go to ``images_extra.npy`` and ``catalogue_extra.parquet`` (``id_str``,
    ``file_loc``), their rejects marked as such. Raises if no
    galaxy is left.
    """
    artifacts = Path(artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    if catalogue.table.empty:
        _stop_without_galaxies(catalogue.rejects, artifacts, "every catalogue row was rejected")
    table, decode_rejects = _decode_into_store(catalogue.table, artifacts / "images.npy", size, crop_fraction, workers)
    rejects = [catalogue.rejects, pd.DataFrame(decode_rejects, columns=REJECT_COLUMNS)]
    if table.empty:
        _stop_without_galaxies(pd.concat(rejects, ignore_index=True), artifacts, f"all {len(catalogue.table)} catalogued images failed to decode")
    if extra:
        extra_table = pd.concat([c.table[["id_str", "file_loc"]] for c in extra], ignore_index=True)
        extra_kept, extra_rejects = _decode_into_store(extra_table, artifacts / "images_extra.npy", size, crop_fraction, workers)
        write_atomic(extra_kept.to_parquet, artifacts / "catalogue_extra.parquet", index=False)
        for frame in [c.rejects for c in extra] + [pd.DataFrame(extra_rejects, columns=REJECT_COLUMNS)]:
            rejects.append(frame.assign(reason="extra training image: " + frame["reason"]))
    nonempty = [r for r in rejects if len(r)]
    rejects = pd.concat(nonempty, ignore_index=True) if nonempty else catalogue.rejects
    write_atomic(table.to_parquet, artifacts / "catalogue.parquet", index=False)
    write_atomic(rejects.to_csv, artifacts / "rejects.csv", index=False)
    if "decode_note" in table:
        converted = table.decode_note.notna()
        logger.info(f"{int(converted.sum())} images kept after conversion (e.g. {table.file_loc[converted].iloc[0]}: "
              f"{table.decode_note[converted].iloc[0]}); each has a decode_note in catalogue.parquet")
    return table, rejects


def _stop_without_galaxies(rejects: pd.DataFrame, artifacts: Path, what: str) -> None:
    """Write rejects.csv, then stop: a run without a single usable galaxy, and why."""
    write_atomic(rejects.to_csv, artifacts / "rejects.csv", index=False)
    reasons = "; ".join(f"{reason}: {count}" for reason, count in rejects.reason.value_counts().head(3).items())
    raise CatalogueError(f"no usable galaxies: {what} ({reasons}); every input and its reason is in {artifacts / 'rejects.csv'}")


def training_images(artifacts: Path) -> np.ndarray:
    """The catalogue's image store plus, when 01 built one, the extra unlabelled images."""
    images = np.load(Path(artifacts) / "images.npy", mmap_mode="r")
    extra_path = Path(artifacts) / "images_extra.npy"
    if not extra_path.exists():
        return images
    return np.concatenate([images, np.load(extra_path, mmap_mode="r")])
