import numpy as np
import pandas as pd
import pytest

from galaxyutils import gz2, synthetic


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return synthetic.write_release(tmp_path_factory.mktemp("synthetic"), 160, seed=4, size=96, workers=2)


@pytest.fixture(scope="module")
def catalogue(release):
    return pd.read_csv(release / "gz2_hart16.csv", dtype={"dr7objid": str})


def test_generation_is_deterministic_whatever_the_workers(release, tmp_path):
    again = synthetic.write_release(tmp_path, 16, seed=4, size=96, workers=1)
    same = synthetic.write_release(tmp_path / "b", 16, seed=4, size=96, workers=2)
    assert (again / "gz2_hart16.csv").read_bytes() == (same / "gz2_hart16.csv").read_bytes()
    for k in range(1, 17):
        assert (again / "images" / f"{k}.jpg").read_bytes() == (same / "images" / f"{k}.jpg").read_bytes()
    p = synthetic.sample_parameters("spiral", np.random.default_rng(1))
    assert np.array_equal(synthetic.render(p, 96, 3), synthetic.render(p, 96, 3))


def test_catalogue_has_every_gz2_column_and_the_truth(catalogue, release):
    assert len(catalogue) == 160 and catalogue.dr7objid.is_unique
    assert (catalogue.true_family.value_counts() == 20).all() and set(catalogue.true_family) == set(synthetic.FAMILIES)
    for answer in gz2.answers():
        for kind in ("count", "fraction", "weighted_fraction", "debiased"):
            assert answer.column(kind) in catalogue
    assert {"true_inclination", "true_bar_strength", "true_pitch_deg", "true_visibility", "gz2_class"} <= set(catalogue.columns)
    mapping = pd.read_csv(release / "gz2_filename_mapping.csv", dtype={"objid": str})
    assert list(mapping.objid) == list(catalogue.dr7objid)


def test_votes_follow_the_decision_tree(catalogue):
    tree = gz2.decision_tree()
    counts = {a.stem: catalogue[a.column("count")] for a in gz2.answers()}
    for task, question in tree.items():
        answered = sum(counts[a.stem] for a in question.answers)
        parents = [a for a in gz2.answers() if a.next == task]
        expected = catalogue.total_classifications if task == "t01" else sum(counts[a.stem] for a in parents)
        assert (answered == expected).all(), task  # everyone sent to a question answered it
        weighted = catalogue[[a.column("weighted_fraction") for a in question.answers]].sum(axis=1)
        assert np.allclose(weighted[answered > 0], 1.0, atol=0.01) and (weighted[answered == 0] == 0).all(), task
        debiased = catalogue[[a.column("debiased") for a in question.answers]].sum(axis=1)
        assert np.allclose(debiased, 1.0, atol=0.01), task


def test_votes_follow_the_true_parameters(catalogue):
    by_family = catalogue.groupby("true_family")
    bar = gz2.answer("t03", "a06").column("debiased")
    assert by_family[bar].mean()["barred_spiral"] > by_family[bar].mean()["spiral"] + 0.3
    spirals = catalogue[catalogue.true_family.isin(["spiral", "barred_spiral"])]
    tight = gz2.answer("t10", "a28").column("debiased")
    assert np.corrcoef(spirals.true_pitch_deg, spirals[tight])[0, 1] < -0.5  # tightly wound arms: small pitch
    edge_on = gz2.answer("t02", "a04").column("weighted_fraction")
    assert by_family[edge_on].mean()["edge_on"] > 0.6 > 0.2 > by_family[edge_on].mean()["spiral"]
    # Seeing hides the features of small, faint galaxies: volunteers see them smoother than they are.
    smooth_seen, smooth_true = gz2.answer("t01", "a01").column("weighted_fraction"), gz2.answer("t01", "a01").column("debiased")
    featured = catalogue[catalogue.true_family.isin(["spiral", "barred_spiral", "edge_on", "irregular"])]
    hidden = featured.true_visibility < 0.6
    assert (featured[smooth_seen] - featured[smooth_true])[hidden].mean() > (featured[smooth_seen] - featured[smooth_true])[~hidden].mean() + 0.1


def test_gz2_class_strings_give_the_families_coarse_classes(catalogue):
    coarse = catalogue.gz2_class.map(gz2.coarse_class)
    share = pd.crosstab(catalogue.true_family, coarse, normalize="index")
    assert share.loc["smooth_round", "smooth"] > 0.8 and share.loc["edge_on", "edge_on"] > 0.6
    assert share.loc["star_artifact", "artifact"] > 0.6
    assert (catalogue[catalogue.true_family == "merger"].gz2_class.str.contains(r"\(m\)")).mean() > 0.5


def _axis_ratio(image: np.ndarray) -> float:
    side = image.shape[0]
    light = image[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4].astype(float).sum(axis=2)
    light = np.where(light > 0.4 * light.max(), light, 0.0)  # the galaxy's bright body, not sky or stars
    y, x = np.mgrid[: light.shape[0], : light.shape[1]]
    w = light / light.sum()
    cov = np.cov(np.stack([(x - (w * x).sum()).ravel(), (y - (w * y).sum()).ravel()]), aweights=w.ravel())
    eig = np.linalg.eigvalsh(cov)
    return float(np.sqrt(eig[0] / eig[1]))


def _images(family: str, n: int = 6, size: int = 128):
    return [synthetic.render(synthetic.sample_parameters(family, np.random.default_rng(s)), size, s) for s in range(n)]


def test_image_statistics_per_family():
    assert np.median([_axis_ratio(i) for i in _images("edge_on")]) < 0.4 < 0.7 < np.median([_axis_ratio(i) for i in _images("smooth_round")])

    def colour(images):  # mean (R - B) of the bright pixels: R is i band, B is g band
        values = []
        for image in images:
            bright = image.astype(float).sum(axis=2) > 0.5 * image.astype(float).sum(axis=2).max()
            values.append((image[..., 0].astype(float) - image[..., 2])[bright].mean())
        return np.median(values)

    assert colour(_images("smooth_round")) > colour(_images("spiral")) + 10 > colour(_images("irregular")) + 10


def test_every_family_has_light_in_the_centre():
    for family in synthetic.FAMILIES:
        image = _images(family, 1)[0].astype(float).sum(axis=2)
        assert image[56:72, 56:72].mean() > 2 * np.median(image), family
