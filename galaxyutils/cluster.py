"""04_pca_hdbscan: reduce embeddings with PCA, then find density clusters with HDBSCAN."""

from __future__ import annotations

import itertools

import hdbscan
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.decomposition import PCA
from sklearn.preprocessing import normalize


class EmbeddingClusterer(BaseEstimator, ClusterMixin):
    """L2-normalise, PCA to the components that explain ``variance`` (at most ``max_components``),
    then HDBSCAN.

    HDBSCAN's density estimates degrade in high dimension, hence the PCA step (DESIGN.md).
    Results: ``n_components_``, ``explained_variance_ratio_`` (all components fitted),
    ``reduced_`` (N x n_components_), ``labels_`` (-1 is noise), ``probabilities_``,
    ``outlier_scores_`` (GLOSH) and ``clusterer_`` (the fitted :class:`hdbscan.HDBSCAN`).
    """

    def __init__(self, variance: float = 0.9, max_components: int = 50, min_cluster_size: int = 20, min_samples: int | None = None,
                 cluster_selection_method: str = "eom", random_state: int = 0):
        self.variance = variance
        self.max_components = max_components
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.random_state = random_state

    @classmethod
    def from_params(cls, params, **setting) -> "EmbeddingClusterer":
        """From a run's :class:`Params`; ``setting`` overrides the HDBSCAN parameters (e.g. the
        sweep's choice)."""
        h = params.hdbscan
        chosen = {"min_cluster_size": h.min_cluster_size, "min_samples": h.min_samples, "cluster_selection_method": h.cluster_selection_method, **setting}
        return cls(params.pca.variance, params.pca.max_components, random_state=params.seed, **chosen)

    def fit(self, X: np.ndarray, y=None) -> "EmbeddingClusterer":
        X = normalize(np.asarray(X, dtype=np.float64))
        full = PCA(n_components=min(self.max_components, *X.shape), random_state=self.random_state).fit(X)
        self.explained_variance_ratio_ = full.explained_variance_ratio_
        cumulative = np.cumsum(full.explained_variance_ratio_)
        self.n_components_ = int(min(np.searchsorted(cumulative, self.variance) + 1, len(cumulative)))
        self.reduced_ = full.transform(X)[:, : self.n_components_]
        self.clusterer_ = _hdbscan(self.min_cluster_size, self.min_samples, self.cluster_selection_method).fit(self.reduced_)
        self.labels_ = self.clusterer_.labels_
        self.probabilities_ = self.clusterer_.probabilities_
        self.outlier_scores_ = self.clusterer_.outlier_scores_
        return self

    def exemplar_indices(self) -> dict[int, np.ndarray]:
        """Per cluster, the rows of its exemplars: the points of each leaf of the cluster's
        subtree that persist to that leaf's highest lambda (the cluster's densest cores).

        These are hdbscan's ``exemplars_``, read here from the condensed tree alone, because the
        library only gives them after ``prediction_data=True``, which repeats the
        ``min_samples``-nearest-neighbour search of the fit: 38 of 95 s at full GZ2 size
        (benchmarks/pipeline_scale.py); and it returns coordinates, not rows.
        """
        tree = self.clusterer_.condensed_tree_
        raw = tree.to_numpy()
        points = raw[raw["child_size"] == 1]
        subclusters: dict[int, list[int]] = {}
        for edge in raw[raw["child_size"] > 1]:
            subclusters.setdefault(int(edge["parent"]), []).append(int(edge["child"]))
        # hdbscan numbers its clusters by the order of the selected nodes' ids.
        exemplars = {}
        for label, node in enumerate(sorted(tree._select_clusters())):
            rows, stack = [], [node]
            while stack:
                current = stack.pop()
                if current in subclusters:
                    stack.extend(subclusters[current])
                    continue
                leaf = points[points["parent"] == current]
                rows.append(leaf["child"][leaf["lambda_val"] == leaf["lambda_val"].max()])
            exemplars[label] = np.sort(np.concatenate(rows)).astype(np.int64)
        return exemplars

    @property
    def n_clusters_(self) -> int:
        return int(self.labels_.max() + 1)

    @property
    def noise_fraction_(self) -> float:
        return float(np.mean(self.labels_ == -1))


def cluster_labels(X: np.ndarray, params, setting: dict) -> np.ndarray:
    """HDBSCAN labels of any embedding (a baseline's, say) through the same normalisation, PCA
    and HDBSCAN ``setting`` as the SimCLR embedding in 04."""
    return EmbeddingClusterer.from_params(params, **setting).fit(X).labels_


def _hdbscan(min_cluster_size: int, min_samples: int | None, method: str) -> hdbscan.HDBSCAN:
    return hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, cluster_selection_method=method, gen_min_span_tree=True)


def sweep(reduced: np.ndarray, min_cluster_sizes: list[int], min_samples: list[int | None], methods: list[str]) -> pd.DataFrame:
    """Fit HDBSCAN for every combination; score each by DBCV (relative validity, Moulavi et al.
    2014: density separation against density sparseness, -1 to 1) and noise fraction. No label
    is used."""
    rows = []
    for size, samples, method in itertools.product(min_cluster_sizes, min_samples, methods):
        fitted = _hdbscan(size, samples, method).fit(reduced)
        n_clusters = int(fitted.labels_.max() + 1)
        rows.append({"min_cluster_size": size, "min_samples": samples, "cluster_selection_method": method, "n_clusters": n_clusters,
                     "noise_fraction": float(np.mean(fitted.labels_ == -1)),
                     "dbcv": float(fitted.relative_validity_) if n_clusters >= 2 else float("nan")})
    return pd.DataFrame(rows)


def choose(table: pd.DataFrame, max_noise: float) -> tuple[dict, str]:
    """The setting with the best DBCV among those with at least two clusters and at most
    ``max_noise`` noise; the settings and a sentence saying why."""
    eligible = table[(table.n_clusters >= 2) & (table.noise_fraction <= max_noise)]
    if len(eligible):
        best = eligible.loc[eligible.dbcv.idxmax()]
        why = f"highest DBCV ({best.dbcv:.3f}) among the {len(eligible)} of {len(table)} settings with >= 2 clusters and <= {max_noise:.0%} noise"
    elif (table.n_clusters >= 2).any():
        candidates = table[table.n_clusters >= 2]
        best = candidates.loc[candidates.noise_fraction.idxmin()]
        why = f"no setting kept noise <= {max_noise:.0%}; least noise ({best.noise_fraction:.0%}) among those with >= 2 clusters"
    else:
        best = table.iloc[0]
        why = "no setting found two clusters; the first of the grid is kept"
    samples = best.min_samples
    setting = {"min_cluster_size": int(best.min_cluster_size), "min_samples": None if pd.isna(samples) else int(samples),
               "cluster_selection_method": str(best.cluster_selection_method)}
    return setting, why


def sweep_grid(params) -> tuple[list[int], list[int | None], list[str]]:
    """The grid of ``params.hdbscan`` (a :class:`HDBSCANParams`), defaults filled in."""
    sizes = params.sweep_min_cluster_size or sorted({max(2, params.min_cluster_size // 2), params.min_cluster_size, 2 * params.min_cluster_size})
    samples = [params.min_samples] + [s for s in params.sweep_min_samples if s != params.min_samples]
    return sizes, samples, list(params.sweep_selection)
