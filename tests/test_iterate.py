"""The iterate loop: stage cache keys, reuse across runs, sweeps and run comparison."""

import json
import os
import time

import pandas as pd
import pytest

from galaxyutils import compare, config, pipeline, run_folder


def _keys(*overrides: str) -> dict[str, str]:
    return pipeline.stage_keys(config.resolve("smoke", list(overrides)))


def test_keys_follow_what_each_stage_depends_on():
    base = _keys()
    stages = [s.notebook for s in pipeline.STAGES]
    assert len(set(base.values())) == len(stages)
    assert _keys() == base  # deterministic
    changed_from = {
        "hdbscan.min_cluster_size=7": "04_pca_hdbscan",
        "augment.noise_std=0.05": "02_simclr_train",
        "embed.tta=true": "03_embed",
        "umap.n_neighbors=5": "05_umap",
        "analysis.knn_k=5": "06_analysis",
        "data.image_size=48": "01_data",
    }
    for override, first_changed in changed_from.items():
        keys = _keys(override)
        first = stages.index(first_changed)
        assert all(keys[s] == base[s] for s in stages[:first]), override
        assert all(keys[s] != base[s] for s in stages[first:]), override


def test_a_changed_input_file_changes_every_key(tmp_path):
    (tmp_path / "images").mkdir()
    image = tmp_path / "images" / "1.jpg"
    image.write_bytes(b"first")
    overrides = ["data.source=gz2", f"data.root={tmp_path}"]
    before = _keys(*overrides)
    assert _keys(*overrides) == before
    image.write_bytes(b"second, longer")
    os.utime(image, ns=(time.time_ns(), time.time_ns() + 10**9))
    after = _keys(*overrides)
    assert all(after[s] != before[s] for s in before)


def test_the_cache_ignores_a_run_that_lost_its_files(tmp_path):
    stage = pipeline.STAGES[4]
    source = tmp_path / "source"
    (source / "artifacts").mkdir(parents=True)
    (source / "artifacts" / "umap.parquet").write_bytes(b"x")
    record = {stage.notebook: {"key": "k1", "status": "ran", "source": None, "seconds": 1.0, "files": ["artifacts/umap.parquet"], "metrics": {}}}
    (source / "stages.json").write_text(json.dumps(record))
    cache = pipeline.StageCache(tmp_path / "cache")
    cache.add("k1", source)
    assert cache.find(stage, "k1", exclude=tmp_path / "other") == source
    assert cache.find(stage, "k1", exclude=source) is None  # never reuse a run from itself
    assert cache.find(stage, "k2", exclude=tmp_path / "other") is None
    (source / "artifacts" / "umap.parquet").unlink()
    assert cache.find(stage, "k1", exclude=tmp_path / "other") is None


def test_parse_grid_reads_values_as_yaml():
    assert compare.parse_grid(["hdbscan.min_cluster_size=10,20", "augment.preset=astro,simclr"]) == {
        "hdbscan.min_cluster_size": [10, 20], "augment.preset": ["astro", "simclr"]}
    with pytest.raises(config.ConfigError, match="KEY=VALUE1,VALUE2"):
        compare.parse_grid(["hdbscan.min_cluster_size"])


@pytest.fixture(scope="module")
def hdbscan_sweep(smoke_run, cli, tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("sweep")
    result = cli("sweep", "--profile", "smoke", "--grid", "hdbscan.min_cluster_size=10,30", "--set", "hdbscan.sweep=false", "--sweep-dir", str(sweep_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    return sweep_dir, result.stdout


def test_a_sweep_over_hdbscan_settings_reuses_training(smoke_run, hdbscan_sweep):
    smoke_dir, _ = smoke_run
    sweep_dir, stdout = hdbscan_sweep
    runs = sorted(p for p in sweep_dir.iterdir() if (p / "params.yaml").exists())
    assert [r.name for r in runs] == ["hdbscan.min_cluster_size=10", "hdbscan.min_cluster_size=30"]
    for run_dir in runs:
        record = run_folder.stage_record(run_dir)
        for stage in ("01_data", "02_simclr_train", "03_embed"):
            assert record[stage]["status"] == "reused" and record[stage]["source"] == str(smoke_dir.resolve()), (run_dir, stage)
        for stage in ("04_pca_hdbscan", "05_umap", "06_analysis"):
            assert record[stage]["status"] == "ran", (run_dir, stage)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        # Numbers of the reused stages come along; the clustering is this run's own.
        assert metrics["n_galaxies"] == 320 and metrics["train_seconds"] > 0
        assert metrics["hdbscan_setting"]["min_cluster_size"] == int(run_dir.name.split("=")[1])
        assert (run_dir / "artifacts" / "checkpoints" / "last.pt").stat().st_ino == (smoke_dir / "artifacts" / "checkpoints" / "last.pt").stat().st_ino
    assert stdout.count("02_simclr_train: reused from") == 2 and "02_simclr_train: running" not in stdout
    table = pd.read_csv(sweep_dir / "compare.csv", index_col=0)
    assert table.loc["param.hdbscan.min_cluster_size"].astype(int).tolist() == [10, 30]
    assert table.loc["stage.02_simclr_train"].str.startswith("reused").all()
    assert {"n_clusters", "evaluation.simclr.clusters.ari", "noise_fraction"} <= set(table.index)
    assert (sweep_dir / "compare.md").read_text().count("param.hdbscan.min_cluster_size") == 1
    assert (sweep_dir / "compare.png").stat().st_size > 5_000


def test_compare_prints_the_table_of_runs(smoke_run, hdbscan_sweep, cli, tmp_path):
    smoke_dir, _ = smoke_run
    sweep_dir, _ = hdbscan_sweep
    result = cli("compare", str(smoke_dir), str(sweep_dir / "hdbscan.min_cluster_size=30"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "param.hdbscan.sweep" in result.stdout and "evaluation.simclr.knn_balanced_accuracy" in result.stdout
    table = pd.read_csv(tmp_path / "compare.csv", index_col=0)
    assert list(table.columns) == ["smoke", "hdbscan.min_cluster_size=30"]
    smoke_metrics = json.loads((smoke_dir / "metrics.json").read_text())
    assert float(table.loc["n_galaxies", "smoke"]) == smoke_metrics["n_galaxies"]
    assert float(table.loc["evaluation.simclr.clusters.ari", "smoke"]) == pytest.approx(smoke_metrics["evaluation"]["simclr"]["clusters"]["ari"])
    missing = cli("compare", str(tmp_path / "nothing-here"))
    assert missing.returncode == 2 and "not run folders" in missing.stderr


def test_repeats_over_seeds_get_mean_and_spread_columns():
    runs = pd.DataFrame({"a": ["0", "ran 9 s", 0.40, 3], "b": ["1", "ran 8 s", 0.50, 5]},
                        index=["param.seed", "stage.02_simclr_train", "v_measure", "n_clusters"])
    table = compare.with_repeat_statistics(runs)
    assert table.loc["v_measure", "mean"] == pytest.approx(0.45) and table.loc["v_measure", "std"] == pytest.approx(0.0707, abs=1e-4)
    assert table.loc["n_clusters", "mean"] == 4 and pd.isna(table.loc["stage.02_simclr_train", "mean"]) and pd.isna(table.loc["param.seed", "mean"])
    # Runs that differ in anything else are not repeats: no statistics across them.
    other = pd.concat([runs, pd.DataFrame({"a": [10], "b": [20]}, index=["param.hdbscan.min_cluster_size"])])
    assert list(compare.with_repeat_statistics(other).columns) == ["a", "b"]
