"""Publish: the paper's generated artefacts, made from finished runs.

``write_artefacts(run_dirs, paper_dir, validation_dir)`` fills ``paper/generated/`` from repeats
of one configuration that differ only in their seed (the headline, e.g. the real GZ2 sample) and,
optionally, a run on synthetic galaxies whose truth is known (the validation section):

- ``variables.tex``: every number of the repeats' ``metrics.json`` as mean and standard deviation
  over the repeats (read in the text as ``\\metric{evaluation.simclr.clusters.ari}``, which
  prints ``0.412\\,\\ensuremath{\\pm}\\,0.013``; ``.mean`` and ``.sd`` apart), their parameters
  (``params.*``), the validation run's numbers (``validation.*``), and switches (``\\ifgusynthetic``,
  ``\\ifgurepeats``, ...) with which main.tex chooses its own sentences;
- ``tables/*.tex`` and ``figures/*.png``.

The paper therefore never quotes a number that the runs did not produce, and all of its prose is
in main.tex.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from . import config, run_folder
from .compare import differing_parameters, flatten

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
VALIDATION_FIGURES = ("05_umap_clusters", "06_cluster_classes")
# Parameters in which repeats of one configuration may differ.
REPEAT_PARAMETERS = {"seed"}


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


def read_variables(path: Path) -> dict[str, str]:
    """The values a ``variables.tex`` defines (for tests and for checking a built paper)."""
    prefix = "\\@namedef{gu@"
    found = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith(prefix):
            key, _, rest = line[len(prefix):].partition("}{")
            found[key] = rest[:-1]
    return found


def summary(values: Sequence[Any]) -> str:
    """One quantity over repeats as the paper prints it: the value when every repeat agrees,
    else mean and standard deviation (numbers; counts to one decimal) or the distinct values."""
    if all(value == values[0] for value in values):
        return format_value(values[0])
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return _spread(values, "{:.1f}")
    if all(_is_number(v) for v in values):
        return _spread(values, None)
    return ", ".join(dict.fromkeys(format_value(v) for v in values))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spread(values: Sequence[float], form: str | None) -> str:
    """Mean and standard deviation as the text prints them, in ``form`` (default: ``format_value``)."""
    show = form.format if form else format_value
    if len(values) == 1:
        return show(values[0])
    return f"{show(statistics.fmean(values))}\\,\\ensuremath{{\\pm}}\\,{show(statistics.stdev(values))}"


def load_repeats(run_dirs: Sequence[Path]) -> list[run_folder.Run]:
    """The finished runs, checked to be repeats: parameters equal apart from the seed."""
    runs = []
    for run_dir in map(Path, run_dirs):
        if not (run_dir / "params.yaml").exists() or not (run_dir / "metrics.json").exists():
            raise PaperError(f"{run_dir} is not a finished run (no params.yaml or metrics.json): `make run` first, or choose RUNS=runs/<name>")
        run = run_folder.Run.load(run_dir)
        if "evaluation" not in run.metrics():
            raise PaperError(f"{run_dir} has no evaluation in metrics.json: stage 06_analysis has not finished")
        runs.append(run)
    if not runs:
        raise PaperError("no run given")
    differ = [key for key in differing_parameters({str(run.root): run for run in runs}).index if key not in REPEAT_PARAMETERS]
    if differ:
        raise PaperError(f"{', '.join(str(run.root) for run in runs)} are not repeats of one run: one of them differs in "
                         f"{', '.join(differ)} (repeats may differ only in the seed)")
    seeds = [run.params.seed for run in runs]
    if len(set(seeds)) != len(seeds):
        raise PaperError(f"repeats must have different seeds, got {seeds}")
    return runs


def repeat_values(metrics: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Every scalar that all ``metrics`` have, summarised over them; for numbers that vary, also
    ``<key>.mean`` and ``<key>.sd``."""
    flat = [flatten(m) for m in metrics]
    values = {}
    for key in flat[0]:
        if all(key in f for f in flat):
            series = [f[key] for f in flat]
            values[key] = summary(series)
            if len(series) > 1 and all(_is_number(v) for v in series):
                values[f"{key}.mean"] = format_value(statistics.fmean(series))
                values[f"{key}.sd"] = format_value(statistics.stdev(series))
    return values


