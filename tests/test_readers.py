"""Each published layout is read into the same catalogue contract (id_str, file_loc, GZ2 votes)."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galaxyutils import data, gz2, readers

KAGGLE_ROWS = """GalaxyID,Class1.1,Class1.2,Class1.3,Class2.1,Class2.2,Class3.1,Class3.2,Class4.1,Class4.2,Class5.1,Class5.2,Class5.3,Class5.4,Class6.1,Class6.2,Class7.1,Class7.2,Class7.3,Class8.1,Class8.2,Class8.3,Class8.4,Class8.5,Class8.6,Class8.7,Class9.1,Class9.2,Class9.3,Class10.1,Class10.2,Class10.3,Class11.1,Class11.2,Class11.3,Class11.4,Class11.5,Class11.6
100008,0.383147,0.616853,0.000000,0.000000,0.616853,0.038452,0.578401,0.418398,0.198455,0.0,0.104752,0.512101,0.000000,0.054453,0.945547,0.201463,0.181684,0.000000,0.0,0.027227,0.000000,0.027227,0.000000,0.000000,0.0,0.000000,0.0,0.000000,0.279952,0.138445,0.000000,0.000000,0.092886,0.0,0.0,0.0,0.325512
100023,0.327001,0.663777,0.009222,0.031178,0.632599,0.467370,0.165229,0.591328,0.041271,0.0,0.236781,0.160941,0.234877,0.189149,0.810851,0.000000,0.135082,0.191919,0.0,0.000000,0.140353,0.000000,0.048796,0.000000,0.0,0.012414,0.0,0.018764,0.000000,0.131378,0.459950,0.000000,0.591328,0.0,0.0,0.0,0.000000
100053,0.765717,0.177352,0.056931,0.000000,0.177352,0.000000,0.177352,0.000000,0.177352,0.0,0.117790,0.059562,0.000000,0.000000,1.000000,0.000000,0.741864,0.023853,0.0,0.000000,0.000000,0.000000,0.000000,0.000000,0.0,0.000000,0.0,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,0.0,0.0,0.0,0.000000
"""


def _image(path, size=48, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).convert(mode).save(path)


def test_kaggle_classes_become_gz2_answer_fractions(tmp_path):
    (tmp_path / "training_solutions_rev1.csv").write_text(KAGGLE_ROWS)
    for galaxy in ("100008", "100023"):
        _image(tmp_path / "images_training_rev1" / f"{galaxy}.jpg")
    assert readers.detect_source(tmp_path) == "kaggle"
    catalogue = readers.read_catalogue("auto", tmp_path)
    table = catalogue.table.set_index("id_str")
    assert list(table.index) == ["100008", "100023"]
    assert catalogue.rejects.reason.tolist() == ["image file missing"]  # 100053
    smooth, bar = gz2.answer("t01", "a01").column(), gz2.answer("t03", "a06").column()
    assert table.loc["100008", smooth] == pytest.approx(0.383147)
    assert table.loc["100008", bar] == pytest.approx(0.038452 / (0.038452 + 0.578401))
    # Nobody reached "edge-on bulge shape" for 100008: no fraction rather than a made-up one.
    assert np.isnan(table.loc["100008", gz2.answer("t09", "a25").column()])
    assert len(catalogue.vote_columns) == 37


def test_willett_table_with_gz2class_and_extra_ids(tmp_path):
    stems = [a.stem for a in gz2.answers()]
    rows = pd.DataFrame({"dr7objid": ["587722981742084144", "587722981741363294"], "dr8objid": ["1237645", "1237646"],
                         "specobjid": ["299", "300"], "gz2class": ["Sc2m", "Ei"]})
    for stem in stems:
        rows[f"{stem}_debiased"] = 0.5
    rows.to_csv(tmp_path / "zoo2MainSpecz.csv", index=False)
    pd.DataFrame({"objid": rows.dr7objid, "sample": "original", "asset_id": [16, 17]}).to_csv(tmp_path / "gz2_filename_mapping.csv", index=False)
    for asset in (16, 17):
        _image(tmp_path / "images_gz2" / "images" / f"{asset}.jpg")
    assert readers.detect_source(tmp_path) == "gz2"
    catalogue = readers.read_catalogue("auto", tmp_path)
    assert list(catalogue.table.gz2_class) == ["Sc2m", "Ei"]
    assert catalogue.table.dr8objid.tolist() == ["1237645", "1237646"]  # long ids stay exact strings
    assert catalogue.source == "gz2 (zoo2MainSpecz.csv)"


def test_nan_and_text_votes_are_kept_and_reported(tmp_path):
    column = gz2.answer("t01", "a01").column()
    pd.DataFrame({"dr7objid": ["1", "2", "3"], column: [0.5, None, "n/a"]}).to_csv(tmp_path / "gz2_hart16.csv", index=False)
    pd.DataFrame({"objid": ["1", "2", "3"], "sample": "x", "asset_id": [1, 2, 3]}).to_csv(tmp_path / "gz2_filename_mapping.csv", index=False)
    for asset in (1, 2, 3):
        _image(tmp_path / "images" / f"{asset}.jpg")
    catalogue = readers.read_gz2_release(tmp_path)
    assert len(catalogue.table) == 3 and catalogue.table[column].isna().sum() == 2
    assert "2 galaxies have NaN in some vote column" in readers.describe(catalogue)


def test_plain_folder_records_non_images_and_duplicate_ids(tmp_path):
    _image(tmp_path / "a.jpg")
    _image(tmp_path / "a.png")
    _image(tmp_path / "b.jpeg", mode="L")
    (tmp_path / "notes.txt").write_text("observing log")
    assert readers.detect_source(tmp_path) == "folder"
    catalogue = readers.read_catalogue("auto", tmp_path)
    assert catalogue.table.id_str.tolist() == ["a", "b"]
    reasons = dict(zip(catalogue.rejects.file.map(lambda f: f.rsplit("/", 1)[-1]), catalogue.rejects.reason))
    assert reasons["notes.txt"] == "not an image file"
    assert "duplicate id" in catalogue.rejects.set_index("id_str").loc["a", "reason"]
    assert "no vote columns" in readers.describe(catalogue)


def test_labelled_folder_detects_id_and_class_columns(tmp_path):
    for objid in ("587722981742084144", "587722981741363294", "587722981741363295"):
        _image(tmp_path / "images" / f"{objid}.jpeg")
    pd.DataFrame({"OBJID": ["587722981742084144", "587722981741363294", "587722981741363296"], "CLASS": ["1", "2", "0"],
                  "class_name": ["spiral_clockwise", "spiral_anticlockwise", "elliptical"]}).to_csv(tmp_path / "labels.csv", index=False)
    assert readers.detect_source(tmp_path) == "labelled_folder"
    catalogue = readers.read_catalogue("auto", tmp_path, label_merge={"spiral_clockwise": "spiral", "spiral_anticlockwise": "spiral"})
    assert catalogue.table.label.tolist() == ["spiral", "spiral"]
    assert sorted(catalogue.rejects.reason) == ["image file missing", "image without catalogue row"]


def test_missing_root_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        readers.read_catalogue("auto", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no GZ2 vote table in"):
        readers.read_gz2_release(tmp_path)


def test_real_gz1_sample_as_a_labelled_folder(shared_data):
    catalogue = readers.read_catalogue("auto", shared_data / "gz1_sample", label_merge={"spiral_clockwise": "spiral", "spiral_anticlockwise": "spiral"})
    assert len(catalogue.table) == 3325 and catalogue.rejects.empty
    counts = catalogue.table.label.value_counts()
    assert counts["elliptical"] == 2319 and counts["spiral"] == 206 + 218 and counts["edge_on"] == 497


def test_real_gz2_sample_vote_columns_are_counted_by_kind(shared_data):
    catalogue = readers.read_catalogue("gz2", shared_data / "gz2_sample")
    assert "76 vote columns found: 37 _weighted_fraction, 37 _debiased, 2 _fraction" in readers.describe(catalogue)
    assert "1 galaxies have NaN in some vote column" in readers.describe(catalogue)


def test_real_kaggle_images_as_a_plain_folder(shared_data):
    catalogue = readers.read_catalogue("folder", shared_data / "kaggle_sample" / "images_training_rev1")
    assert len(catalogue.table) == 1000 and catalogue.rejects.empty


def _gz2_layout(root, votes: str, mapping: str = "objid,sample,asset_id\n1,original,10\n"):
    (root / "images").mkdir(parents=True)
    (root / "gz2_hart16.csv").write_text(votes)
    (root / "gz2_filename_mapping.csv").write_text(mapping)
    return root


@pytest.mark.parametrize("votes, mapping, message", [
    ("dr7objid;gz2_class\n1;Sc\n", "objid,sample,asset_id\n1,original,10\n", "looks semicolon-separated"),
    ("objectid,gz2_class\n1,Sc\n", "objid,sample,asset_id\n1,original,10\n", "has no column objid"),
    ("dr7objid,gz2_class\n1,Sc\n", "objid,sample\n1,original\n", "has no column asset_id"),
    ("", "objid,sample,asset_id\n1,original,10\n", "is empty"),
])
def test_a_broken_gz2_catalogue_is_one_line_naming_the_file(tmp_path, votes, mapping, message):
    root = _gz2_layout(tmp_path / "gz2", votes, mapping)
    with pytest.raises(readers.CatalogueError, match=message) as error:
        readers.read_gz2_release(root)
    assert str(root) in str(error.value)


def test_a_kaggle_table_without_its_class_columns_names_them(tmp_path):
    (tmp_path / "images_training_rev1").mkdir()
    (tmp_path / "training_solutions_rev1.csv").write_text("GalaxyID,Class1.1,Class1.2\n100008,0.3,0.7\n")
    with pytest.raises(readers.CatalogueError, match=r"training_solutions_rev1.csv has no column Class1\.3"):
        readers.read_kaggle(tmp_path)


def test_a_catalogue_whose_rows_are_all_rejected_writes_the_reasons_then_stops(tmp_path):
    root = _gz2_layout(tmp_path / "gz2", "dr7objid,gz2_class\n1,Sc\n2,Ei\n", "objid,sample,asset_id\n1,original,10\n2,original,20\n")  # no image files
    catalogue = readers.read_gz2_release(root)
    with pytest.raises(readers.CatalogueError, match="no usable galaxies.*image file missing: 2"):
        data.prepare(catalogue, tmp_path / "artifacts", size=8, crop_fraction=1.0, workers=1)
    rejects = pd.read_csv(tmp_path / "artifacts" / "rejects.csv")
    assert len(rejects) == 2 and set(rejects.reason) == {"image file missing"}


def test_a_folder_source_lists_broken_links_and_images_in_subfolders(tmp_path):
    Image.new("RGB", (16, 16)).save(tmp_path / "a.jpg")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "night2").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "night2" / "b.jpg")
    catalogue = readers.read_image_folder(tmp_path)
    reasons = dict(zip(catalogue.rejects.file.map(lambda f: f.rsplit("/", 1)[-1]), catalogue.rejects.reason))
    assert list(catalogue.table.id_str) == ["a"]
    assert reasons["gone.jpg"] == "broken symbolic link" and reasons["b.jpg"].startswith("image in subfolder night2/")


def test_impossible_votes_are_set_aside_and_said(tmp_path):
    column = gz2.key_answer_columns("weighted_fraction")["smooth"]
    root = _gz2_layout(tmp_path / "gz2", f"dr7objid,{column}\n1,1.7\n2,-0.3\n3,inf\n4,0.5\n",
                       "objid,sample,asset_id\n1,original,10\n2,original,20\n3,original,30\n4,original,40\n")
    for asset in (10, 20, 30, 40):
        Image.new("RGB", (16, 16)).save(root / "images" / f"{asset}.jpg")
    catalogue = readers.read_gz2_release(root)
    assert catalogue.table[column].iloc[:3].isna().all()
    assert catalogue.table[column].iloc[3] == 0.5
    assert any("3 vote fractions in 3 galaxies are outside 0-1 or infinite" in note for note in catalogue.notes)


def test_two_objids_sharing_one_image_are_flagged(tmp_path):
    root = _gz2_layout(tmp_path / "gz2", "dr7objid,gz2_class\n1,Sc\n2,Ei\n", "objid,sample,asset_id\n1,original,10\n2,original,10\n")
    Image.new("RGB", (16, 16)).save(root / "images" / "10.jpg")
    catalogue = readers.read_gz2_release(root)
    assert list(catalogue.table.id_str) == ["1"]
    assert catalogue.rejects.reason.tolist() == ["asset_id 10 is also mapped to objid 1 (its first objid kept)"]


def test_a_16_bit_image_is_scaled_not_saturated_and_the_conversion_is_recorded(tmp_path):
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    Image.new("RGB", (64, 64), (90, 90, 90)).save(tmp_path / "plain.png")
    catalogue = readers.read_image_folder(tmp_path)
    table, rejects = data.prepare(catalogue, tmp_path / "artifacts", size=16, crop_fraction=1.0, workers=1)
    store = np.load(tmp_path / "artifacts" / "images.npy")
    deep = store[list(table.id_str).index("deep")]
    assert len(rejects) == 0 and (deep == 255).mean() < 0.1 and 100 < deep.mean() < 155
    notes = dict(zip(table.id_str, table.decode_note))
    assert notes["deep"].startswith("16-bit image scaled to 8 bits") and notes["plain"] is None
