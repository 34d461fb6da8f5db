"""06_analysis: do the clusters and the embedding follow what volunteers saw?

Labels (vote fractions, ``gz2_class``, a synthetic galaxy's true family) are read here and only
here: nothing in this module feeds training or clustering.

The evaluation protocol (docs/design.md) treats every embedding alike, the SimCLR one and every
baseline: ``protocol_features`` L2-normalises it and reduces it with PCA to the same number of
components, then the same k, folds and seed score it. How an embedding happens to be scaled or
rotated can then not change its rank.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, normalize

from . import gz2
from .cluster import count_clusters


def truth_labels(catalogue: pd.DataFrame) -> tuple[str, pd.Series] | None:
    """The class to score clusters against: a synthetic galaxy's true family, else a labels
    CSV's class (``label``), else the coarse GZ2 class from ``gz2_class``; None when the
    catalogue has none of them."""
    if "true_family" in catalogue:
        return "true_family", catalogue["true_family"].astype(str)
    if "label" in catalogue:
        return "label", catalogue["label"]
    if "gz2_class" not in catalogue:
        return None
    return "coarse_gz2_class", catalogue["gz2_class"].map(gz2.coarse_class)


def cluster_agreement(labels: np.ndarray, truth: pd.Series) -> dict[str, float]:
    """ARI, AMI, V-measure, homogeneity and completeness of cluster labels against ``truth``.

    Noise (-1) counts as one more group, so a clustering cannot score well by calling the hard
    galaxies noise; ``ari_clustered`` and ``v_measure_clustered`` score the clustered galaxies alone
    (how pure and complete the clusters are, whatever the noise fraction beside them).
    """
    known = truth.notna().to_numpy()
    labels, truth = np.asarray(labels)[known], truth.to_numpy()[known]
    homogeneity, completeness, v_measure = metrics.homogeneity_completeness_v_measure(truth, labels)
    clustered = labels != -1
    return {
        "ari": metrics.adjusted_rand_score(truth, labels),
        "ami": metrics.adjusted_mutual_info_score(truth, labels),
        "v_measure": v_measure,
        "homogeneity": homogeneity,
        "completeness": completeness,
        "ari_clustered": metrics.adjusted_rand_score(truth[clustered], labels[clustered]) if clustered.any() else float("nan"),
        "v_measure_clustered": metrics.v_measure_score(truth[clustered], labels[clustered]) if clustered.any() else float("nan"),
        "noise_fraction": float(np.mean(labels == -1)),
        "n_clusters": count_clusters(labels),
    }


def cluster_purity(labels: np.ndarray, truth: pd.Series) -> pd.DataFrame:
    """Per cluster: size, most common true class and the fraction of members in it."""
    frame = pd.DataFrame({"cluster": labels, "truth": truth.to_numpy()})
    rows = []
    for cluster, members in frame[frame.cluster >= 0].groupby("cluster"):
        counts = members.truth.value_counts()
        rows.append({"cluster": cluster, "size": len(members), "majority": counts.index[0], "purity": counts.iloc[0] / len(members)})
    return pd.DataFrame(rows, columns=["cluster", "size", "majority", "purity"])


def knn_balanced_accuracy(X: np.ndarray, truth: pd.Series, k: int = 10, folds: int = 5, seed: int = 0) -> float:
    """Balanced accuracy of a k-nearest-neighbour vote, stratified k-fold (classes with fewer
    members than folds are left out)."""
    y, predicted = _knn_class_votes(X, truth, k, folds, seed)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(metrics.balanced_accuracy_score(y, predicted))


def knn_class_recall(X: np.ndarray, truth: pd.Series, k: int = 10, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Each class's recall under the same kNN vote as ``knn_balanced_accuracy`` (whose value is
    their mean): which classes hold balanced accuracy back."""
    y, predicted = _knn_class_votes(X, truth, k, folds, seed)
    names = sorted(set(y))
    return dict(zip(names, metrics.recall_score(y, predicted, labels=names, average=None).tolist()))


def _knn_class_votes(X: np.ndarray, truth: pd.Series, k: int, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    counts = truth.value_counts()
    keep = truth.isin(counts[counts >= folds].index).to_numpy()
    y = truth.to_numpy()[keep]
    if len(np.unique(y)) < 2:
        return y, y
    model = KNeighborsClassifier(n_neighbors=k)
    return y, cross_val_predict(model, X[keep], y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))


