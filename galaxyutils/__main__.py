"""Command line: ``python -m galaxyutils run --profile NAME [--set key=value ...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import config, pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m galaxyutils", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the six notebooks end to end into one run folder")
    run.add_argument("--profile", default="demo", help="a profile in configs/ (default: demo)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a parameter, e.g. train.epochs=5")
    run.add_argument("--run-dir", type=Path, help="run folder (default: runs/<profile>)")
    run.add_argument("--resume", action="store_true", help="skip stages already finished with the same parameters")
    run.add_argument("--publish", type=Path, metavar="DIR", help="copy the run's figures into DIR afterwards")
    train = commands.add_parser("train", help="train SimCLR for an existing run folder (the entry point torchrun starts per GPU)")
    train.add_argument("--run-dir", type=Path, required=True)
    download = commands.add_parser("download", help="fetch a public data release")
    download.add_argument("dataset", choices=["gz2"], help="gz2: Galaxy Zoo 2 images (Zenodo 3565489), filename mapping, Hart+16 votes")
    download.add_argument("--to", type=Path, required=True, help="destination folder, e.g. data/gz2")
    download.add_argument("--zenodo-api", default=None, help="Zenodo API base URL, for a mirror (default: https://zenodo.org/api)")
    download.add_argument("--hart16-url", default=None, help="where to fetch gz2_hart16.csv.gz, for a mirror")
    args = parser.parse_args(argv)
    if args.command == "download":
        return _download(args)
    if args.command == "train":
        from .train import train_run

        train_run(args.run_dir)
        return 0

    try:
        params = config.resolve(args.profile, args.overrides)
        run_dir = args.run_dir or pipeline.REPO_ROOT / "runs" / args.profile
        result = pipeline.run_pipeline(params, run_dir, resume=args.resume)
    except (config.ConfigError, pipeline.StageFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.publish:
        published = pipeline.publish_figures(result, args.publish)
        print(f"published {len(published)} figures to {args.publish}")
    metrics = result.metrics()
    print(f"results: {result.root}")
    print(f"  metrics:   {result.metrics_path}")
    print(f"  figures:   {result.figures}")
    print(f"  notebooks: {result.root / 'notebooks'}")
    summary = {k: metrics.get(k) for k in ("n_galaxies", "n_clusters", "noise_fraction", "ari", "v_measure")}
    print("  " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
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
