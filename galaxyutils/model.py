"""The SimCLR encoder, projection head and contrastive loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .config import ModelParams


class SimCLRModel(nn.Module):
    """A torchvision ResNet without its classifier, plus an MLP projection head.

    ``encode`` gives the representation used downstream (512-d for ResNet-18/34, 2048-d for 50);
    ``forward`` gives the projection the loss is computed on (Chen et al. 2020).
    """

    def __init__(self, params: ModelParams):
        super().__init__()
        backbone = getattr(torchvision.models, params.backbone)(weights=None)
        if params.small_input_stem:
            # ImageNet's 7x7/2 convolution and max-pool shrink a 64 px galaxy to 16 px before
            # the first block; a 3x3/1 stem keeps the detail (as for CIFAR in the SimCLR paper).
            backbone.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            backbone.maxpool = nn.Identity()
        self.feature_dim = backbone.fc.in_features
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.head = nn.Sequential(
            nn.Linear(self.feature_dim, params.hidden_dim),
            nn.BatchNorm1d(params.hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(params.hidden_dim, params.projection_dim),
        )

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (normalised temperature-scaled cross entropy) over 2B views.

    Row i's positive is the other view of the same galaxy; the other 2B - 2 views are negatives.
    """
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)
