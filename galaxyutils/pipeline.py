"""The run folder and the runner that executes the six notebooks through papermill.

A run is one resolved parameter set; everything it makes lands in its folder:
``params.yaml``, ``environment.txt``, ``notebooks/``, ``artifacts/``, ``figures/``, ``tables/``
and ``metrics.json``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from . import config

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


@dataclass(frozen=True)
class Stage:
    notebook: str
    outputs: tuple[str, ...]  # paths inside the run folder that prove the stage finished


STAGES = (
    Stage("01_data", ("artifacts/catalog.parquet", "artifacts/images.npy", "artifacts/rejects.csv")),
    Stage("02_simclr_train", ("artifacts/checkpoints/last.pt", "artifacts/train_log.csv")),
    Stage("03_embed", ("artifacts/embeddings.npy", "artifacts/embeddings_raw_pixels.npy", "artifacts/embeddings_random_init.npy")),
    Stage("04_pca_hdbscan", ("artifacts/pca.npy", "artifacts/clusters.parquet")),
    Stage("05_umap", ("artifacts/umap.parquet",)),
    Stage("06_analysis", ("metrics.json",)),
)


class StageFailed(RuntimeError):
    """A notebook raised; the executed notebook is kept in the run folder for reading."""


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
    def open(cls, run_dir: str | Path, profile: str = "smoke", overrides: list[str] | tuple[str, ...] = ()) -> "Run":
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
        _write_text(run.root / "params.yaml", params.to_yaml())
        _write_text(run.root / "environment.txt", environment_report())
        return run

    def path(self, name: str) -> Path:
        """An artifact's path, e.g. ``run.path("images.npy")``."""
        return self.artifacts / name

    def save_array(self, name: str, array) -> None:
        """Write an artifact array atomically (``name`` without ``.npy``)."""
        from .data import save_array_atomic

        save_array_atomic(self.path(f"{name}.npy"), array)

    def load_array(self, name: str, mmap: bool = False):
        import numpy as np

        return np.load(self.path(f"{name}.npy"), mmap_mode="r" if mmap else None)

    def save_table(self, name: str, table) -> None:
        """Write an artifact DataFrame atomically as ``name.parquet``."""
        from .data import write_atomic

        write_atomic(table.to_parquet, self.path(f"{name}.parquet"), index=False)

    def load_table(self, name: str):
        import pandas as pd

        return pd.read_parquet(self.path(f"{name}.parquet"))

    def export_table(self, name: str, table, index: bool = True) -> None:
        """A table for readers: ``tables/name.csv`` and ``tables/name.tex``."""
        table.to_csv(self.tables / f"{name}.csv", index=index)
        table.to_latex(self.tables / f"{name}.tex", index=index, float_format="%.3f", na_rep="--")

    def metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_path.read_text()) if self.metrics_path.exists() else {}

    def record(self, **values: Any) -> dict[str, Any]:
        """Merge ``values`` into ``metrics.json`` (written atomically) and return all metrics."""
        metrics = self.metrics()
        metrics.update(values)
        _write_text(self.metrics_path, json.dumps(metrics, indent=2, sort_keys=True, default=_jsonable) + "\n")
        return metrics

    def save_figure(self, figure, name: str) -> None:
        """Write ``figures/name.png``; in a notebook the figure is also shown inline."""
        figure.savefig(self.figures / f"{name}.png", dpi=110, bbox_inches="tight")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to metrics.json")


def _write_text(path: Path, text: str) -> None:
    from .data import write_atomic

    write_atomic(lambda tmp: tmp.write_text(text), path)


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


def _stage_marker(run: Run, stage: Stage) -> Path:
    return run.root / "notebooks" / f".{stage.notebook}.done"


def stage_is_complete(run: Run, stage: Stage) -> bool:
    marker = _stage_marker(run, stage)
    return marker.exists() and marker.read_text().strip() == run.params.digest() and all((run.root / o).exists() for o in stage.outputs)


def execute_stage(run: Run, stage: Stage) -> float:
    """Execute one notebook into the run folder; return its wall time in seconds."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = NOTEBOOK_DIR / f"{stage.notebook}.ipynb"
    target = run.root / "notebooks" / f"{stage.notebook}.ipynb"
    _stage_marker(run, stage).unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters={"run_dir": str(run.root), "profile": run.params.profile},
            cwd=str(NOTEBOOK_DIR),
            progress_bar=False,
            kernel_name="python3",
        )
    except PapermillExecutionError as error:
        raise StageFailed(
            f"stage {stage.notebook} failed in cell {error.exec_count}: {error.ename}: {error.evalue}\n"
            f"  executed notebook kept at {target}"
        ) from None
    _write_text(_stage_marker(run, stage), run.params.digest() + "\n")
    return time.perf_counter() - start


def run_pipeline(params: config.Params, run_dir: Path, resume: bool = False, log=partial(print, flush=True)) -> Run:
    """Execute notebooks 01 to 06 in order into ``run_dir``.

    With ``resume``, stages whose outputs exist from a run with the same parameters are skipped;
    a run folder holding other parameters is refused rather than mixed.
    """
    run_dir = Path(run_dir)
    params_path = run_dir / "params.yaml"
    if resume and params_path.exists():
        previous = config.load_params(params_path)
        if previous.digest() != params.digest():
            raise config.ConfigError(f"{run_dir} holds a run with other parameters; choose another --run-dir or drop --resume")
    elif run_dir.exists() and any(run_dir.iterdir()):
        shutil.rmtree(run_dir)
    run = Run.create(run_dir, params)
    log(f"run {run.root} (profile {params.profile}, parameters {params.digest()})")
    total = time.perf_counter()
    for number, stage in enumerate(STAGES, start=1):
        label = f"[{number}/{len(STAGES)}] {stage.notebook}"
        if resume and stage_is_complete(run, stage):
            log(f"{label}: outputs present for these parameters, skipped")
            continue
        log(f"{label}: running ...")
        seconds = execute_stage(run, stage)
        log(f"{label}: done in {seconds:.1f} s")
    log(f"finished in {time.perf_counter() - total:.1f} s")
    return run


def publish_figures(run: Run, target: Path) -> list[Path]:
    """Copy the run's figures into ``target`` (e.g. the repository's ``figures/``)."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(figure, target / figure.name)) for figure in sorted(run.figures.glob("*.png"))]
