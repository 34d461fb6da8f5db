"""01_data: read a galaxy catalogue as published and build the run's image store.

The contract with later stages is a catalogue DataFrame with ``id_str`` and ``file_loc`` (one
row per usable galaxy, vote columns under their GZ2 names), a uint8 image store in catalogue
order, and a rejects table saying what was not used and why.
"""

from __future__ import annotations

import math
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from . import synthetic
from .config import Params

VOTE_COLUMN = re.compile(r"^t\d\d_\w+_a\d\d_\w+_(fraction|weighted_fraction|debiased)$")
REJECT_COLUMNS = ["id_str", "file", "reason"]


@dataclass
class Catalogue:
    """A catalogue read from disk: usable rows, rejected inputs, and the vote columns found."""

    table: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    vote_columns: list[str] = field(default_factory=list)


def _reject(id_str, file, reason) -> dict[str, str]:
    return {"id_str": str(id_str), "file": str(file), "reason": reason}


def read_gz2_release(root: Path, limit: int | None = None) -> Catalogue:
    """Read the GZ2 release layout: ``gz2_hart16.csv[.gz]`` + ``gz2_filename_mapping.csv`` + images.

    Images are looked for in ``root/images``, ``root/images_gz2/images`` or ``root`` as
    ``<asset_id>.jpg``. Catalogue rows without a mapping or an image file, and duplicate ids, go to
    the rejects; so do image files that no catalogue row names.
    """
    root = Path(root)
    catalogue_path = _first_existing(root, ["gz2_hart16.csv", "gz2_hart16.csv.gz", "gz2_hart16_sample.csv"])
    mapping_path = _first_existing(root, ["gz2_filename_mapping.csv", "gz2_filename_mapping_sample.csv"])
    image_dir = _first_existing(root, ["images", "images_gz2/images", "."])
    votes = pd.read_csv(catalogue_path, dtype={"dr7objid": str}, nrows=limit)
    mapping = pd.read_csv(mapping_path, dtype={"objid": str, "asset_id": str})
    rejects = []

    votes["id_str"] = votes["dr7objid"]
    duplicated = votes["id_str"].duplicated(keep="first")
    rejects += [_reject(i, catalogue_path.name, "duplicate id in catalogue (first row kept)") for i in votes.loc[duplicated, "id_str"]]
    votes = votes.loc[~duplicated]

    # The release maps some objids to several assets (e.g. original and stripe82 imaging); take the
    # first asset for each objid.
    mapping = mapping.drop_duplicates("objid", keep="first").rename(columns={"objid": "id_str", "sample": "mapping_sample"})
    table = votes.merge(mapping[["id_str", "asset_id"]], on="id_str", how="left")
    unmapped = table["asset_id"].isna()
    rejects += [_reject(i, mapping_path.name, "no asset_id in filename mapping") for i in table.loc[unmapped, "id_str"]]
    table = table.loc[~unmapped].copy()

    table["file_loc"] = [str(image_dir / f"{asset}.jpg") for asset in table["asset_id"]]
    present = {p.name for p in image_dir.glob("*.jpg")}
    missing = ~table["file_loc"].map(lambda p: Path(p).name in present)
    rejects += [_reject(i, f, "image file missing") for i, f in table.loc[missing, ["id_str", "file_loc"]].itertuples(index=False)]
    table = table.loc[~missing]
    if limit is None:
        named = set(table["file_loc"].map(lambda p: Path(p).name)) | {Path(r["file"]).name for r in rejects}
        rejects += [_reject("", image_dir / name, "image without catalogue row") for name in sorted(present - named)]

    vote_columns = [c for c in table.columns if VOTE_COLUMN.match(c)]
    front = ["id_str", "file_loc"]
    table = table[front + [c for c in table.columns if c not in front]].reset_index(drop=True)
    return Catalogue(table, pd.DataFrame(rejects, columns=REJECT_COLUMNS), vote_columns)


def read_source(params: Params, repo_root: Path, work_dir: Path) -> tuple[Catalogue, str]:
    """The catalogue named by ``params.data``, and a sentence saying what was read.

    ``synthetic`` first generates galaxies (under ``data.root`` or ``work_dir/synthetic``) in the
    GZ2 release layout, so both sources go through the same reader. Relative roots are taken
    from the repository root.
    """
    root = Path(params.data.root) if params.data.root else None
    if root is not None and not root.is_absolute():
        root = (repo_root / root).resolve()
    if params.data.source == "synthetic":
        root = root or Path(work_dir) / "synthetic"
        synthetic.write_release(root, params.synthetic.n_galaxies, params.seed, params.synthetic.size, params.data.workers)
        what = f"{params.synthetic.n_galaxies} built-in synthetic galaxies (seed {params.seed}) in GZ2 release layout at {root}"
    else:
        what = f"GZ2 release layout (Hart et al. 2016 votes) at {root}"
    return read_gz2_release(root, params.data.limit), what


