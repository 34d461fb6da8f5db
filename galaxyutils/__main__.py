"""Command line of the pipeline.

``run`` one profile end to end; ``sweep`` a grid of parameters into one folder of runs;
``compare`` finished runs; ``publish`` copies a run's figures into figures/; ``paper`` regenerates paper/'s artefacts from a run; ``train`` is
what torchrun starts per GPU; ``download`` fetches the GZ2 release.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import config, pipeline, run_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m galaxyutils", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the six notebooks end to end into one run folder")
    run.add_argument("--profile", default="demo", help="a profile in configs/ (default: demo)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a parameter, e.g. train.epochs=5")
    run.add_argument("--run-dir", type=Path, help="run folder (default: runs/<profile>)")
    run.add_argument("--resume", action="store_true", help="skip stages already finished with the same parameters")
    publish = commands.add_parser("publish", help="copy a finished run's figures into a folder (make publish: figures/)")
    publish.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    publish.add_argument("--to", type=Path, default=run_folder.REPO_ROOT / "figures", help="destination (default: figures/)")
    sweep = commands.add_parser("sweep", help="run every combination of a parameter grid, reusing cached stages, and compare them")
    sweep.add_argument("--profile", default="demo", help="a profile in configs/ (default: demo)")
    sweep.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2", help="a parameter and its values, e.g. hdbscan.min_cluster_size=10,20")
    sweep.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a parameter in every run")
    sweep.add_argument("--sweep-dir", type=Path, help="folder of the sweep's runs (default: runs/sweep-<profile>)")
    compare = commands.add_parser("compare", help="side-by-side table and figure of finished runs")
    compare.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    compare.add_argument("--out", type=Path, default=run_folder.REPO_ROOT / "runs" / "compare", help="where compare.md/.csv/.png go (default: runs/compare)")
    paper = commands.add_parser("paper", help="regenerate paper/generated/ (variables, tables, figures) from repeats of a run")
    paper.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="repeats of one configuration (differing only in the seed)")
    paper.add_argument("--validation", type=Path, metavar="RUN_DIR", help="a run on synthetic galaxies for the validation section (e.g. runs/demo)")
    paper.add_argument("--paper-dir", type=Path, default=run_folder.REPO_ROOT / "paper")
    for command in (run, sweep):
        command.add_argument("--cache", type=Path, default=pipeline.DEFAULT_CACHE, help="stage cache index (default: runs/.cache)")
        command.add_argument("--no-cache", action="store_true", help="recompute every stage")
    commands.add_parser("notebooks", help="re-execute the committed notebooks in place with the smoke profile (make notebooks)")
    train = commands.add_parser("train", help="train SimCLR for an existing run folder (the entry point torchrun starts per GPU)")
    train.add_argument("--run-dir", type=Path, required=True)
    download = commands.add_parser("download", help="fetch a public data release")
    download.add_argument("dataset", choices=["gz2"], help="gz2: Galaxy Zoo 2 images (Zenodo 3565489), filename mapping, Hart+16 votes")
    download.add_argument("--to", type=Path, required=True, help="destination folder, e.g. data/gz2")
    download.add_argument("--zenodo-api", default=None, help="Zenodo API base URL, for a mirror (default: https://zenodo.org/api)")
    download.add_argument("--hart16-url", default=None, help="where to fetch gz2_hart16.csv.gz, for a mirror")
    parser.add_argument("-q", "--quiet", action="store_true", help="show only warnings and errors on the console (a run's run.log still gets all of its progress)")
    args = parser.parse_args(argv)
    if args.quiet:
        logging.getLogger("galaxyutils").setLevel(logging.WARNING)
    if args.command == "download":
        return _download(args)
    if args.command == "train":
        from .train import train_run

        train_run(args.run_dir)
        return 0

    if args.command == "compare":
        return _compare(args)
    if args.command == "publish":
        return _publish(args)
    if args.command == "notebooks":
        return _notebooks()
    if args.command == "paper":
        return _paper(args)
    cache = None if args.no_cache else pipeline.StageCache(args.cache)
    try:
        if args.command == "sweep":
            return _sweep(args, cache)
        params = config.resolve(args.profile, args.overrides)
        run_dir = args.run_dir or run_folder.REPO_ROOT / "runs" / args.profile
        result = pipeline.run_pipeline(params, run_dir, resume=args.resume, cache=cache)
    except (config.ConfigError, pipeline.StageFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics = result.metrics()
    print(f"results: {result.root}")
    print(f"  metrics:   {result.metrics_path}")
    print(f"  figures:   {result.figures}")
    print(f"  explorer:  {result.root / 'explorer.html'} (opens offline in a browser)")
    print(f"  notebooks: {result.root / 'notebooks'}")
    print(f"  log:       {result.root / run_folder.LOG_NAME}")
    print(f"  paper:     make paper RUN={result.root}")
    summary = {k: metrics.get(k) for k in ("n_galaxies", "n_clusters", "noise_fraction", "ari", "v_measure")}
    print("  " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
    return 0


def _sweep(args: argparse.Namespace, cache) -> int:
    from . import compare

    sweep_dir = args.sweep_dir or run_folder.REPO_ROOT / "runs" / f"sweep-{args.profile}"
    _, table = compare.run_sweep(args.profile, compare.parse_grid(args.grid), args.overrides, sweep_dir, cache)
    print(compare.to_markdown(table))
    print(f"comparison: {sweep_dir / 'compare.md'}, {sweep_dir / 'compare.csv'}, {sweep_dir / 'compare.png'}")
    return 0


def _notebooks() -> int:
    """The committed notebooks' stored outputs come from a fresh smoke run, made as runs make them."""
    import shutil

    shutil.rmtree(run_folder.REPO_ROOT / "runs" / "notebook-smoke", ignore_errors=True)
    for notebook in sorted(pipeline.NOTEBOOK_DIR.glob("0*.ipynb")):
        pipeline.logger.info(f"executing {notebook.name}")
        pipeline.execute_notebook(notebook, notebook, {})
    return 0


def _publish(args: argparse.Namespace) -> int:
    if not (args.run_dir / "metrics.json").exists():
        print(f"error: {args.run_dir} is not a finished run folder (no metrics.json)", file=sys.stderr)
        return 2
    published = run_folder.publish_figures(run_folder.Run.load(args.run_dir), args.to)
    print(f"published {len(published)} figures of {args.run_dir} to {args.to} (see {args.to / 'README.md'})")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from . import compare

    missing = [str(r) for r in args.run_dirs if not (r / "params.yaml").exists()]
    if missing:
        print(f"error: not run folders (no params.yaml): {', '.join(missing)}", file=sys.stderr)
        return 2
    table = compare.write_comparison(args.run_dirs, args.out)
    print(compare.to_markdown(table))
    print(f"written: {args.out / 'compare.md'}, {args.out / 'compare.csv'}, {args.out / 'compare.png'}")
    return 0


def _paper(args: argparse.Namespace) -> int:
    from . import paper

    try:
        written = paper.write_artefacts(args.run_dirs, args.paper_dir, args.validation)
    except paper.PaperError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"paper artefacts from {', '.join(map(str, args.run_dirs))}{f' (validation: {args.validation})' if args.validation else ''} in {written}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from . import download

    options = {k: v for k, v in (("api", args.zenodo_api), ("hart16_url", args.hart16_url)) if v}
    try:
        root = download.download_gz2(args.to, **options)
    except (download.DownloadError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"GZ2 release in {root}: run with --set data.source=gz2 --set data.root={root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
