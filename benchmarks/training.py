"""Benchmark: SimCLR data path and training steps, ours against the usual recipe, and MFU.

(a) data path alone: galaxies/s delivering two augmented views, from the uint8 store with
    batched kornia augmentation on the device (ours), versus JPEG decoding plus per-image
    torchvision transforms in DataLoader workers (the usual SimCLR recipe);
(b) whole training steps both ways, and the share of step time spent producing the views;
(c) achieved FLOP/s of training over the FLOP/s of a large matmul timed just before and after
    (MFU), the median of several steps, for each backbone and resolution offered;
(d) on a GPU, the share of wall time it runs kernels over whole training steps.
Training steps are 02_simclr_train's own (train.contrastive_step, in train.precision's dtype and
layout); same model, batch and resolution within each comparison.
Run: .venv/bin/python benchmarks/training.py; on a GPU:
.venv/bin/python benchmarks/training.py --device cuda --size 128 --sizes 64,128 --batch 256
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

from galaxyutils import augment, config, data, train  # noqa: E402
from galaxyutils.model import SimCLRModel  # noqa: E402


class JpegPairs(Dataset):
    """The usual recipe: decode the JPEG and transform it twice, image by image, in workers."""

    def __init__(self, paths: list[str], size: int, crop_fraction: float):
        self.paths = paths
        side = int(424 * crop_fraction)
        simclr = augment.preset("simclr")  # the same recipe's values as the pipeline's preset
        self.transform = T.Compose([
            T.CenterCrop(side), T.RandomResizedCrop(size, scale=tuple(simclr.crop_scale), ratio=tuple(simclr.crop_ratio)),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(simclr.brightness, simclr.contrast, simclr.saturation, simclr.hue)], p=simclr.jitter_p),
            T.RandomGrayscale(simclr.grayscale_p),
            T.RandomApply([T.GaussianBlur(max(3, (size // 10) | 1), tuple(simclr.blur_sigma))], p=simclr.blur_p), T.ToTensor(),
        ])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with Image.open(self.paths[index]) as image:
            image = image.convert("RGB")
            return self.transform(image), self.transform(image)


def matmul_flops(device: torch.device, dtype: torch.dtype, n: int = 4096, repeats: int = 5) -> float:
    """Peak-like FLOP/s of this machine: a large matmul in the precision training computes in."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
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


class Trainer:
    """A model and optimizer that step exactly as 02_simclr_train does on this device."""

    def __init__(self, backbone: str, device: torch.device, small_input_stem: bool = False, **model_options):
        self.dtype, self.layout = train.precision(device)
        params = config.Params(model=config.ModelParams(backbone=backbone, small_input_stem=small_input_stem, **model_options))
        self.model = SimCLRModel(params.model).to(device, memory_format=self.layout)
        self.optimizer = train.make_optimizer(self.model, params)

    def step(self, view1: torch.Tensor, view2: torch.Tensor, *local: torch.Tensor) -> None:
        view1, view2 = view1.contiguous(memory_format=self.layout), view2.contiguous(memory_format=self.layout)
        train.contrastive_step(self.model, self.optimizer, view1, view2, self.dtype, 0.2, local=[v.contiguous(memory_format=self.layout) for v in local])

    def flops(self, batch: torch.Tensor) -> float:
        """FLOPs of one step (forward and backward of both views): torch counts the forward of
        both views, the backward is taken as twice that (the usual rule). torch's counter
        over-counts the backward of grouped convolutions (EfficientNet's depthwise layers) by
        about 40x, so the backward is not counted directly."""
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            self.model(batch)
            self.model(batch)
        return 3.0 * float(counter.get_total_flops())


def store_side(view: int) -> int:
    """The store side whose centre views (augment.view_size) are ``view`` pixels."""
    side = view
    while augment.view_size(side) < view:
        side += 1
    return side


