"""02_simclr_train: contrastive training on the image store, checkpointed every epoch.

One process trains on the CPU or one GPU; ``train.processes`` > 1 launches torchrun with
DistributedDataParallel, each rank taking a slice of every global batch and the loss gathering
the projections of all ranks, so negatives span the global batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from sklearn.cluster import KMeans
from sklearn.preprocessing import normalize
from tqdm import tqdm  # text bars: a notebook saved by papermill keeps their last state, widget bars show 0%

from .augment import GalaxyAugment, centre_view, to_tensor
from .config import Params, TrainParams
from .embed import encode
from .files import write_atomic
from .model import NearestNeighbourSupport, SimCLRModel, contrastive_loss

if TYPE_CHECKING:
    from .run_folder import Run

logger = logging.getLogger(__name__)

LOG_COLUMNS = ["epoch", "loss", "lr", "embedding_std", "rankme", "galaxies_per_s", "augment_share", "seconds"]
RANKME_GALAXIES = 512  # a fixed sample embedded after every epoch for the label-free RankMe score


def select_device(name: str = "auto", threads: int = 0) -> torch.device:
    """``auto`` takes CUDA when present; on CPU torch gets ``threads`` (0: every core)."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if dist.is_initialized() and name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
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


def rankme(features: torch.Tensor) -> float:
    """RankMe (Garrido et al. 2023): the effective rank exp(entropy) of the normalised singular
    values of an N x D representation. Label-free; higher ranks went with better downstream
    scores across SSL methods, so epochs and settings can be compared without votes."""
    singular = torch.linalg.svdvals(features.double())
    p = singular / singular.sum() + 1e-12
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def probe_rankme(model: SimCLRModel, probe: torch.Tensor) -> float:
    """RankMe of the encoder's features of the fixed probe views, in eval mode."""
    was_training = model.training
    model.eval()
    features = torch.cat([model.encode(probe[start : start + 128]).float() for start in range(0, len(probe), 128)])
    model.train(was_training)
    return rankme(features)


def make_optimizer(model: SimCLRModel, params: Params) -> torch.optim.Optimizer:
    """AdamW or LARS with two groups: the encoder at ``lr x backbone_lr_scale``, the projection
    head at ``lr``; frozen encoder weights are left out."""
    p = params.train
    groups = [{"params": [w for w in model.backbone.parameters() if w.requires_grad], "lr": p.lr * p.backbone_lr_scale},
              {"params": list(model.head.parameters()), "lr": p.lr}]
    if p.optimizer == "lars":
        return LARS(groups, lr=p.lr, weight_decay=p.weight_decay)
    return torch.optim.AdamW(groups, lr=p.lr, weight_decay=p.weight_decay)


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (You et al. 2017), as SimCLR used
    for batches of thousands. Written here because torch has none and the implementations that
    exist come inside whole frameworks; biases and norm layers are not adapted or decayed."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.9, trust_coefficient: float = 0.001):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, trust_coefficient=trust_coefficient))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if p.ndim > 1:
                    grad = grad.add(p, alpha=group["weight_decay"])
                    weight_norm, grad_norm = torch.norm(p), torch.norm(grad)
                    trust = torch.where((weight_norm > 0) & (grad_norm > 0), group["trust_coefficient"] * weight_norm / grad_norm, torch.ones_like(weight_norm))
                    grad = grad.mul(trust)
                state = self.state[p]
                buffer = state.setdefault("momentum_buffer", torch.zeros_like(p))
                buffer.mul_(group["momentum"]).add_(grad)
                p.add_(buffer, alpha=-group["lr"])


