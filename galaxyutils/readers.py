"""Catalogue readers: a galaxy catalogue as published (GZ2 release, Kaggle Galaxy Challenge,
labelled or plain image folders, built-in synthetic galaxies) read into one ``Catalogue``.

The contract with the store (data.py) is a table with ``id_str`` and ``file_loc`` first (one row
per galaxy whose image exists, vote columns under their GZ2 names) and a rejects table saying
which inputs were not used and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .config import Params
from .files import resolve_root

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


def reject_row(id_str, file, reason) -> dict[str, str]:
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
    rejects += [reject_row(i, origin, "duplicate id in catalogue (first row kept)") for i in table.loc[duplicated, "id_str"]]
    return table.loc[~duplicated]


def _finish(table: pd.DataFrame, image_dir: Path, rejects: list, source: str, check_unnamed: bool = True) -> Catalogue:
    """Shared last steps: drop rows whose image is missing, record images no row names, make
    vote columns numeric and note NaN votes, and put ``id_str`` and ``file_loc`` first."""
    present = {p.name for p in image_dir.iterdir() if p.is_file()} if image_dir.is_dir() else set()
    missing = ~table["file_loc"].map(lambda p: Path(p).name in present)
    rejects += [reject_row(i, f, "image file missing") for i, f in table.loc[missing, ["id_str", "file_loc"]].itertuples(index=False)]
    table = table.loc[~missing].copy()
    if check_unnamed:
        named = set(table["file_loc"].map(lambda p: Path(p).name)) | {Path(r["file"]).name for r in rejects}
        for name in sorted(present - named):
            reason = "image without catalogue row" if name.lower().endswith(IMAGE_SUFFIXES) else "not an image file"
            rejects.append(reject_row("", image_dir / name, reason))

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
    rejects += [reject_row(i, mapping_path.name, "no asset_id in filename mapping") for i in table.loc[unmapped, "id_str"]]
    table = table.loc[~unmapped].copy()
    shared = table["asset_id"].duplicated(keep="first")
    first_owner = table.drop_duplicates("asset_id").set_index("asset_id")["id_str"]
    rejects += [reject_row(i, mapping_path.name, f"asset_id {a} is also mapped to objid {first_owner[a]} (its first objid kept)")
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
    rejects: list = [reject_row("", p, "not an image file") for p in files if not p.name.lower().endswith(IMAGE_SUFFIXES)]
    rejects += [reject_row("", p, "broken symbolic link") for p in entries if p.is_symlink() and not p.exists()]
    for folder in (p for p in entries if p.is_dir()):
        rejects += [reject_row("", p, f"image in subfolder {folder.name}/ (not read: point data.root at that folder to use it)")
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
