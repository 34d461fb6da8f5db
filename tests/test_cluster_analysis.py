import logging

import numba
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from galaxyutils import analysis, cluster, projection
from galaxyutils.cluster import EmbeddingClusterer


def test_clusterer_recovers_separated_groups_in_high_dimension():
    X, y = make_blobs(n_samples=300, centers=3, n_features=64, cluster_std=1.0, random_state=0)
    clusterer = EmbeddingClusterer(variance=0.9, min_cluster_size=20).fit(X)
    assert clusterer.n_clusters_ == 3
    assert 1 <= clusterer.n_components_ <= 50
    assert clusterer.reduced_.shape == (300, clusterer.n_components_)
    assert analysis.cluster_agreement(clusterer.labels_, pd.Series(y))["ari"] > 0.9
    assert clusterer.probabilities_.shape == clusterer.outlier_scores_.shape == (300,)


def test_agreement_counts_noise_as_a_group():
    truth = pd.Series(list("aabbcc"))
    perfect = analysis.cluster_agreement(np.array([0, 0, 1, 1, 2, 2]), truth)
    assert perfect["ari"] == 1.0 and perfect["v_measure"] == 1.0 and perfect["noise_fraction"] == 0.0
    noisy = analysis.cluster_agreement(np.array([0, 0, 1, 1, -1, -1]), truth)
    assert noisy["ari"] == 1.0 and noisy["noise_fraction"] == 1 / 3 and noisy["n_clusters"] == 2
    pure_but_half_noise = analysis.cluster_agreement(np.array([0, -1, 1, -1, 2, -1]), truth)
    assert pure_but_half_noise["v_measure_clustered"] == 1.0 and pure_but_half_noise["v_measure"] < 0.7
    all_noise = analysis.cluster_agreement(np.array([-1] * 6), truth)
    assert all_noise["ari"] == 0.0 and all_noise["n_clusters"] == 0


def test_knn_scores_see_structure_and_not_noise():
    rng = np.random.default_rng(0)
    X, y = make_blobs(n_samples=200, centers=4, n_features=8, random_state=1)
    assert analysis.knn_balanced_accuracy(X, pd.Series(y)) > 0.95
    assert analysis.knn_balanced_accuracy(rng.normal(size=X.shape), pd.Series(y)) < 0.45
    signal = pd.DataFrame({"f": X[:, 0] / 10})
    assert analysis.knn_r2(X, signal)["f"] > 0.8
    assert analysis.knn_r2(rng.normal(size=X.shape), signal)["f"] < 0.1


def test_class_recall_finds_the_lost_class_and_averages_to_balanced_accuracy():
    X, y = make_blobs(n_samples=240, centers=[[0, 0], [8, 0], [8, 0.2]], cluster_std=1.0, random_state=2)
    rare_and_mixed = np.flatnonzero(y == 2)[40:]
    keep = np.setdiff1d(np.arange(len(y)), rare_and_mixed)
    X, truth = X[keep], pd.Series(np.array(["a", "b", "c"])[y[keep]])
    recall = analysis.knn_class_recall(X, truth)
    assert recall["a"] > 0.95 and recall["c"] < 0.5
    assert np.mean(list(recall.values())) == pytest.approx(analysis.knn_balanced_accuracy(X, truth))


@pytest.mark.parametrize("scorer", [analysis.knn_r2, analysis.probe_r2])
def test_targets_scored_together_score_as_each_alone(scorer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 20))
    targets = pd.DataFrame({f"t{i}": X[:, i] + rng.normal(scale=0.5 + i, size=150) for i in range(4)})
    targets.loc[[3, 40, 77], "t2"] = np.nan  # unknown for some galaxies: scored on the rest
    together = scorer(X, targets)
    assert list(together) == list(targets)
    for name in targets:
        assert together[name] == pytest.approx(scorer(X, targets[[name]])[name], abs=1e-9)
    assert together["t0"] > together["t3"]


def test_truth_prefers_true_family_then_gz2_class():
    assert analysis.truth_labels(pd.DataFrame({"true_family": ["spiral"], "gz2_class": ["Ei"]}))[0] == "true_family"
    name, classes = analysis.truth_labels(pd.DataFrame({"gz2_class": ["Ei", "SBc", "Ser"]}))
    assert name == "coarse_gz2_class" and list(classes) == ["smooth", "barred_disc", "edge_on"]
    assert analysis.truth_labels(pd.DataFrame({"label": ["spiral"], "gz2_class": ["Ei"]}))[0] == "label"
    assert analysis.truth_labels(pd.DataFrame({"id_str": ["1"]})) is None


