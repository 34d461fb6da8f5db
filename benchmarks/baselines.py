"""Benchmark: each baseline at its best, the free choice made on a tuning half of the real sample.

A baseline is only a fair yardstick at its best. Its free choices are scored on a random half of
the shared GZ2 sample (the tuning half) under the evaluation protocol (L2-normalise, PCA 50,
kNN k=10, 5-fold; analysis.protocol_features); the setting with the highest mean kNN R^2 over the
key weighted vote fractions (gz2.key_answer_columns) becomes the default in galaxyutils/config.py
(EmbedParams), and the other half (the report half) shows what that choice is worth on galaxies
it never saw.
  raw pixels: the side the encoder's view is area-averaged to (the store as the default profile
      builds it: crop 0.7, 90 px, centre view 62 px).
  frozen ImageNet EfficientNet-Lite0: input side and centre crop of the original JPEG.
Run: .venv/bin/python benchmarks/baselines.py [--root ../shared/data/gz2_sample]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, write_results  # noqa: E402

from galaxyutils import analysis, config, data, embed, gz2, readers  # noqa: E402

RAW_SIZES = (8, 12, 16, 24, 32)
IMAGENET_SETTINGS = ((96, 0.35), (128, 0.35), (128, 0.5), (160, 0.35), (160, 0.5), (224, 0.5), (224, 0.35), (224, 0.25), (288, 0.35))


def score(X: np.ndarray, catalogue, rows: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The protocol's headline scores of ``X`` on the galaxies ``rows``, folds drawn with ``seed``
    (06 uses the run's seed)."""
    features = analysis.protocol_features(X[rows], seed=seed)
    subset = catalogue.iloc[rows].reset_index(drop=True)
    r2 = analysis.knn_r2(features, analysis.key_votes(subset), seed=seed)
    _, classes = analysis.truth_labels(subset)
    known = classes.notna().to_numpy()
    accuracy = analysis.knn_balanced_accuracy(features[known], classes[known].reset_index(drop=True), seed=seed)
    return {"mean_knn_r2": float(np.mean(list(r2.values()))), "smooth": r2["smooth"], "edge_on": r2["edge_on"],
            "spiral": r2["spiral"], "balanced_accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=SHARED_DATA / "gz2_sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    catalogue = readers.read_catalogue("gz2", args.root).table
    order = np.random.default_rng(args.seed).permutation(len(catalogue))
    halves = {"tuning": np.sort(order[: len(order) // 2]), "report": np.sort(order[len(order) // 2 :])}
    defaults = config.Params()
    store = np.stack([data.load_image(path, defaults.data.image_size, defaults.data.crop_fraction) for path in catalogue.file_loc])

    rows = []
    candidates: list[tuple[str, str, np.ndarray, float]] = []
    for size in RAW_SIZES:
        start = time.perf_counter()
        candidates.append(("raw_pixels", f"{size} px", embed.raw_pixel_embedding(store, size), time.perf_counter() - start))
    for size, crop in IMAGENET_SETTINGS:
        start = time.perf_counter()
        features = embed.imagenet_embedding(list(catalogue.file_loc), size, crop)
        candidates.append(("imagenet", f"{size} px, crop {crop}", features, time.perf_counter() - start))
    for baseline, setting, X, seconds in candidates:
        for half, members in halves.items():
            rows.append({"baseline": baseline, "setting": setting, "half": half, "seconds": round(seconds, 1), **score(X, catalogue, members)})

    chosen = {}
    for baseline in ("raw_pixels", "imagenet"):
        tuning = [r for r in rows if r["baseline"] == baseline and r["half"] == "tuning"]
        chosen[baseline] = max(tuning, key=lambda r: r["mean_knn_r2"])["setting"]
    notes = (f"{len(catalogue)} galaxies from {args.root.name}, split at random (seed {args.seed}) into a tuning and a report half of "
             f"{len(halves['tuning'])} and {len(halves['report'])}. Chosen on the tuning half (highest mean kNN R2 over the "
             f"{len(gz2.key_answer_columns())} key answers): raw pixels {chosen['raw_pixels']}, ImageNet {chosen['imagenet']}. seconds: computing the features for all "
             f"{len(catalogue)} galaxies on this machine.")
    write_results("baselines", rows, notes)


if __name__ == "__main__":
    main()