def training_key(images: np.ndarray, params: Params) -> str:
    """Hash of what training's path depends on: every byte of the image store and the seed,
    augmentation, model and training settings (all but the number of epochs, which a resumed
    run may extend, and where it runs). A checkpoint is resumed only under the same key."""
    digest = hashlib.sha256()
    for start in range(0, len(images), 1024):
        digest.update(np.ascontiguousarray(images[start : start + 1024]).data)
    settings = {"shape": list(images.shape), "seed": params.seed, "augment": params.augment.model_dump(mode="json"),
                "model": params.model.model_dump(mode="json"), "train": params.train.model_dump(mode="json", exclude={"epochs", "device", "threads", "compile"})}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def save_checkpoint(path: Path, **state) -> None:
    """Written atomically, so a kill never leaves a half-written checkpoint."""
    write_atomic(lambda tmp: torch.save(state, tmp), path)


def load_checkpoint(path: Path, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)


def resumable_checkpoint(path: Path, key: str, p: TrainParams, device: torch.device) -> dict | None:
    """The checkpoint at ``path`` if training may resume from it: made under the same training
    ``key`` and no further than the ``p.epochs`` asked for (a longer one would pass its weights off
    as the shorter run's). Extending a run past its warm-up is allowed but logged: the learning
    rate then decays over the new length, so the weights differ from a fresh run of that length."""
    if not path.exists():
        return None
    state = load_checkpoint(path, device)
    done = state["epoch"] = int(state["epoch"])
    if state.get("key") != key:
        logger.warning(f"{path}: a checkpoint of training on other images or with other settings is not resumed; training starts afresh")
        return None
    if done > p.epochs:
        logger.warning(f"{path}: the checkpoint has {done} epochs, more than the {p.epochs} asked for; "
                       "training starts afresh so the weights are those of the shorter run")
        return None
    if state.get("epochs", p.epochs) != p.epochs and done > p.warmup_epochs:
        logger.warning(f"{path}: resuming after epoch {done} of a run planned for {state['epochs']} epochs, now "
                       f"{p.epochs}: the learning rate decays over the new length from here, so the weights will differ from "
                       f"those of a run trained for {p.epochs} epochs from the start (train_log.csv's lr column shows the path)")
    return state


def precision(device: torch.device) -> tuple[torch.dtype, torch.memory_format]:
    """The dtype and layout training computes in on ``device``: bf16 autocast and channels_last on
    CUDA; float32 in the default layout on CPU, where bf16 convolutions ran 3-5x slower than
    float32 and channels_last no faster (ResNet-18, 64 px, 2 threads of an AMX Xeon)."""
    return (torch.bfloat16, torch.channels_last) if device.type == "cuda" else (torch.float32, torch.contiguous_format)


