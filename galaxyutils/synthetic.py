"""Built-in synthetic galaxies, written in the layout of the GZ2 release.

Each galaxy is rendered in g, r and i from analytic light profiles (Sersic bulges, exponential
discs, logarithmic spiral arms, tidal tails), convolved with a Gaussian seeing PSF, given sky
noise and field stars, and combined into an SDSS-like colour JPEG with astropy's asinh
``make_lupton_rgb``. The catalogue carries GZ2 vote columns (``gz2_hart16.csv`` names) and the
true family, so the demo runs through exactly the loader used for the real release and its
clusters can be scored against known truth.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.visualization import make_lupton_rgb
from PIL import Image
from scipy.ndimage import gaussian_filter

from . import gz2

FAMILIES = ("smooth", "edge_on", "spiral", "merger")

# Relative g, r, i flux of the components: old stellar populations are red, star-forming discs blue.
RED = np.array([0.45, 1.0, 1.35])
BLUE = np.array([0.9, 1.0, 1.05])

# Preferred answer per question for each family; votes are drawn around these (see _vote_fractions).
_PREFERRED = {
    "smooth": {"t01": "a01", "t07": "a16", "t06": "a15"},
    "edge_on": {"t01": "a02", "t02": "a04", "t09": "a25", "t06": "a15"},
    "spiral": {"t01": "a02", "t02": "a05", "t03": "a07", "t04": "a08", "t10": "a29", "t11": "a32", "t05": "a11", "t06": "a15"},
    "merger": {"t01": "a01", "t07": "a17", "t06": "a14", "t08": "a24"},
}
_GZ2_CLASS = {"smooth": "Er", "edge_on": "Ser", "spiral": "Sc2m", "merger": "Ei(m)"}


@dataclass(frozen=True)
class Galaxy:
    id_str: str
    family: str
    image: np.ndarray  # uint8 H x W x 3


def _sersic(x: np.ndarray, y: np.ndarray, r_e: float, n: float, q: float, angle: float) -> np.ndarray:
    """Unit-peak Sersic profile with axis ratio q and position angle (radians)."""
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * x + s * y, (-s * x + c * y) / q
    r = np.hypot(u, v)
    b_n = 2.0 * n - 1.0 / 3.0
    return np.exp(-b_n * ((r / r_e) ** (1.0 / n) - 1.0))


def _spiral_arms(x: np.ndarray, y: np.ndarray, n_arms: int, pitch_deg: float, angle: float, q: float) -> np.ndarray:
    """Logarithmic-spiral modulation in [0, 1] of a disc seen at axis ratio q."""
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * x + s * y, (-s * x + c * y) / q
    r = np.hypot(u, v) + 1e-3
    theta = np.arctan2(v, u)
    phase = n_arms * (theta - np.log(r) / np.tan(np.radians(pitch_deg)))
    return (0.5 * (1.0 + np.cos(phase))) ** 3


def _component(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, family: str, scale: float) -> np.ndarray:
    """g, r, i light of one galaxy of a family centred on (0, 0): array 3 x H x W."""
    angle = rng.uniform(0, np.pi)
    if family == "smooth":
        q = rng.uniform(0.6, 1.0)
        light = _sersic(x, y, 0.35 * scale, 4.0, q, angle)
        return RED[:, None, None] * light
    if family == "edge_on":
        q = rng.uniform(0.08, 0.2)
        disc = _sersic(x, y, 0.8 * scale, 1.0, q, angle)
        bulge = rng.uniform(0.0, 0.6) * _sersic(x, y, 0.15 * scale, 2.0, 0.7, angle)
        return BLUE[:, None, None] * disc + RED[:, None, None] * bulge
    if family == "spiral":
        q = rng.uniform(0.5, 1.0)
        disc = _sersic(x, y, 0.7 * scale, 1.0, q, angle)
        arms = _spiral_arms(x, y, 2, rng.uniform(12, 30), angle, q)
        bulge = rng.uniform(0.3, 1.0) * _sersic(x, y, 0.12 * scale, 4.0, 0.9, angle)
        return BLUE[:, None, None] * disc * (0.25 + 1.5 * arms) + RED[:, None, None] * bulge
    raise ValueError(f"unknown family {family!r}")


def render(family: str, seed: int, size: int = 424) -> np.ndarray:
    """Render one galaxy of ``family`` as a uint8 size x size x 3 SDSS-like colour image."""
    rng = np.random.default_rng(seed)
    # GZ2 cutouts are scaled so the Petrosian R90 spans about 50 of 424 pixels.
    scale = size * 0.12 * rng.uniform(0.7, 1.3)
    centre = size / 2 + rng.normal(0, size * 0.005, 2)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    x, y = x - centre[0], y - centre[1]
    if family == "merger":
        separation = scale * rng.uniform(0.8, 1.4)
        direction = rng.uniform(0, 2 * np.pi)
        dx, dy = separation * np.cos(direction) / 2, separation * np.sin(direction) / 2
        light = _component(rng, x - dx, y - dy, "smooth", scale) + rng.uniform(0.4, 0.9) * _component(
            rng, x + dx, y + dy, rng.choice(["smooth", "spiral"]), scale * 0.8
        )
        tail = _spiral_arms(x, y, 1, rng.uniform(25, 40), direction, 1.0) * _sersic(x, y, 1.0 * scale, 1.0, 1.0, 0.0)
        light = light + 0.1 * BLUE[:, None, None] * tail
    else:
        light = _component(rng, x, y, family, scale)
    for _ in range(rng.poisson(1.5)):
        sx, sy = rng.uniform(0, size, 2)
        star = np.exp(-0.5 * (((x + centre[0] - sx) ** 2 + (y + centre[1] - sy) ** 2) / 1.5**2))
        light = light + rng.uniform(0.2, 2.0) * np.array([0.8, 1.0, 1.1])[:, None, None] * star
    seeing_sigma = rng.uniform(1.0, 2.5) * size / 424
    light = np.stack([gaussian_filter(band, seeing_sigma) for band in light])
    light = light * rng.uniform(0.6, 1.6) + rng.normal(0, 0.02, light.shape)
    g, r, i = light
    return make_lupton_rgb(i, r, g, minimum=0.0, stretch=0.15, Q=8)


def _vote_fractions(rng: np.random.Generator, family: str, concentration: float = 12.0) -> dict[str, float]:
    """Vote fractions for all 37 answers, drawn around the family's preferred answers.

    Every question gets fractions summing to one; questions the family never reaches get votes
    spread evenly, as a handful of volunteers who took another branch would give.
    """
    votes = {}
    for task, question in gz2.decision_tree().items():
        preferred = _PREFERRED[family].get(task)
        weights = np.ones(len(question.answers))
        if preferred is not None:
            weights[[a.id for a in question.answers].index(preferred)] = 6.0
        fractions = rng.dirichlet(concentration * weights / weights.sum())
        for answer, fraction in zip(question.answers, fractions):
            votes[answer.stem] = float(fraction)
    return votes


def _render_to_file(args: tuple[str, str, int, int, str]) -> None:
    id_str, family, seed, size, path = args
    tmp = f"{path}.tmp"
    Image.fromarray(render(family, seed, size)).save(tmp, format="JPEG", quality=90)
    os.replace(tmp, path)


def write_release(root: Path, n_galaxies: int, seed: int = 0, size: int = 424, workers: int = 0) -> Path:
    """Generate ``n_galaxies`` in the GZ2 release layout under ``root`` and return ``root``.

    Writes ``images/<asset_id>.jpg``, ``gz2_filename_mapping.csv`` and ``gz2_hart16.csv`` (vote
    columns as ``_weighted_fraction`` and ``_debiased``, plus ``true_family``). Images already on
    disk are kept, so an interrupted generation resumes.
    """
    root = Path(root)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    families = np.array(FAMILIES)[np.arange(n_galaxies) % len(FAMILIES)]
    rng.shuffle(families)
    galaxy_seeds = rng.integers(0, 2**31, n_galaxies)
    objids = 587700000000000000 + np.arange(n_galaxies) * 7919 + seed * 10**9
    asset_ids = np.arange(1, n_galaxies + 1)

    jobs = [
        (str(o), f, int(s), size, str(images / f"{a}.jpg"))
        for o, f, s, a in zip(objids, families, galaxy_seeds, asset_ids)
        if not (images / f"{a}.jpg").exists()
    ]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        list(pool.map(_render_to_file, jobs, chunksize=16))

    rows = []
    for objid, family, galaxy_seed in zip(objids, families, galaxy_seeds):
        votes = _vote_fractions(np.random.default_rng(galaxy_seed + 1), family)
        row = {"dr7objid": objid, "sample": "synthetic", "gz2_class": _GZ2_CLASS[family], "total_classifications": 40, "total_votes": 150}
        for stem, fraction in votes.items():
            row[f"{stem}_weighted_fraction"] = round(fraction, 3)
            row[f"{stem}_debiased"] = round(fraction, 3)
        row["true_family"] = family
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / "gz2_hart16.csv", index=False)
    pd.DataFrame({"objid": objids, "sample": "synthetic", "asset_id": asset_ids}).to_csv(root / "gz2_filename_mapping.csv", index=False)
    return root
