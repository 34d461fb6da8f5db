"""03_embed: representations of every stored galaxy, and the baselines they must beat."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np
import torch
from tqdm import tqdm  # text bars: a notebook saved by papermill keeps their last state, widget bars show 0%

from .augment import centre_view, to_tensor
from .data import load_image
from .model import EfficientNetLite0, SimCLRModel


@torch.no_grad()
def encode(model: SimCLRModel, images: np.ndarray, batch_size: int = 256, device: torch.device | str = "cpu", tta: bool = False) -> np.ndarray:
    """Backbone features of uint8 store ``images`` in eval mode, float32 N x D in input order,
    computed on the centre view the encoder was trained on (``augment.centre_view``).

    With ``tta`` each galaxy's features are averaged over its 8 orientations (rotations by 90
    degrees, with and without a flip): a galaxy has no preferred orientation on the sky.
    """
    model.eval().to(device)
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = centre_view(to_tensor(images[start : start + batch_size], device))
        if tta:
            views = [torch.rot90(b, k, dims=(2, 3)) for b in (batch, batch.flip(3)) for k in range(4)]
            chunks.append(torch.stack([model.encode(v).float() for v in views]).mean(0).cpu())
        else:
            chunks.append(model.encode(batch).float().cpu())
    return torch.cat(chunks).numpy().astype(np.float32)


def raw_pixel_embedding(images: np.ndarray, size: int = 16) -> np.ndarray:
    """The raw-pixel baseline: each galaxy's centre view area-averaged to ``size`` px and
    flattened (N x 3 size^2 float32). The evaluation protocol normalises and reduces it like
    every other embedding."""
    # In chunks: the whole store as float would be tens of GB at full GZ2 size.
    return np.concatenate([
        torch.nn.functional.adaptive_avg_pool2d(centre_view(to_tensor(images[start : start + 4096])), size).flatten(1).numpy()
        for start in range(0, len(images), 4096)
    ]).astype(np.float32)


def _decode(paths: list[str], size: int, crop_fraction: float) -> np.ndarray:
    return np.stack([load_image(path, size, crop_fraction) for path in paths])


@torch.no_grad()
def imagenet_embedding(paths: list[str], size: int = 224, crop_fraction: float = 0.35, batch_size: int = 64,
                       device: torch.device | str = "cpu", workers: int = 0) -> np.ndarray:
    """The off-the-shelf baseline: frozen ImageNet EfficientNet-Lite0 features (1280-d, mean-pooled)
    of the original images, decoded here at the network's resolution (``size`` px after a
    ``crop_fraction`` centre crop) rather than taken from the training-resolution store."""
    model = EfficientNetLite0(pretrained=True).eval().to(device)
    batches = [paths[start : start + batch_size] for start in range(0, len(paths), batch_size)]
    chunks = []
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        decoded = pool.map(partial(_decode, size=size, crop_fraction=crop_fraction), batches)
        for images in tqdm(decoded, total=len(batches), desc="ImageNet features", unit="batch"):
            chunks.append(model(to_tensor(images, device)).float().cpu())
    return torch.cat(chunks).numpy().astype(np.float32)


def write_embeddings(run, model: SimCLRModel, random_model: SimCLRModel, device: torch.device | str = "cpu") -> list[str]:
    """Embed every image of ``run`` (a :class:`~galaxyutils.run_folder.Run`) with the trained model
    and each baseline: ``embeddings[_<baseline>].npy`` for the catalogue's galaxies and, when
    01 stored extra unlabelled images, ``..._extra.npy`` for those (clustered with the rest in
    04). Returns the names written."""
    params = run.params.embed
    parts = [("", run.load_array("images", mmap=True), run.load_table("catalogue"))]
    if run.has_extra():
        parts.append(("_extra", run.load_array("images_extra", mmap=True), run.load_table("catalogue_extra")))
    written = []
    for suffix, images, table in parts:
        arrays = {"embeddings": encode(model, images, params.batch_size, device, params.tta),
                  "embeddings_random_init": encode(random_model, images, params.batch_size, device, params.tta),
                  "embeddings_raw_pixels": raw_pixel_embedding(images, params.raw_pixel_size)}
        if params.imagenet_baseline:
            arrays["embeddings_imagenet"] = imagenet_embedding(list(table.file_loc), params.imagenet_size, params.imagenet_crop,
                                                               device=device, workers=run.params.data.workers)
        for name, array in arrays.items():
            run.save_array(name + suffix, array)
            written.append(name + suffix)
    return written
