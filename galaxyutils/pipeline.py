"""The runner: executes the six notebooks through papermill into a run folder, in order.

Each stage has a key (its parameters, code and inputs, and those of every stage before it), so
a finished stage is skipped on resume or reused from another run folder through the stage cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import config
from .files import resolve_root, write_text_atomic
from .run_folder import (
    LOCK_NAME,
    LOG_NAME,
    RECORD_NAME,
    REPO_ROOT,
    Run,
    RunLock,
    check_run_folder,
    clear_run_folder,
    record_stage,
    stage_record,
)

logger = logging.getLogger(__name__)

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


@dataclass(frozen=True)
class Stage:
    notebook: str
    sections: tuple[str, ...]  # parameter sections it reads; what earlier stages read comes in through their keys
    outputs: tuple[str, ...]  # paths inside the run folder that prove the stage finished


STAGES = (
    Stage("01_data", ("seed", "data", "synthetic"), ("artifacts/catalogue.parquet", "artifacts/images.npy", "artifacts/rejects.csv")),
    Stage("02_simclr_train", ("augment", "model", "train"), ("artifacts/checkpoints/last.pt", "artifacts/train_log.csv")),
    Stage("03_embed", ("embed",), ("artifacts/embeddings.npy", "artifacts/embeddings_raw_pixels.npy", "artifacts/embeddings_random_init.npy")),
    Stage("04_pca_hdbscan", ("pca", "hdbscan"), ("artifacts/pca.npy", "artifacts/clusters.parquet")),
    Stage("05_umap", ("umap",), ("artifacts/umap.parquet",)),
    Stage("06_analysis", ("analysis",), ("metrics.json",)),
)
DEFAULT_CACHE = REPO_ROOT / "runs" / ".cache"
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
        write_text_atomic(entry, json.dumps(runs, indent=1) + "\n")


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
    record_stage(run.root, stage.notebook, reused)
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
    write_text_atomic(Path(target), nbformat.writes(saved) + "\n")


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
    record_stage(run.root, stage.notebook, {"key": key, "status": "ran", "source": None, "seconds": seconds, "files": files, "metrics": metrics})
    return seconds


def run_pipeline(params: config.Params, run_dir: Path, resume: bool = False, cache: StageCache | None = None,
                 log=None) -> Run:
    """Execute notebooks 01 to 06 in order into ``run_dir``.

    With a ``cache``, a stage whose key (its parameters, code and inputs, and those of every stage
    before it) matches one finished in another run folder is reused from there, not recomputed.
    With ``resume``, stages already finished in ``run_dir`` with these parameters are skipped; a
    run folder holding other parameters is refused rather than mixed. A folder that is not a run
    folder is refused, and a run folder in use by a live run is refused (``run.lock``).
    Progress goes to ``log`` (default: the ``galaxyutils.pipeline`` logger at INFO, so the
    logger's level sets what the console shows) and, whatever that level, all of it to run.log.
    """
    run_dir = Path(run_dir).resolve()  # papermill runs notebooks in notebooks/: a relative path would move with it
    check_run_folder(run_dir)
    with RunLock(run_dir):
        log = _logging_to_file(log or logger.info, run_dir / LOG_NAME)
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
