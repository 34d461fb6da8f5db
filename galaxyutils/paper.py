"""Publish: the paper's generated artefacts, made from one finished run.

``write_artefacts(run_dir, paper_dir)`` fills ``paper/generated/`` with ``variables.tex`` (every
number of the run's ``metrics.json`` and its parameters, read in the text as
``\\metric{evaluation.simclr.clusters.ari}``), ``tables/*.tex`` and ``figures/*.png``, so the
paper never quotes a number that the run did not produce.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from . import config, pipeline
from .compare import flatten

FIGURES = (
    "02_augmentations",
    "02_training",
    "04_pca_variance",
    "04_hdbscan_sweep",
    "05_umap_clusters",
    "05_umap_votes",
    "05_thumbnail_map",
    "06_cluster_votes",
    "06_cluster_galleries",
    "06_outliers",
)
EMBEDDINGS = {"simclr": "SimCLR", "raw_pixels": "raw pixels", "random_init": "random-weight encoder", "imagenet": "ImageNet features (frozen)"}
QUANTITIES = {"knn_r2": "kNN $R^2$", "knn_r2_debiased": "kNN $R^2$ (debiased)", "probe_r2": "linear probe $R^2$"}
CLUSTER_SCORES = ("ari", "ami", "v_measure", "homogeneity", "completeness", "noise_fraction", "n_clusters")
SOURCES = {
    "synthetic": "synthetic galaxies drawn with GalSim in eight families, with simulated volunteer votes on the GZ2 decision tree",
    "gz2": "Galaxy Zoo 2 images (SDSS \\textit{gri} colour composites) with the volunteers' vote fractions",
    "kaggle": "Galaxy Zoo 2 images of the Kaggle Galaxy Challenge with its vote fractions",
    "labelled_folder": "galaxy images with one class label each",
    "folder": "galaxy images without labels",
}


class PaperError(RuntimeError):
    """The run cannot feed the paper (missing or unfinished)."""


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(character, character) for character in str(text))


def format_value(value: Any) -> str:
    """How a measured number appears in the paper: integers whole; others to 3 decimals below 10,
    1 decimal below 100, none above."""
    if isinstance(value, bool) or value is None:
        return escape(str(value).lower() if isinstance(value, bool) else "n/a")
    if isinstance(value, int):
        return f"{value:,}".replace(",", "{,}")
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return escape(value)


def format_parameter(value: Any) -> str:
    """Parameters as the user set them (1e-4 stays 0.0001, not 0.000)."""
    return f"{value:g}" if isinstance(value, float) else format_value(value)


def variables(run: pipeline.Run) -> dict[str, str]:
    """Every scalar of ``metrics.json`` and ``params.yaml`` (as ``params.<key>``), plus the
    provenance and a few derived quantities, formatted for the text."""
    metrics = run.metrics()
    values = {key: format_value(value) for key, value in flatten(metrics).items()}
    values.update({f"params.{key}": format_parameter(value) for key, value in flatten(run.params.model_dump(mode="json")).items()})
    environment = dict(line.split(": ", 1) for line in (run.root / "environment.txt").read_text().splitlines() if ": " in line)
    values["run.name"] = escape(run.root.name)
    values["run.digest"] = run.params.digest()
    values["run.git_commit"] = escape(environment.get("git_commit", "unknown")[:12])
    values["run.device"] = escape(environment.get("cuda", "not available").replace("not available", "CPU"))
    values["run.augmentations"] = augmentation_text(run.params.augment)
    source = str(metrics.get("source", run.params.data.source)).split()[0]  # e.g. "gz2 (gz2_hart16.csv)"
    values["run.data_description"] = SOURCES.get(source, escape(source))
    tau_plus = run.params.train.tau_plus
    values["run.loss"] = (f"debiased following \\citet{{chuang2020}} with a same-class prior $\\tau^{{+}}={tau_plus:g}$" if tau_plus
                          else "in its plain form (the debiased variant of \\citealt{chuang2020} is available but off)")
    values["run.tta"] = ("averaged over the eight rotations by right angles and flips of each galaxy" if run.params.embed.tta
                         else "from one unaugmented view of each galaxy")
    dbcv = "\\citep[DBCV;][]{moulavi2014}"
    values["run.hdbscan_selection"] = (
        "is run over a grid of minimum cluster sizes, minimum sample counts and selection methods; each setting is scored "
        f"without labels by the density-based cluster validity index {dbcv} and its noise fraction, and the setting with the highest "
        f"DBCV that leaves at most {run.params.hdbscan.max_noise:g} of the galaxies as noise is kept"
        if run.params.hdbscan.sweep else
        f"is run with the one setting the run's parameters fix (no sweep); its density-based cluster validity index {dbcv} is reported")
    setting = metrics.get("hdbscan_setting", {})
    if setting:  # None is HDBSCAN's default: min_samples = min_cluster_size
        values["run.min_samples"] = format_value(setting.get("min_samples") or setting.get("min_cluster_size"))
    if "train_seconds" in metrics:
        values["train_minutes"] = f"{metrics['train_seconds'] / 60:.1f}"
    if "noise_fraction" in metrics:
        values["noise_percent"] = f"{100 * metrics['noise_fraction']:.0f}"
    return values


def augmentation_text(params: config.AugmentParams) -> str:
    """The augmentations of a run in words, from the same parameters the training used."""
    low, high = params.crop_scale
    ratio_low, ratio_high = params.crop_ratio
    ratio = "keeping the aspect ratio" if ratio_low == ratio_high == 1 else f"aspect ratio {ratio_low:.2f}--{ratio_high:.2f}"
    steps = [f"a random resized crop keeping {100 * low:.0f}--{100 * high:.0f} per cent of the area ({ratio})"]
    if params.rotation:
        steps.append("a free rotation by any angle")
    steps.append("random horizontal and vertical flips")
    jitter = {"brightness": params.brightness, "contrast": params.contrast, "saturation": params.saturation, "hue": params.hue}
    jitter = {name: value for name, value in jitter.items() if value}
    if jitter:
        chance = "always" if params.jitter_p == 1 else f"with probability {params.jitter_p:g}"
        steps.append(f"colour jitter ({', '.join(f'{k} {v:g}' for k, v in jitter.items())}, {chance})")
    if params.grayscale_p:
        steps.append(f"conversion to greyscale with probability {params.grayscale_p:g}")
    sigma_low, sigma_high = params.blur_sigma
    steps.append(f"a Gaussian blur of width $\\sigma$ = {sigma_low:g}--{sigma_high:g} pixels with probability {params.blur_p:g}")
    if params.noise_std:
        steps.append(f"Gaussian pixel noise of standard deviation {params.noise_std:g} (on a 0--1 scale)")
    return f"the \\texttt{{{escape(params.preset)}}} preset: " + ", ".join(steps[:-1]) + f" and {steps[-1]}"


def write_variables(values: dict[str, str], path: Path, origin: str) -> None:
    lines = [f"% Generated by `python -m galaxyutils paper` from {escape(origin)}: do not edit, regenerate.", "\\makeatletter"]
    lines += [f"\\@namedef{{gu@{key}}}{{{value}}}" for key, value in sorted(values.items())]
    lines.append("\\makeatother")
    path.write_text("\n".join(lines) + "\n")


def read_variables(path: Path) -> dict[str, str]:
    """The values a ``variables.tex`` defines (for tests and for checking a built paper)."""
    prefix = "\\@namedef{gu@"
    found = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith(prefix):
            key, _, rest = line[len(prefix):].partition("}{")
            found[key] = rest[:-1]
    return found


def evaluation_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """The evaluation of each embedding, one column per embedding, rows in reading order."""
    evaluation = metrics.get("evaluation", {})
    columns = {}
    for embedding, label in EMBEDDINGS.items():
        scores = evaluation.get(embedding)
        if scores is None:
            continue
        column = {}
        for quantity, quantity_label in QUANTITIES.items():
            for answer, value in scores.get(quantity, {}).items():
                column[f"{quantity_label}: {answer.replace('_', '-')}"] = value
        if "knn_balanced_accuracy" in scores:
            column["kNN balanced accuracy"] = scores["knn_balanced_accuracy"]
        for score in CLUSTER_SCORES:
            if score in scores.get("clusters", {}):
                column[f"clusters: {score.replace('_', ' ')}"] = scores["clusters"][score]
        columns[label] = column
    return pd.DataFrame({label: pd.Series(column, dtype=object) for label, column in columns.items()})  # object: counts stay integers


def latex_table(table: pd.DataFrame, index: bool = True) -> str:
    """A booktabs tabular; cells formatted like the text's numbers, names escaped except maths."""

    def cell(value: Any) -> str:
        return format_value(None if value is pd.NA else value.item() if hasattr(value, "item") else value)

    def label(text: Any) -> str:
        parts = str(text).split("$")  # keep $...$ maths, escape the rest
        return "$".join(part if i % 2 else escape(part) for i, part in enumerate(parts))

    columns = ([label(table.index.name or "")] if index else []) + [label(c) for c in table.columns]
    lines = [f"\\begin{{tabular}}{{{'l' * index}{'r' * len(table.columns)}}}", "\\toprule", " & ".join(columns) + " \\\\", "\\midrule"]
    for name, row in table.iterrows():
        cells = ([label(name)] if index else []) + [cell(v) for v in row.tolist()]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_artefacts(run_dir: Path, paper_dir: Path) -> Path:
    """Regenerate ``paper_dir/generated`` from ``run_dir``; returns that folder."""
    run_dir = Path(run_dir)
    if not (run_dir / "params.yaml").exists() or not (run_dir / "metrics.json").exists():
        raise PaperError(f"{run_dir} is not a finished run (no params.yaml or metrics.json): `make run` first, or choose RUN=runs/<name>")
    run = pipeline.Run.load(run_dir)
    metrics = run.metrics()
    if "evaluation" not in metrics:
        raise PaperError(f"{run_dir} has no evaluation in metrics.json: stage 06_analysis has not finished")
    out = Path(paper_dir) / "generated"
    if out.exists():
        shutil.rmtree(out)
    (out / "tables").mkdir(parents=True)
    (out / "figures").mkdir()
    write_variables(variables(run), out / "variables.tex", f"{run.root.name}/metrics.json")
    (out / "tables" / "evaluation.tex").write_text(latex_table(evaluation_table(metrics)))
    for name in ("hdbscan_sweep", "cluster_purity"):
        path = run.tables / f"{name}.csv"
        if path.exists():  # nullable dtypes keep a column of counts with blanks as integers
            table = pd.read_csv(path).convert_dtypes().rename(columns=lambda c: c.replace("_", " "))
            (out / "tables" / f"{name}.tex").write_text(latex_table(table, index=False))
    for name in FIGURES:
        figure = run_dir / "figures" / f"{name}.png"
        if figure.exists():
            shutil.copy2(figure, out / "figures" / figure.name)
    return out
