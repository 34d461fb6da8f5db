"""Figures that agree with each other: one name for noise, one palette, labelled scales, cluster
ids tied to what is drawn."""

import hdbscan
import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from galaxyutils import analysis, plots

matplotlib.use("Agg")


def _texts(figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(matplotlib.text.Text)]


@pytest.fixture
def clusters():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({"id_str": [str(587_722_981_000_000_000 + k) for k in range(n)], "cluster": rng.integers(-1, 3, n),
                         "probability": rng.random(n), "exemplar": rng.random(n) < 0.3, "outlier_score": rng.random(n)})


def test_one_palette_for_clusters_with_distinct_colours():
    assert plots.cluster_colours(3) == plots.cluster_colours(12)[:3]
    assert len(set(plots.cluster_colours(25))) == 25 and plots.NOISE_COLOUR not in plots.cluster_colours(25)
    assert plots.cluster_name(-1) == "noise" and plots.cluster_name(4) == "cluster 4"


def test_noise_is_named_noise_in_heatmaps_and_galleries(clusters):
    labels = clusters.cluster.to_numpy()
    votes = pd.DataFrame({"smooth": np.linspace(0, 1, len(labels)), "star_artifact": 0.1})
    truth = pd.Series(np.where(labels > 0, "spiral", "smooth"))
    images = np.zeros((len(labels), 8, 8, 3), np.uint8)
    for figure in (plots.cluster_heatmap(analysis.cluster_vote_table(labels, votes)), plots.confusion(labels, truth),
                   plots.cluster_galleries(images, analysis.gallery_picks(clusters, 4))):
        texts = _texts(figure)
        assert any(t.startswith("noise") for t in texts) and not any(t.startswith("-1") for t in texts)


def test_cluster_classes_are_shares_of_each_cluster_with_a_labelled_scale(clusters):
    labels = clusters.cluster.to_numpy()
    figure = plots.confusion(labels, pd.Series(np.where(labels > 0, "spiral", "smooth")))
    assert "fraction of the cluster's galaxies" in _texts(figure)
    annotations = [float(t) for t in _texts(figure) if t.replace(".", "").isdigit()]
    assert annotations and max(annotations) <= 1.0


def test_vote_panels_say_the_fractions_are_conditional():
    votes = pd.DataFrame({"smooth": [0.1, 0.9], "edge_on": [0.2, np.nan]})
    for figure in (plots.vote_histograms(votes), plots.scatter_values(np.array([[0, 0], [1, 1]]), votes)):
        assert any("reached the question" in t for t in _texts(figure))


def test_outliers_show_whole_ids_in_a_grid(clusters):
    images = np.zeros((len(clusters), 8, 8, 3), np.uint8)
    figure = plots.outlier_gallery(images, clusters, n=12, columns=6)
    top = clusters.sort_values("outlier_score", ascending=False).id_str.head(12)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert [t.split("\n")[0] for t in titles] == list(top)
    width, height = figure.get_size_inches()
    assert width / height < 4  # a grid, not a strip


def test_sweep_figure_shows_every_knob_as_a_legend(clusters):
    rows = [{"space": space, "min_cluster_size": size, "min_samples": samples, "cluster_selection_method": method,
             "noise_fraction": 0.1 * size / 10, "dbcv": 0.2}
            for space in ("pca", "umap") for size in (10, 20, 40) for samples in (None, 1, 5) for method in ("eom", "leaf")]
    chosen = {"space": "umap", "min_cluster_size": 20, "min_samples": 5, "cluster_selection_method": "leaf"}
    texts = _texts(plots.hdbscan_sweep(pd.DataFrame(rows), chosen, max_noise=0.4))
    for label in ("min_cluster_size 10", "min_cluster_size 40", "min_samples = min_cluster_size", "min_samples 1", "min_samples 5",
                  "leaf (hollow)", "chosen", "noise limit (40%)"):
        assert label in texts


@pytest.mark.parametrize("method", ["eom", "leaf"])
def test_condensed_tree_labels_each_outline_with_the_cluster_of_its_points(method):
    X, _ = make_blobs(500, centers=5, cluster_std=[0.4, 1.0, 1.5, 0.7, 2.0], random_state=0)
    clusterer = hdbscan.HDBSCAN(min_cluster_size=20, cluster_selection_method=method).fit(X)
    figure = plots.condensed_tree(clusterer)
    raw = clusterer.condensed_tree_.to_pandas()

    def points_under(node):
        children = raw[raw.parent == node]
        points = set(children[children.child_size == 1].child)
        for child in children[children.child_size > 1].child:
            points |= points_under(child)
        return points

    selected = sorted(clusterer.condensed_tree_._select_clusters())
    labels = {int(t.get_text()) for t in figure.axes[0].texts}
    assert labels == set(range(clusterer.labels_.max() + 1))
    for k, node in enumerate(selected):
        assert set(np.flatnonzero(clusterer.labels_ == k)) <= points_under(node)


def test_synthetic_beside_real_has_headers_and_no_empty_frames():
    image = np.zeros((8, 8, 3), np.uint8)
    figure = plots.synthetic_vs_real({"spiral": [image] * 3, "star_artifact": [image] * 3}, {"spiral": [image] * 2},
                                     {"spiral": "Sc (n=4)", "star_artifact": ""})
    texts = _texts(figure)
    assert any(t.startswith("synthetic") for t in texts) and any(t.startswith("real GZ2") for t in texts)
    assert sum(ax.axison for ax in figure.axes) == 3 + 3 + 2


def test_gallery_picks_put_exemplars_first_and_cover_noise(clusters):
    picks = analysis.gallery_picks(clusters, 6, seed=0)
    assert set(picks) == set(clusters.cluster)
    for cluster_id, rows in picks.items():
        members = clusters[clusters.cluster == cluster_id]
        assert len(rows) == min(6, len(members)) and len(set(rows)) == len(rows)
        exemplars = members[members.exemplar].sort_values("probability", ascending=False).index[:3]
        assert rows[: len(exemplars)] == list(exemplars)
    assert analysis.example_query(clusters) in set(clusters[clusters.exemplar].id_str)


@pytest.mark.parametrize("overrides, name", [([], "NT-Xent loss"), (["train.tau_plus=0.1"], "debiased NT-Xent loss (tau+ = 0.1)"),
                                              (["train.nn_support=64"], "nearest-neighbour loss (support 64)")])
def test_training_curve_names_the_loss_that_was_trained(overrides, name):
    from galaxyutils import config

    log = pd.DataFrame({"epoch": [1, 2], "loss": [3.0, 2.5], "embedding_std": [0.08, 0.07]})
    assert name in _texts(plots.training_curve(log, config.resolve("smoke", overrides).train))


def test_training_curve_says_when_local_views_were_paired():
    log = pd.DataFrame({"epoch": [1, 2], "loss": [3.0, 2.5], "embedding_std": [0.08, 0.07]})
    assert "training loss, 2 full + 4 local views" in _texts(plots.training_curve(log, local_views=4))
    assert "training loss" in _texts(plots.training_curve(log)) and not any("local" in text for text in _texts(plots.training_curve(log)))
