"""04_pca_hdbscan: reduce embeddings with PCA, then find density clusters with HDBSCAN.

HDBSCAN runs in one of two spaces: the PCA components themselves (``pca``), or a UMAP of them
built for clustering (``umap``: a few dimensions, n_neighbors 30, min_dist 0, as umap-learn's
clustering guide does), which gathers the k-NN structure that a pretrained encoder's features
carry into dense groups. The space is part of the HDBSCAN setting, chosen without labels.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import hdbscan
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.decomposition import PCA
from sklearn.preprocessing import normalize

logger = logging.getLogger(__name__)


def count_clusters(labels: np.ndarray) -> int:
    """Clusters in HDBSCAN labels (0..n-1; -1, noise, is not a cluster)."""
    return int(np.max(labels, initial=-1) + 1)


class EmbeddingClusterer(BaseEstimator, ClusterMixin):
    """L2-normalise, PCA to the components that explain ``variance`` (at most ``max_components``),
    then HDBSCAN.

    HDBSCAN's density estimates degrade in high dimension, hence the PCA step (docs/design.md).
    With ``space="umap"`` HDBSCAN runs on a ``umap_components``-dimensional UMAP of the PCA
    components instead (``clustering_space``).
    Results: ``n_components_``, ``explained_variance_ratio_`` (all components fitted),
    ``reduced_`` (N x n_components_, the PCA components), ``space_`` (what HDBSCAN ran on),
    ``labels_`` (-1 is noise), ``probabilities_``, ``outlier_scores_`` (GLOSH) and
    ``clusterer_`` (the fitted :class:`hdbscan.HDBSCAN`).
    """

    def __init__(self, variance: float = 0.9, max_components: int = 50, min_cluster_size: int = 20, min_samples: int | None = None,
                 cluster_selection_method: str = "eom", space: str = "pca", umap_components: int = 8, umap_neighbors: int = 30,
                 random_state: int = 0):
        self.variance = variance
        self.max_components = max_components
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.space = space
        self.umap_components = umap_components
        self.umap_neighbors = umap_neighbors
        self.random_state = random_state

    @classmethod
    def from_params(cls, params, **setting) -> "EmbeddingClusterer":
        """From a run's :class:`Params`; ``setting`` overrides the HDBSCAN parameters (e.g. the
        sweep's choice)."""
        h = params.hdbscan
        chosen = {"min_cluster_size": h.min_cluster_size, "min_samples": h.min_samples, "cluster_selection_method": h.cluster_selection_method,
                  "space": h.space, **setting}
        return cls(params.pca.variance, params.pca.max_components, umap_components=h.umap_components, umap_neighbors=h.umap_neighbors,
                   random_state=params.seed, **chosen)

    def fit(self, X: np.ndarray, y=None) -> "EmbeddingClusterer":
        X = normalize(np.asarray(X, dtype=np.float64))
        full = PCA(n_components=min(self.max_components, *X.shape), random_state=self.random_state).fit(X)
        self.explained_variance_ratio_ = full.explained_variance_ratio_
        cumulative = np.cumsum(full.explained_variance_ratio_)
        self.n_components_ = int(min(np.searchsorted(cumulative, self.variance) + 1, len(cumulative)))
        self.reduced_ = full.transform(X)[:, : self.n_components_]
        return self._fit_space(clustering_space(self.reduced_, self.space, self.umap_components, self.umap_neighbors, self.random_state))

    def _fit_space(self, space: np.ndarray) -> "EmbeddingClusterer":
        self.space_ = space
        self.clusterer_ = _hdbscan(self.min_cluster_size, self.min_samples, self.cluster_selection_method).fit(self.space_)
        self.labels_ = self.clusterer_.labels_
        self.probabilities_ = self.clusterer_.probabilities_
        self.outlier_scores_ = self.clusterer_.outlier_scores_
        return self

    def with_setting(self, setting: dict, spaces: dict[str, np.ndarray] | None = None) -> "EmbeddingClusterer":
        """This fit with the HDBSCAN ``setting`` instead (a sweep's choice): a fitted copy that
        reuses this fit's normalisation and PCA, and the clustering space from ``spaces`` (by
        name, as ``choose_setting`` built them) when it is there, so neither PCA nor UMAP is
        computed twice (minutes at full GZ2 size). Itself when the setting is already its own."""
        if all(self.get_params()[name] == value for name, value in setting.items()):
            return self
        refit = clone(self).set_params(**setting)
        refit.explained_variance_ratio_, refit.n_components_, refit.reduced_ = self.explained_variance_ratio_, self.n_components_, self.reduced_
        space = (spaces or {}).get(refit.space)
        if space is None:
            space = clustering_space(refit.reduced_, refit.space, refit.umap_components, refit.umap_neighbors, refit.random_state)
        return refit._fit_space(space)

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
        return count_clusters(self.labels_)

    @property
    def noise_fraction_(self) -> float:
        return float(np.mean(self.labels_ == -1))


