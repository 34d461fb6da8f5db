"""The run folder: one resolved parameter set and everything its stages make.

``params.yaml``, ``environment.txt``, ``notebooks/``, ``artifacts/``, ``figures/``, ``tables/``,
``metrics.json``, ``stages.json`` (which stages ran, which were reused from which run folder) and
``run.log``. Notebooks open it with ``Run.open``; the runner (pipeline.py) creates, locks and
clears it, and never touches a file it did not write.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import config
from .files import save_array_atomic, write_atomic, write_text_atomic

REPO_ROOT = Path(__file__).resolve().parent.parent
EMBEDDING_BASELINES = ("raw_pixels", "random_init", "imagenet")  # embeddings_<name>.npy, written by 03
RECORD_NAME = "stages.json"  # per stage: key, ran or reused (and from where), seconds, files, metrics
LOCK_NAME = "run.lock"  # held by the live run of a folder (RunLock)
LOG_NAME = "run.log"  # what the console showed: the runner's lines and every stage's printed progress



class Run:
    """Paths and records of one run folder. Notebooks open it with :meth:`open`."""

    def __init__(self, root: Path, params: config.Params):
        self.root = Path(root).resolve()
        self.params = params
        for folder in (self.artifacts, self.figures, self.tables, self.root / "notebooks"):
            folder.mkdir(parents=True, exist_ok=True)

    artifacts = property(lambda self: self.root / "artifacts")
    figures = property(lambda self: self.root / "figures")
    tables = property(lambda self: self.root / "tables")
    metrics_path = property(lambda self: self.root / "metrics.json")

    @classmethod
    def open(cls, run_dir: str | Path, profile: str, overrides: list[str] | tuple[str, ...] = ()) -> "Run":
        """Open a run folder: read its ``params.yaml``, or resolve ``profile`` and write one.

        The runner writes ``params.yaml`` before any notebook starts, so a notebook executed by it
        always reads the run's parameters; a notebook opened by hand starts a run of its own.
        """
        root = Path(run_dir)
        params_path = root / "params.yaml"
        if not params_path.exists():
            return cls.create(root, config.resolve(profile, overrides))
        params = config.load_params(params_path)
        if params.profile != profile:
            raise config.ConfigError(
                f"{root} holds a run of profile {params.profile!r}, not {profile!r}: choose another run_dir or delete that folder"
            )
        return cls(root, params)

    @classmethod
    def load(cls, run_dir: str | Path) -> "Run":
        """An existing run folder, whatever its profile."""
        return cls(Path(run_dir), config.load_params(Path(run_dir) / "params.yaml"))

    @classmethod
    def create(cls, root: Path, params: config.Params) -> "Run":
        run = cls(root, params)
        write_text_atomic(run.root / "params.yaml", params.to_yaml())
        write_text_atomic(run.root / "environment.txt", environment_report())
        return run

    def path(self, name: str) -> Path:
        """An artifact's path, e.g. ``run.path("images.npy")``."""
        return self.artifacts / name

    def save_array(self, name: str, array) -> None:
        """Write an artifact array atomically (``name`` without ``.npy``)."""
        save_array_atomic(self.path(f"{name}.npy"), array)

    def load_array(self, name: str, mmap: bool = False):
        import numpy as np

        return np.load(self.path(f"{name}.npy"), mmap_mode="r" if mmap else None)

    def has_extra(self) -> bool:
        """Whether 01 stored extra unlabelled images (``data.extra_roots``) beside the catalogue."""
        return self.path("catalogue_extra.parquet").exists()

    def load_rows(self, name: str):
        """Artifact array ``name`` for every embedded image: the catalogue's rows, then the extra
        unlabelled images' rows (``name_extra.npy``) when the run has them."""
        import numpy as np

        array = self.load_array(name)
        return np.concatenate([array, self.load_array(f"{name}_extra")]) if self.has_extra() else array

    def save_rows(self, name: str, rows, n: int) -> None:
        """Save per-image ``rows`` (a DataFrame or an array, the catalogue's ``n`` rows first): the
        catalogue's as ``name``, the extra unlabelled images' as ``name_extra`` when the run has
        them; ``load_rows`` reads an array back whole."""
        save = self.save_table if hasattr(rows, "iloc") else self.save_array
        head, tail = (rows.iloc[:n].reset_index(drop=True), rows.iloc[n:].reset_index(drop=True)) if hasattr(rows, "iloc") else (rows[:n], rows[n:])
        save(name, head)
        if self.has_extra():
            save(f"{name}_extra", tail)

    def embeddings(self, extra: bool = False) -> dict[str, Any]:
        """The SimCLR embedding (``simclr``) and every baseline 03 wrote, by name; catalogue rows,
        then with ``extra`` the extra unlabelled images' rows."""
        names = {"simclr": "embeddings"} | {b: f"embeddings_{b}" for b in EMBEDDING_BASELINES if self.path(f"embeddings_{b}.npy").exists()}
        return {name: self.load_rows(file) if extra else self.load_array(file) for name, file in names.items()}

    def save_table(self, name: str, table) -> None:
        """Write an artifact DataFrame atomically as ``name.parquet``."""
        write_atomic(table.to_parquet, self.path(f"{name}.parquet"), index=False)

    def load_table(self, name: str):
        import pandas as pd

        return pd.read_parquet(self.path(f"{name}.parquet"))

    def export_table(self, name: str, table, index: bool = True) -> None:
        """A table for readers: ``tables/name.csv`` (the paper makes its LaTeX from these)."""
        table.to_csv(self.tables / f"{name}.csv", index=index)

    def metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_path.read_text()) if self.metrics_path.exists() else {}

    def environment(self) -> dict[str, str]:
        """``environment.txt`` (machine, packages, git commit) as key: value pairs; {} when absent."""
        path = self.root / "environment.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        return dict(line.split(": ", 1) for line in lines if ": " in line)

    def record(self, **values: Any) -> dict[str, Any]:
        """Merge ``values`` into ``metrics.json`` (written atomically) and return all metrics."""
        metrics = self.metrics()
        metrics.update(values)
        write_text_atomic(self.metrics_path, json.dumps(metrics, indent=2, sort_keys=True, default=_jsonable) + "\n")
        return metrics

    def save_figure(self, figure, name: str) -> None:
        """Write ``figures/name.png``; in a notebook a compact JPEG preview is shown instead of the
        full PNG, so saved notebooks stay small (the PNG in figures/ is the one to use)."""
        import matplotlib.pyplot as plt

        figure.savefig(self.figures / f"{name}.png", dpi=110, bbox_inches="tight")
        if _in_notebook():
            from IPython.display import Image, display

            from .plots import jpeg_preview

            display(Image(data=jpeg_preview(figure), format="jpeg"))
        plt.close(figure)



