"""01_data: read a galaxy catalogue as published and build the run's image store.

The contract with later stages is a catalogue DataFrame with ``id_str`` and ``file_loc`` (one
row per usable galaxy, vote columns under their GZ2 names), a uint8 image store in catalogue
order, and a rejects table saying what was not used and why.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm  # text bars: a notebook saved by papermill keeps their last state, widget bars show 0%

from .config import Params
from .files import resolve_root, save_array_atomic, write_atomic

VOTE_COLUMN = re.compile(r"^t\d\d_\w+_a\d\d_\w+?_(fraction|weighted_fraction|debiased)$")
REJECT_COLUMNS = ["id_str", "file", "reason"]


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
GZ2_CATALOGUES = [
    "gz2_hart16.csv", "gz2_hart16.csv.gz", "gz2_hart16_sample.csv",  # Hart et al. 2016
    "zoo2MainSpecz.csv", "zoo2MainSpecz.csv.gz", "gz2specz.csv", "gz2specz.csv.gz",  # Willett et al. 2013
    "zoo2MainPhotoz.csv", "zoo2MainPhotoz.csv.gz", "zoo2Stripe82Normal.csv", "zoo2Stripe82Normal.csv.gz",
]
GZ2_MAPPINGS = ["gz2_filename_mapping.csv", "gz2_filename_mapping_sample.csv"]
KAGGLE_CATALOGUE = "training_solutions_rev1.csv"
SOURCES = ("gz2", "kaggle", "labelled_folder", "folder")


class CatalogueError(ValueError):
    """A catalogue file that cannot be read as the layout it claims to be; the message names it."""


def _read_csv(path: Path, required: list[str] = (), **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` with one clear error naming the file for an empty file, a file that is
    not comma-separated, or one without the ``required`` columns."""
    try:
        table = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise CatalogueError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise CatalogueError(f"{path} could not be read as CSV: {error}") from None
    if len(table.columns) == 1 and ";" in str(table.columns[0]):
        raise CatalogueError(f"{path} looks semicolon-separated (header {str(table.columns[0])[:60]!r}...); the catalogues are comma-separated")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise CatalogueError(f"{path} has no column {', '.join(missing)} (its columns: {', '.join(map(str, table.columns[:8]))}"
                             f"{', ...' if len(table.columns) > 8 else ''})")
    return table


@dataclass
class Catalogue:
    """A catalogue read from disk: usable rows, rejected inputs, and what was found.

    ``table`` has ``id_str`` and ``file_loc`` first; ``vote_columns`` lists the GZ2 vote columns
    present; ``notes`` are sentences about inputs that were kept but are imperfect (NaN votes).
    """

    table: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    vote_columns: list[str] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)


def _reject(id_str, file, reason) -> dict[str, str]:
    return {"id_str": str(id_str), "file": str(file), "reason": reason}


def _first_existing(root: Path, names: list[str], what: str) -> Path:
    for name in names:
        if (root / name).exists():
            return root / name
    raise FileNotFoundError(f"no {what} in {root}: looked for {', '.join(names)}")


def _image_dir(root: Path, candidates: tuple[str, ...] = ("images", "images_gz2/images", "images_training_rev1")) -> Path:
    return next((root / c for c in candidates if (root / c).is_dir()), root)


def _drop_duplicates(table: pd.DataFrame, origin: str, rejects: list) -> pd.DataFrame:
    duplicated = table["id_str"].duplicated(keep="first")
    rejects += [_reject(i, origin, "duplicate id in catalogue (first row kept)") for i in table.loc[duplicated, "id_str"]]
    return table.loc[~duplicated]


