"""End to end: the runner executes all six notebooks on the smoke profile; we read its numbers."""

import json

import pandas as pd
import pytest


def test_smoke_run_records_real_numbers(smoke_run):
    run_dir, _ = smoke_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_galaxies"] == 320 and metrics["n_rejects"] == 0
    assert 2 <= metrics["n_clusters"] <= 16
    assert 0.0 <= metrics["noise_fraction"] <= 0.6
    assert metrics["truth"] == "true_family"
    # Eight synthetic families: clusters and neighbours must find them far above chance
    # (ARI 0, balanced accuracy 1/8); measured 0.38, 0.58 and 0.73 on this machine.
    assert metrics["ari"] >= 0.2 and metrics["v_measure"] >= 0.35
    assert metrics["evaluation"]["simclr"]["knn_balanced_accuracy"] >= 0.5
    for embedding in ("simclr", "raw_pixels", "random_init", "imagenet"):
        scores = metrics["evaluation"][embedding]
        assert set(scores["clusters"]) >= {"ari", "ami", "v_measure", "homogeneity", "completeness", "noise_fraction", "n_clusters"}
        for key in ("knn_r2", "knn_r2_debiased", "probe_r2", "probe_r2_debiased"):
            assert set(scores[key]) == {"smooth", "edge_on", "bar", "spiral", "odd", "merger", "star_artifact"}, key
    assert metrics["final_loss"] < 5.0 and metrics["umap_threads"] == 1
    assert metrics["hdbscan_setting"]["min_cluster_size"] >= 2 and "DBCV" in metrics["hdbscan_choice"]
    # Both clustering spaces are swept and each one's best is scored.
    assert set(metrics["hdbscan_best_by_space"]) == set(metrics["clusters_by_space"]) == {"pca", "umap"}
    assert metrics["hdbscan_setting"]["space"] in ("pca", "umap")
    # The as-is scores are kept beside the protocol's, for the same embeddings.
    assert set(metrics["evaluation_as_is"]) == set(metrics["evaluation"])


def test_smoke_run_folder_follows_the_stage_contracts(smoke_run):
    run_dir, stdout = smoke_run
    assert (run_dir / "params.yaml").exists() and "torch:" in (run_dir / "environment.txt").read_text()
    for stage in ("01_data", "02_simclr_train", "03_embed", "04_pca_hdbscan", "05_umap", "06_analysis"):
        assert (run_dir / "notebooks" / f"{stage}.ipynb").exists()
        assert f"{stage}: done in" in stdout
    catalogue = pd.read_parquet(run_dir / "artifacts" / "catalogue.parquet")
    clusters = pd.read_parquet(run_dir / "artifacts" / "clusters.parquet")
    umap = pd.read_parquet(run_dir / "artifacts" / "umap.parquet")
    assert list(clusters.id_str) == list(catalogue.id_str) == list(umap.id_str)
    assert {"cluster", "probability", "outlier_score"} <= set(clusters.columns)
    figures = {p.stem for p in (run_dir / "figures").glob("*.png")}
    assert {"01_examples", "01_synthetic_vs_real", "02_training", "04_pca_variance", "04_hdbscan_sweep", "04_condensed_tree",
            "05_umap_clusters", "05_umap_votes", "05_thumbnail_map", "06_cluster_votes", "06_cluster_galleries", "06_outliers", "06_similar"} <= figures
    sweep = pd.read_csv(run_dir / "tables" / "hdbscan_sweep.csv")
    assert len(sweep) >= 12 and {"space", "dbcv", "noise_fraction", "n_clusters"} <= set(sweep.columns) and set(sweep.space) == {"pca", "umap"}
    assert clusters.exemplar.any()
    assert (run_dir / "explorer.html").stat().st_size > 10_000
    assert (run_dir / "tables" / "evaluation.csv").exists()
    assert (run_dir / "tables" / "evaluation_as_is.csv").exists()
    from astropy.table import Table

    assert len(Table.read(run_dir / "catalogue.fits")) == len(catalogue) == len(pd.read_csv(run_dir / "catalogue.csv"))


