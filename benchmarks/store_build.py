"""Benchmark: building the image store from real GZ2 JPEGs, our path against the naive one.

Ours: PIL's JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale in the DCT domain, then crop and
resize. Naive: full 424 px decode, crop, resize (what per-image torchvision transforms do).
Both on one core and on all cores. Run: .venv/bin/python benchmarks/store_build.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, write_results  # noqa: E402

from galaxyutils import data  # noqa: E402


def naive_load(path: str, size: int, crop_fraction: float) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        side = image.size[0] * crop_fraction
        left = (image.size[0] - side) / 2
        return np.asarray(image.crop((left, left, left + side, left + side)).resize((size, size), Image.Resampling.BILINEAR))


def decode_floor(paths: list[str]) -> None:
    """The cheapest decode libjpeg offers: 1/8 scale, nothing else. Huffman decoding of the whole
    file cannot be skipped, so no JPEG path can beat this."""
    for path in paths:
        with Image.open(path) as image:
            image.draft("RGB", (image.size[0] // 8, image.size[1] // 8))
            image.load()


def _naive_chunk(args):
    paths, size, crop = args
    return np.stack([naive_load(p, size, crop) for p in paths])


def naive_store(paths: list[str], size: int, crop: float, workers: int) -> np.ndarray:
    chunks = [(paths[i : i + 64], size, crop) for i in range(0, len(paths), 64)]
    if workers == 1:
        return np.concatenate([_naive_chunk(c) for c in chunks])
    with ProcessPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(_naive_chunk, chunks)))


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=Path, default=SHARED_DATA / "gz2_sample" / "images")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--crop", type=float, default=0.5)
    args = parser.parse_args()
    if not args.images.is_dir():
        sys.exit(f"no images at {args.images}: the benchmark reads the real GZ2 sample in ../shared/data")
    paths = sorted(str(p) for p in args.images.glob("*.jpg"))
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for workers in sorted({1, cores}):
            naive = timed(naive_store, paths, args.size, args.crop, workers)
            ours = timed(lambda: data.build_image_store(paths, Path(scratch) / f"store{workers}.npy", args.size, args.crop, workers))
            rows.append({"path": "naive full decode + resize", "workers": workers, "images_per_s": len(paths) / naive, "speedup": 1.0})
            rows.append({"path": "draft-mode store (ours)", "workers": workers, "images_per_s": len(paths) / ours, "speedup": naive / ours})
    floor = timed(decode_floor, paths)
    naive_one_core = len(paths) / rows[0]["images_per_s"]
    rows.append({"path": "decode-only floor (1/8 scale, no crop/resize)", "workers": 1, "images_per_s": len(paths) / floor, "speedup": naive_one_core / floor})
    write_results("store_build", rows, f"{len(paths)} GZ2 JPEGs (424 px) from {args.images}, to {args.size} px after a {args.crop} centre crop; "
                  "speedup against the naive path with the same number of workers; ours includes writing the resumable store. "
                  "The floor row bounds any JPEG-based store: entropy decoding of the whole file cannot be skipped.")


if __name__ == "__main__":
    main()