def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"



def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to metrics.json")




def environment_report() -> str:
    """Package versions, device, threads and git commit: what could make two runs differ."""
    import importlib.metadata as metadata

    import torch

    lines = [f"python: {sys.version.split()[0]}", f"platform: {platform.platform()}", f"cpu_count: {os.cpu_count()}"]
    lines.append(f"torch_threads: {torch.get_num_threads()}")
    cuda = torch.cuda.is_available()
    lines.append(f"cuda: {torch.cuda.get_device_name(0) if cuda else 'not available'}")
    for package in ("torch", "torchvision", "kornia", "numpy", "pandas", "scikit-learn", "hdbscan", "umap-learn", "papermill", "astropy", "pillow"):
        try:
            lines.append(f"{package}: {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{package}: not installed")
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
        lines.append(f"git_commit: {commit}{' (uncommitted changes)' if dirty else ''}")
    except (OSError, subprocess.CalledProcessError):
        lines.append("git_commit: unknown")
    return "\n".join(lines) + "\n"



def record_stage(run_dir: Path, notebook: str, entry: dict[str, Any]) -> None:
    """Set ``notebook``'s entry in the run folder's stages.json."""
    record = stage_record(run_dir)
    record[notebook] = entry
    write_text_atomic(Path(run_dir) / RECORD_NAME, json.dumps(record, indent=2, default=_jsonable) + "\n")


def stage_record(run_dir: Path) -> dict[str, dict[str, Any]]:
    """What ``stages.json`` says of each finished stage of a run."""
    path = Path(run_dir) / RECORD_NAME
    return json.loads(path.read_text()) if path.exists() else {}



