"""Benchmark: levers on finished runs' embeddings, without retraining, under the evaluation protocol.

For each run folder (repeats of one profile), every candidate embedding is built from what 03
stored, scored like 06 scores SimCLR's (analysis.protocol_features, kNN k=10, 5-fold, folds drawn
with the run's seed, so the `all` rows of `simclr` are the run's metrics.json) on a tuning
and a report half of the catalogue (split at random, seed 0), and clustered as 04 clusters
(the label-free choice of clustering space and HDBSCAN setting, on every embedded image) to give
V-measure and noise on the catalogue:
  simclr: the run's own embedding (its scores reproduce the run's metrics.json).
  simclr+imagenet: SimCLR's and the frozen ImageNet features side by side, each L2-normalised,
      so each counts equally.
  simclr-tta: the run's encoder averaged over each galaxy's 8 orientations (rotations by 90
      degrees, with and without a flip; what 03 stores with embed.tta), computed here from the
      run's checkpoint and stored images: a galaxy has no preferred orientation on the sky.
  simclr-zoom: the run's encoder on the centre view magnified as training's random resized crops
      magnify it on average (a centre crop of the mean area fraction of augment.crop_scale,
      resized back to the view; label-free): training saw galaxies larger than 03's unmagnified
      centre view shows them (Touvron et al. 2019, "Fixing the train-test resolution discrepancy").
  imagenet: the frozen baseline, clustered the same way.
  votes: not a method but the protocol's ceiling: the catalogue's own weighted vote fractions
      (all 37 answers) as the embedding, scored the same way (not clustered: the extra images
      have no votes). How far the labels' noise lets kNN balanced accuracy go.
Beside the scores, each coarse class's recall under the kNN vote (balanced accuracy is their
mean), to show which classes hold balanced accuracy back.
Runs trained with changed parameters are recipes (training levers): each row names the
parameters in which its run differs from its profile (its `recipe`; `profile` when none), and
the summary gives the mean over the seeds of each recipe.
Run: .venv/bin/python benchmarks/levers.py runs/gz2-pretrained-seed0 runs/gz2-pretrained-seed1 ...
(--levers simclr,simclr-tta to try only some; --name to write results/NAME.md instead of levers.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.preprocessing import normalize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import score  # noqa: E402
from common import write_results  # noqa: E402

from galaxyutils import analysis, cluster, compare, config, embed, gz2, train  # noqa: E402
from galaxyutils.run_folder import Run  # noqa: E402

LEVERS = ("simclr", "simclr+imagenet", "simclr-tta", "simclr-zoom", "imagenet", "votes")
LABELLED_ONLY = {"votes"}  # embeddings of the catalogue's galaxies alone: scored, not clustered


def trained_model(run: Run) -> tuple[torch.nn.Module, torch.device]:
    """The run's SimCLR model from its last checkpoint, and the device it is on."""
    device = train.select_device(run.params.train.device, run.params.train.threads)
    return train.load_trained(run, device), device


def orientation_averaged(run: Run) -> np.ndarray:
    """The run's SimCLR embedding of every embedded image, averaged over the 8 orientations."""
    model, device = trained_model(run)
    return embed.encode(model, run.load_rows("images"), run.params.embed.batch_size, device, tta=True)


class Magnifying(torch.nn.Module):
    """``model`` whose ``encode`` first magnifies each view: a centre crop of ``area`` of it, resized back."""

    def __init__(self, model: torch.nn.Module, area: float):
        super().__init__()
        self.model, self.area = model, area

    def encode(self, views: torch.Tensor) -> torch.Tensor:
        side = views.shape[-1]
        crop = round(side * self.area ** 0.5)
        offset = (side - crop) // 2
        zoomed = F.interpolate(views[..., offset : offset + crop, offset : offset + crop], size=(side, side), mode="bilinear",
                               antialias=True, align_corners=False)
        return self.model.encode(zoomed)


def magnified(run: Run) -> np.ndarray:
    """The run's SimCLR embedding of every embedded image, each centre view magnified by training's
    mean random-resized-crop magnification (a centre crop of the mean area fraction, resized back)."""
    model, device = trained_model(run)
    zooming = Magnifying(model, statistics.fmean(run.params.augment.crop_scale))
    return embed.encode(zooming, run.load_rows("images"), run.params.embed.batch_size, device)


def candidate(run: Run, lever: str, catalogue, embeddings: dict[str, np.ndarray]) -> np.ndarray:
    """One lever's embedding of every embedded image (the catalogue's rows first; for ``votes``
    the catalogue's galaxies alone), from the run's stored ``embeddings`` (``Run.embeddings``)."""
    if lever == "votes":
        return catalogue[[a.column() for a in gz2.answers() if a.column() in catalogue]].fillna(0.0).to_numpy()
    if lever == "simclr-tta":
        return orientation_averaged(run)
    if lever == "simclr-zoom":
        return magnified(run)
    if lever == "simclr+imagenet":
        return np.hstack([normalize(embeddings["simclr"]), normalize(embeddings["imagenet"])])
    return embeddings[lever]