def knn_r2(X: np.ndarray, targets: pd.DataFrame, k: int = 10, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Cross-validated R^2 of k-nearest-neighbour regression, per target column: do a galaxy's
    neighbours in the embedding carry its votes?"""
    return _cross_validated_r2(KNeighborsRegressor(n_neighbors=k), X, targets, folds, seed)


def probe_r2(X: np.ndarray, targets: pd.DataFrame, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Cross-validated R^2 of a ridge linear probe (standardised features; the ridge strength
    chosen inside each training fold): are the votes linearly readable from the embedding?"""
    return _cross_validated_r2(make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13), alpha_per_target=True)), X, targets, folds, seed)


def _cross_validated_r2(model, X: np.ndarray, targets: pd.DataFrame, folds: int, seed: int) -> dict[str, float]:
    # Targets known on the same galaxies are fitted together: kNN finds the same neighbours for
    # each and RidgeCV chooses each one's ridge strength on its own (alpha_per_target), so the
    # predictions are those of one fit per target, at a fraction of the cost on wide embeddings.
    cv = KFold(folds, shuffle=True, random_state=seed)
    values = targets.to_numpy(dtype=float)
    known = ~np.isnan(values)
    scores = {}
    patterns, group = np.unique(known.T, axis=0, return_inverse=True)
    for index, pattern in enumerate(patterns):
        columns = np.flatnonzero(group.ravel() == index)
        y = values[pattern][:, columns]
        predicted = cross_val_predict(model, X[pattern], y, cv=cv).reshape(y.shape)
        for position, column in enumerate(columns):
            scores[targets.columns[column]] = float(metrics.r2_score(y[:, position], predicted[:, position]))
    return {name: scores[name] for name in targets}


def key_votes(catalogue: pd.DataFrame, kind: str = "weighted_fraction") -> pd.DataFrame:
    """The key answers' vote fractions present in the catalogue, columns named by short name."""
    columns = {short: column for short, column in gz2.key_answer_columns(kind).items() if column in catalogue}
    return catalogue[list(columns.values())].rename(columns={v: k for k, v in columns.items()})


def cluster_vote_table(labels: np.ndarray, votes: pd.DataFrame) -> pd.DataFrame:
    """Mean vote fraction per cluster (rows; noise as -1) and key answer (columns), with counts."""
    table = votes.groupby(np.asarray(labels)).mean()
    table.insert(0, "count", pd.Series(labels).value_counts().sort_index())
    table.index.name = "cluster"
    return table


def protocol_features(X: np.ndarray, components: int = 50, seed: int = 0) -> np.ndarray:
    """The protocol's treatment of any embedding before it is scored: each row L2-normalised
    (so only directions count, as in the contrastive loss and in 04's clustering), then PCA to
    ``components`` (fewer when the embedding has fewer dimensions or rows). Label-free."""
    X = normalize(np.asarray(X, dtype=np.float64))
    return PCA(min(components, *X.shape), random_state=seed).fit_transform(X)


def evaluate_embedding(X: np.ndarray, labels: np.ndarray, catalogue: pd.DataFrame, k: int = 10, folds: int = 5, seed: int = 0) -> dict:
    """Every score the catalogue supports for features ``X`` (as given) and their clusters: kNN
    balanced accuracy and cluster agreement on the true classes, kNN and ridge-probe R^2 on the
    key vote fractions (weighted and debiased)."""
    result: dict = {}
    truth = truth_labels(catalogue)
    if truth is not None:
        _, classes = truth
        known = classes.notna().to_numpy()
        result["knn_balanced_accuracy"] = knn_balanced_accuracy(X[known], classes[known].reset_index(drop=True), k, folds, seed)
        result["clusters"] = cluster_agreement(labels, classes)
    for kind, key in (("weighted_fraction", "knn_r2"), ("debiased", "knn_r2_debiased")):
        votes = key_votes(catalogue, kind)
        if len(votes.columns):
            result[key] = knn_r2(X, votes, k, folds, seed)
            result["probe_r2" if kind == "weighted_fraction" else "probe_r2_debiased"] = probe_r2(X, votes, folds, seed)
    return result


def evaluate_embeddings(embeddings: dict[str, np.ndarray], labels: dict[str, np.ndarray], catalogue: pd.DataFrame, k: int = 10,
                        folds: int = 5, seed: int = 0, components: int | None = 50) -> dict[str, dict]:
    """The protocol over several embeddings: each through ``protocol_features`` (``components``
    None scores them as they come, for the secondary as-is table), then ``evaluate_embedding``
    with its own cluster ``labels`` and the same k, folds and seed."""
    return {name: evaluate_embedding(X if components is None else protocol_features(X, components, seed), labels[name], catalogue, k, folds, seed)
            for name, X in embeddings.items()}


def evaluation_table(evaluation: dict[str, dict]) -> pd.DataFrame:
    """Scores as rows (``knn_r2.smooth``, ``clusters.ari``, ...), embeddings as columns."""
    return pd.json_normalize([{"embedding": name, **scores} for name, scores in evaluation.items()]).set_index("embedding").T


