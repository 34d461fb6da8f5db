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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
