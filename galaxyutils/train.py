"""02_simclr_train: contrastive training on the image store, checkpointed every epoch."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .augment import GalaxyAugment, to_tensor
from .config import Params
from .model import SimCLRModel, nt_xent_loss

LOG_COLUMNS = ["epoch", "loss", "lr", "embedding_std", "galaxies_per_s", "seconds"]


def select_device(name: str = "auto", threads: int = 0) -> torch.device:
    """``auto`` takes CUDA when present; on CPU torch gets ``threads`` (0: every core)."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor: linear warmup, then cosine decay to zero."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def embedding_std(z: torch.Tensor) -> float:
    """Mean per-dimension std of L2-normalised projections: ~1/sqrt(d) when healthy, 0 when collapsed."""
    return torch.nn.functional.normalize(z.detach().float(), dim=1).std(dim=0).mean().item()


def save_checkpoint(path: Path, **state) -> None:
    """Write to a temporary name and rename, so a kill never leaves a half-written checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)


def build_model(params: Params, device: torch.device) -> SimCLRModel:
    torch.manual_seed(params.seed)
    return SimCLRModel(params.model).to(device)


def train_simclr(images: np.ndarray, params: Params, checkpoint_dir: Path, log_path: Path) -> tuple[SimCLRModel, pd.DataFrame]:
    """Train SimCLR on uint8 ``images`` (N x S x S x 3), resuming from ``checkpoint_dir/last.pt``.

    Every epoch's shuffling and augmentation draws are seeded from (seed, epoch), so training
    resumed after a kill follows the same path as one that never stopped.
    """
    p = params.train
    device = select_device(p.device, p.threads)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    model = build_model(params, device)
    augment = GalaxyAugment(params.augment, images.shape[1]).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    batch_size = min(p.batch_size, len(images))
    steps_per_epoch = len(images) // batch_size
    total_steps = steps_per_epoch * p.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, p.warmup_epochs * steps_per_epoch, total_steps))
    log = pd.DataFrame(columns=LOG_COLUMNS)
    start_epoch = 0
    last = checkpoint_dir / "last.pt"
    if last.exists():
        state = load_checkpoint(last, device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start_epoch = int(state["epoch"])
        log = pd.read_csv(log_path).iloc[:start_epoch] if log_path.exists() else log

    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    for epoch in range(start_epoch, p.epochs):
        model.train()
        generator = torch.Generator().manual_seed(params.seed * 100_003 + epoch)
        torch.manual_seed(params.seed * 100_003 + epoch)
        order = torch.randperm(len(images), generator=generator).numpy()
        losses, stds, started = [], [], time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{p.epochs}", leave=False)
        for step in bar:
            # Sorted indices read the memory-mapped store sequentially; the batch is shuffled anyway.
            index = np.sort(order[step * batch_size : (step + 1) * batch_size])
            batch = to_tensor(images[index], device)
            with torch.no_grad():
                view1, view2 = augment(batch), augment(batch)
            with autocast:
                z1, z2 = model(view1), model(view2)
                loss = nt_xent_loss(z1.float(), z2.float(), p.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            stds.append(embedding_std(z1))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        seconds = time.perf_counter() - started
        log.loc[len(log)] = [epoch + 1, float(np.mean(losses)), schedule.get_last_lr()[0], float(np.mean(stds)), steps_per_epoch * batch_size / seconds, seconds]
        log.to_csv(log_path.with_name(log_path.name + ".tmp"), index=False)
        os.replace(log_path.with_name(log_path.name + ".tmp"), log_path)
        save_checkpoint(
            last, model=model.state_dict(), optimizer=optimizer.state_dict(), schedule=schedule.state_dict(), epoch=epoch + 1
        )
        print(f"epoch {epoch + 1}/{p.epochs}: loss {log.loss.iloc[-1]:.4f}, embedding std {log.embedding_std.iloc[-1]:.4f}, "
              f"{log.galaxies_per_s.iloc[-1]:.0f} galaxies/s", flush=True)
    return model, log