def clustering_space(reduced: np.ndarray, space: str = "pca", components: int = 8, neighbors: int = 30, random_state: int = 0) -> np.ndarray:
    """What HDBSCAN runs on: the PCA components as they are, or their UMAP for clustering
    (``components`` dimensions, ``neighbors`` neighbours, min_dist 0: points packed densely)."""
    if space == "pca":
        return reduced
    import umap  # here, not at the top: plots and analysis import this module, and umap takes seconds to import

    components = min(components, len(reduced) - 2)
    reducer = umap.UMAP(n_components=components, n_neighbors=min(neighbors, len(reduced) - 1), min_dist=0.0,
                        random_state=random_state, n_jobs=1)
    return reducer.fit_transform(reduced).astype(np.float64)


def cluster_labels(X: np.ndarray, params, setting: dict) -> np.ndarray:
    """HDBSCAN labels of any embedding (a baseline's, say) through the same normalisation, PCA
    and HDBSCAN ``setting`` as the SimCLR embedding in 04."""
    return EmbeddingClusterer.from_params(params, **setting).fit(X).labels_


def baseline_labels(embeddings: dict[str, np.ndarray], params, setting: dict, n: int) -> dict[str, np.ndarray]:
    """Each baseline embedding clustered as 04 clustered SimCLR's (every embedded image, extra ones
    too, the run's ``setting``); the labels of the first ``n`` rows, the catalogue's galaxies."""
    return {name: cluster_labels(X, params, setting)[:n] for name, X in embeddings.items()}


def _hdbscan(min_cluster_size: int, min_samples: int | None, method: str) -> hdbscan.HDBSCAN:
    return hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, cluster_selection_method=method, gen_min_span_tree=True)


def sweep(spaces: dict[str, np.ndarray] | np.ndarray, min_cluster_sizes: list[int], min_samples: list[int | None], methods: list[str]) -> pd.DataFrame:
    """Fit HDBSCAN for every combination in every space (``clustering_space`` outputs by name;
    one array means the PCA space); score each by DBCV (relative validity, Moulavi et al. 2014:
    density separation against density sparseness, -1 to 1, in the space clustered) and noise
    fraction. No label is used."""
    if isinstance(spaces, np.ndarray):
        spaces = {"pca": spaces}
    rows = []
    for (space, points), size, samples, method in itertools.product(spaces.items(), min_cluster_sizes, min_samples, methods):
        fitted = _hdbscan(size, samples, method).fit(points)
        n_clusters = count_clusters(fitted.labels_)
        clustered = fitted.labels_[fitted.labels_ >= 0]
        rows.append({"space": space, "min_cluster_size": size, "min_samples": samples, "cluster_selection_method": method, "n_clusters": n_clusters,
                     "largest_share": float(np.bincount(clustered).max() / len(clustered)) if len(clustered) else 1.0,
                     "noise_fraction": float(np.mean(fitted.labels_ == -1)),
                     "dbcv": float(fitted.relative_validity_) if n_clusters >= 2 else float("nan")})
        row = rows[-1]
        logger.info(f"HDBSCAN {space} min_cluster_size={size} min_samples={samples} {method}: {n_clusters} clusters, "
                    f"{row['noise_fraction']:.0%} noise, largest cluster {row['largest_share']:.0%} of the clustered, DBCV {row['dbcv']:.3f}")
    return pd.DataFrame(rows)


def choose(table: pd.DataFrame, max_noise: float, max_cluster_share: float = 1.0) -> tuple[dict, str]:
    """The setting with the best DBCV among those with at least two clusters, at most
    ``max_noise`` noise and no cluster holding more than ``max_cluster_share`` of the clustered
    galaxies; where none qualifies, the one whose largest cluster is smallest within
    ``max_noise``, then the one with least noise. The settings and a sentence saying why.
    Label-free."""
    share = table["largest_share"] if "largest_share" in table else pd.Series(0.0, index=table.index)
    limits = f">= 2 clusters, <= {max_noise:.0%} noise" + (f" and no cluster above {max_cluster_share:.0%}" if max_cluster_share < 1 else "")
    eligible = table[(table.n_clusters >= 2) & (table.noise_fraction <= max_noise) & (share <= max_cluster_share)]
    # Relax one limit at a time, the cluster share first: a setting whose one cluster holds
    # nearly every galaxy (often the lowest-noise one) says nothing about morphology.
    within_noise = table[(table.n_clusters >= 2) & (table.noise_fraction <= max_noise)]
    if len(eligible):
        best = eligible.loc[eligible.dbcv.idxmax()]
        why = f"highest DBCV ({best.dbcv:.3f}) among the {len(eligible)} of {len(table)} settings with {limits}"
    elif len(within_noise):
        best = within_noise.loc[within_noise.assign(share=share).sort_values(["share", "dbcv"], ascending=[True, False]).index[0]]
        why = (f"no setting had {limits}; the smallest largest cluster ({share[best.name]:.0%} of the clustered) among the "
               f"{len(within_noise)} with >= 2 clusters and <= {max_noise:.0%} noise")
    elif (table.n_clusters >= 2).any():
        candidates = table[table.n_clusters >= 2]
        best = candidates.loc[candidates.noise_fraction.idxmin()]
        why = f"no setting had {limits}; least noise ({best.noise_fraction:.0%}) among those with >= 2 clusters"
    else:
        best = table.iloc[0]
        why = "no setting found two clusters; the first of the grid is kept"
    samples = best.min_samples
    setting = {"space": str(best.get("space", "pca")), "min_cluster_size": int(best.min_cluster_size),
               "min_samples": None if pd.isna(samples) else int(samples), "cluster_selection_method": str(best.cluster_selection_method)}
    return setting, why