def class_recall(X: np.ndarray, catalogue, seed: int) -> dict[str, float]:
    """Recall of each coarse class under the protocol's kNN vote: where balanced accuracy is lost."""
    _, classes = analysis.truth_labels(catalogue)
    recall = analysis.knn_class_recall(analysis.protocol_features(X, seed=seed), classes, seed=seed)
    return {name: round(value, 3) for name, value in recall.items()}


def clusters(X: np.ndarray, params, classes) -> dict[str, float]:
    """04's label-free procedure on ``X``; agreement with the catalogue's ``classes`` (its first rows)."""
    _, choice, chosen = cluster.fit_chosen(X, params)
    labels = chosen.labels_[: len(classes)]
    agreement = analysis.cluster_agreement(labels, classes)
    return {"v_measure": agreement["v_measure"], "n_clusters": cluster.count_clusters(labels),
            "noise": float(np.mean(labels == -1)), "space": choice.setting["space"]}


def recipes(runs: dict[str, Run]) -> dict[str, str]:
    """Per run, the parameters other than the seed in which it differs from its profile
    (``key=value; ...``), so that even a lone run names its lever; ``profile`` for the profile's
    own recipe."""
    named = {}
    for name, run in runs.items():
        changed = compare.differing_params({"profile": config.resolve(run.params.profile), "run": run.params})
        changed = changed.drop(index=["seed"], errors="ignore")
        named[name] = "; ".join(f"{key}={value}" for key, value in changed["run"].items()) or "profile"
    return named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--levers", default=",".join(LEVERS), help=f"comma-separated, of {', '.join(LEVERS)} (default: all)")
    parser.add_argument("--name", default="levers", help="results file name under benchmarks/results (default: levers)")
    args = parser.parse_args()
    levers = args.levers.split(",")
    unknown = set(levers) - set(LEVERS)
    if unknown:
        parser.error(f"unknown lever(s): {', '.join(sorted(unknown))}")
    runs = {run_dir.name: Run.load(run_dir) for run_dir in args.run_dirs}
    recipe = recipes(runs)
    rows, recalls = [], []
    for run_dir in args.run_dirs:
        run = runs[run_dir.name]
        catalogue = run.load_table("catalogue")
        n = len(catalogue)
        _, classes = analysis.truth_labels(catalogue)
        embeddings = run.embeddings(extra=True)
        trained = {"rankme": float(pd.read_csv(run.path("train_log.csv")).rankme.iloc[-1])}  # label-free, from 02's log
        order = np.random.default_rng(0).permutation(n)
        halves = {"tuning": np.sort(order[: n // 2]), "report": np.sort(order[n // 2 :]), "all": np.arange(n)}
        for lever in levers:
            X = candidate(run, lever, catalogue, embeddings)
            on_all = {} if lever in LABELLED_ONLY else clusters(X, run.params, classes)
            on_all |= trained if lever.startswith("simclr") else {}
            for half, members in halves.items():
                rows.append({"run": run_dir.name, "seed": run.params.seed, "recipe": recipe[run_dir.name], "lever": lever, "half": half,
                             **score(X[:n], catalogue, members, run.params.seed), **(on_all if half == "all" else {})})
            recalls.append({"run": run_dir.name, "recipe": recipe[run_dir.name], "lever": lever,
                            **class_recall(X[:n], catalogue, run.params.seed)})
            print(rows[-3:], recalls[-1], flush=True)
    summary = []
    for run_recipe, lever in dict.fromkeys((r["recipe"], r["lever"]) for r in rows):
        for half in ("tuning", "report", "all"):
            chosen = [r for r in rows if r["recipe"] == run_recipe and r["lever"] == lever and r["half"] == half]
            line = {"recipe": run_recipe, "lever": lever, "half": half, "runs": len(chosen)}
            for key in ("smooth", "edge_on", "spiral", "balanced_accuracy", "v_measure", "noise", "rankme"):
                values = [r[key] for r in chosen if key in r]
                if values:
                    line[key] = f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"
            summary.append(line)
    notes = ("Scores: kNN R^2 of the weighted vote fractions (smooth, edge-on, spiral) and kNN balanced accuracy of the coarse "
             "classes under the protocol; V-measure and noise (share of the catalogue's galaxies) of the clusters 04's label-free "
             "choice gives; RankMe of the encoder after its last epoch (02's label-free signal). Mean ± sd over the runs given. "
             "Recall by class: each coarse class's share recovered by the kNN vote behind balanced accuracy (all galaxies), "
             "whose mean that is.")
    write_results(args.name, summary, notes, {"per run": rows, "recall by class": recalls})


if __name__ == "__main__":
    main()
