import numpy as np
import pandas as pd
import pytest

from galaxyutils import gz2, synthetic


def test_rendering_is_deterministic_for_a_seed():
    a, b = synthetic.render("spiral", 5, 128), synthetic.render("spiral", 5, 128)
    assert a.dtype == np.uint8 and a.shape == (128, 128, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, synthetic.render("spiral", 6, 128))


def _second_moment_axis_ratio(image: np.ndarray) -> float:
    side = image.shape[0]
    light = image[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4].astype(float).sum(axis=2)
    light = np.where(light > 0.3 * light.max(), light, 0.0)  # the galaxy's bright body, not sky noise
    y, x = np.mgrid[: light.shape[0], : light.shape[1]]
    w = light / light.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    cov = np.cov(np.stack([x.ravel() - mx, y.ravel() - my]), aweights=w.ravel())
    eig = np.linalg.eigvalsh(cov)
    return float(np.sqrt(eig[0] / eig[1]))


def test_families_differ_as_astronomers_expect():
    ratios = {f: np.median([_second_moment_axis_ratio(synthetic.render(f, s, 212)) for s in range(6)]) for f in ("smooth", "edge_on")}
    assert ratios["edge_on"] < 0.45 < 0.6 < ratios["smooth"]
    def redness(image):  # r/g flux of the central pixels
        centre = image[96:116, 96:116].astype(float)
        return centre[..., 0].mean() / max(centre[..., 2].mean(), 1.0)
    assert np.median([redness(synthetic.render("smooth", s, 212)) for s in range(6)]) > np.median(
        [redness(synthetic.render("spiral", s, 212)) for s in range(6)]
    )


def test_release_layout_and_vote_fractions(tmp_path):
    root = synthetic.write_release(tmp_path, 12, seed=3, size=96, workers=1)
    catalogue = pd.read_csv(root / "gz2_hart16.csv", dtype={"dr7objid": str})
    mapping = pd.read_csv(root / "gz2_filename_mapping.csv", dtype={"objid": str})
    assert len(catalogue) == len(mapping) == 12
    assert set(catalogue.true_family) == set(synthetic.FAMILIES)
    assert all((root / "images" / f"{a}.jpg").exists() for a in mapping.asset_id)
    for question in gz2.decision_tree().values():
        total = catalogue[[a.column("debiased") for a in question.answers]].sum(axis=1)
        assert np.allclose(total, 1.0, atol=0.01), question.task
    smooth = catalogue[catalogue.true_family == "smooth"]
    assert (smooth[gz2.answer("t01", "a01").column()] > 0.3).mean() >= 0.5


@pytest.mark.parametrize("family", synthetic.FAMILIES)
def test_every_family_renders_a_galaxy_in_the_centre(family):
    image = synthetic.render(family, 1, 128).astype(float).sum(axis=2)
    assert image[54:74, 54:74].mean() > 3 * np.median(image)