def test_the_console_and_run_log_show_progress_and_no_noise(smoke_run):
    run_dir, output = smoke_run
    log = (run_dir / "run.log").read_text()
    for progress in ("epoch 1/4: loss", "left", "decoded 320 of 320 images", "HDBSCAN umap min_cluster_size", "06_analysis: done in"):
        assert progress in output and progress in log, progress
    for noise in ("without encryption", "overridden to 1", "Warning"):
        assert noise not in output, noise


def test_resume_skips_finished_stages(smoke_run, cli):
    run_dir, _ = smoke_run
    result = cli("run", "--profile", "smoke", "--run-dir", str(run_dir), "--resume")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("skipped") == 6


def test_quiet_keeps_the_console_to_warnings_while_the_run_log_keeps_everything(smoke_run, cli):
    run_dir, _ = smoke_run
    result = cli("--quiet", "run", "--profile", "smoke", "--run-dir", str(run_dir), "--resume")
    assert result.returncode == 0, result.stderr
    assert "skipped" not in result.stdout + result.stderr and f"results: {run_dir}" in result.stdout
    assert (run_dir / "run.log").read_text().count("outputs present for these parameters, skipped") >= 6


def test_resume_refuses_a_folder_with_other_parameters(smoke_run, cli):
    run_dir, _ = smoke_run
    result = cli("run", "--profile", "smoke", "--run-dir", str(run_dir), "--resume", "--set", "seed=1")
    assert result.returncode == 2 and "other parameters" in result.stderr


@pytest.mark.parametrize(("override", "message"), [("train.epochs=-1", "train.epochs"), ("no.such=1", "unknown parameter 'no.such'")])
def test_bad_override_stops_with_a_clear_message(override, message, tmp_path, cli):
    result = cli("run", "--profile", "smoke", "--run-dir", str(tmp_path / "r"), "--set", override)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "r").exists()


def test_failing_stage_names_the_notebook_and_keeps_it(tmp_path, cli):
    run_dir = tmp_path / "r"
    result = cli("run", "--profile", "smoke", "--run-dir", str(run_dir), "--set", "data.source=gz2", "--set", f"data.root={tmp_path / 'missing'}")
    assert result.returncode == 2
    assert "stage 01_data failed" in result.stderr and "FileNotFoundError" in result.stderr
    assert (run_dir / "notebooks" / "01_data.ipynb").exists()


def test_real_gz2_sample_runs_end_to_end(shared_data, tmp_path, cli):
    """The gz2-sample profile, shortened, on the real 500 galaxies: every row read, none lost."""
    run_dir = tmp_path / "gz2"
    result = cli("run", "--profile", "gz2-sample", "--run-dir", str(run_dir), "--set", "train.epochs=1", "--set", "data.image_size=32")
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_galaxies"] == 500 and metrics["n_rejects"] == 0
    assert metrics["truth"] == "coarse_gz2_class" and metrics["source"] == "gz2 (gz2_hart16_sample.csv)"
    # Raw pixels see edge-on discs on real GZ2 (0.45-0.49 kNN R2 on the halves of the shared sample, benchmarks/results/baselines.md).
    assert metrics["evaluation"]["raw_pixels"]["knn_r2"]["edge_on"] > 0.3
    # Frozen ImageNet features carry smoothness far better than pixels (0.41-0.53 against 0.13-0.18 on the halves).
    assert metrics["evaluation"]["imagenet"]["knn_r2"]["smooth"] > metrics["evaluation"]["raw_pixels"]["knn_r2"]["smooth"] + 0.1
    catalogue = pd.read_parquet(run_dir / "artifacts" / "catalogue.parquet")
    assert "t01_smooth_or_features_a01_smooth_weighted_fraction" in catalogue.columns


def test_publish_copies_a_runs_figures_and_names_the_run(smoke_run, cli, tmp_path):
    run_dir, output = smoke_run
    assert "explorer.html" in output and "make paper RUN=" in output
    earlier = tmp_path / "figures" / "01_drawn_by_another_run.png"
    earlier.parent.mkdir()
    earlier.write_bytes(b"not this run's")
    result = cli("publish", str(run_dir), "--to", str(tmp_path / "figures"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "figures" / "02_training.png").exists()
    readme = (tmp_path / "figures" / "README.md").read_text()
    assert "profile `smoke`" in readme
    assert earlier.read_bytes() == b"not this run's"
    assert "not drawn by this run: 01_drawn_by_another_run.png" in readme
    assert "02_training.png" not in readme.split("not drawn by this run")[1]