def variables(runs: Sequence[run_folder.Run], validation: run_folder.Run | None = None) -> dict[str, str]:
    """The numbers and provenance main.tex quotes: the repeats' metrics (summarised), the first
    repeat's parameters (the seeds listed), derived quantities, and ``validation.*``."""
    metrics = [run.metrics() for run in runs]
    values = dict(repeat_values(metrics))
    values.update({f"params.{key}": format_parameter(value) for key, value in flatten(runs[0].params.model_dump(mode="json")).items()})
    values["params.seed"] = ", ".join(str(run.params.seed) for run in runs)
    values["run.count"] = str(len(runs))
    values["run.names"] = escape(", ".join(run.root.name for run in runs))
    values["run.digest"] = runs[0].params.digest()
    commits = []
    for run in runs:
        environment = run.environment()
        commits.append(environment.get("git_commit", "unknown")[:12])
        device = environment.get("cuda", "not available").replace("not available", "CPU")
    values["run.git_commit"] = escape(", ".join(dict.fromkeys(commits)))
    values["run.device"] = escape(device)
    values["run.profile"] = escape(runs[0].params.profile)
    if all("train_seconds" in m for m in metrics):
        values["train_minutes"] = _spread([m["train_seconds"] / 60 for m in metrics], "{:.1f}")
    if all("noise_fraction" in m for m in metrics):
        values["noise_percent"] = _spread([100 * m["noise_fraction"] for m in metrics], "{:.0f}")
    setting = metrics[0].get("hdbscan_setting", {})
    if setting:  # None is HDBSCAN's default: min_samples = min_cluster_size
        values["run.min_samples"] = summary([m["hdbscan_setting"].get("min_samples") or m["hdbscan_setting"].get("min_cluster_size") for m in metrics])
    if validation is not None:
        values.update({f"validation.{key}": value for key, value in variables([validation]).items()})
    return values


def switches(runs: Sequence[run_folder.Run], validation: run_folder.Run | None = None) -> dict[str, bool]:
    """What main.tex chooses its sentences by (``\\ifgu<name>``): the data source, zero counts,
    the run's options."""
    params, metrics = runs[0].params, [run.metrics() for run in runs]
    first = metrics[0]
    votes = bool(first.get("evaluation", {}).get("simclr", {}).get("knn_r2"))
    return {
        "repeats": len(runs) > 1,
        "synthetic": params.data.source == "synthetic",
        "votes": votes,
        "classes": "knn_balanced_accuracy" in first.get("evaluation", {}).get("simclr", {}),
        "rejects": any(m.get("n_rejects", 0) > 0 for m in metrics),
        "extra": any(m.get("n_extra_training_images", 0) > 0 for m in metrics),
        "sweep": bool(params.hdbscan.sweep),
        "debiased": bool(params.train.tau_plus),
        "nnclr": bool(params.train.nn_support),
        "multicrop": bool(params.augment.local_views),
        "warmup": params.train.warmup_epochs > 0,
        "tta": bool(params.embed.tta),
        "pretrained": params.model.pretrained == "imagenet",
        "resnet": params.model.backbone.startswith("resnet"),
        "validation": validation is not None,
    }


def write_variables(values: dict[str, str], flags: dict[str, bool], path: Path, origin: str) -> None:
    lines = [f"% Generated by `python -m galaxyutils paper` from {escape(origin)}: do not edit, regenerate.", "\\makeatletter"]
    lines += [f"\\@namedef{{gu@{key}}}{{{value}}}" for key, value in sorted(values.items())]
    lines.append("\\makeatother")
    for name, on in sorted(flags.items()):
        lines += [f"\\newif\\ifgu{name}", f"\\gu{name}{'true' if on else 'false'}"]
    path.write_text("\n".join(lines) + "\n")