def sweep_grid(params) -> tuple[list[int], list[int | None], list[str]]:
    """The grid of ``params.hdbscan`` (a :class:`HDBSCANParams`), defaults filled in."""
    sizes = params.sweep_min_cluster_size or sorted({max(2, params.min_cluster_size // 2), params.min_cluster_size, 2 * params.min_cluster_size})
    samples = [params.min_samples] + [s for s in params.sweep_min_samples if s != params.min_samples]
    return sizes, samples, list(params.sweep_selection)


@dataclass
class ClusterChoice:
    """The run's HDBSCAN setting and why; with the sweep, its table, each space's best setting and
    the spaces themselves (for ``EmbeddingClusterer.with_setting``)."""

    setting: dict
    why: str
    sweep: pd.DataFrame | None = None
    best_by_space: dict[str, dict] = field(default_factory=dict)
    spaces: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # the clustering spaces the sweep built


def choose_setting(reduced: np.ndarray, params) -> ClusterChoice:
    """The one place a run's HDBSCAN setting is decided, from the PCA components alone: the
    profile's setting when ``hdbscan.sweep`` is off, else the sweep's best by DBCV within
    ``max_noise`` and ``max_cluster_share`` over every space of ``sweep_spaces`` (each space's
    own best kept too, so both can be reported)."""
    h = params.hdbscan
    if not h.sweep:
        setting = {"space": h.space, "min_cluster_size": h.min_cluster_size, "min_samples": h.min_samples,
                   "cluster_selection_method": h.cluster_selection_method}
        return ClusterChoice(setting, "fixed by the profile (hdbscan.sweep is off)", best_by_space={h.space: setting})
    spaces = {space: clustering_space(reduced, space, h.umap_components, h.umap_neighbors, params.seed) for space in h.sweep_spaces}
    table = sweep(spaces, *sweep_grid(h))
    setting, why = choose(table, h.max_noise, h.max_cluster_share)
    best_by_space = {space: choose(table[table.space == space], h.max_noise, h.max_cluster_share)[0] for space in spaces}
    return ClusterChoice(setting, why, table, best_by_space, spaces)


def fit_chosen(X: np.ndarray, params) -> tuple[EmbeddingClusterer, ClusterChoice, EmbeddingClusterer]:
    """04's clustering of embedding ``X`` in one call: the first fit (the profile's setting, its
    PCA), the label-free choice of setting (``choose_setting``) and the fit with that setting."""
    first = EmbeddingClusterer.from_params(params).fit(X)
    choice = choose_setting(first.reduced_, params)
    return first, choice, first.with_setting(choice.setting, choice.spaces)


def labels_by_space(choice: ClusterChoice, first: EmbeddingClusterer, chosen: EmbeddingClusterer) -> dict[str, np.ndarray]:
    """HDBSCAN labels of each clustering space's own best setting, so both spaces are reported:
    the chosen setting's are ``chosen``'s own, the others are fitted on ``first``'s PCA
    components in the space the sweep built."""
    return {space: chosen.labels_ if setting == choice.setting else first.with_setting(setting, choice.spaces).labels_
            for space, setting in choice.best_by_space.items()}


def clusters_table(clusterer: EmbeddingClusterer, ids: pd.Series, by_space: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """04's per-galaxy result: ``id_str``, ``cluster`` (-1 noise), membership ``probability``,
    GLOSH ``outlier_score``, whether the galaxy is one of its cluster's ``exemplar``s, and a
    ``cluster_<space>`` column for each labelling in ``by_space``."""
    exemplar = np.zeros(len(ids), bool)
    for rows in clusterer.exemplar_indices().values():
        exemplar[rows] = True
    table = pd.DataFrame({"id_str": np.asarray(ids), "cluster": clusterer.labels_, "probability": clusterer.probabilities_,
                          "outlier_score": clusterer.outlier_scores_, "exemplar": exemplar})
    for space, labels in (by_space or {}).items():
        table[f"cluster_{space}"] = labels
    return table