def _first_existing(root: Path, names: list[str]) -> Path:
    for name in names:
        if (root / name).exists():
            return root / name
    raise FileNotFoundError(f"none of {names} found in {root}")


def load_image(path: str | Path, size: int, crop_fraction: float) -> np.ndarray:
    """Decode one image to uint8 size x size x 3: centre crop, then resize.

    PIL's JPEG draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale in the DCT domain, so a
    424 px galaxy becomes a ~100 px store image without ever building the full-size bitmap.
    Greyscale and palette images are converted to RGB; any image size is accepted.
    """
    with Image.open(path) as image:
        needed = math.ceil(size / crop_fraction)
        image.draft("RGB", (needed, needed))
        image = image.convert("RGB")
        width, height = image.size
        side = min(width, height) * crop_fraction
        left, top = (width - side) / 2, (height - side) / 2
        return np.asarray(
            image.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side), reducing_gap=2.0)
        )


def _load_chunk(args: tuple[list[str], int, float]) -> tuple[np.ndarray, list[str | None]]:
    paths, size, crop_fraction = args
    out = np.zeros((len(paths), size, size, 3), np.uint8)
    errors: list[str | None] = []
    for k, path in enumerate(paths):
        try:
            out[k] = load_image(path, size, crop_fraction)
            errors.append(None)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
            errors.append(f"unreadable image: {type(error).__name__}: {error}")
    return out, errors


def build_image_store(
    paths: list[str], out_path: Path, size: int, crop_fraction: float, workers: int = 0, chunk: int = 64
) -> tuple[np.ndarray, list[str | None]]:
    """Decode every path once into ``out_path`` (.npy, uint8 N x size x size x 3), in parallel.

    Work goes to a memory-mapped ``.partial`` file and a ``.done`` mask saved after each chunk, so
    a killed build resumes where it stopped; the store is renamed into place only when complete.
    Returns the store and, per path, None or the reason it could not be read (its row is zeros).
    """
    out_path = Path(out_path)
    partial = out_path.with_suffix(".partial.npy")
    done_path = out_path.with_suffix(".done.npy")
    errors_path = out_path.with_suffix(".errors.npy")
    n = len(paths)
    resumable = partial.exists() and done_path.exists() and errors_path.exists()
    if resumable:
        store = np.load(partial, mmap_mode="r+")
        resumable = store.shape == (n, size, size, 3)
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
            _save_atomic(errors_path, np.array(errors, dtype=str))
            _save_atomic(done_path, done)
            bar.update(len(images))
    del store
    os.replace(partial, out_path)
    done_path.unlink()
    errors_path.unlink()
    return np.load(out_path, mmap_mode="r"), [e or None for e in errors]


def _save_atomic(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file handle: np.save would append .npy to a name
            np.save(handle, array)

    _write_atomic(write, path)


def prepare(catalogue: Catalogue, artifacts: Path, size: int, crop_fraction: float, workers: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build ``catalog.parquet``, ``images.npy`` and ``rejects.csv`` in ``artifacts``.

    Images that cannot be decoded join the rejects and leave the catalogue and the store, so
    row i of the store is always row i of the catalogue. Raises if no galaxy is left.
    """
    artifacts = Path(artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    table = catalogue.table
    store_path = artifacts / "images.npy"
    store, errors = build_image_store(list(table["file_loc"]), artifacts / "images.all.npy", size, crop_fraction, workers)
    bad = np.array([e is not None for e in errors], bool)
    rejects = pd.concat(
        [catalogue.rejects, pd.DataFrame([_reject(i, f, e) for (i, f), e in zip(table[["id_str", "file_loc"]].itertuples(index=False), errors) if e])],
        ignore_index=True,
    )
    if bad.all():
        raise RuntimeError(f"no usable galaxies: all {len(table)} catalogued images failed to decode (see rejects.csv)")
    _save_atomic(store_path, np.ascontiguousarray(store[~bad]))
    (artifacts / "images.all.npy").unlink()
    table = table.loc[~bad].reset_index(drop=True)
    _write_atomic(table.to_parquet, artifacts / "catalog.parquet", index=False)
    _write_atomic(rejects.to_csv, artifacts / "rejects.csv", index=False)
    return table, rejects


def _write_atomic(writer, path: Path, **kwargs) -> None:
    tmp = path.with_name(path.name + ".tmp")
    writer(tmp, **kwargs)
    os.replace(tmp, path)
