"""Benchmark: SimCLR data path and training steps, ours against the usual recipe, and MFU.

(a) data path alone: galaxies/s delivering two augmented views, from the uint8 store with
    batched kornia augmentation on the device (ours), versus JPEG decoding plus per-image
    torchvision transforms in DataLoader workers (the usual SimCLR recipe);
(b) whole training steps both ways, and the share of step time spent producing the views;
(c) achieved FLOP/s of training over the FLOP/s of a large matmul measured in the same run (MFU),
    for each backbone and resolution offered.
Same model, batch and resolution within each comparison. Run on a GPU with --device cuda
--size 128. Run: .venv/bin/python benchmarks/training.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, write_results  # noqa: E402

from galaxyutils import augment, config, data  # noqa: E402
from galaxyutils.model import SimCLRModel, contrastive_loss  # noqa: E402


class JpegPairs(Dataset):
    """The usual recipe: decode the JPEG and transform it twice, image by image, in workers."""

    def __init__(self, paths: list[str], size: int, crop_fraction: float):
        self.paths = paths
        side = int(424 * crop_fraction)
        self.transform = T.Compose([
            T.CenterCrop(side), T.RandomResizedCrop(size, scale=(0.08, 1.0)), T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), T.RandomGrayscale(0.2),
            T.GaussianBlur(max(3, (size // 10) | 1), (0.1, 2.0)), T.ToTensor(),
        ])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with Image.open(self.paths[index]) as image:
            image = image.convert("RGB")
            return self.transform(image), self.transform(image)


def matmul_flops(device: torch.device, n: int = 4096, repeats: int = 5) -> float:
    """Peak-like FLOP/s of this machine: a large float32 matmul."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _train_step(model, optimizer, view1, view2) -> None:
    loss = contrastive_loss(model(view1), model(view2), 0.2)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def step_flops(model, optimizer, batch: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as counter:
        _train_step(model, optimizer, batch, batch)
    return float(counter.get_total_flops())


def ours_data_path(store: np.ndarray, params, batch_size: int, steps: int, device: torch.device) -> tuple[float, list]:
    gpu_augment = augment.GalaxyAugment(params, store.shape[1]).to(device)
    rng = np.random.default_rng(0)
    batches = []
    start = time.perf_counter()
    for _ in range(steps):
        batch = augment.to_tensor(store[np.sort(rng.choice(len(store), batch_size, replace=False))], device)
        with torch.no_grad():
            batches.append((gpu_augment(batch), gpu_augment(batch)))
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start), batches


def usual_loader(paths: list[str], size: int, crop: float, batch_size: int, workers: int) -> DataLoader:
    return DataLoader(JpegPairs(paths, size, crop), batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True,
                      persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())


def usual_data_path(loader: DataLoader, steps: int) -> float:
    iterator = iter(loader)
    next(iterator)  # workers started and warm
    start = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    return steps * loader.batch_size / (time.perf_counter() - start)


def timed_training(model, optimizer, views, device: torch.device, steps: int) -> tuple[float, float]:
    """galaxies/s over ``steps`` training steps on ready views, and seconds per step."""
    _train_step(model, optimizer, *views[0])
    _sync(device)
    start = time.perf_counter()
    for k in range(steps):
        _train_step(model, optimizer, *views[k % len(views)])
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    return views[0][0].shape[0] / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=Path, default=SHARED_DATA / "gz2_sample" / "images")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbones", default="resnet18,resnet34,resnet50")
    parser.add_argument("--sizes", default="32,48,64")
    args = parser.parse_args()
    if not args.images.is_dir():
        sys.exit(f"no images at {args.images}: the benchmark reads the real GZ2 sample in ../shared/data")
    device = torch.device(args.device)
    torch.set_num_threads(os.cpu_count() or 1)
    workers = os.cpu_count() or 1
    paths = sorted(str(p) for p in args.images.glob("*.jpg"))
    crop = 0.5
    peak = matmul_flops(device)
    astro = augment.preset("astro")
    simclr = augment.preset("simclr")
    rows = []

    # (a) and (b) at the main resolution with ResNet-18.
    store, _ = data.build_image_store(paths, Path("/tmp") / f"benchmark_store_{args.size}.npy", args.size, crop, workers)
    store = np.asarray(store)
    ours_rate, views = ours_data_path(store, simclr, args.batch, args.steps, device)
    loader = usual_loader(paths, args.size, crop, args.batch, workers)
    usual_rate = usual_data_path(loader, args.steps)
    rows.append({"measure": "(a) data path: views/s", "ours": ours_rate, "usual": usual_rate, "ratio": ours_rate / usual_rate})

    model = SimCLRModel(config.ModelParams()).to(device)
    optimizer = torch.optim.AdamW(model.parameters())
    compute_rate, step_seconds = timed_training(model, optimizer, views, device, args.steps)
    # Whole steps: producing the views then training on them, each way, measured in sequence.
    ours_step = 1 / ours_rate * args.batch + step_seconds
    start = time.perf_counter()
    iterator = iter(loader)
    wait = 0.0
    for _ in range(args.steps):
        tick = time.perf_counter()
        view1, view2 = next(iterator)
        wait += time.perf_counter() - tick
        _train_step(model, optimizer, view1.to(device, non_blocking=True), view2.to(device, non_blocking=True))
    _sync(device)
    usual_step = (time.perf_counter() - start) / args.steps
    rows.append({"measure": "(b) training: galaxies/s", "ours": args.batch / ours_step, "usual": args.batch / usual_step, "ratio": usual_step / ours_step})
    rows.append({"measure": "(b) share of step producing views", "ours": (ours_step - step_seconds) / ours_step, "usual": wait / (args.steps * usual_step), "ratio": float("nan")})
    flops = step_flops(model, optimizer, views[0][0])
    rows.append({"measure": "(c) MFU, resnet18 (train FLOP/s / matmul FLOP/s)", "ours": flops / step_seconds / peak, "usual": float("nan"), "ratio": float("nan")})

    # (c) throughput and MFU for each backbone and resolution offered (astro preset views).
    for backbone in args.backbones.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            model = SimCLRModel(config.ModelParams(backbone=backbone)).to(device)
            optimizer = torch.optim.AdamW(model.parameters())
            small = np.asarray(data.build_image_store(paths[: args.batch * 2], Path("/tmp") / f"benchmark_small_{size}.npy", size, crop, workers)[0])
            _, size_views = ours_data_path(small, astro, args.batch, 2, device)
            rate, seconds = timed_training(model, optimizer, size_views, device, max(2, args.steps // 2))
            flops = step_flops(model, optimizer, size_views[0][0])
            rows.append({"measure": f"(c) {backbone} at {size} px: galaxies/s | GFLOP/galaxy | MFU",
                         "ours": rate, "usual": flops / args.batch / 1e9, "ratio": flops / seconds / peak})

    notes = (f"device {device}, batch {args.batch}, {args.steps} timed steps, {workers} DataLoader workers for the usual recipe "
             f"(JPEG decode + per-image torchvision SimCLR transforms), ours: uint8 store + batched kornia on the device. "
             f"Matmul peak measured in this run: {peak / 1e9:.0f} GFLOP/s (float32). In the (c) rows, 'usual' holds GFLOP per "
             f"galaxy per training step (two views, forward + backward) and 'ratio' the MFU.")
    write_results(f"training_{device.type}", rows, notes)


if __name__ == "__main__":
    main()
