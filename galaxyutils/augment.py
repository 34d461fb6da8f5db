"""Batched, per-sample random augmentations on the training device (kornia).

Two named presets: ``simclr`` is the original recipe (Chen et al. 2020: random resized crop,
flips, strong colour jitter, greyscale, blur); ``astro`` keeps colour, which carries physics for
galaxies, and uses the physical nuisances instead (free rotation, flips, mild crop and scale, PSF
blur, sky noise, mild brightness/contrast), after Hayat et al. 2021 and Stein et al. 2021.
"""

from __future__ import annotations

import kornia.augmentation as K
import numpy as np
import torch
from torch import nn

from .config import AugmentParams

def preset(name: str, **overrides) -> AugmentParams:
    """The named preset's parameters (``config.AUGMENT_PRESETS``), with any of them overridden."""
    return AugmentParams(preset=name, **overrides)


class GalaxyAugment(nn.Module):
    """Maps a float batch B x 3 x S x S in [0, 1] to one random view per sample."""

    def __init__(self, params: AugmentParams, size: int):
        super().__init__()
        steps: list[nn.Module] = [K.RandomResizedCrop((size, size), scale=tuple(params.crop_scale), ratio=tuple(params.crop_ratio))]
        if params.rotation:
            steps.append(K.RandomRotation(180.0, p=1.0))
        steps += [K.RandomHorizontalFlip(), K.RandomVerticalFlip()]
        if params.brightness or params.contrast or params.saturation or params.hue:
            steps.append(K.ColorJiggle(params.brightness, params.contrast, params.saturation, params.hue, p=params.jitter_p))
        if params.grayscale_p:
            steps.append(K.RandomGrayscale(p=params.grayscale_p))
        kernel = max(3, (size // 10) | 1)
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
    """``n`` random views of one uint8 S x S x 3 image, as uint8, for looking at a preset."""
    torch.manual_seed(seed)
    batch = to_tensor(np.repeat(image[None], n, axis=0))
    views = GalaxyAugment(params, image.shape[0])(batch)
    return (views.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
