"""Batched, per-sample random augmentations on the training device (kornia).

Two named presets: ``simclr`` is the original recipe (Chen et al. 2020: random resized crop,
flips, strong colour jitter, greyscale, blur); ``astro`` keeps colour, which carries physics for
galaxies, and uses the physical nuisances instead (free rotation, flips, mild crop and scale, PSF
blur, sky noise, mild brightness/contrast), after Hayat et al. 2021 and Stein et al. 2021.

Every view is cut from the centre 1/sqrt(2) of the stored image (``view_size``), after the
rotation: a square rotated by any angle still covers that centre, so no view shows the empty
corners or octagonal edges an encoder could learn to recognise. Embedding (03) uses the same
centre, unrotated, so training and embedding see the same field.
"""

from __future__ import annotations

import math

import kornia.augmentation as K
import numpy as np
import torch
from torch import nn

from .config import AugmentParams


def view_size(store_size: int) -> int:
    """Side of the views the encoder sees: the largest centre square that every rotation of a
    ``store_size`` image still covers, one pixel in from its edge (where interpolation would mix
    in the empty outside), and with equal margins, so a view of a store image rotated by 90
    degrees is the rotated view."""
    view = int((store_size - 2) / math.sqrt(2))
    return view - (store_size - view) % 2


def centre_view(batch: torch.Tensor) -> torch.Tensor:
    """The encoder's field of a float batch B x 3 x S x S: its centre ``view_size(S)`` pixels."""
    side, view = batch.shape[-1], view_size(batch.shape[-1])
    start = (side - view) // 2
    return batch[..., start : start + view, start : start + view]


def preset(name: str, **overrides) -> AugmentParams:
    """The named preset's parameters (``config.AUGMENT_PRESETS``), with any of them overridden."""
    return AugmentParams(preset=name, **overrides)


class GalaxyAugment(nn.Module):
    """Maps a float batch B x 3 x S x S in [0, 1] (the store) to one random view per sample,
    B x 3 x V x V with V = ``view_size(S)``; with ``local``, to a multi-crop local view of
    ``local_crop_scale`` of that field at side V // 2 (``augment.local_views``)."""

    def __init__(self, params: AugmentParams, size: int, local: bool = False):
        super().__init__()
        view = view_size(size)
        side, scale = (view // 2, params.local_crop_scale) if local else (view, params.crop_scale)
        steps: list[nn.Module] = [K.RandomRotation(180.0, p=1.0)] if params.rotation else []
        steps += [K.CenterCrop(view),
                  K.RandomResizedCrop((side, side), scale=tuple(scale), ratio=tuple(params.crop_ratio)),
                  K.RandomHorizontalFlip(), K.RandomVerticalFlip()]
        if params.brightness or params.contrast or params.saturation or params.hue:
            steps.append(K.ColorJiggle(params.brightness, params.contrast, params.saturation, params.hue, p=params.jitter_p))
        if params.grayscale_p:
            steps.append(K.RandomGrayscale(p=params.grayscale_p))
        kernel = max(3, (side // 10) | 1)
        steps.append(K.RandomGaussianBlur((kernel, kernel), tuple(params.blur_sigma), p=params.blur_p))
        if params.noise_std:
            steps.append(K.RandomGaussianNoise(std=params.noise_std, p=1.0))
        self.pipeline = K.AugmentationSequential(*steps)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.pipeline(batch).clamp_(0.0, 1.0)


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 N x S x S x 3 -> float N x 3 x S x S in [0, 1] on ``device``."""
    batch = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)).to(device, non_blocking=True)
    return batch.permute(0, 3, 1, 2).float().div_(255.0)


def sample_views(params: AugmentParams, image: np.ndarray, n: int = 8, seed: int = 0) -> np.ndarray:
    """``n`` random views of one uint8 S x S x 3 image, as uint8 (V x V, ``view_size(S)``), for looking at a preset."""
    torch.manual_seed(seed)
    batch = to_tensor(np.repeat(image[None], n, axis=0))
    views = GalaxyAugment(params, image.shape[0])(batch)
    return (views.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
