"""Benchmark: how far the shared sample's three image sources differ as images, before any training.

gz2-pretrained trains and clusters on 500 GZ2, 1,000 Kaggle and 3,325 GZ1 images (69% of them
GZ1). If GZ1's composites were a different domain (other processing, other scale), an encoder
and HDBSCAN could spend capacity and clusters on the source rather than on morphology. Each pair
of sources is told apart by a logistic regression on the frozen ImageNet features (the baseline's
own input side and centre crop, EmbedParams' defaults; L2-normalised, PCA 50, standardised; 5-fold accuracy on
equal numbers of each, chance 0.5). Kaggle's images are cutouts of GZ2 galaxies from the same
SDSS imaging, so GZ2 against Kaggle shows what differing samples of one pipeline give; within
one morphology (GZ2's smooth galaxies against GZ1's ellipticals, edge-on against edge-on) the
class mix cannot explain what is left. The classes pick the subsets only; nothing is trained on
them.
Run: .venv/bin/python benchmarks/sources.py [--per-source 400]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, normalize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, write_results  # noqa: E402

from galaxyutils import analysis, config, embed, readers  # noqa: E402


def separability(a: np.ndarray, b: np.ndarray, seed: int) -> float:
    """5-fold accuracy of telling features ``a`` from ``b`` (equal numbers drawn from each)."""
    n = min(len(a), len(b))
    rng = np.random.default_rng(seed)
    X = np.vstack([a[rng.choice(len(a), n, replace=False)], b[rng.choice(len(b), n, replace=False)]])
    y = np.repeat([0, 1], n)
    model = make_pipeline(PCA(min(50, 2 * n - 1), random_state=seed), StandardScaler(), LogisticRegression(max_iter=5000))
    return float(cross_val_score(model, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--per-source", type=int, default=400, help="images drawn from each source (default 400)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    defaults = config.Params().embed

    gz2 = readers.read_catalogue("gz2", args.data / "gz2_sample").table
    gz2_class = analysis.truth_labels(gz2)[1].to_numpy()
    kaggle = sorted(str(p) for p in (args.data / "kaggle_sample" / "images_training_rev1").glob("*.jpg"))
    gz1_table = pd.read_csv(args.data / "gz1_sample" / "gz1_class_sample.csv", dtype={"OBJID": str})
    gz1_table["path"] = [str(args.data / "gz1_sample" / "images" / f"{objid}.jpeg") for objid in gz1_table.OBJID]
    gz1_table = gz1_table.iloc[np.sort(rng.choice(len(gz1_table), min(len(gz1_table), 3 * args.per_source), replace=False))]
    kaggle = [kaggle[i] for i in np.sort(rng.choice(len(kaggle), min(len(kaggle), args.per_source), replace=False))]

    def features(paths: list[str]) -> np.ndarray:
        return normalize(embed.imagenet_embedding(paths, defaults.imagenet_size, defaults.imagenet_crop))

    F = {"gz2": features(list(gz2.file_loc)), "kaggle": features(kaggle), "gz1": features(list(gz1_table.path))}
    gz1_class = gz1_table.class_name.to_numpy()
    comparisons = [
        ("GZ2 against Kaggle (one imaging pipeline)", F["gz2"], F["kaggle"]),
        ("GZ2 against GZ1", F["gz2"], F["gz1"]),
        ("Kaggle against GZ1", F["kaggle"], F["gz1"]),
        ("GZ2 smooth against GZ1 elliptical", F["gz2"][gz2_class == "smooth"], F["gz1"][gz1_class == "elliptical"]),
        ("GZ2 edge-on against GZ1 edge-on", F["gz2"][gz2_class == "edge_on"], F["gz1"][gz1_class == "edge_on"]),
    ]
    rows = []
    for name, a, b in comparisons:
        n = min(len(a), len(b))
        rows.append({"sources told apart": name, "images each": n, "accuracy": round(separability(a, b, args.seed), 3)})
        print(rows[-1], flush=True)
    notes = (f"Frozen ImageNet EfficientNet-Lite0 features at {defaults.imagenet_size} px after a {defaults.imagenet_crop} centre crop; "
             "logistic regression on PCA 50 standardised components, 5-fold accuracy, equal numbers of each side (chance 0.5). "
             f"GZ1 mix of the {len(gz1_table)} drawn: " + ", ".join(f"{k} {v}" for k, v in gz1_table.class_name.value_counts().items()) + ".")
    write_results("sources", rows, notes)


if __name__ == "__main__":
    main()