def test_cluster_vote_table_means_and_counts():
    votes = pd.DataFrame({"smooth": [1.0, 0.8, 0.0, 0.2]})
    table = analysis.cluster_vote_table(np.array([0, 0, 1, -1]), votes)
    assert table.loc[0, "smooth"] == 0.9 and table.loc[0, "count"] == 2 and table.loc[-1, "count"] == 1


def test_sweep_scores_settings_without_labels_and_chooses_by_dbcv():
    from galaxyutils import cluster

    X, _ = make_blobs(n_samples=300, centers=3, n_features=5, cluster_std=1.0, random_state=0)
    table = cluster.sweep(X, [10, 30], [None, 5], ["eom", "leaf"])
    assert len(table) == 8 and table.dbcv.between(-1, 1).all()
    setting, why = cluster.choose(table, max_noise=0.5)
    best = table[(table.n_clusters >= 2) & (table.noise_fraction <= 0.5)].dbcv.max()
    chosen = table[(table.min_cluster_size == setting["min_cluster_size"]) & (table.cluster_selection_method == setting["cluster_selection_method"])]
    assert np.isclose(chosen.dbcv.max(), best) and "DBCV" in why
    fallback, why = cluster.choose(table.assign(noise_fraction=0.9), max_noise=0.5)
    assert "least noise" in why


def test_a_setting_whose_one_cluster_is_the_bulk_of_the_sample_is_not_chosen():
    from galaxyutils import cluster

    table = pd.DataFrame({"space": ["umap", "umap"], "min_cluster_size": [30, 100], "min_samples": [1, 5],
                          "cluster_selection_method": ["eom", "eom"], "n_clusters": [2, 5], "largest_share": [0.99, 0.49],
                          "noise_fraction": [0.0, 0.29], "dbcv": [0.32, 0.30]})
    setting, why = cluster.choose(table, max_noise=0.4, max_cluster_share=0.5)
    assert setting["min_cluster_size"] == 100 and "no cluster above 50%" in why
    assert cluster.choose(table, max_noise=0.4)[0]["min_cluster_size"] == 30


def test_when_no_setting_meets_every_limit_the_cluster_share_is_relaxed_before_the_noise():
    from galaxyutils import cluster

    # The shape of a real sweep (gz2-pretrained seed 1): the only settings within the noise limit
    # put most galaxies in one cluster, and the lowest-noise one is a single cluster and a crumb.
    table = pd.DataFrame({"space": ["umap"] * 4, "min_cluster_size": [50, 100, 200, 200], "min_samples": [1, 1, 5, 5],
                          "cluster_selection_method": ["eom", "eom", "leaf", "eom"], "n_clusters": [2, 3, 5, 1],
                          "largest_share": [0.99, 0.59, 0.53, 1.0], "noise_fraction": [0.0, 0.10, 0.36, 0.0],
                          "dbcv": [0.73, 0.01, 0.31, 0.9]})
    setting, why = cluster.choose(table, max_noise=0.4, max_cluster_share=0.5)
    assert (setting["min_cluster_size"], setting["cluster_selection_method"]) == (200, "leaf")
    assert "smallest largest cluster (53%" in why
    setting, why = cluster.choose(table.assign(noise_fraction=[0.5, 0.6, 0.7, 0.0]), max_noise=0.4, max_cluster_share=0.5)
    assert setting["min_cluster_size"] == 50 and "least noise (50%)" in why


