"""Benchmark: is the coarse class in the features at all, or only out of the kNN vote's reach?

levers.py shows balanced accuracy held back by featured discs voted smooth (barred discs
recalled 0.09, unbarred 0.32 in gz2-pretrained's seed 0). A kNN vote of 10 neighbours leans to
the common class, so this asks the features directly:
  probe: for each embedding a run stored (SimCLR and its baselines) and the catalogue's own
      votes (the ceiling), a logistic regression with balanced class weights on the protocol's
      features (analysis.protocol_features, standardised), 5-fold stratified out-of-fold
      balanced accuracy at three regularisation strengths, beside the protocol's kNN score.
      Every strength is reported and none chosen: a diagnostic, not a score to beat.
  depth: for an EfficientNet-Lite0 run, the mean-pooled output of each of the encoder's blocks
      (from the 4th, the first the profile trains) and its final 1280-d features, for the run's
      trained encoder and for the frozen ImageNet weights on the same store views, scored by the
      protocol: does fine-tuning lose in its last layers what an earlier block still shows?
  stretch: the frozen ImageNet baseline (its own input side and centre crop, EmbedParams'
      defaults) on the catalogue's galaxies after a fixed intensity stretch of the decoded
      pixels (gamma, asinh, grey), scored by the protocol: would showing faint features more
      strongly let a network see them?
The classes only score; nothing is fit on them outside the cross-validated probe.
Run: .venv/bin/python benchmarks/readability.py runs/gz2-pretrained-seed0 [more runs]
(--data ../shared/data for the stretch part's GZ2 sample; --no-stretch to skip it; the depth
part reads the first run's checkpoint).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn import metrics
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, write_results  # noqa: E402

from galaxyutils import analysis, config, gz2, readers, train  # noqa: E402
from galaxyutils.augment import centre_view, to_tensor  # noqa: E402
from galaxyutils.data import load_image  # noqa: E402
from galaxyutils.model import EfficientNetLite0  # noqa: E402
from galaxyutils.run_folder import Run  # noqa: E402

STRENGTHS = (0.01, 0.1, 1.0)
FOLDS = 5
STRETCHES = {
    "none": lambda x: x,
    "gamma 0.7": lambda x: x**0.7,
    "gamma 0.5": lambda x: x**0.5,
    "gamma 1.5": lambda x: x**1.5,
    "asinh (a=10)": lambda x: np.arcsinh(10 * x) / np.arcsinh(10),
    "grey": lambda x: np.repeat(x.mean(-1, keepdims=True), 3, -1),
}


def probe_balanced_accuracy(X: np.ndarray, classes, strength: float, seed: int) -> float:
    """Out-of-fold balanced accuracy of a class-balanced logistic regression on ``X``."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=strength, class_weight="balanced", max_iter=5000))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    return float(metrics.balanced_accuracy_score(classes, cross_val_predict(model, X, classes, cv=folds)))


def probe_rows(run_dir: Path) -> list[dict]:
    run = Run.load(run_dir)
    catalogue = run.load_table("catalogue")
    _, classes = analysis.truth_labels(catalogue)
    # The same classes as the protocol's kNN score: one with fewer members than folds cannot be
    # stratified, and it would weigh as much as a common class in the balanced accuracy.
    counts = classes.value_counts()
    known = classes.isin(counts[counts >= FOLDS].index).to_numpy()
    y = classes[known].to_numpy()
    candidates = run.embeddings()
    candidates["votes"] = catalogue[[a.column() for a in gz2.answers() if a.column() in catalogue]].fillna(0.0).to_numpy()
    rows = []
    for name, X in candidates.items():
        features = analysis.protocol_features(X, seed=run.params.seed)[known]
        row = {"run": run_dir.name, "embedding": name,
               "knn": round(analysis.knn_balanced_accuracy(features, classes[known].reset_index(drop=True), seed=run.params.seed), 3)}
        row |= {f"probe C={c:g}": round(probe_balanced_accuracy(features, y, c, run.params.seed), 3) for c in STRENGTHS}
        print(row, flush=True)
        rows.append(row)
    return rows


