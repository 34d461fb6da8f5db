"""04_pca_hdbscan: reduce embeddings with PCA, then find density clusters with HDBSCAN."""

from __future__ import annotations

import hdbscan
import numpy as np
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

    def fit(self, X: np.ndarray, y=None) -> "EmbeddingClusterer":
        X = normalize(np.asarray(X, dtype=np.float64))
        full = PCA(n_components=min(self.max_components, *X.shape), random_state=self.random_state).fit(X)
        self.explained_variance_ratio_ = full.explained_variance_ratio_
        cumulative = np.cumsum(full.explained_variance_ratio_)
        self.n_components_ = int(min(np.searchsorted(cumulative, self.variance) + 1, len(cumulative)))
        self.reduced_ = full.transform(X)[:, : self.n_components_]
        self.clusterer_ = hdbscan.HDBSCAN(
            min_cluster_size=self.min_cluster_size,
            min_samples=self.min_samples,
            cluster_selection_method=self.cluster_selection_method,
            prediction_data=False,
        ).fit(self.reduced_)
        self.labels_ = self.clusterer_.labels_
        self.probabilities_ = self.clusterer_.probabilities_
        self.outlier_scores_ = self.clusterer_.outlier_scores_
        return self

    @property
    def n_clusters_(self) -> int:
        return int(self.labels_.max() + 1)

    @property
    def noise_fraction_(self) -> float:
        return float(np.mean(self.labels_ == -1))