def test_the_sweep_tries_both_clustering_spaces_and_keeps_each_best():
    from galaxyutils import cluster, config

    X, _ = make_blobs(n_samples=240, centers=3, n_features=30, cluster_std=2.0, random_state=3)
    params = config.resolve("smoke", ["hdbscan.min_cluster_size=20"])
    first, choice, chosen = cluster.fit_chosen(X, params)
    assert set(choice.sweep.space) == {"pca", "umap"} and len(choice.sweep) == 2 * 3 * 3 * 2
    assert set(choice.best_by_space) == {"pca", "umap"} and choice.setting in choice.best_by_space.values()
    umap_labels = cluster.cluster_labels(X, params, choice.best_by_space["umap"])
    assert analysis.cluster_agreement(umap_labels, pd.Series(_))["ari"] > 0.9
    # Reusing the first fit's PCA and the sweep's spaces gives what fitting each setting afresh gives.
    assert (chosen.labels_ == cluster.cluster_labels(X, params, choice.setting)).all() and chosen.reduced_ is first.reduced_
    table = cluster.clusters_table(chosen, pd.Series(range(len(X))), cluster.labels_by_space(choice, first, chosen))
    assert (table[f"cluster_{choice.setting['space']}"] == table.cluster).all()
    assert (table.cluster_umap.to_numpy() == umap_labels).all()
    assert (table.cluster_pca.to_numpy() == cluster.cluster_labels(X, params, choice.best_by_space["pca"])).all()
    # A baseline is fitted on every embedded image (the last 40 stand for extra ones) and scored on the catalogue's 200.
    labels = cluster.baseline_labels({"baseline": X}, params, choice.best_by_space["umap"], 200)["baseline"]
    assert len(labels) == 200 and (labels == umap_labels[:200]).all()
    fixed = cluster.choose_setting(first.reduced_, config.resolve("smoke", ["hdbscan.sweep=false", "hdbscan.space=umap"]))
    assert fixed.sweep is None and fixed.setting["space"] == "umap" and "fixed" in fixed.why
    # Without a sweep the first fit already has the profile's setting: it is not fitted again.
    first_fixed, _, chosen_fixed = cluster.fit_chosen(X, config.resolve("smoke", ["hdbscan.sweep=false", "hdbscan.space=umap"]))
    assert chosen_fixed is first_fixed and first_fixed.space == "umap"


def test_exemplars_and_similarity_search():
    from galaxyutils import explore

    X, y = make_blobs(n_samples=120, centers=3, n_features=6, random_state=2)
    clusterer = EmbeddingClusterer(min_cluster_size=15).fit(X)
    exemplars = clusterer.exemplar_indices()
    assert len(exemplars) == clusterer.n_clusters_
    for cluster_id, rows in exemplars.items():
        assert (clusterer.labels_[rows] == cluster_id).all()
    catalogue = pd.DataFrame({"id_str": [str(i) for i in range(120)]})
    neighbours = explore.similar(X, catalogue, "0", k=5)
    assert len(neighbours) == 5 and "0" not in set(neighbours.id_str)
    assert (y[neighbours.row] == y[0]).all() and neighbours.distance.is_monotonic_increasing


@pytest.mark.parametrize("method", ["eom", "leaf"])
def test_exemplars_are_hdbscans_own(method):
    import hdbscan

    X, _ = make_blobs(n_samples=600, centers=[[0, 0], [4, 0], [4.8, 0.6], [0, 6]], cluster_std=[1.0, 0.3, 0.3, 0.8], random_state=3)
    clusterer = EmbeddingClusterer(variance=1.0, min_cluster_size=15, cluster_selection_method=method).fit(X)
    reference = hdbscan.HDBSCAN(min_cluster_size=15, cluster_selection_method=method, prediction_data=True).fit(clusterer.reduced_)
    assert (reference.labels_ == clusterer.labels_).all() and clusterer.n_clusters_ >= 3
    exemplars = clusterer.exemplar_indices()
    assert sorted(exemplars) == list(range(clusterer.n_clusters_))
    for label, coordinates in enumerate(reference.exemplars_):
        expected = sorted(map(tuple, coordinates))
        assert sorted(map(tuple, clusterer.reduced_[exemplars[label]])) == expected


def test_umap_reports_the_threads_it_used():
    X, _ = make_blobs(300, n_features=5, centers=3, random_state=0)
    seeded, threads = projection.umap_2d(X, random_state=0)
    assert seeded.shape == (300, 2) and seeded.dtype == np.float32 and threads == 1
    # The full-GZ2 profile leaves UMAP unseeded so it runs on every core.
    _, threads = projection.umap_2d(X, random_state=None)
    assert threads == numba.get_num_threads()


