"""Benchmark: 04 + 05 at full GZ2 size (243,434 galaxies) on this machine.

Clusters 243,434 x D embeddings (D as 04 chooses: 4-5 on the demo and real samples; default 5) with hdbscan, fast_hdbscan and
scikit-learn's HDBSCAN, and maps them with UMAP, each in its own process so its peak memory can
be read. The embeddings are a synthetic mixture of Gaussian clusters of different sizes and
spreads plus uniform noise, so each method's output can be checked against the truth (ARI).
Run: .venv/bin/python benchmarks/cluster_scale.py [--n 243434] [--dims 5] [--timeout 600]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue as queue_module
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402


def mixture(n: int, dims: int, clusters: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.full(clusters, 2.0)) * 0.9
    sizes = (shares * n).astype(int)
    centres = rng.normal(0, 6, (clusters, dims))
    parts = [rng.normal(c, rng.uniform(0.5, 1.5), (s, dims)) for c, s in zip(centres, sizes)]
    noise = n - sizes.sum()
    parts.append(rng.uniform(-15, 15, (noise, dims)))
    labels = np.concatenate([np.full(s, k) for k, s in enumerate(sizes)] + [np.full(noise, -1)])
    return np.concatenate(parts).astype(np.float32), labels


def _run(method: str, X: np.ndarray, min_cluster_size: int, queue) -> None:
    start = time.perf_counter()
    if method == "hdbscan":
        import hdbscan

        labels = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, core_dist_n_jobs=os.cpu_count()).fit(X).labels_
    elif method == "fast_hdbscan":
        import fast_hdbscan

        labels = fast_hdbscan.HDBSCAN(min_cluster_size=min_cluster_size).fit(X).labels_
    elif method == "sklearn HDBSCAN":
        from sklearn.cluster import HDBSCAN

        labels = HDBSCAN(min_cluster_size=min_cluster_size, n_jobs=os.cpu_count()).fit(X).labels_
    elif method.startswith("UMAP"):
        import umap

        seed = 0 if "seeded" in method else None
        umap.UMAP(n_components=2, low_memory=True, random_state=seed).fit_transform(X)
        labels = None
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    queue.put({"seconds": seconds, "peak_gib": peak, "labels": None if labels is None else labels.tolist()})


def measure(method: str, X: np.ndarray, truth: np.ndarray, min_cluster_size: int, timeout: float) -> dict:
    from sklearn.metrics import adjusted_rand_score

    queue = mp.get_context("fork").Queue()
    process = mp.get_context("fork").Process(target=_run, args=(method, X, min_cluster_size, queue))
    process.start()
    try:
        result = queue.get(timeout=timeout)  # before join(): a child cannot exit while its result is unread
    except queue_module.Empty:
        process.kill()
        return {"method": method, "seconds": float("nan"), "peak_gib": float("nan"), "n_clusters": "", "noise": "", "ari_vs_truth": f"did not finish in {timeout:.0f} s"}
    finally:
        process.join(5)
    labels = None if result["labels"] is None else np.array(result["labels"])
    row = {"method": method, "seconds": result["seconds"], "peak_gib": result["peak_gib"]}
    if labels is None:
        row.update(n_clusters="", noise="", ari_vs_truth="")
    else:
        row.update(n_clusters=int(labels.max() + 1), noise=float(np.mean(labels == -1)), ari_vs_truth=float(adjusted_rand_score(truth, labels)))
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=243_434)
    parser.add_argument("--dims", type=int, default=5, help="04 keeps 4-5 PCA components on the demo and the real samples")
    parser.add_argument("--min-cluster-size", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--methods", default="fast_hdbscan;hdbscan;sklearn HDBSCAN;UMAP (multithreaded);UMAP (seeded, one thread)", help="separated by ;")
    args = parser.parse_args()
    X, truth = mixture(args.n, args.dims)
    rows = [measure(m, X, truth, args.min_cluster_size, args.timeout) for m in args.methods.split(";")]
    write_results("cluster_scale", rows, f"{args.n} x {args.dims} float32 embeddings (12 Gaussian clusters + 10% uniform noise), "
                  f"min_cluster_size {args.min_cluster_size}, each method in a fresh process (peak = its max RSS, data included).")


if __name__ == "__main__":
    main()
