"""The run folder and the runner that executes the six notebooks through papermill.

A run is one resolved parameter set; everything it makes lands in its folder:
``params.yaml``, ``environment.txt``, ``notebooks/``, ``artifacts/``, ``figures/``, ``tables/``,
``metrics.json`` and ``stages.json`` (which stages ran, which were reused from which run folder).
"""

from __future__ import annotations

import hashlib
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
from .files import resolve_root, save_array_atomic, write_atomic

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


@dataclass(frozen=True)
class Stage:
    notebook: str
    sections: tuple[str, ...]  # parameter sections it reads; what earlier stages read comes in through their keys
    outputs: tuple[str, ...]  # paths inside the run folder that prove the stage finished


STAGES = (
    Stage("01_data", ("seed", "data", "synthetic"), ("artifacts/catalog.parquet", "artifacts/images.npy", "artifacts/rejects.csv")),
    Stage("02_simclr_train", ("augment", "model", "train"), ("artifacts/checkpoints/last.pt", "artifacts/train_log.csv")),
    Stage("03_embed", ("embed",), ("artifacts/embeddings.npy", "artifacts/embeddings_raw_pixels.npy", "artifacts/embeddings_random_init.npy")),
    Stage("04_pca_hdbscan", ("pca", "hdbscan"), ("artifacts/pca.npy", "artifacts/clusters.parquet")),
    Stage("05_umap", ("umap",), ("artifacts/umap.parquet",)),
    Stage("06_analysis", ("analysis",), ("metrics.json",)),
)
EMBEDDING_BASELINES = ("raw_pixels", "random_init", "imagenet")  # embeddings_<name>.npy, written by 03
DEFAULT_CACHE = REPO_ROOT / "runs" / ".cache"
RECORD_NAME = "stages.json"  # per stage: key, ran or reused (and from where), seconds, files, metrics
LOCK_NAME = "run.lock"  # held by the live run of a folder (RunLock)
LOG_NAME = "run.log"  # what the console showed: the runner's lines and every stage's printed progress
_NOT_STAGE_OUTPUTS = {"params.yaml", "environment.txt", "metrics.json", RECORD_NAME, LOCK_NAME, LOG_NAME}


