"""Built-in synthetic galaxies that look like GZ2, with the truth known.

Each galaxy is drawn with GalSim in SDSS g, r and i: Sersic bulges and ellipticals, inclined
exponential discs, logarithmic spiral arms traced by star-forming knots, bars, dust lanes, tidal
tails, clumps, stars and satellite trails, convolved with a Kolmogorov seeing PSF and given sky
noise and field stars, then combined with astropy's asinh ``make_lupton_rgb`` (Lupton et al.
2004) like the SDSS colour composites GZ2 showed. GZ2 cutouts are scaled to the galaxy
(0.02 x Petrosian R90 arcsec per pixel of 424), so a galaxy always spans about the same
fraction of the frame and the seeing, fixed in arcsec, blurs small galaxies more.

Vote fractions come from the true parameters through simulated volunteers who walk the GZ2
decision tree (``gz2_decision_tree.yaml``): ``_debiased`` is what they would answer for a big,
bright view of the galaxy; ``_weighted_fraction`` is what ~45 volunteers answered for this
image, where small, faint galaxies lose their features to the seeing and look smooth (the bias
Hart et al. 2016 corrected). Everything is written in the GZ2 release layout, with the true
family and parameters in extra columns, so the demo goes through the same reader as real data.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import galsim
import numpy as np
import pandas as pd
from astropy.visualization import make_lupton_rgb
from PIL import Image
from scipy.signal import fftconvolve

from . import gz2
from .files import resolve_root, write_atomic

FAMILIES = ("smooth_round", "smooth_elongated", "edge_on", "spiral", "barred_spiral", "merger", "irregular", "star_artifact")

# g, r, i flux ratios: old stellar populations are red, star-forming regions blue.
COLOURS = {
    "old": np.array([0.55, 1.0, 1.25]),
    "disc": np.array([0.8, 1.0, 1.1]),
    "young": np.array([1.3, 1.0, 0.85]),
    "star": np.array([0.8, 1.0, 1.05]),
}
# Drawing accuracy traded for speed: 0.5% aliasing and k-space truncation are far below the sky noise.
FAST = galsim.GSParams(folding_threshold=5e-3, maxk_threshold=5e-3)
R90_PIXELS_AT_424 = 50.0  # GZ2 cutouts: 424 px = 8.48 Petrosian R90
SEEING_ARCSEC = 1.4  # SDSS median r-band seeing


def sample_parameters(family: str, rng: np.random.Generator) -> dict:
    """Draw the true parameters of one galaxy of ``family``."""
    p = {
        "family": family,
        "r90_arcsec": float(np.exp(rng.normal(np.log(9.0), 0.35))),
        "brightness": float(np.exp(rng.normal(0.0, 0.35))),  # relative surface brightness
        "position_angle": float(rng.uniform(0, 180)),
        "axis_ratio": 1.0, "inclination": 0.0, "bulge_fraction": 0.0, "sersic_n": 1.0,
        "n_arms": 0, "pitch_deg": 0.0, "arm_strength": 0.0, "bar_strength": 0.0, "dust_lane": 0.0,
        "companion_ratio": 0.0, "tidal_strength": 0.0, "clumpiness": 0.0, "artifact": "",
    }
    if family == "smooth_round":
        p.update(axis_ratio=rng.uniform(0.75, 1.0), sersic_n=rng.uniform(3.0, 5.0), bulge_fraction=1.0)
    elif family == "smooth_elongated":
        p.update(axis_ratio=rng.uniform(0.25, 0.7), sersic_n=rng.uniform(2.0, 4.0), bulge_fraction=1.0)
    elif family == "edge_on":
        p.update(inclination=rng.uniform(84, 90), bulge_fraction=rng.choice([0.0, rng.uniform(0.1, 0.5)]),
                 dust_lane=float(rng.random() < 0.5) * rng.uniform(0.5, 1.0))
    elif family in ("spiral", "barred_spiral"):
        p.update(inclination=rng.uniform(0, 60), bulge_fraction=rng.uniform(0.05, 0.5), n_arms=int(rng.choice([1, 2, 2, 2, 3, 4])),
                 pitch_deg=rng.uniform(8, 35), arm_strength=rng.uniform(0.3, 1.0))
        if family == "barred_spiral":
            p["bar_strength"] = rng.uniform(0.3, 1.0)
    elif family == "merger":
        p.update(axis_ratio=rng.uniform(0.6, 1.0), sersic_n=rng.uniform(2.0, 4.0), bulge_fraction=1.0,
                 companion_ratio=rng.uniform(0.4, 1.0), tidal_strength=rng.uniform(0.4, 1.0))
    elif family == "irregular":
        p.update(inclination=rng.uniform(0, 60), clumpiness=rng.uniform(0.5, 1.0), r90_arcsec=p["r90_arcsec"] * 0.8)
    elif family == "star_artifact":
        p.update(artifact=str(rng.choice(["star", "trail"])))
    else:
        raise ValueError(f"unknown family {family!r}")
    if p["inclination"]:
        p["axis_ratio"] = float(max(np.cos(np.radians(p["inclination"])), 0.12))
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in p.items()}


def _disc_positions(rng, n, scale, pitch_deg, n_arms, spread):
    """Face-on positions of star-forming knots along ``n_arms`` logarithmic spirals."""
    arm = rng.integers(0, n_arms, n)
    radius = scale * rng.uniform(0.6, 3.2, n)
    theta = np.log(radius / scale) / np.tan(np.radians(pitch_deg)) + 2 * np.pi * arm / n_arms
    theta += rng.normal(0, spread, n)
    return radius * np.cos(theta), radius * np.sin(theta)


def _project(x, y, inclination_deg, angle_deg):
    """Face-on disc coordinates to the sky: foreshorten by cos(i), rotate by the position angle."""
    y = y * max(np.cos(np.radians(inclination_deg)), 0.12)
    a = np.radians(angle_deg)
    return x * np.cos(a) - y * np.sin(a), x * np.sin(a) + y * np.cos(a)


def _knots(xs, ys, sigma, fluxes, colour) -> list:
    """Compact sources (star-forming knots, tidal debris, stars, a trail) as one point set.

    Hundreds of shifted profiles are slow to sum in Fourier space, so point sets are deposited
    on the pixel grid and convolved once with a GalSim-drawn (knot x seeing) kernel.
    """
    return [("points", np.asarray(xs, float), np.asarray(ys, float), np.asarray(fluxes, float), float(sigma), colour)]


def _galaxy_components(p: dict, rng: np.random.Generator, r90: float, centre=(0.0, 0.0)) -> list:
    """(GalSim profile of unit-ish flux, g/r/i colour) pairs for one galaxy at ``centre``."""
    beta = p["position_angle"] * galsim.degrees
    family = p["family"]
    parts = []
    if family in ("smooth_round", "smooth_elongated", "merger"):
        hlr = r90 / (2.5 if p["sersic_n"] > 3 else 2.0)
        body = galsim.Sersic(p["sersic_n"], half_light_radius=hlr, flux=1.0, trunc=4 * r90, gsparams=FAST).shear(q=p["axis_ratio"], beta=beta)
        parts.append((body, COLOURS["old"]))
    else:
        # An exponential disc holds 90% of its light within 3.9 scale lengths; GZ2 discs look larger
        # than that because their arms and knots reach beyond the smooth light, hence 2.8.
        scale = r90 / 2.8
        disc_flux = 1.0 - p["bulge_fraction"]
        inclination = p["inclination"] * galsim.degrees
        if disc_flux > 0:
            smooth_share = 1.0 - 0.8 * p["arm_strength"] - 0.6 * p["clumpiness"]
            disc = galsim.InclinedExponential(inclination, scale_radius=scale, scale_h_over_r=0.12, flux=disc_flux * smooth_share)
            parts.append((disc.rotate(beta), COLOURS["disc"]))
            if p["dust_lane"]:
                # A thin, absorbing mid-plane: negative light, stronger in g than in i.
                lane = galsim.InclinedExponential(inclination, scale_radius=scale, scale_h_over_r=0.03, flux=-0.2 * p["dust_lane"] * disc_flux)
                parts.append((lane.rotate(beta), np.array([1.0, 0.8, 0.6])))
        if p["bulge_fraction"]:
            bulge = galsim.Sersic(4.0, half_light_radius=0.12 * r90, flux=p["bulge_fraction"], trunc=2 * r90, gsparams=FAST).shear(q=0.85, beta=beta)
            parts.append((bulge, COLOURS["old"]))
        if p["bar_strength"]:
            bar = galsim.Sersic(0.5, half_light_radius=0.35 * r90, flux=0.3 * p["bar_strength"], gsparams=FAST).shear(q=0.25, beta=beta + rng.uniform(20, 70) * galsim.degrees)
            parts.append((bar, COLOURS["old"]))
        if p["n_arms"]:
            n = 300
            x, y = _disc_positions(rng, n, scale, p["pitch_deg"], p["n_arms"], spread=0.07)
            x, y = _project(x, y, p["inclination"], p["position_angle"])
            fluxes = rng.exponential(1.0, n) * np.exp(-np.hypot(x, y) / (2 * scale))
            fluxes *= 0.8 * p["arm_strength"] * disc_flux / fluxes.sum()
            parts += _knots(x, y, 0.25 * scale, fluxes, COLOURS["young"])
        if p["clumpiness"]:
            clumps = galsim.RandomKnots(25, half_light_radius=0.4 * r90, flux=0.6 * p["clumpiness"] * disc_flux,
                                        rng=galsim.BaseDeviate(int(rng.integers(1, 2**31))))
            parts.append((galsim.Convolve(clumps, galsim.Gaussian(sigma=0.04 * r90)).shear(q=max(p["axis_ratio"], 0.5), beta=beta), COLOURS["young"]))
    return [_shift(part, centre) for part in parts]


def _shift(part, centre):
    if part[0] == "points":
        kind, xs, ys, fluxes, sigma, colour = part
        return (kind, xs + centre[0], ys + centre[1], fluxes, sigma, colour)
    profile, colour = part
    return (profile.shift(*centre), colour)


def _scaled(part, factor):
    if part[0] == "points":
        kind, xs, ys, fluxes, sigma, colour = part
        return (kind, xs, ys, fluxes * factor, sigma, colour)
    profile, colour = part
    return (profile.withScaledFlux(factor), colour)


def _deposit(xs, ys, weights, size) -> np.ndarray:
    """Bilinear deposit of point fluxes on a size x size grid centred on the frame centre."""
    grid = np.zeros((size, size))
    fx, fy = xs + size / 2 - 0.5, ys + size / 2 - 0.5
    x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        w = weights * (1 - abs(fx - x0 - dx)) * (1 - abs(fy - y0 - dy))
        x, y = x0 + dx, y0 + dy
        inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
        np.add.at(grid, (y[inside], x[inside]), w[inside])
    return grid


def render(p: dict, size: int, seed: int) -> np.ndarray:
    """Draw the galaxy described by parameters ``p`` as a uint8 size x size x 3 colour image."""
    rng = np.random.default_rng(seed)
    r90 = size * R90_PIXELS_AT_424 / 424
    arcsec_per_pixel = p["r90_arcsec"] / r90
    parts = []
    if p["family"] == "star_artifact":
        if p["artifact"] == "star":
            parts += _knots([0.0], [0.0], 0.3, [0.6], COLOURS["star"])
        else:
            faint = sample_parameters("smooth_round", rng)
            parts += [_scaled(part, 0.4) for part in _galaxy_components(faint, rng, r90 * 0.6)]
            t = np.linspace(-size / 2, size / 2, 400)
            angle = rng.uniform(0, np.pi)
            offset = rng.normal(0, 0.1 * r90)
            xs, ys = t * np.cos(angle) - offset * np.sin(angle), t * np.sin(angle) + offset * np.cos(angle)
            colour = np.array([0.6, 1.0, 1.2]) if rng.random() < 0.5 else np.array([1.4, 0.5, 0.6])  # satellite or meteor
            parts += _knots(xs, ys, 0.5, np.full(400, 0.0015), colour)
    elif p["family"] == "merger":
        direction = rng.uniform(0, 2 * np.pi)
        separation = r90 * rng.uniform(0.6, 1.3)
        dx, dy = separation / 2 * np.cos(direction), separation / 2 * np.sin(direction)
        companion = dict(p, family=str(rng.choice(["smooth_round", "spiral"])), position_angle=rng.uniform(0, 180))
        companion.update({k: v for k, v in sample_parameters(companion["family"], rng).items() if k not in ("family", "position_angle")})
        parts += _galaxy_components(p, rng, r90 * 0.8, (-dx, -dy))
        parts += [_scaled(part, p["companion_ratio"]) for part in _galaxy_components(companion, rng, r90 * 0.7, (dx, dy))]
        for sign in (-1, 1):  # two tidal tails, one from each side
            x, y = _disc_positions(rng, 150, r90 * 0.6, 40.0, 1, spread=0.08)
            x, y = _project(sign * x, sign * y, 30.0, np.degrees(direction))
            parts += _knots(x, y, 0.1 * r90, np.full(150, 0.25 * p["tidal_strength"] / 150), COLOURS["disc"])
    else:
        parts = _galaxy_components(p, rng, r90)
    n_stars = rng.poisson(1.0)
    parts += _knots(rng.uniform(-size / 2, size / 2, n_stars), rng.uniform(-size / 2, size / 2, n_stars), 0.3,
                    rng.uniform(0.003, 0.06, n_stars), COLOURS["star"])

    seeing = galsim.Kolmogorov(fwhm=SEEING_ARCSEC / arcsec_per_pixel, gsparams=FAST)
    profiles = [part for part in parts if part[0] != "points"]
    point_sets = [part for part in parts if part[0] == "points"]
    kernels = {}
    bands = np.zeros((3, size, size))
    for band in range(3):
        if profiles:
            total = galsim.Sum([obj.withScaledFlux(colour[band]) for obj, colour in profiles])
            bands[band] += galsim.Convolve(total, seeing).drawImage(nx=size, ny=size, scale=1.0).array
        for _, xs, ys, fluxes, sigma, colour in point_sets:
            if sigma not in kernels:
                side = int(min(size, 8 * (sigma + SEEING_ARCSEC / arcsec_per_pixel))) | 1
                kernels[sigma] = galsim.Convolve(galsim.Gaussian(sigma=sigma), seeing).drawImage(nx=side, ny=side, scale=1.0).array
            bands[band] += fftconvolve(_deposit(xs, ys, fluxes * colour[band], size), kernels[sigma], mode="same")
    # Scale so that surface brightness, not the frame size, sets how a galaxy looks.
    bands *= r90**2 * p["brightness"] * 0.6
    bands += rng.normal(0, rng.uniform(0.015, 0.035), bands.shape)  # sky noise varies from field to field
    g, r, i = bands
    return make_lupton_rgb(i, r, g, minimum=0.0, stretch=0.12, Q=8)


def answer_probabilities(p: dict, visibility: float = 1.0) -> dict[str, np.ndarray]:
    """What a volunteer answers to each GZ2 question for a galaxy with parameters ``p``.

    ``visibility`` in (0, 1] is how much of the galaxy's structure survives seeing and noise in
    the image; features fade towards "smooth" as it falls.
    """
    family = p["family"]
    featured = family in ("edge_on", "spiral", "barred_spiral", "irregular")
    artifact = 0.85 if family == "star_artifact" else 0.02
    features = (0.88 if featured else 0.08) * visibility
    smooth = 1.0 - artifact - features
    q = p["axis_ratio"]
    edge_on = 1 / (1 + np.exp(-(p["inclination"] - 75) / 3)) if featured else 0.05
    bar = 0.05 + 0.9 * p["bar_strength"] * visibility
    spiral = 0.05 + 0.9 * p["arm_strength"] * visibility
    bulge = p["bulge_fraction"]
    odd = {"merger": 0.9, "irregular": 0.8}.get(family, 0.7 if p["dust_lane"] else 0.08)
    winding = np.exp(-0.5 * ((p["pitch_deg"] - np.array([10.0, 20.0, 32.0])) / 6.0) ** 2) + 0.05
    arms = np.full(6, 0.03)
    if p["n_arms"]:
        arms[min(p["n_arms"], 5) - 1] += 0.8 * visibility
    arms[5] += 0.6 * (1 - visibility) + 0.05
    odd_feature = np.full(7, 0.02)
    odd_feature[{"merger": 5, "irregular": 3}.get(family, 6 if p["dust_lane"] else 4)] += 0.9
    if family == "merger":
        odd_feature[2] += 0.3  # disturbed
    raw = {
        "t01": [smooth, features, artifact],
        "t02": [edge_on, 1 - edge_on],
        "t03": [bar, 1 - bar],
        "t04": [spiral, 1 - spiral],
        "t05": np.exp(-0.5 * ((bulge - np.array([0.0, 0.15, 0.35, 0.7])) / 0.12) ** 2) + 0.02,
        "t06": [odd, 1 - odd],
        "t07": np.exp(-0.5 * ((q - np.array([0.92, 0.6, 0.3])) / 0.12) ** 2) + 0.02,
        "t08": odd_feature,
        "t09": [0.8, 0.1, 0.1] if bulge > 0.05 else [0.1, 0.05, 0.85],
        "t10": winding,
        "t11": arms,
    }
    return {task: np.asarray(v, float) / np.sum(v) for task, v in raw.items()}


def _gz2_class(fractions: dict[str, np.ndarray]) -> str:
    """The consensus string of Willett et al. 2013 (Table 4), from per-question fractions."""
    t = fractions
    if t["t01"][2] > 0.5:
        return "A"
    if t["t01"][0] >= t["t01"][1]:
        text = "E" + "ric"[int(np.argmax(t["t07"]))]
    elif t["t02"][0] > 0.5:
        text = "Se" + "rbn"[int(np.argmax(t["t09"]))]
    else:
        text = "S" + ("B" if t["t03"][0] > 0.5 else "") + "dcba"[int(np.argmax(t["t05"]))]
        if t["t04"][0] > 0.5:
            text += "1234+?"[int(np.argmax(t["t11"]))] + "tml"[int(np.argmax(t["t10"]))]
    if t["t06"][0] > 0.5:
        text += "(" + "rldiomu"[int(np.argmax(t["t08"]))] + ")"
    return text


def simulate_votes(probabilities: dict[str, np.ndarray], n_volunteers: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Votes per answer from ``n_volunteers`` who each walk the tree from t01 to its end."""
    tree = gz2.decision_tree()
    counts = {task: np.zeros(len(q.answers), int) for task, q in tree.items()}
    for _ in range(n_volunteers):
        task = "t01"
        while task is not None:
            choice = rng.choice(len(tree[task].answers), p=probabilities[task])
            counts[task][choice] += 1
            task = tree[task].answers[choice].next
    return counts