def _scores(X: np.ndarray, votes, classes, known: np.ndarray) -> dict:
    features = analysis.protocol_features(X)
    r2 = analysis.knn_r2(features, votes)
    recall = analysis.knn_class_recall(features[known], classes[known].reset_index(drop=True))
    return {**{key: round(r2[key], 3) for key in ("smooth", "edge_on", "spiral")},
            "balanced_accuracy": round(float(np.mean(list(recall.values()))), 3), **{f"recall {k}": round(v, 2) for k, v in recall.items()}}


@torch.no_grad()
def block_features(encoder: EfficientNetLite0, images: np.ndarray, first_block: int) -> dict[str, np.ndarray]:
    """Mean-pooled outputs of ``encoder``'s blocks from ``first_block`` (1-based) and its final
    features, for the centre views of uint8 store ``images``."""
    encoder.eval()
    pooled: dict[str, list[torch.Tensor]] = {}
    blocks = list(encoder.net._blocks)
    hooks = [block.register_forward_hook(lambda module, inputs, output, name=f"block {number}": pooled.setdefault(name, []).append(output.mean((2, 3))))
             for number, block in enumerate(blocks, start=1) if number >= first_block]
    try:
        final = [encoder(centre_view(to_tensor(images[start : start + 100]))) for start in range(0, len(images), 100)]
    finally:
        for hook in hooks:
            hook.remove()
    return {**{name: torch.cat(chunks).numpy() for name, chunks in pooled.items()}, "final 1280-d": torch.cat(final).numpy()}


def depth_rows(run_dir: Path, first_block: int = 4) -> list[dict]:
    run = Run.load(run_dir)
    if run.params.model.backbone != "efficientnet_lite0":
        return []
    catalogue = run.load_table("catalogue")
    _, classes = analysis.truth_labels(catalogue)
    known = classes.notna().to_numpy()
    votes = analysis.key_votes(catalogue)
    images = run.load_array("images")
    device = torch.device("cpu")
    model = train.load_trained(run, device)
    rows = []
    for encoder_name, encoder in (("simclr", model.backbone), ("frozen imagenet", EfficientNetLite0(pretrained=True))):
        for layer, X in block_features(encoder, images, first_block).items():
            row = {"encoder": encoder_name, "layer": layer, "dims": X.shape[1], **_scores(X, votes, classes, known)}
            print(row, flush=True)
            rows.append(row)
    return rows


@torch.no_grad()
def stretch_rows(data: Path) -> list[dict]:
    catalogue = readers.read_catalogue("gz2", data / "gz2_sample").table.reset_index(drop=True)
    defaults = config.Params().embed
    pixels = np.stack([load_image(path, defaults.imagenet_size, defaults.imagenet_crop) for path in catalogue.file_loc]).astype(np.float32) / 255
    _, classes = analysis.truth_labels(catalogue)
    known = classes.notna().to_numpy()
    votes = analysis.key_votes(catalogue)
    model = EfficientNetLite0(pretrained=True).eval()
    rows = []
    for name, stretch in STRETCHES.items():
        images = np.clip(stretch(pixels) * 255 + 0.5, 0, 255).astype(np.uint8)
        features = torch.cat([model(to_tensor(images[i : i + 64])).float() for i in range(0, len(images), 64)]).numpy()
        row = {"stretch": name, **_scores(features, votes, classes, known)}
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--no-stretch", action="store_true", help="skip the stretched ImageNet features")
    parser.add_argument("--name", default="readability", help="results file name under benchmarks/results")
    args = parser.parse_args()
    probes = [row for run_dir in args.run_dirs for row in probe_rows(run_dir)]
    tables = {"features after each block of the encoder": depth_rows(args.run_dirs[0])}
    if not args.no_stretch:
        tables["frozen ImageNet features after an intensity stretch"] = stretch_rows(args.data)
    notes = ("probe: out-of-fold balanced accuracy of the coarse classes from a class-balanced logistic regression at inverse "
             "regularisation C, beside the protocol's kNN vote (knn), on the protocol's features; votes = the catalogue's 37 weighted "
             "vote fractions, the ceiling the classes' noise leaves. depth: the protocol's kNN scores of each block's mean-pooled output "
             "(the run's encoder and the frozen ImageNet weights, both on the run's store views). stretch: the protocol's kNN scores of the frozen ImageNet "
             "features after each stretch of the decoded pixels (balanced accuracy = the mean of the class recalls beside it).")
    write_results(args.name, probes, notes, tables)


if __name__ == "__main__":
    main()