def _local_kernel_manager():
    """jupyter_client's KernelManager over local IPC sockets: over TCP (even on localhost)
    ipykernel warns of unencrypted transport at the start of every stage."""
    from jupyter_client.manager import KernelManager

    class LocalKernelManager(KernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"

    return LocalKernelManager


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
        _write_text(run.root / "params.yaml", params.to_yaml())
        _write_text(run.root / "environment.txt", environment_report())
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
        return self.path("catalog_extra.parquet").exists()

    def load_rows(self, name: str):
        """Artifact array ``name`` for every embedded image: the catalogue's rows, then the extra
        unlabelled images' rows (``name_extra.npy``) when the run has them."""
        import numpy as np

        array = self.load_array(name)
        return np.concatenate([array, self.load_array(f"{name}_extra")]) if self.has_extra() else array

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

    def record(self, **values: Any) -> dict[str, Any]:
        """Merge ``values`` into ``metrics.json`` (written atomically) and return all metrics."""
        metrics = self.metrics()
        metrics.update(values)
        _write_text(self.metrics_path, json.dumps(metrics, indent=2, sort_keys=True, default=_jsonable) + "\n")
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


def _write_text(path: Path, text: str) -> None:
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


def input_fingerprint(params: config.Params) -> str:
    """Hash of the names, sizes and modification times of every input file (the data root, the
    extra training roots and the synthetic comparison sample), so a changed file changes it."""
    digest = hashlib.sha256()
    roots = [params.data.root, *params.data.extra_roots, params.synthetic.compare_with]
    for root in (resolve_root(r, REPO_ROOT) for r in roots if r):
        digest.update(f"root {root}\n".encode())
        if not root.exists():
            digest.update(b"missing\n")
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _package_digest() -> str:
    """The package's source: a code change must not reuse old results."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted([*package.glob("*.py"), *package.glob("*.yaml")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def _notebook_code(stage: Stage) -> str:
    cells = json.loads((NOTEBOOK_DIR / f"{stage.notebook}.ipynb").read_text())["cells"]
    return "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def stage_keys(params: config.Params) -> dict[str, str]:
    """Each stage's cache key: its parameter sections, its notebook's code, the package's code and
    the key of the stage before it (the first stage: the input files), so a change reruns that
    stage and all after it."""
    dumped = params.model_dump(mode="json")
    package = _package_digest()
    keys, previous = {}, input_fingerprint(params)
    for stage in STAGES:
        payload = {"stage": stage.notebook, "previous": previous, "code": [package, _notebook_code(stage)],
                   "params": {s: dumped[s] for s in stage.sections}}
        previous = keys[stage.notebook] = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    return keys


def stage_record(run_dir: Path) -> dict[str, dict[str, Any]]:
    """What ``stages.json`` says of each finished stage of a run."""
    path = Path(run_dir) / RECORD_NAME
    return json.loads(path.read_text()) if path.exists() else {}


def _record_stage(run: Run, stage: Stage, entry: dict[str, Any]) -> None:
    record = stage_record(run.root)
    record[stage.notebook] = entry
    _write_text(run.root / RECORD_NAME, json.dumps(record, indent=2, default=_jsonable) + "\n")


def stage_is_complete(run_dir: Path, stage: Stage, key: str) -> bool:
    entry = stage_record(run_dir).get(stage.notebook)
    return bool(entry) and entry["key"] == key and all((Path(run_dir) / f).exists() for f in (*entry["files"], *stage.outputs))


def _files(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative not in _NOT_STAGE_OUTPUTS:
            stat = path.stat()
            found[relative] = (stat.st_size, stat.st_mtime_ns)
    return found


class StageCache:
    """Index from stage keys to the run folders that hold that stage's outputs.

    ``<cache>/<key>.json`` lists run folders, newest first; an entry is trusted only if that
    folder's own record still carries the key and every file it lists.
    """

    def __init__(self, root: Path = DEFAULT_CACHE):
        self.root = Path(root)

    def find(self, stage: Stage, key: str, exclude: Path) -> Path | None:
        entry = self.root / f"{key}.json"
        candidates = json.loads(entry.read_text()) if entry.exists() else []
        return next((Path(c) for c in candidates if Path(c) != exclude and stage_is_complete(Path(c), stage, key)), None)

    def add(self, key: str, run_dir: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        entry = self.root / f"{key}.json"
        candidates = json.loads(entry.read_text()) if entry.exists() else []
        runs = [str(run_dir)] + [c for c in candidates if c != str(run_dir)]
        _write_text(entry, json.dumps(runs, indent=1) + "\n")


# Artifacts of these kinds are only ever written by rename (files.write_atomic), never in place, so
# two runs can share them as hard links; everything else is copied.
_LINKABLE = (".npy", ".parquet", ".pt")


def reuse_stage(run: Run, source: Path, stage: Stage, key: str) -> dict[str, Any]:
    """Bring a finished stage's files and metrics from run folder ``source`` into ``run``."""
    start = time.perf_counter()
    entry = stage_record(source)[stage.notebook]
    for relative in entry["files"]:
        origin, target = source / relative, run.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            if not (relative.startswith("artifacts/") and relative.endswith(_LINKABLE)):
                raise OSError("copied, not linked")
            os.link(origin, target)
        except OSError:
            shutil.copy2(origin, target)
    run.record(**entry["metrics"])
    reused = {**entry, "status": "reused", "source": str(source), "seconds": time.perf_counter() - start,
              "computed_seconds": entry.get("computed_seconds", entry["seconds"])}
    _record_stage(run, stage, reused)
    return reused


class _LineStream:
    """A file-like object for papermill's ``stdout_file``: each complete line a stage prints goes
    to ``log`` as it comes (training's epochs, decoding counts, the HDBSCAN sweep)."""

    def __init__(self, log, prefix: str):
        self.log, self.prefix, self.pending = log, prefix, ""

    def write(self, text: str) -> None:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.strip():
                self.log(f"{self.prefix}{line}")

    def flush(self) -> None:
        pass


def execute_notebook(source: Path, target: Path, parameters: dict[str, Any], stdout=None) -> None:
    """papermill, as every notebook of this project is executed: in notebooks/, kernels over IPC,
    what the notebook prints passed to ``stdout`` as it comes, and the widgets' saved state
    dropped afterwards (it held every figure a widget had drawn: 300 KB in 06; a widget then
    shows its text fallback). nbclient's own store_widget_state=False fails on Output widgets."""
    import nbformat
    import papermill

    papermill.execute_notebook(str(source), str(target), parameters=parameters, cwd=str(NOTEBOOK_DIR), progress_bar=False,
                               kernel_name="python3", kernel_manager_class=_local_kernel_manager(), stdout_file=stdout)
    saved = _as_read(nbformat.reads(Path(target).read_text(), as_version=4))
    saved.get("metadata", {}).pop("widgets", None)
    for key in ("input_path", "output_path"):  # no local paths in a notebook that may be committed
        saved.get("metadata", {}).get("papermill", {})[key] = Path(source if key == "input_path" else target).name
    _write_text(Path(target), nbformat.writes(saved) + "\n")


def _as_read(notebook):
    """Each cell's printed text as JupyterLab shows it: consecutive writes merged and carriage
    returns applied (nbconvert's CoalesceStreamsPreprocessor), so a text progress bar keeps its
    last state, and one that cleared itself (tqdm's leave=False) leaves no empty stderr box."""
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    coalesce = CoalesceStreamsPreprocessor()
    notebook, _ = coalesce.preprocess(notebook, {})
    for cell in notebook.cells:
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if o.output_type != "stream" or o.text.strip()]
    notebook, _ = coalesce.preprocess(notebook, {})  # the lines a cleared bar had separated are one stream again
    return notebook