def _finish(table: pd.DataFrame, image_dir: Path, rejects: list, source: str, check_unnamed: bool = True) -> Catalogue:
    """Shared last steps: drop rows whose image is missing, record images no row names, make
    vote columns numeric and note NaN votes, and put ``id_str`` and ``file_loc`` first."""
    present = {p.name for p in image_dir.iterdir() if p.is_file()} if image_dir.is_dir() else set()
    missing = ~table["file_loc"].map(lambda p: Path(p).name in present)
    rejects += [_reject(i, f, "image file missing") for i, f in table.loc[missing, ["id_str", "file_loc"]].itertuples(index=False)]
    table = table.loc[~missing].copy()
    if check_unnamed:
        named = set(table["file_loc"].map(lambda p: Path(p).name)) | {Path(r["file"]).name for r in rejects}
        for name in sorted(present - named):
            reason = "image without catalogue row" if name.lower().endswith(IMAGE_SUFFIXES) else "not an image file"
            rejects.append(_reject("", image_dir / name, reason))

    vote_columns = [c for c in table.columns if VOTE_COLUMN.match(c)]
    notes: list[str] = []
    if vote_columns:
        table[vote_columns] = table[vote_columns].apply(pd.to_numeric, errors="coerce")
        impossible = ~table[vote_columns].isna() & ~table[vote_columns].apply(lambda c: c.between(0.0, 1.0))
        if impossible.any().any():
            rows = impossible.any(axis=1)
            column = impossible.any().idxmax()
            example = table.loc[impossible[column], ["id_str", column]].iloc[0]
            notes.append(
                f"{int(impossible.sum().sum())} vote fractions in {int(rows.sum())} galaxies are outside 0-1 or infinite "
                f"(e.g. id {example.id_str}: {column} = {example[column]}): set to NaN, so left out of those answers' scores"
            )
            table[vote_columns] = table[vote_columns].mask(impossible)
        nan_rows = table[vote_columns].isna().any(axis=1)
        if nan_rows.any():
            notes.append(
                f"{int(nan_rows.sum())} galaxies have NaN in some vote column (e.g. id {table.loc[nan_rows, 'id_str'].iloc[0]}): "
                "kept for training and clustering, left out of those answers' scores"
            )
    front = ["id_str", "file_loc"]
    table = table[front + [c for c in table.columns if c not in front]].reset_index(drop=True)
    return Catalogue(table, pd.DataFrame(rejects, columns=REJECT_COLUMNS), vote_columns, source, notes)


def read_gz2_release(root: Path, limit: int | None = None) -> Catalogue:
    """Read a GZ2 vote table as published plus ``gz2_filename_mapping.csv`` and the images.

    Takes Hart et al. (2016) ``gz2_hart16.csv[.gz]`` or a Willett et al. (2013) table
    (``zoo2MainSpecz`` / "gz2specz", where the class column is ``gz2class`` and ``specobjid`` /
    ``dr8objid`` may be present). Images are ``<asset_id>.jpg`` in ``root/images``,
    ``root/images_gz2/images`` or ``root``. Catalogue rows without a mapping or an image file, and
    duplicate ids, go to the rejects; so do files that no catalogue row names.
    """
    root = Path(root)
    catalogue_path = _first_existing(root, GZ2_CATALOGUES, "GZ2 vote table")
    mapping_path = _first_existing(root, GZ2_MAPPINGS, "GZ2 filename mapping")
    image_dir = _image_dir(root)
    header = _read_csv(catalogue_path, nrows=0).columns
    id_column = "dr7objid" if "dr7objid" in header else "objid"
    votes = _read_csv(catalogue_path, [id_column], dtype={id_column: str, "specobjid": str, "dr8objid": str}, nrows=limit)
    votes = votes.rename(columns={"gz2class": "gz2_class"})
    votes = pd.concat([votes[id_column].str.strip().rename("id_str"), votes], axis=1)
    rejects: list = []
    votes = _drop_duplicates(votes, catalogue_path.name, rejects)

    # The release maps some objids to several assets (e.g. original and stripe82 imaging); take the
    # first asset for each objid.
    mapping = _read_csv(mapping_path, ["objid", "asset_id"], dtype={"objid": str, "asset_id": str})
    mapping = mapping.drop_duplicates("objid", keep="first").rename(columns={"objid": "id_str"})
    table = votes.merge(mapping[["id_str", "asset_id"]], on="id_str", how="left")
    unmapped = table["asset_id"].isna()
    rejects += [_reject(i, mapping_path.name, "no asset_id in filename mapping") for i in table.loc[unmapped, "id_str"]]
    table = table.loc[~unmapped].copy()
    shared = table["asset_id"].duplicated(keep="first")
    first_owner = table.drop_duplicates("asset_id").set_index("asset_id")["id_str"]
    rejects += [_reject(i, mapping_path.name, f"asset_id {a} is also mapped to objid {first_owner[a]} (its first objid kept)")
                for i, a in table.loc[shared, ["id_str", "asset_id"]].itertuples(index=False)]
    table = table.loc[~shared]
    table["file_loc"] = [str(image_dir / f"{asset}.jpg") for asset in table["asset_id"]]
    return _finish(table, image_dir, rejects, f"gz2 ({catalogue_path.name})", check_unnamed=limit is None)


