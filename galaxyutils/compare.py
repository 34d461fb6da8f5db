"""Iterate: compare finished runs side by side, and sweep a parameter grid into run folders.

``compare`` puts the parameters that differ and every metric of several runs in one table
(markdown and CSV) and one figure; ``sweep`` runs each combination of a grid through the
pipeline with the stage cache, so only the stages a changed parameter touches are recomputed.
"""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from . import config, pipeline, run_folder

# The headline numbers drawn in the comparison figure, when the runs have them.
FIGURE_METRICS = (
    "n_clusters",
    "noise_fraction",
    "dbcv",
    "evaluation.simclr.clusters.v_measure",
    "evaluation.simclr.clusters.ari",
    "evaluation.simclr.knn_balanced_accuracy",
    "evaluation.raw_pixels.knn_balanced_accuracy",
    "evaluation.random_init.knn_balanced_accuracy",
    "evaluation.imagenet.knn_balanced_accuracy",
    "evaluation.simclr.knn_r2.smooth",
    "evaluation.imagenet.knn_r2.smooth",
)


def flatten(tree: dict[str, Any]) -> dict[str, Any]:
    """Nested dictionaries as one level with dotted keys; lists become text (one table cell)."""
    flat = pd.json_normalize(tree, sep=".").to_dict("records")[0]
    return {key: ", ".join(map(str, value)) if isinstance(value, list) else value for key, value in flat.items()}


def run_name(run_dir: Path) -> str:
    return Path(run_dir).resolve().name


def compare_runs(run_dirs: list[Path]) -> pd.DataFrame:
    """One column per run: the parameters that differ between them (rows ``param.*``), whether
    each stage ran or was reused (``stage.*``), then every metric in any run's ``metrics.json``
    (blank where a run lacks it)."""
    names = [run_name(r) for r in run_dirs]
    if len(set(names)) != len(names):
        names = [str(Path(r)) for r in run_dirs]
    runs = dict(zip(names, (run_folder.Run.load(r) for r in run_dirs)))
    differing = differing_parameters(runs)
    stages = pd.DataFrame({n: {f"stage.{s}": f"{e['status']} {e['seconds']:.0f} s" for s, e in run_folder.stage_record(run.root).items()}
                           for n, run in runs.items()})
    metrics = pd.DataFrame({n: flatten(run.metrics()) for n, run in runs.items()})
    table = pd.concat([differing.rename(index=lambda k: f"param.{k}"), stages, metrics])
    table.index.name = "quantity"
    return table


def differing_parameters(runs: dict[str, run_folder.Run]) -> pd.DataFrame:
    """The parameters (dotted keys, as rows) in which the runs differ, one column per run name."""
    return differing_params({name: run.params for name, run in runs.items()})


def differing_params(params: dict[str, config.Params]) -> pd.DataFrame:
    """The parameters (dotted keys, as rows) in which the named parameter sets differ, one column each."""
    table = pd.DataFrame({name: flatten(each.model_dump(mode="json")) for name, each in params.items()})
    return table[table.astype(str).nunique(axis=1) > 1]


def with_repeat_statistics(table: pd.DataFrame) -> pd.DataFrame:
    """Runs that differ in nothing but the seed are repeats of one experiment: add the mean and
    the sample standard deviation across them to every numeric row, the run-to-run spread to
    quote beside a number. Other tables are returned as they are."""
    if table.shape[1] < 2 or [q for q in table.index if q.startswith("param.")] != ["param.seed"]:
        return table
    values = table.drop(index="param.seed").apply(pd.to_numeric, errors="coerce")
    numeric = values.notna().all(axis=1)
    return table.assign(mean=values.mean(axis=1).where(numeric), std=values.std(axis=1, ddof=1).where(numeric))


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)


def to_markdown(table: pd.DataFrame, index: bool = True) -> str:
    """A markdown table (floats to 4 significant digits, NaN and None left blank): the one
    formatter of the comparison tables and the benchmarks' results."""
    return table.map(_format).to_markdown(index=index)


def comparison_figure(table: pd.DataFrame):
    """Bar charts of the headline metrics, one panel per metric, one bar per run."""
    import matplotlib.pyplot as plt

    rows = [m for m in FIGURE_METRICS if m in table.index]
    values = table.loc[rows].apply(pd.to_numeric, errors="coerce")
    columns = 4
    figure, axes = plt.subplots(-(-len(rows) // columns), columns, figsize=(3.2 * columns, 2.6 * -(-len(rows) // columns)), squeeze=False)
    for ax, metric in zip(axes.flat, rows):
        ax.bar(range(len(values.columns)), values.loc[metric].to_numpy(), color="tab:blue")
        ax.set_xticks(range(len(values.columns)), values.columns, rotation=30, ha="right", fontsize=7)
        ax.set_title(metric.replace("evaluation.", ""), fontsize=8)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    figure.tight_layout()
    return figure


def write_comparison(run_dirs: list[Path], out_dir: Path) -> pd.DataFrame:
    """``compare.md``, ``compare.csv`` and ``compare.png`` in ``out_dir``; returns the table, with
    mean and standard deviation columns when the runs are repeats over seeds."""
    import matplotlib.pyplot as plt

    table = compare_runs(run_dirs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figure = comparison_figure(table)
    figure.savefig(out_dir / "compare.png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    table = with_repeat_statistics(table)
    table.to_csv(out_dir / "compare.csv")
    (out_dir / "compare.md").write_text(to_markdown(table) + "\n")
    return table


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["hdbscan.min_cluster_size=10,20"]`` -> ``{"hdbscan.min_cluster_size": [10, 20]}`` (values read as YAML)."""
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise config.ConfigError(f"--grid {item!r}: expected KEY=VALUE1,VALUE2,...")
        grid[key.strip()] = [yaml.safe_load(v) for v in values.split(",")]
    return grid


def _folder_name(combination: dict[str, Any]) -> str:
    text = "__".join(f"{key}={value}" for key, value in combination.items())
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text)


def run_sweep(profile: str, grid: dict[str, list[Any]], overrides: list[str], sweep_dir: Path,
              cache: pipeline.StageCache | None) -> tuple[list[Path], pd.DataFrame]:
    """Run every combination of ``grid`` into its own folder under ``sweep_dir``, reusing cached
    stages, then write the comparison there. All combinations are validated before any runs."""
    combinations = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    planned = []
    for combination in combinations:
        settings = [*overrides, *(f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}" for k, v in combination.items())]
        planned.append((sweep_dir / _folder_name(combination), config.resolve(profile, settings)))
    run_dirs = []
    for number, (run_dir, params) in enumerate(planned, start=1):
        pipeline.logger.info(f"== sweep {number}/{len(planned)}: {run_dir.name}")
        start = time.perf_counter()
        pipeline.run_pipeline(params, run_dir, cache=cache)
        pipeline.logger.info(f"== {run_dir.name}: {time.perf_counter() - start:.1f} s")
        run_dirs.append(run_dir)
    return run_dirs, write_comparison(run_dirs, sweep_dir)