class RunFolderError(config.ConfigError):
    """A run folder that cannot be used: not a run folder, or in use by another run."""



# What a run writes at the top of its folder; with the files stages.json lists and the folders
# below, the only things a new run in an old run folder removes.
_RUN_FILES = ("params.yaml", "environment.txt", "metrics.json", RECORD_NAME, "explorer.html", LOG_NAME, "catalogue.csv", "catalogue.fits")
_RUN_FOLDERS = ("artifacts", "notebooks")



class RunLock:
    """``run.lock`` in a run folder (the holder's host and PID), taken with O_EXCL, so a second
    run on the same folder is refused while the first lives. A lock whose process is gone on
    this host (a killed run) is stale and taken over."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME

    def holder(self) -> tuple[str, int] | None:
        try:
            host, pid = self.path.read_text().split()
            return host, int(pid)
        except (OSError, ValueError):
            return None

    def _alive(self, host: str, pid: int) -> bool:
        if host != platform.node():
            return True  # another machine's process: cannot tell, so never steal its folder
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self.holder()
                if holder and self._alive(*holder):
                    raise RunFolderError(f"{self.path.parent} is in use by another run (process {holder[1]} on {holder[0]}); "
                                         f"wait for it or choose another --run-dir") from None
                self.path.unlink(missing_ok=True)  # stale: its run was killed
                continue
            with os.fdopen(handle, "w") as file:
                file.write(f"{platform.node()} {os.getpid()}\n")
            return self
        raise RunFolderError(f"could not lock {self.path.parent}")

    def __exit__(self, *exc) -> None:
        if self.holder() == (platform.node(), os.getpid()):
            self.path.unlink(missing_ok=True)



def check_run_folder(run_dir: Path) -> None:
    """Refuse a folder that holds files but is not a run folder: the project never writes into,
    or deletes from, a folder it did not make."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"--run-dir {run_dir} is a file, not a folder")
    if run_dir.is_dir() and any(p.name != LOCK_NAME for p in run_dir.iterdir()) and not (run_dir / "params.yaml").exists():
        raise RunFolderError(f"{run_dir} is not empty and is not a run folder (it has no params.yaml): refusing to write into it, "
                             f"so nothing of yours is overwritten or deleted; choose a new or empty --run-dir")



def clear_run_folder(run_dir: Path) -> list[Path]:
    """Remove an old run's outputs from ``run_dir`` before a fresh run: the files its
    stages.json lists, the run's own top-level files, its artifacts and executed notebooks.
    Anything else (a file a user put there) stays; returns what stayed."""
    run_dir = Path(run_dir)
    recorded = [run_dir / f for entry in stage_record(run_dir).values() for f in entry.get("files", [])]
    for path in [*recorded, *(run_dir / name for name in _RUN_FILES)]:
        path.unlink(missing_ok=True)
    for folder in _RUN_FOLDERS:
        shutil.rmtree(run_dir / folder, ignore_errors=True)
    for folder in sorted((p for p in run_dir.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != LOCK_NAME)



def publish_figures(run: Run, target: Path) -> list[Path]:
    """Copy the run's figures into ``target`` (e.g. the repository's ``figures/``), with a
    README.md there naming the run, its profile and the commit it ran at."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    published = [Path(shutil.copy2(figure, target / figure.name)) for figure in sorted(run.figures.glob("*.png"))]
    # A figure this run did not draw (e.g. the synthetic demo's 01_synthetic_vs_real) stays, but
    # the README must not claim it for this run.
    kept = sorted({p.name for p in target.glob("*.png")} - {p.name for p in published})
    kept_note = (f"\nKept from an earlier publish, not drawn by this run: {', '.join(kept)}.\n" if kept else "")
    commit = run.environment().get("git_commit", "unknown")
    write_text_atomic(target / "README.md", f"""# figures/

The published figures of one run, refreshed only by `make publish RUN=<run folder>` (never by
`make run`). Each file name starts with the notebook that made it (01_examples.png comes from
01_data, ...).

Published from `{run.root.name}` (profile `{run.params.profile}`, parameters {run.params.digest()}),
which ran at commit {commit}.
{kept_note}""")
    return published