def read_kaggle(root: Path, limit: int | None = None) -> Catalogue:
    """Read the Kaggle Galaxy Challenge ``training_solutions_rev1.csv`` + ``images_training_rev1/``.

    Kaggle's ``ClassN.k`` values are the k-th answer of GZ2 question tNN multiplied down the
    decision tree; dividing by the question's total gives the fraction of those who answered
    it, stored as that answer's ``_weighted_fraction`` (NaN where nobody reached the question).
    """
    from . import gz2

    root = Path(root)
    catalogue_path = _first_existing(root, [KAGGLE_CATALOGUE, KAGGLE_CATALOGUE + ".gz"], "Kaggle solutions table")
    image_dir = _image_dir(root, ("images_training_rev1", "images"))
    tree = gz2.decision_tree()
    classes = [f"Class{int(task[1:])}.{k + 1}" for task, question in tree.items() for k in range(len(question.answers))]
    table = _read_csv(catalogue_path, ["GalaxyID", *classes], dtype={"GalaxyID": str}, nrows=limit)
    table = pd.concat([table["GalaxyID"].str.strip().rename("id_str"), table], axis=1)
    rejects: list = []
    table = _drop_duplicates(table, catalogue_path.name, rejects)
    for task, question in tree.items():
        columns = [f"Class{int(task[1:])}.{k + 1}" for k in range(len(question.answers))]
        values = table[columns].apply(pd.to_numeric, errors="coerce")
        total = values.sum(axis=1).where(lambda t: t > 0)
        for answer, column in zip(question.answers, columns):
            table[answer.column("weighted_fraction")] = values[column] / total
    table["file_loc"] = [str(image_dir / f"{i}.jpg") for i in table["id_str"]]
    return _finish(table, image_dir, rejects, "kaggle (training_solutions_rev1)", check_unnamed=limit is None)


def read_image_folder(root: Path, limit: int | None = None) -> Catalogue:
    """A folder of images with no catalogue (``root/images`` or ``root``): ids are file stems."""
    image_dir = _image_dir(Path(root))
    entries = sorted(image_dir.iterdir())
    files = [p for p in entries if p.is_file()]
    rejects: list = [_reject("", p, "not an image file") for p in files if not p.name.lower().endswith(IMAGE_SUFFIXES)]
    rejects += [_reject("", p, "broken symbolic link") for p in entries if p.is_symlink() and not p.exists()]
    for folder in (p for p in entries if p.is_dir()):
        rejects += [_reject("", p, f"image in subfolder {folder.name}/ (not read: point data.root at that folder to use it)")
                    for p in sorted(folder.rglob("*")) if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)]
    images = [p for p in files if p.name.lower().endswith(IMAGE_SUFFIXES)][:limit]
    table = pd.DataFrame({"id_str": [p.stem for p in images], "file_loc": [str(p) for p in images]})
    table = _drop_duplicates(table, str(image_dir), rejects)
    return _finish(table, image_dir, rejects, "folder (no catalogue)", check_unnamed=False)


LABEL_COLUMNS = ("class_name", "label", "class", "CLASS", "morphology")


def read_labelled_folder(root: Path, limit: int | None = None, label_merge: dict[str, str] | None = None) -> Catalogue:
    """Images plus one labels CSV (an id column naming the image stems, a class column).

    The id column is the one whose values match the most image stems; the class column is the
    first of ``LABEL_COLUMNS`` present. ``label_merge`` renames classes (e.g. Galaxy Zoo 1's
    clockwise and anticlockwise spirals, mirror images of each other, into one ``spiral``).
    The result has a ``label`` column, used for evaluation only.
    """
    root = Path(root)
    image_dir = _image_dir(root)
    csvs = sorted(root.glob("*.csv"))
    if len(csvs) != 1:
        raise FileNotFoundError(f"a labelled folder needs exactly one labels CSV in {root}, found {[c.name for c in csvs]}")
    labels = _read_csv(csvs[0], dtype=str, nrows=limit)
    stems = {p.stem: p for p in image_dir.iterdir() if p.is_file()}
    id_column = max(labels.columns, key=lambda c: labels[c].str.strip().isin(stems).sum())
    label_column = next((c for c in LABEL_COLUMNS if c in labels.columns and c != id_column), None)
    if label_column is None:
        raise CatalogueError(f"{csvs[0]} has no class column (looked for {', '.join(LABEL_COLUMNS)})")
    labels.insert(0, "id_str", labels[id_column].str.strip())
    labels["label"] = labels[label_column].str.strip().replace(label_merge or {})
    rejects: list = []
    labels = _drop_duplicates(labels, csvs[0].name, rejects)
    labels["file_loc"] = [str(stems[i]) if i in stems else str(image_dir / f"{i}.jpg") for i in labels["id_str"]]
    return _finish(labels, image_dir, rejects, f"labelled folder ({csvs[0].name}: {id_column}, {label_column})", check_unnamed=limit is None)