def _catalogue_with_votes(X: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    from galaxyutils import gz2

    columns = list(gz2.key_answer_columns("weighted_fraction").values())[:2]
    rng = np.random.default_rng(3)
    votes = {columns[0]: (X[:, 0] - X[:, 0].min()) / np.ptp(X[:, 0]), columns[1]: rng.random(len(X))}
    return pd.DataFrame({"id_str": [str(i) for i in range(len(X))], "label": [f"class{v}" for v in y], **votes})


def test_the_protocol_scores_a_rescaled_or_rotated_embedding_the_same():
    X, y = make_blobs(n_samples=150, centers=3, n_features=20, cluster_std=3.0, random_state=2)
    catalogue = _catalogue_with_votes(X, y)
    rotation, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(20, 20)))
    labels = np.zeros(len(X), int)
    embeddings = {"original": X, "scaled": 37.0 * X, "rotated": X @ rotation}
    scores = analysis.evaluate_embeddings(embeddings, dict.fromkeys(embeddings, labels), catalogue, components=10)
    table = analysis.evaluation_table(scores)
    assert np.allclose(table["original"], table["scaled"], atol=1e-9, equal_nan=True)
    assert np.allclose(table["original"], table["rotated"], atol=1e-9, equal_nan=True)
    as_is = analysis.evaluation_table(analysis.evaluate_embeddings(embeddings, dict.fromkeys(embeddings, labels), catalogue, components=None))
    # Without the protocol, a stretch of one axis changes the neighbours and so the scores.
    stretched = X * np.r_[50.0, np.ones(19)]
    as_is_stretched = analysis.evaluate_embeddings({"stretched": stretched}, {"stretched": labels}, catalogue, components=None)["stretched"]
    assert as_is_stretched["knn_balanced_accuracy"] != as_is.loc["knn_balanced_accuracy", "original"]


def test_every_embedding_passes_through_the_same_protocol_function(monkeypatch):
    X, y = make_blobs(n_samples=60, centers=2, n_features=8, random_state=5)
    catalogue = _catalogue_with_votes(X, y)
    calls = []
    original = analysis.protocol_features
    monkeypatch.setattr(analysis, "protocol_features", lambda X, components, seed: calls.append((X.shape, components, seed)) or original(X, components, seed))
    names = ["simclr", "raw_pixels", "random_init", "imagenet"]
    embeddings = {name: X[:, : 4 + i] for i, name in enumerate(names)}
    scores = analysis.evaluate_embeddings(embeddings, dict.fromkeys(names, np.zeros(60, int)), catalogue, components=3, seed=7)
    assert sorted(scores) == sorted(names)
    assert [c[1:] for c in calls] == [(3, 7)] * 4 and [c[0][1] for c in calls] == [4, 5, 6, 7]
    assert original(X, 3, 0).shape == (60, 3) and np.allclose(original(X, 3, 0), original(5.0 * X, 3, 0))


def test_the_galaxy_catalogue_opens_in_astropy_with_units_and_one_row_per_galaxy(tmp_path):
    from astropy.table import Table

    from galaxyutils import gz2

    smooth = gz2.key_answer_columns("weighted_fraction")["smooth"]
    catalogue = pd.DataFrame({"id_str": ["587722981736120347", "587722981736120348"], "ra": [150.1, 150.2], "dec": [2.2, 2.3],
                            "gz2_class": ["Ei", "Sc"], smooth: [0.9, 0.1]})
    clusters = pd.DataFrame({"id_str": catalogue.id_str, "cluster": [0, -1], "probability": [0.8, 0.0], "outlier_score": [0.1, 0.9],
                             "exemplar": [True, False]})
    umap_xy = pd.DataFrame({"id_str": catalogue.id_str, "x": [1.0, 2.0], "y": [3.0, 4.0]})
    table = analysis.galaxy_catalogue(catalogue, clusters, umap_xy)
    csv, fits = analysis.write_catalogue(table, tmp_path)
    read = Table.read(fits)
    assert len(read) == len(pd.read_csv(csv)) == 2
    assert str(read["ra"].unit) == "deg" and read["cluster"].tolist() == [0, -1]
    assert "HDBSCAN" in read["cluster"].description and read["smooth_weighted_fraction"].tolist() == [0.9, 0.1]
    assert read["id_str"][0] == "587722981736120347"  # ids stay exact strings, not floats


def test_progress_is_logged_where_the_user_looks_and_can_be_quietened(capsys):
    X, _ = make_blobs(200, centers=3, n_features=4, random_state=0)
    cluster.sweep(X, [10], [None], ["eom"])
    assert "HDBSCAN pca min_cluster_size=10 min_samples=None eom: 3 clusters" in capsys.readouterr().out
    package = logging.getLogger("galaxyutils")
    package.setLevel(logging.WARNING)
    try:
        cluster.sweep(X, [10], [None], ["eom"])
    finally:
        package.setLevel(logging.INFO)
    assert capsys.readouterr().out == ""
