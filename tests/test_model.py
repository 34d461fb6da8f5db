import numpy as np
import torch

from galaxyutils import augment
from galaxyutils.config import ModelParams
from galaxyutils.model import SimCLRModel, nt_xent_loss


def _nt_xent_double_loop(z1: np.ndarray, z2: np.ndarray, temperature: float) -> float:
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        denominator = sum(np.exp(z[i] @ z[k] / temperature) for k in range(2 * n) if k != i)
        total += -np.log(np.exp(z[i] @ z[positive] / temperature) / denominator)
    return total / (2 * n)


def test_nt_xent_matches_an_explicit_double_loop():
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    for temperature in (0.1, 0.5, 1.0):
        loss = nt_xent_loss(torch.tensor(z1), torch.tensor(z2), temperature).item()
        assert np.isclose(loss, _nt_xent_double_loop(z1, z2, temperature), rtol=1e-6)


def test_nt_xent_is_lower_for_matching_views():
    z = torch.randn(8, 16)
    assert nt_xent_loss(z, z + 0.01 * torch.randn(8, 16), 0.2) < nt_xent_loss(z, torch.randn(8, 16), 0.2)


def test_model_shapes():
    model = SimCLRModel(ModelParams(projection_dim=32)).eval()
    x = torch.rand(3, 3, 32, 32)
    assert model(x).shape == (3, 32)
    assert model.encode(x).shape == (3, 512)


def test_augmentations_are_random_per_sample_and_keep_shape():
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    for name in augment.PRESETS:
        views = augment.sample_views(augment.preset(name), image, n=4, seed=0)
        assert views.shape == (4, 32, 32, 3) and views.dtype == np.uint8
        assert len({v.tobytes() for v in views}) == 4, name  # four different views of one galaxy


def test_astro_preset_keeps_colour_and_rotation_is_free():
    params = augment.preset("astro")
    assert params.saturation == params.hue == params.grayscale_p == 0.0 and params.rotation
    simclr = augment.preset("simclr", grayscale_p=0.5)
    assert simclr.grayscale_p == 0.5 and simclr.hue > 0