def contrastive_step(forward, optimizer: torch.optim.Optimizer, view1: torch.Tensor, view2: torch.Tensor, dtype: torch.dtype,
                     temperature: float, tau_plus: float = 0.0, support: NearestNeighbourSupport | None = None,
                     local: Sequence[torch.Tensor] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a batch's two views (and any multi-crop ``local`` views), the
    encoder under autocast to ``dtype``; returns the loss and the first view's projections."""
    with torch.autocast(view1.device.type, dtype=dtype, enabled=dtype != torch.float32):
        z1, z2 = forward(view1), forward(view2)
        # The local views share one size, so one pass serves them all (as in Caron et al. 2020).
        z_local = forward(torch.cat(list(local))).chunk(len(local)) if local else ()
    loss = contrastive_loss(z1.float(), z2.float(), temperature, tau_plus, support, [z.float() for z in z_local])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, z1


def build_model(params: Params, device: torch.device, random_weights: bool = False) -> SimCLRModel:
    """The run's model, seeded; ``random_weights`` ignores ``model.pretrained`` (the random-init baseline)."""
    torch.manual_seed(params.seed)
    model_params = params.model.model_copy(update={"pretrained": "none", "frozen_blocks": 0}) if random_weights else params.model
    return SimCLRModel(model_params).to(device)


def load_trained(run: Run, device: torch.device) -> SimCLRModel:
    """The run's model with the weights of its last checkpoint (02's output), in eval mode."""
    model = build_model(run.params, device)
    model.load_state_dict(load_checkpoint(run.path("checkpoints/last.pt"), device)["model"])
    return model.eval()


def cluster_balance_weights(model: SimCLRModel, images: np.ndarray, params: Params, device: torch.device) -> np.ndarray | None:
    """Sampling weights of the training images (summing to 1) that equalise, to the power
    ``train.cluster_balance``, k-means clusters of the starting encoder's features; None when off.
    Labels play no part: only how the images look to the encoder before training."""
    p = params.train
    if p.cluster_balance == 0:
        return None
    started = time.perf_counter()
    features = normalize(encode(model, images, device=device))
    model.train()
    labels = KMeans(p.balance_clusters, n_init=3, random_state=params.seed).fit_predict(features)
    sizes = np.bincount(labels, minlength=p.balance_clusters)
    weights = sizes[labels].astype(np.float64) ** -p.cluster_balance
    logger.info(f"cluster balance {p.cluster_balance}: {p.balance_clusters} k-means clusters of the starting encoder's features hold "
                f"{sizes.min()}-{sizes.max()} images; an image of the smallest is drawn {(sizes.max() / sizes.min()) ** p.cluster_balance:.1f}x "
                f"as often as one of the largest ({time.perf_counter() - started:.0f} s)")
    return weights / weights.sum()


def epoch_batches(n_images: int, batch_size: int, steps: int, seed: int, epoch: int, weights: np.ndarray | None = None) -> np.ndarray:
    """One epoch's global batches, ``steps`` x ``batch_size`` image indices, seeded from (seed,
    epoch) alone so every rank and every resumed run draws the same. Without ``weights`` each
    image comes at most once; with them, each batch is drawn by weight without repeating an image
    (a galaxy twice in one batch would be its own negative), which holds a cluster's share a little
    under its weight when a batch would otherwise take a sizeable part of it."""
    if weights is None:
        order = torch.randperm(n_images, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).numpy()
        return order[: steps * batch_size].reshape(steps, batch_size)
    rng = np.random.default_rng([seed, epoch])
    return np.stack([rng.choice(n_images, size=batch_size, replace=False, p=weights) for _ in range(steps)])


def _rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def train_simclr(images: np.ndarray, params: Params, checkpoint_dir: Path, log_path: Path) -> tuple[SimCLRModel, pd.DataFrame]:
    """Train SimCLR on uint8 ``images`` (N x S x S x 3), resuming from ``checkpoint_dir/last.pt``.

    Every epoch's shuffling and augmentation draws are seeded from (seed, epoch, rank), so
    training resumed after a kill follows the same path as one that never stopped.
    """
    p = params.train
    rank, world = _rank_and_world()
    device = select_device(p.device, p.threads)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    dtype, layout = precision(device)
    model = build_model(params, device).to(memory_format=layout)
    cuda = device.type == "cuda"
    trained = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None) if world > 1 else model
    forward = torch.compile(trained) if p.compile else trained
    augment = GalaxyAugment(params.augment, images.shape[1]).to(device)
    local_augment = GalaxyAugment(params.augment, images.shape[1], local=True).to(device)
    optimizer = make_optimizer(model, params)
    probe_rows = np.sort(np.random.default_rng(params.seed).permutation(len(images))[:RANKME_GALAXIES])
    probe = centre_view(to_tensor(images[probe_rows], device)).contiguous(memory_format=layout)
    batch_size = min(p.batch_size, len(images)) // world * world
    steps_per_epoch = len(images) // batch_size
    total_steps = steps_per_epoch * p.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, p.warmup_epochs * steps_per_epoch, total_steps))
    weights = cluster_balance_weights(model, images, params, device)
    support = NearestNeighbourSupport(p.nn_support, params.model.projection_dim).to(device) if p.nn_support else None
    log = pd.DataFrame(columns=LOG_COLUMNS)
    start_epoch = 0
    last = checkpoint_dir / "last.pt"
    key = training_key(images, params)
    state = resumable_checkpoint(last, key, p, device)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if support is not None:
            support.load_state_dict(state["support"])
        start_epoch = state["epoch"]
        log = pd.read_csv(log_path).iloc[:start_epoch] if log_path.exists() else log

    for epoch in range(start_epoch, p.epochs):
        trained.train()
        torch.manual_seed(params.seed * 100_003 + epoch * 1_009 + rank)
        batches = epoch_batches(len(images), batch_size, steps_per_epoch, params.seed, epoch, weights)
        losses, stds, augment_seconds, started = [], [], 0.0, time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{p.epochs}", leave=False, disable=rank > 0)
        for step in bar:
            # This rank's slice of the global batch; sorted indices read the memory-mapped store
            # sequentially, and the batch order does not matter to the loss.
            index = np.sort(batches[step][rank::world])
            batch = to_tensor(images[index], device)
            tick = time.perf_counter()
            with torch.no_grad():
                view1, view2 = augment(batch).contiguous(memory_format=layout), augment(batch).contiguous(memory_format=layout)
                local = [local_augment(batch).contiguous(memory_format=layout) for _ in range(params.augment.local_views)]
            if cuda:
                torch.cuda.synchronize()
            augment_seconds += time.perf_counter() - tick
            loss, z1 = contrastive_step(forward, optimizer, view1, view2, dtype, p.temperature, p.tau_plus, support, local)
            schedule.step()
            losses.append(loss.item())
            stds.append(embedding_std(z1))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        seconds = time.perf_counter() - started
        log.loc[len(log)] = [epoch + 1, float(np.mean(losses)), schedule.get_last_lr()[-1], float(np.mean(stds)), probe_rankme(model, probe),
                             steps_per_epoch * batch_size / seconds, augment_seconds / seconds, seconds]
        if rank == 0:
            write_atomic(log.to_csv, log_path, index=False)
            save_checkpoint(last, model=model.state_dict(), optimizer=optimizer.state_dict(), schedule=schedule.state_dict(), epoch=epoch + 1,
                            epochs=p.epochs, key=key, support=support.state_dict() if support is not None else None)
            logger.info(f"epoch {epoch + 1}/{p.epochs}: loss {log.loss.iloc[-1]:.4f}, embedding std {log.embedding_std.iloc[-1]:.4f}, "
                  f"RankMe {log.rankme.iloc[-1]:.1f}, "
                  f"{log.galaxies_per_s.iloc[-1]:.0f} galaxies/s, augmentation {log.augment_share.iloc[-1]:.0%} of the time, "
                  f"about {_duration(log.seconds.iloc[start_epoch:].mean() * (p.epochs - epoch - 1))} left")
        if world > 1:
            dist.barrier()  # no rank starts the next epoch before rank 0 has written the checkpoint
    return model, log


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def train_run(run_dir: Path) -> None:
    """Train the run in ``run_dir`` (its params.yaml and image store); torchrun's entry point."""
    from .data import training_images
    from .run_folder import Run

    run = Run.load(run_dir)
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() and run.params.train.device != "cpu" else "gloo")
    try:
        train_simclr(training_images(run.artifacts), run.params, run.path("checkpoints"), run.path("train_log.csv"))
    finally:
        if distributed:
            dist.destroy_process_group()


def launch(run, images: np.ndarray) -> pd.DataFrame:
    """Train in this process, or with torchrun when ``train.processes`` > 1; returns the log."""
    params = run.params
    if params.train.processes == 1:
        return train_simclr(images, params, run.path("checkpoints"), run.path("train_log.csv"))[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={params.train.processes}",
               "-m", "galaxyutils", "train", "--run-dir", str(run.root)]
    subprocess.run(command, check=True)
    return pd.read_csv(run.path("train_log.csv"))
