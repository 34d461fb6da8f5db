"""03_embed: representations of every stored galaxy, and the baselines they must beat."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA

from .augment import to_tensor
from .model import SimCLRModel


@torch.no_grad()
def encode(model: SimCLRModel, images: np.ndarray, batch_size: int = 256, device: torch.device | str = "cpu", tta: bool = False) -> np.ndarray:
    """Backbone features of uint8 ``images`` in eval mode: float32 N x D, in input order.

    With ``tta`` each galaxy's features are averaged over its 8 orientations (rotations by 90
    degrees, with and without a flip): a galaxy has no preferred orientation on the sky.
    """
    model.eval().to(device)
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = to_tensor(images[start : start + batch_size], device)
        if tta:
            views = [torch.rot90(b, k, dims=(2, 3)) for b in (batch, batch.flip(3)) for k in range(4)]
            chunks.append(torch.stack([model.encode(v).float() for v in views]).mean(0).cpu())
        else:
            chunks.append(model.encode(batch).float().cpu())
    return torch.cat(chunks).numpy().astype(np.float32)


def raw_pixel_embedding(images: np.ndarray, size: int = 32, n_components: int = 50, seed: int = 0) -> np.ndarray:
    """The raw-pixel baseline: images area-averaged to ``size`` px, flattened, reduced with PCA."""
    # In chunks: the whole store as float would be ~12 GB at full GZ2 size and 64 px.
    small = np.concatenate([
        torch.nn.functional.adaptive_avg_pool2d(to_tensor(images[start : start + 4096]), size).flatten(1).numpy()
        for start in range(0, len(images), 4096)
    ])
    n_components = min(n_components, *small.shape)
    return PCA(n_components, random_state=seed).fit_transform(small).astype(np.float32)