def _catalogue_row(p: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    # Features survive when the galaxy is large compared with the seeing and bright against the sky.
    visibility = float(np.clip((p["r90_arcsec"] / 9.0) ** 1.2 * p["brightness"] ** 0.5, 0.15, 1.0))
    n_volunteers = int(rng.integers(35, 55))
    counts = simulate_votes(answer_probabilities(p, visibility), n_volunteers, rng)
    truth = answer_probabilities(p, 1.0)
    observed = {task: c / c.sum() if c.sum() else np.zeros(len(c)) for task, c in counts.items()}
    row = {"sample": "synthetic", "gz2_class": _gz2_class(observed), "total_classifications": n_volunteers,
           "total_votes": int(sum(c.sum() for c in counts.values()))}
    for task, question in gz2.decision_tree().items():
        debiased = truth[task]
        for k, answer in enumerate(question.answers):
            row[answer.column("count")] = int(counts[task][k])
            row[answer.column("fraction")] = round(float(observed[task][k]), 3)
            row[answer.column("weighted_fraction")] = round(float(observed[task][k]), 3)
            row[answer.column("debiased")] = round(float(debiased[k]), 3)
    row["true_family"] = p["family"]
    row["true_visibility"] = round(visibility, 3)
    row.update({f"true_{k}": v for k, v in p.items() if k != "family"})
    return row


def _render_to_file(job: tuple[dict, int, int, str]) -> None:
    p, size, seed, path = job
    write_atomic(Image.fromarray(render(p, size, seed)).save, Path(path), format="JPEG", quality=90)


def galaxies(n_galaxies: int, seed: int = 0) -> list[tuple[dict, int]]:
    """True parameters and a render seed for ``n_galaxies``, families in equal shares, shuffled."""
    rng = np.random.default_rng(seed)
    families = np.array(FAMILIES)[np.arange(n_galaxies) % len(FAMILIES)]
    rng.shuffle(families)
    seeds = rng.integers(0, 2**31, n_galaxies)
    return [(sample_parameters(str(f), np.random.default_rng(s)), int(s)) for f, s in zip(families, seeds)]


def write_release(root: Path, n_galaxies: int, seed: int = 0, size: int = 256, workers: int = 0) -> Path:
    """Generate ``n_galaxies`` in the GZ2 release layout under ``root`` and return ``root``.

    Writes ``images/<asset_id>.jpg``, ``gz2_filename_mapping.csv`` and ``gz2_hart16.csv``
    (``_count``, ``_fraction``, ``_weighted_fraction`` and ``_debiased`` for all 37 answers, plus
    ``true_*`` columns). Images already on disk are kept, so an interrupted generation resumes.
    """
    root = Path(root)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    drawn = galaxies(n_galaxies, seed)
    objids = [str(587700000000000000 + seed * 10**9 + k * 7919) for k in range(n_galaxies)]
    asset_ids = np.arange(1, n_galaxies + 1)
    jobs = [(p, size, s + 1, str(images / f"{a}.jpg")) for (p, s), a in zip(drawn, asset_ids) if not (images / f"{a}.jpg").exists()]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        list(pool.map(_render_to_file, jobs, chunksize=8))
    rows = [{"dr7objid": o, **_catalogue_row(p, s + 2)} for o, (p, s) in zip(objids, drawn)]
    pd.DataFrame(rows).to_csv(root / "gz2_hart16.csv", index=False)
    pd.DataFrame({"objid": objids, "sample": "synthetic", "asset_id": asset_ids}).to_csv(root / "gz2_filename_mapping.csv", index=False)
    return root


# Which real GZ2 galaxies each family imitates: a coarse class from gz2_class, or a modifier.
REAL_COUNTERPART = {
    "smooth_round": ("coarse", "smooth"), "smooth_elongated": ("coarse", "smooth"), "edge_on": ("coarse", "edge_on"),
    "spiral": ("coarse", "unbarred_disc"), "barred_spiral": ("coarse", "barred_disc"), "merger": ("modifier", "merger"),
    "irregular": ("modifier", "irregular"), "star_artifact": ("coarse", "artifact"),
}


def real_counterparts(catalogue: pd.DataFrame, family: str) -> pd.Series:
    """Boolean mask of real catalogue rows (with ``gz2_class``) of the family's kind."""
    kind, name = REAL_COUNTERPART[family]
    if kind == "coarse":
        return catalogue["gz2_class"].map(gz2.coarse_class) == name
    return catalogue["gz2_class"].map(lambda c: name in gz2.modifiers(c))


def comparison_images(params, repo_root: Path, per_family: int = 4) -> tuple[dict, dict, dict]:
    """What judges the synthetic galaxies' realism (``plots.synthetic_vs_real``): per family,
    ``per_family`` drawn galaxies as the store keeps them, real GZ2 galaxies of the same kind from
    ``synthetic.compare_with`` (none when that folder is absent), and the real ones' label."""
    from . import data, readers

    size, crop = params.data.image_size, params.data.crop_fraction
    rendered = {}
    for family in FAMILIES:
        drawn = [sample_parameters(family, np.random.default_rng(params.seed * 1000 + k)) for k in range(per_family)]
        images = [render(p, params.synthetic.size, params.seed * 1000 + k) for k, p in enumerate(drawn)]
        rendered[family] = [data.crop_resize(Image.fromarray(image), size, crop) for image in images]
    real, labels = {}, {}
    root = resolve_root(params.synthetic.compare_with, repo_root)
    if root is not None and root.is_dir():
        catalogue = readers.read_gz2_release(root).table
        rng = np.random.default_rng(params.seed)
        for family in FAMILIES:
            members = catalogue[real_counterparts(catalogue, family).to_numpy()]
            chosen = members.iloc[rng.permutation(len(members))[:per_family]]
            real[family] = [data.load_image(path, size, crop) for path in chosen.file_loc]
            labels[family] = f"{REAL_COUNTERPART[family][1]} (n={len(members)})"
    return rendered, real, labels