def draw_views(gpu_augment: augment.GalaxyAugment, store: np.ndarray, rng: np.random.Generator, batch_size: int,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Our data path for one batch: random store rows to the device, two augmented views."""
    batch = augment.to_tensor(store[np.sort(rng.choice(len(store), batch_size, replace=False))], device)
    with torch.no_grad():
        return gpu_augment(batch), gpu_augment(batch)


def ours_data_path(store: np.ndarray, params, batch_size: int, steps: int, device: torch.device) -> tuple[float, list]:
    """galaxies/s delivering two augmented views from the store, after one untimed warm-up batch
    (as the usual recipe's workers are warm), and the views made."""
    gpu_augment = augment.GalaxyAugment(params, store.shape[1]).to(device)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        gpu_augment(augment.to_tensor(store[:batch_size], device))
    _sync(device)
    start = time.perf_counter()
    batches = [draw_views(gpu_augment, store, rng, batch_size, device) for _ in range(steps)]
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


def timed_training(trainer: Trainer, views, device: torch.device, steps: int) -> tuple[float, float]:
    """galaxies/s and seconds per step on ready views: the median of ``steps`` separately timed
    steps, because on a shared machine other tenants' bursts slow single steps."""
    trainer.step(*views[0])
    _sync(device)
    seconds = []
    for k in range(steps):
        start = time.perf_counter()
        trainer.step(*views[k % len(views)])
        _sync(device)
        seconds.append(time.perf_counter() - start)
    median = float(np.median(seconds))
    return views[0][0].shape[0] / median, median


def mfu(trainer: Trainer, views, device: torch.device, steps: int) -> tuple[float, float, float, float]:
    """galaxies/s, FLOPs per step, MFU and the matmul FLOP/s it divides by, measured just before
    and after the steps: the peak itself drifts by 10% or more over a run on a shared machine."""
    peak_before = matmul_flops(device, trainer.dtype)
    rate, seconds = timed_training(trainer, views, device, steps)
    peak = (peak_before + matmul_flops(device, trainer.dtype)) / 2
    flops = trainer.flops(views[0][0])
    return rate, flops, flops / seconds / peak, peak


def ours_training(trainer: Trainer, store: np.ndarray, params, batch_size: int, steps: int, device: torch.device) -> tuple[float, float]:
    """Whole steps as 02 runs them: store rows to the device, two augmented views, a training step.
    Returns seconds per step and the share of it spent producing the views."""
    gpu_augment = augment.GalaxyAugment(params, store.shape[1]).to(device)
    rng = np.random.default_rng(1)
    produce = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        tick = time.perf_counter()
        view1, view2 = draw_views(gpu_augment, store, rng, batch_size, device)
        _sync(device)
        produce += time.perf_counter() - tick
        trainer.step(view1, view2)
    _sync(device)
    seconds = time.perf_counter() - start
    return seconds / steps, produce / seconds


def gpu_busy_share(trainer: Trainer, store: np.ndarray, params, batch_size: int, steps: int, device: torch.device) -> float:
    """Share of wall time the GPU spends running kernels over whole training steps, from the
    profiler's kernel timeline (kernels of one stream never overlap, so their sum is busy time)."""
    from torch.profiler import ProfilerActivity, profile

    ours_training(trainer, store, params, batch_size, 1, device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as profiler:
        start = time.perf_counter()
        ours_training(trainer, store, params, batch_size, steps, device)
        wall = time.perf_counter() - start
    kernel_us = sum(event.self_device_time_total for event in profiler.key_averages())
    return kernel_us / 1e6 / wall


def measure_variant(trainer: Trainer, paths: list[str], size: int, crop: float, workers: int, params, device: torch.device, args) -> dict:
    """galaxies/s, GFLOP per galaxy and MFU of ``trainer`` on ``size`` px views of real galaxies
    (and ``params.local_views`` multi-crop views each, which the FLOP count leaves out)."""
    small = np.asarray(data.build_image_store(paths[: args.batch * 2], Path("/tmp") / f"benchmark_small_{size}.npy", store_side(size), crop, workers)[0])
    _, views = ours_data_path(small, params, args.batch, 2, device)
    if params.local_views:
        local_augment = augment.GalaxyAugment(params, small.shape[1], local=True).to(device)
        batch = augment.to_tensor(small[: args.batch], device)
        with torch.no_grad():
            views = [(*pair, *(local_augment(batch) for _ in range(params.local_views))) for pair in views]
    rate, flops, size_mfu, peak = mfu(trainer, views, device, args.steps)
    return {"pixels": size, "galaxies/s": rate, "GFLOP/galaxy": flops / args.batch / 1e9, "MFU": size_mfu, "matmul GFLOP/s": peak / 1e9}


def pretrained_rows(args, paths: list[str], crop: float, workers: int, params, device: torch.device) -> None:
    """EfficientNet-Lite0 from its ImageNet weights, with and without frozen early blocks."""
    rows = []
    for frozen in (int(f) for f in args.frozen_blocks.split(",")):
        for size in (int(s) for s in args.pretrained_sizes.split(",")):
            for local_views in (int(n) for n in args.local_views.split(",")):
                trainer = Trainer("efficientnet_lite0", device, pretrained="imagenet", frozen_blocks=frozen)
                variant = params.model_copy(update={"local_views": local_views})
                rows.append({"backbone": "efficientnet_lite0 (ImageNet start)", "frozen blocks": frozen, "local views": local_views,
                             **measure_variant(trainer, paths, size, crop, workers, variant, device, args)})
    dtype = train.precision(device)[0]
    notes = (f"device {device}, batch {args.batch}, {args.steps} timed steps (the median counts), astro views, training as 02 does on this "
             f"device (train.make_optimizer: frozen blocks are left out of the optimizer, their BatchNorm statistics fixed). MFU divides "
             f"by a 4096 x 4096 matmul in {str(dtype).removeprefix('torch.')} timed just before and after each row. GFLOP/galaxy: one "
             f"training step per galaxy, three times the counted forward of two views; with frozen blocks their backward is not "
             f"run, so for those rows the count, and the MFU, are upper bounds. Local views (multi-crop, half the side) are timed but not counted.")
    write_results(args.name or f"training_{device.type}_pretrained", rows, notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=Path, default=SHARED_DATA / "gz2_sample" / "images")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per measurement (the median counts)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbones", default="resnet18,resnet34,resnet50")
    parser.add_argument("--sizes", default="32,48,64,96")
    parser.add_argument("--small-stem-backbones", default="resnet18", help="also time these with model.small_input_stem")
    parser.add_argument("--small-stem-sizes", default="32,48,64", help="resolutions for the small-input stem (96 px: ~30 s a step on 2 cores)")
    parser.add_argument("--pretrained-sizes", default="96,128", help="view sizes for EfficientNet-Lite0 from ImageNet weights")
    parser.add_argument("--frozen-blocks", default="0,4,8", help="EfficientNet-Lite0 variants: how many of its 16 blocks stay frozen")
    parser.add_argument("--local-views", default="0", help="EfficientNet-Lite0 variants: multi-crop views per galaxy (augment.local_views), e.g. 0,4")
    parser.add_argument("--name", help="results file name for the EfficientNet-Lite0 rows (default training_<device>_pretrained)")
    parser.add_argument("--only-pretrained", action="store_true", help="time only the EfficientNet-Lite0 rows (results/training_<device>_pretrained)")
    args = parser.parse_args()
    if not args.images.is_dir():
        sys.exit(f"no images at {args.images}: the benchmark reads the real GZ2 sample in ../shared/data")
    device = torch.device(args.device)
    torch.set_num_threads(os.cpu_count() or 1)
    workers = os.cpu_count() or 1
    paths = sorted(str(p) for p in args.images.glob("*.jpg"))
    crop = 0.5
    dtype = train.precision(device)[0]
    astro = augment.preset("astro")
    simclr = augment.preset("simclr")
    rows = []

    if args.only_pretrained:
        pretrained_rows(args, paths, crop, workers, astro, device)
        return

    # (a) and (b) at the main resolution with ResNet-18.
    store, _ = data.build_image_store(paths, Path("/tmp") / f"benchmark_store_{args.size}.npy", store_side(args.size), crop, workers)
    store = np.asarray(store)
    ours_rate, views = ours_data_path(store, simclr, args.batch, args.steps, device)
    loader = usual_loader(paths, args.size, crop, args.batch, workers)
    usual_rate = usual_data_path(loader, args.steps)
    rows.append({"measure": "(a) data path: galaxies/s (two views each)", "ours": ours_rate, "usual": usual_rate, "ratio": ours_rate / usual_rate})

    trainer = Trainer("resnet18", device)
    _, _, main_mfu, _ = mfu(trainer, views, device, args.steps)
    ours_step, ours_share = ours_training(trainer, store, simclr, args.batch, args.steps, device)
    start = time.perf_counter()
    iterator = iter(loader)
    wait = 0.0
    for _ in range(args.steps):
        tick = time.perf_counter()
        view1, view2 = next(iterator)
        view1, view2 = view1.to(device, non_blocking=True), view2.to(device, non_blocking=True)
        wait += time.perf_counter() - tick
        trainer.step(view1, view2)
    _sync(device)
    usual_step = (time.perf_counter() - start) / args.steps
    rows.append({"measure": "(b) training: galaxies/s", "ours": args.batch / ours_step, "usual": args.batch / usual_step, "ratio": usual_step / ours_step})
    rows.append({"measure": "(b) share of step producing views", "ours": ours_share, "usual": wait / (args.steps * usual_step), "ratio": float("nan")})
    rows.append({"measure": "(c) MFU: training FLOP/s / matmul FLOP/s", "ours": main_mfu, "usual": float("nan"), "ratio": float("nan")})
    if device.type == "cuda":
        rows.append({"measure": "(d) share of wall time the GPU runs kernels", "ours": gpu_busy_share(trainer, store, simclr, args.batch, args.steps, device),
                     "usual": float("nan"), "ratio": float("nan")})

    # (c) throughput and MFU for each backbone and resolution offered (astro preset views).
    per_backbone = []
    variants = [(b, False) for b in args.backbones.split(",")] + [(b, True) for b in args.small_stem_backbones.split(",") if b]
    for backbone, small_stem in variants:
        for size in (int(s) for s in (args.small_stem_sizes if small_stem else args.sizes).split(",")):
            row = measure_variant(Trainer(backbone, device, small_stem), paths, size, crop, workers, astro, device, args)
            per_backbone.append({"backbone": backbone, "stem": "3x3/1 (small input)" if small_stem else "7x7/2 + max-pool", **row})

    precision = "bf16 autocast, channels_last" if dtype == torch.bfloat16 else "float32"
    notes = (f"device {device}, ResNet-18 at {args.size} px for (a)-(c), batch {args.batch}, {args.steps} timed steps (the median step for (c)), training in {precision} "
             f"as 02_simclr_train does on this device. Usual recipe: JPEG decode + per-image torchvision SimCLR transforms in {workers} "
             f"DataLoader workers; ours: uint8 store + batched kornia on the device. MFU divides by a 4096 x 4096 matmul in "
             f"{str(dtype).removeprefix('torch.')} timed just before and after each row's steps. GFLOP/galaxy: one training step's count (two views, forward + backward) per galaxy.")
    write_results(f"training_{device.type}", rows, notes, tables={"(c) each backbone and resolution offered (astro views)": per_backbone})


if __name__ == "__main__":
    main()