def gallery_picks(clusters: pd.DataFrame, size: int, seed: int = 0) -> dict[int, list[int]]:
    """Rows to show for each cluster (noise too): its most central exemplars (up to half of
    ``size``), then random other members up to ``size``."""
    rng = np.random.default_rng(seed)
    picks = {}
    for cluster_id, members in clusters.groupby("cluster"):
        core = members[members.exemplar].sort_values("probability", ascending=False).index[: size // 2]
        rest = members.index.difference(core)
        picks[int(cluster_id)] = list(core) + list(rng.choice(rest, min(size - len(core), len(rest)), replace=False))
    return picks


def example_query(clusters: pd.DataFrame) -> str:
    """A galaxy to show "more like this" with: the first exemplar of the largest cluster (the
    first galaxy when nothing clustered)."""
    largest = clusters[clusters.cluster >= 0].cluster.value_counts().index
    if not len(largest):
        return str(clusters.id_str.iloc[0])
    return str(clusters[(clusters.cluster == largest[0]) & clusters.exemplar].id_str.iloc[0])


def galaxy_catalogue(catalogue: pd.DataFrame, clusters: pd.DataFrame, umap_xy: pd.DataFrame) -> pd.DataFrame:
    """One row per galaxy for cross-matching (e.g. in TOPCAT): id, RA/Dec when the source
    catalogue has them, cluster (-1 noise), HDBSCAN membership probability and GLOSH outlier
    score, exemplar flag, UMAP x/y, and the key weighted and debiased vote fractions it was scored
    against (and the class, where there is one)."""
    table = pd.DataFrame({"id_str": catalogue.id_str.astype(str)})
    for column in ("ra", "dec"):
        if column in catalogue:
            table[column] = pd.to_numeric(catalogue[column], errors="coerce")
    table["cluster"] = clusters.cluster.to_numpy()
    table["probability"] = clusters.probability.to_numpy()
    table["outlier_score"] = clusters.outlier_score.to_numpy()
    table["exemplar"] = clusters.exemplar.to_numpy()
    table["umap_x"], table["umap_y"] = umap_xy.x.to_numpy(), umap_xy.y.to_numpy()
    truth = truth_labels(catalogue)
    if truth is not None:
        table[truth[0]] = truth[1].astype(str).to_numpy()
    for kind in ("weighted_fraction", "debiased"):
        for short, column in key_votes(catalogue, kind).items():
            table[f"{short}_{kind}"] = column.to_numpy()
    return table


_CATALOGUE_COLUMNS = {
    "id_str": ("", "galaxy id (SDSS DR7 objid for GZ2)"),
    "ra": ("deg", "right ascension (J2000)"),
    "dec": ("deg", "declination (J2000)"),
    "cluster": ("", "HDBSCAN cluster, -1 for noise"),
    "probability": ("", "HDBSCAN membership strength in its cluster (0-1)"),
    "outlier_score": ("", "GLOSH outlier score (0-1, high: unlike its neighbourhood)"),
    "exemplar": ("", "one of its cluster's exemplars (densest core)"),
    "umap_x": ("", "UMAP map coordinate x"),
    "umap_y": ("", "UMAP map coordinate y"),
}


def write_catalogue(table: pd.DataFrame, folder, name: str = "catalogue") -> tuple:
    """Write ``table`` as ``name.csv`` and ``name.fits`` (astropy), with units and a description
    of every column in the FITS header. Returns both paths."""
    from pathlib import Path

    from astropy.table import Table

    folder = Path(folder)
    table.to_csv(folder / f"{name}.csv", index=False)
    fits = Table.from_pandas(table)
    for column in fits.colnames:
        unit, description = _CATALOGUE_COLUMNS.get(column, ("", _vote_description(column)))
        fits[column].unit = unit or None
        fits[column].description = description
    fits.meta["COMMENT"] = ["Galaxy catalogue of one run: clusters, map and the votes it was scored against."]
    fits.write(folder / f"{name}.fits", overwrite=True)
    return folder / f"{name}.csv", folder / f"{name}.fits"


def _vote_description(column: str) -> str:
    for kind, words in (("weighted_fraction", "weighted vote fraction (what volunteers saw in this image)"),
                        ("debiased", "debiased vote fraction (Hart et al. 2016)")):
        if column.endswith(f"_{kind}"):
            answer = column.removesuffix(f"_{kind}")
            return f"{words}, key answer {answer}; conditional on reaching its question"
    return "the class the clusters are scored against" if column in ("coarse_gz2_class", "label", "true_family") else column
