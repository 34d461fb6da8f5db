"""A run never deletes what the project did not write, and two runs never share a folder."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from galaxyutils import config, pipeline, run_folder


def test_a_folder_that_is_not_a_run_folder_is_refused_and_left_alone(tmp_path, cli):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "ch1.tex").write_text("only-copy")
    for extra in ([], ["--resume"]):
        result = cli("run", "--profile", "smoke", "--run-dir", str(folder), *extra)
        assert result.returncode == 2 and "not a run folder" in result.stderr and str(folder) in result.stderr
        assert (folder / "ch1.tex").read_text() == "only-copy" and sorted(p.name for p in folder.iterdir()) == ["ch1.tex"]


def test_a_new_run_in_an_old_run_folder_removes_only_what_the_old_run_wrote(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "artifacts").mkdir(parents=True)
    (run_dir / "figures").mkdir()
    (run_dir / "params.yaml").write_text("seed: 0\n")
    (run_dir / "artifacts" / "images.npy").write_bytes(b"old")
    (run_dir / "figures" / "02_training.png").write_bytes(b"old")
    (run_dir / "figures" / "my_annotated_copy.png").write_bytes(b"mine")
    (run_dir / "notes.md").write_text("mine")
    (run_dir / "stages.json").write_text('{"02_simclr_train": {"files": ["figures/02_training.png"]}}')
    kept = run_folder.clear_run_folder(run_dir)
    assert sorted(p.relative_to(run_dir).as_posix() for p in kept) == ["figures/my_annotated_copy.png", "notes.md"]
    assert not (run_dir / "artifacts").exists() and not (run_dir / "params.yaml").exists()


def test_a_second_run_on_a_live_run_folder_is_refused_and_a_stale_lock_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run_dir.mkdir()
        (run_dir / run_folder.LOCK_NAME).write_text(f"{os.uname().nodename} {sleeper.pid}\n")
        with pytest.raises(run_folder.RunFolderError, match="in use by another run"):
            pipeline.run_pipeline(config.resolve("smoke"), run_dir)
    finally:
        sleeper.kill()
        sleeper.wait()
    # The holder is gone (a killed run): its lock is stale and the next run takes it over.
    with run_folder.RunLock(run_dir) as lock:
        assert lock.holder() == (os.uname().nodename, os.getpid())
    assert not (run_dir / run_folder.LOCK_NAME).exists()


def test_a_relative_run_dir_keeps_its_log_when_a_stage_changes_directory(tmp_path, monkeypatch):
    # papermill runs each notebook from notebooks/: the run log must not follow it there.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()

    def stages(params, run_dir, resume, cache, log):
        os.chdir(tmp_path / "elsewhere")
        log("epoch 1/1: loss 1.0")

    monkeypatch.setattr(pipeline, "_run_stages", stages)
    pipeline.run_pipeline(config.resolve("smoke"), Path("relative-run"), log=lambda message: None)
    assert "epoch 1/1" in (tmp_path / "relative-run" / "run.log").read_text()


def test_per_image_rows_are_split_into_the_catalogue_and_the_extra_images(tmp_path):
    import numpy as np
    import pandas as pd

    run = run_folder.Run.create(tmp_path / "run", config.resolve("smoke"))
    table = pd.DataFrame({"id_str": ["a", "b", "c"], "cluster": [0, -1, 1]})
    run.save_rows("clusters", table, 2)
    assert not run.path("clusters_extra.parquet").exists() and len(run.load_table("clusters")) == 2
    run.save_table("catalogue_extra", pd.DataFrame({"id_str": ["c"]}))
    run.save_rows("clusters", table, 2)
    run.save_rows("pca", np.arange(6.0).reshape(3, 2), 2)
    assert list(run.load_table("clusters").id_str) == ["a", "b"] and list(run.load_table("clusters_extra").id_str) == ["c"]
    assert (run.load_rows("pca") == np.arange(6.0).reshape(3, 2)).all() and run.load_array("pca").shape == (2, 2)
