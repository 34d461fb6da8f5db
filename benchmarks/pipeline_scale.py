"""Benchmark: stages 04_pca_hdbscan and 05_umap themselves, at full GZ2 size, with a profile.

cluster_scale.py times the libraries; this times the notebooks as a run executes them (PCA,
HDBSCAN with its validity index and exemplars, every figure, the thumbnail map), with the
parameters of a profile (default gz2-full). It builds a run folder of 243,434 galaxies: a
catalogue of ids, a 64-px image store of grey noise (only the thumbnail map reads it) and 512-d
embeddings made from cluster_scale's mixture (12 clusters + 10% noise in 5-d) rotated into 512-d
with a little isotropic noise, like a ResNet-18 embedding whose variance lies in a few
directions. Each stage runs in its own process, so its peak memory (the notebook kernel's) can
be read.
Run: .venv/bin/python benchmarks/pipeline_scale.py [--n 243434] [--profile gz2-full]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_scale import mixture  # noqa: E402
from common import write_results  # noqa: E402

from galaxyutils import config, run_folder  # noqa: E402


def build_run(run_dir: Path, profile: str, n: int, dims: int = 512, seed: int = 0) -> run_folder.Run:
    run = run_folder.Run.create(run_dir, config.resolve(profile))
    low, truth = mixture(n, 5, seed=seed)
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(dims, 5)))
    embeddings = (low @ rotation.T + rng.normal(0, 0.05, (n, dims))).astype(np.float32)
    run.save_array("embeddings", embeddings)
    run.save_table("catalogue", pd.DataFrame({"id_str": [f"g{i}" for i in range(n)], "true_cluster": truth}))
    size = run.params.data.image_size
    store = np.lib.format.open_memmap(run.path("images.npy"), mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    for start in range(0, n, 20_000):
        store[start : start + 20_000] = rng.integers(90, 110, (min(20_000, n - start), size, size, 3), dtype=np.uint8)
    store.flush()
    return run


def run_stage(run_dir: Path, notebook: str) -> dict:
    """Execute one stage in a fresh process; its wall time and the peak RSS of its kernel."""
    code = (
        "import json, resource, sys; from pathlib import Path; from galaxyutils import pipeline, run_folder; "
        "run = run_folder.Run.load(Path(sys.argv[1])); stage = next(s for s in pipeline.STAGES if s.notebook == sys.argv[2]); "
        "seconds = pipeline.execute_stage(run, stage, 'benchmark'); "
        "print(json.dumps({'seconds': seconds, 'peak_gib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20}))"
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, str(run_dir), notebook], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{notebook} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return {"stage": notebook, "seconds": measured["seconds"], "process_seconds": time.perf_counter() - start, "kernel_peak_gib": measured["peak_gib"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=243_434)
    parser.add_argument("--profile", default="gz2-full")
    parser.add_argument("--run-dir", type=Path, default=Path("/tmp/pipeline-scale"))
    args = parser.parse_args()
    started = time.perf_counter()
    run = build_run(args.run_dir, args.profile, args.n)
    print(f"built {args.run_dir} in {time.perf_counter() - started:.0f} s", flush=True)
    rows = [run_stage(run.root, stage) for stage in ("04_pca_hdbscan", "05_umap")]
    metrics = run.metrics()
    truth = run.load_table("catalogue").true_cluster.to_numpy()
    from sklearn.metrics import adjusted_rand_score

    ari = adjusted_rand_score(truth, run.load_table("clusters").cluster.to_numpy())
    rows.append({"stage": "04 + 05", "seconds": sum(r["seconds"] for r in rows), "process_seconds": sum(r["process_seconds"] for r in rows),
                 "kernel_peak_gib": max(r["kernel_peak_gib"] for r in rows)})
    h = run.params.hdbscan
    write_results("pipeline_scale", rows, notes=(
        f"{args.n} galaxies x 512-d embeddings (12 clusters + 10% noise in 5-d, rotated into 512-d), profile {args.profile}: "
        f"PCA kept {metrics['n_pca_components']} components; HDBSCAN min_cluster_size {h.min_cluster_size}, min_samples {h.min_samples}, "
        f"{h.cluster_selection_method}, sweep {h.sweep}: {metrics['n_clusters']} clusters, noise {metrics['noise_fraction']:.3f}, "
        f"ARI vs the mixture {ari:.3f}; UMAP on {metrics['umap_threads']} thread(s). seconds = the notebook's execution, "
        "process_seconds includes starting Python and the kernel; kernel_peak_gib = max RSS of the stage's processes."))


if __name__ == "__main__":
    main()