def evaluation_table(metrics: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The evaluation of each embedding over the repeats (mean $\\pm$ sd), one column per
    embedding, rows in reading order."""
    columns = {}
    for embedding, label in EMBEDDINGS.items():
        if not all(embedding in m.get("evaluation", {}) for m in metrics):
            continue
        scores = [m["evaluation"][embedding] for m in metrics]
        column = {}
        for quantity, quantity_label in QUANTITIES.items():
            for answer in scores[0].get(quantity, {}):
                if all(answer in s.get(quantity, {}) for s in scores):  # a score every repeat has
                    column[f"{quantity_label}: {answer.replace('_', '-')}"] = summary([s[quantity][answer] for s in scores])
        if "knn_balanced_accuracy" in scores[0]:
            column["kNN balanced accuracy"] = summary([s["knn_balanced_accuracy"] for s in scores])
        for score in CLUSTER_SCORES:
            if score in scores[0].get("clusters", {}):
                column[f"clusters: {score.replace('_', ' ')}"] = summary([s["clusters"][score] for s in scores])
        columns[label] = column
    return pd.DataFrame({label: pd.Series(column, dtype=object) for label, column in columns.items()})


def augmentation_table(params: config.AugmentParams) -> pd.DataFrame:
    """The augmentations of training, one row each, from the parameters the training used."""
    rows = [("random resized crop: area kept", f"{params.crop_scale[0]:g}--{params.crop_scale[1]:g}"),
            ("random resized crop: aspect ratio", f"{params.crop_ratio[0]:g}--{params.crop_ratio[1]:g}"),
            ("rotation by any angle", "yes" if params.rotation else "no"),
            ("horizontal and vertical flips", "yes")]
    for name in ("brightness", "contrast", "saturation", "hue"):
        if getattr(params, name):
            rows.append((f"colour jitter: {name} (probability {params.jitter_p:g})", f"{getattr(params, name):g}"))
    if params.grayscale_p:
        rows.append(("greyscale: probability", f"{params.grayscale_p:g}"))
    rows.append((f"Gaussian blur: sigma in pixels (probability {params.blur_p:g})", f"{params.blur_sigma[0]:g}--{params.blur_sigma[1]:g}"))
    if params.noise_std:
        rows.append(("Gaussian pixel noise: standard deviation (0--1 scale)", f"{params.noise_std:g}"))
    if params.local_views:
        rows.append(("multi-crop: local views at half the side, area kept", f"{params.local_views} of {params.local_crop_scale[0]:g}--{params.local_crop_scale[1]:g}"))
    return pd.DataFrame(rows, columns=["augmentation", "setting"]).set_index("augmentation")


def latex_table(table: pd.DataFrame, index: bool = True, latex_cells: bool = False) -> str:
    """A booktabs tabular; cells formatted like the text's numbers (or, with ``latex_cells``,
    already LaTeX, as ``summary`` makes them), names escaped except maths."""

    def cell(value: Any) -> str:
        if latex_cells:
            return str(value)
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


def write_artefacts(run_dirs: Path | Sequence[Path], paper_dir: Path, validation_dir: Path | None = None) -> Path:
    """Regenerate ``paper_dir/generated`` from the repeats ``run_dirs`` (and the synthetic
    ``validation_dir``); returns that folder."""
    runs = load_repeats([run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs)
    validation = load_repeats([validation_dir])[0] if validation_dir is not None else None
    if validation is not None and validation.params.data.source != "synthetic":
        raise PaperError(f"the validation run {validation_dir} is not on synthetic galaxies (data.source={validation.params.data.source})")
    out = Path(paper_dir) / "generated"
    if out.exists():
        shutil.rmtree(out)
    (out / "tables").mkdir(parents=True)
    (out / "figures").mkdir()
    origin = ", ".join(f"{run.root.name}/metrics.json" for run in runs) + (f"; validation {validation.root.name}" if validation else "")
    write_variables(variables(runs, validation), switches(runs, validation), out / "variables.tex", origin)
    (out / "tables" / "evaluation.tex").write_text(latex_table(evaluation_table([run.metrics() for run in runs]), latex_cells=True))
    (out / "tables" / "augmentations.tex").write_text(latex_table(augmentation_table(runs[0].params.augment), latex_cells=True))
    if validation is not None:
        (out / "tables" / "validation_evaluation.tex").write_text(latex_table(evaluation_table([validation.metrics()]), latex_cells=True))
    first = runs[0]
    for name in ("hdbscan_sweep", "cluster_purity"):
        path = first.tables / f"{name}.csv"
        if path.exists():  # nullable dtypes keep a column of counts with blanks as integers
            table = pd.read_csv(path).convert_dtypes().rename(columns=lambda c: c.replace("_", " "))
            (out / "tables" / f"{name}.tex").write_text(latex_table(table, index=False))
    for name in FIGURES:
        figure = first.root / "figures" / f"{name}.png"
        if figure.exists():
            shutil.copy2(figure, out / "figures" / figure.name)
    if validation is not None:
        for name in VALIDATION_FIGURES:
            figure = validation.root / "figures" / f"{name}.png"
            if figure.exists():
                shutil.copy2(figure, out / "figures" / f"validation_{name}.png")
    return out
