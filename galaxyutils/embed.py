"""03_embed: representations of every stored galaxy, and the baselines they must beat."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA

from .augment import to_tensor
from .model import SimCLRModel


@torch.no_grad()
def encode(model: SimCLRModel, images: np.ndarray, batch_size: int = 256, device: torch.device | str = "cpu") -> np.ndarray:
    """Backbone features of uint8 ``images`` in eval mode: float32 N x D, in input order."""
    model.eval().to(device)
    chunks = [model.encode(to_tensor(images[start : start + batch_size], device)).float().cpu() for start in range(0, len(images), batch_size)]
    return torch.cat(chunks).numpy().astype(np.float32)


def raw_pixel_embedding(images: np.ndarray, size: int = 32, n_components: int = 50, seed: int = 0) -> np.ndarray:
    """The raw-pixel baseline: images area-averaged to ``size`` px, flattened, reduced with PCA."""
    batch = to_tensor(images)
    small = torch.nn.functional.adaptive_avg_pool2d(batch, size).flatten(1).numpy()
    n_components = min(n_components, *small.shape)
    return PCA(n_components, random_state=seed).fit_transform(small).astype(np.float32)