def execute_stage(run: Run, stage: Stage, key: str, log=None) -> float:
    """Execute one notebook into the run folder and record what it wrote; return its seconds.
    What the notebook prints goes to ``log`` line by line while it runs."""
    from papermill.exceptions import PapermillExecutionError

    source = NOTEBOOK_DIR / f"{stage.notebook}.ipynb"
    target = run.root / "notebooks" / f"{stage.notebook}.ipynb"
    files_before, metrics_before = _files(run.root), run.metrics()
    start = time.perf_counter()
    try:
        execute_notebook(source, target, {"run_dir": str(run.root), "profile": run.params.profile}, _LineStream(log, "      ") if log else None)
    except PapermillExecutionError as error:
        raise StageFailed(
            f"stage {stage.notebook} failed in cell {error.exec_count}: {error.ename}: {error.evalue}\n"
            f"  executed notebook kept at {target}"
        ) from None
    seconds = time.perf_counter() - start
    files = sorted(f for f, signature in _files(run.root).items() if files_before.get(f) != signature)
    metrics = {k: v for k, v in run.metrics().items() if k not in metrics_before or metrics_before[k] != v}
    _record_stage(run, stage, {"key": key, "status": "ran", "source": None, "seconds": seconds, "files": files, "metrics": metrics})
    return seconds


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


def run_pipeline(params: config.Params, run_dir: Path, resume: bool = False, cache: StageCache | None = None,
                 log=partial(print, flush=True)) -> Run:
    """Execute notebooks 01 to 06 in order into ``run_dir``.

    With a ``cache``, a stage whose key (its parameters, code and inputs, and those of every stage
    before it) matches one finished in another run folder is reused from there, not recomputed.
    With ``resume``, stages already finished in ``run_dir`` with these parameters are skipped; a
    run folder holding other parameters is refused rather than mixed. A folder that is not a run
    folder is refused, and a run folder in use by a live run is refused (``run.lock``).
    """
    run_dir = Path(run_dir).resolve()  # papermill runs notebooks in notebooks/: a relative path would move with it
    check_run_folder(run_dir)
    with RunLock(run_dir):
        log = _logging_to_file(log, run_dir / LOG_NAME)
        params_path = run_dir / "params.yaml"
        if resume and params_path.exists():
            previous = config.load_params(params_path)
            if previous.digest() != params.digest():
                raise config.ConfigError(f"{run_dir} holds a run with other parameters; choose another --run-dir or drop --resume")
        elif params_path.exists():
            kept = clear_run_folder(run_dir)
            if kept:
                log(f"{run_dir}: replacing the previous run; kept {len(kept)} file(s) it did not write: {', '.join(str(p.relative_to(run_dir)) for p in kept[:5])}")
        return _run_stages(params, run_dir, resume, cache, log)


def _logging_to_file(log, path: Path):
    """``log``, and each message also appended with the time to ``path`` (the run's run.log)."""

    def both(message: str) -> None:
        log(message)
        with open(path, "a") as file:
            file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    return both


def _run_stages(params: config.Params, run_dir: Path, resume: bool, cache: StageCache | None, log) -> Run:
    run = Run.create(run_dir, params)
    log(f"run {run.root} (profile {params.profile}, parameters {params.digest()})")
    keys = stage_keys(params)
    total = time.perf_counter()
    for number, stage in enumerate(STAGES, start=1):
        label, key = f"[{number}/{len(STAGES)}] {stage.notebook}", keys[stage.notebook]
        if resume and stage_is_complete(run.root, stage, key):
            log(f"{label}: outputs present for these parameters, skipped")
            continue
        source = cache.find(stage, key, exclude=run.root) if cache else None
        if source is not None:
            entry = reuse_stage(run, source, stage, key)
            log(f"{label}: reused from {entry['source']} (key {key})")
            continue
        log(f"{label}: running ...")
        seconds = execute_stage(run, stage, key, log)
        if cache:
            cache.add(key, run.root)
        log(f"{label}: done in {seconds:.1f} s")
    log(f"finished in {time.perf_counter() - total:.1f} s")
    return run


def publish_figures(run: Run, target: Path) -> list[Path]:
    """Copy the run's figures into ``target`` (e.g. the repository's ``figures/``), with a
    README.md there naming the run, its profile and the commit it ran at."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    published = [Path(shutil.copy2(figure, target / figure.name)) for figure in sorted(run.figures.glob("*.png"))]
    commit = next((line.split(": ", 1)[1] for line in (run.root / "environment.txt").read_text().splitlines()
                   if line.startswith("git_commit: ")), "unknown") if (run.root / "environment.txt").exists() else "unknown"
    _write_text(target / "README.md", f"""# figures/

The published figures of one run, refreshed only by `make publish RUN=<run folder>` (never by
`make run`). Each file name starts with the notebook that made it (01_examples.png comes from
01_data, ...).

Published from `{run.root.name}` (profile `{run.params.profile}`, parameters {run.params.digest()}),
which ran at commit {commit}.
""")
    return published