def detect_source(root: Path) -> str:
    """Which reader fits the files in ``root``: gz2, kaggle, labelled_folder or folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} does not exist")
    if any((root / n).exists() for n in (KAGGLE_CATALOGUE, KAGGLE_CATALOGUE + ".gz")):
        return "kaggle"
    if any((root / n).exists() for n in GZ2_CATALOGUES) and any((root / n).exists() for n in GZ2_MAPPINGS):
        return "gz2"
    if len(list(root.glob("*.csv"))) == 1:
        return "labelled_folder"
    return "folder"


def read_catalogue(source: str, root: Path, limit: int | None = None, label_merge: dict[str, str] | None = None) -> Catalogue:
    """Read ``root`` with the reader for ``source`` (``auto``: detected from the files)."""
    source = detect_source(root) if source == "auto" else source
    if source == "gz2":
        return read_gz2_release(root, limit)
    if source == "kaggle":
        return read_kaggle(root, limit)
    if source == "labelled_folder":
        return read_labelled_folder(root, limit, label_merge)
    if source == "folder":
        return read_image_folder(root, limit)
    raise ValueError(f"unknown data source {source!r} (one of {', '.join(SOURCES)}, auto)")


def read_source(params: Params, repo_root: Path, work_dir: Path) -> Catalogue:
    """The catalogue named by ``params.data``.

    ``synthetic`` first generates galaxies (under ``data.root`` or ``work_dir/synthetic``) in the
    GZ2 release layout, so they go through the same reader as the real release.
    """
    root = resolve_root(params.data.root, repo_root)
    if params.data.source == "synthetic":
        from . import synthetic  # GalSim is imported only where galaxies are drawn

        root = root or Path(work_dir) / "synthetic"
        synthetic.write_release(root, params.synthetic.n_galaxies, params.seed, params.synthetic.size, params.data.workers)
        catalogue = read_gz2_release(root, params.data.limit)
        catalogue.source = f"synthetic ({params.synthetic.n_galaxies} built-in galaxies, seed {params.seed}, GZ2 release layout)"
        return catalogue
    return read_catalogue(params.data.source, root, params.data.limit, params.data.label_merge)


def describe(catalogue: Catalogue) -> str:
    """A few lines for the notebook: source, size, vote columns found, notes."""
    lines = [f"source: {catalogue.source}", f"{len(catalogue.table)} galaxies with an image; {len(catalogue.rejects)} inputs rejected"]
    if catalogue.vote_columns:
        kinds = pd.Series([VOTE_COLUMN.match(c).group(1) for c in catalogue.vote_columns]).value_counts()
        lines.append(f"{len(catalogue.vote_columns)} vote columns found: " + ", ".join(f"{n} _{k}" for k, n in kinds.items()))
    else:
        lines.append("no vote columns: evaluation against votes will report none")
    if "label" in catalogue.table:
        lines.append("labels: " + ", ".join(f"{k} {v}" for k, v in catalogue.table["label"].value_counts().items()))
    return "\n".join(lines + catalogue.notes)


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
        return _crop_resize(image, size, crop_fraction), note


def load_image(path: str | Path, size: int, crop_fraction: float) -> np.ndarray:
    """``decode_image`` without its note."""
    return decode_image(path, size, crop_fraction)[0]


def _crop_resize(image: Image.Image, size: int, crop_fraction: float) -> np.ndarray:
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
        print(f"{partial.name}: a partial store built from other inputs (files, their order, sizes or times, or the crop) is discarded", flush=True)
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
                print(f"decoded {finished:,} of {n:,} images into {out_path.name}", flush=True)
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
    rejects = [_reject(i, f, e) for (i, f), e, b in zip(table[["id_str", "file_loc"]].itertuples(index=False), errors, bad) if b]
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
    """Build ``catalog.parquet``, ``images.npy`` and ``rejects.csv`` in ``artifacts``.

    Images that cannot be decoded join the rejects and leave the catalogue and the store, so
    row i of the store is always row i of the catalogue. ``extra`` catalogues (unlabelled
    training images) go to ``images_extra.npy`` and ``catalog_extra.parquet`` (``id_str``,
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
        write_atomic(extra_kept.to_parquet, artifacts / "catalog_extra.parquet", index=False)
        for frame in [c.rejects for c in extra] + [pd.DataFrame(extra_rejects, columns=REJECT_COLUMNS)]:
            rejects.append(frame.assign(reason="extra training image: " + frame["reason"]))
    nonempty = [r for r in rejects if len(r)]
    rejects = pd.concat(nonempty, ignore_index=True) if nonempty else catalogue.rejects
    write_atomic(table.to_parquet, artifacts / "catalog.parquet", index=False)
    write_atomic(rejects.to_csv, artifacts / "rejects.csv", index=False)
    if "decode_note" in table:
        converted = table.decode_note.notna()
        print(f"{int(converted.sum())} images kept after conversion (e.g. {table.file_loc[converted].iloc[0]}: "
              f"{table.decode_note[converted].iloc[0]}); each has a decode_note in catalog.parquet", flush=True)
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
