"""The SimCLR encoder, projection head and contrastive loss."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
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


def debiased_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float, tau_plus: float) -> torch.Tensor:
    """Debiased contrastive loss (Chuang et al. 2020, eq. 9).

    Some "negatives" are galaxies of the same kind as the anchor (GZ2 is dominated by a few
    types); with ``tau_plus`` the prior probability that a random other galaxy is of the same
    class, their expected share is removed from the negative term, floored at its minimum
    ``N exp(-1/t)``.
    """
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    similarity = torch.exp(z @ z.T / temperature)
    positive_index = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    positive = similarity.gather(1, positive_index[:, None]).squeeze(1)
    negatives_mask = ~torch.eye(2 * n, dtype=torch.bool, device=z.device)
    negatives_mask[torch.arange(2 * n), positive_index] = False
    negative = (similarity * negatives_mask).sum(dim=1)
    n_negatives = 2 * n - 2
    estimate = (negative - tau_plus * n_negatives * positive) / (1.0 - tau_plus)
    estimate = torch.clamp(estimate, min=n_negatives * math.exp(-1.0 / temperature))
    return -torch.log(positive / (positive + estimate)).mean()


def contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float, tau_plus: float = 0.0) -> torch.Tensor:
    """NT-Xent, or the debiased loss when ``tau_plus`` > 0; across all ranks when distributed."""
    z1, z2 = gather_across_ranks(z1), gather_across_ranks(z2)
    if tau_plus > 0:
        return debiased_contrastive_loss(z1, z2, temperature, tau_plus)
    return nt_xent_loss(z1, z2, temperature)


class _GatherWithGradient(torch.autograd.Function):
    """all_gather that lets gradients flow back to each rank's own slice.

    Every rank computes the same loss on the global batch; summing the gathered gradients
    across ranks and keeping this rank's slice, then DDP's averaging over ranks, gives exactly
    the gradient of the single-process loss on the global batch.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, tensor.contiguous())
        ctx.rank, ctx.size = dist.get_rank(), tensor.shape[0]
        return torch.cat(gathered)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.size : (ctx.rank + 1) * ctx.size]


def gather_across_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The concatenation over ranks of ``tensor`` (rank order), or ``tensor`` itself on one process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return _GatherWithGradient.apply(tensor)
