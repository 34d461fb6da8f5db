import numpy as np
import torch

from galaxyutils import augment, config
from galaxyutils.config import AUGMENT_PRESETS, ModelParams
from galaxyutils.model import SimCLRModel, contrastive_loss, nt_xent_loss


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


def test_multi_crop_loss_is_the_mean_over_the_full_pair_and_each_local_view_with_each_full_view():
    rng = np.random.default_rng(2)
    z1, z2, local1, local2 = (rng.normal(size=(6, 5)) for _ in range(4))
    loss = contrastive_loss(torch.tensor(z1), torch.tensor(z2), 0.5, local=[torch.tensor(local1), torch.tensor(local2)]).item()
    pairs = [(z1, z2), (z1, local1), (z2, local1), (z1, local2), (z2, local2)]
    assert np.isclose(loss, np.mean([_nt_xent_double_loop(a, b, 0.5) for a, b in pairs]), rtol=1e-6)
    assert np.isclose(contrastive_loss(torch.tensor(z1), torch.tensor(z2), 0.5).item(), _nt_xent_double_loop(z1, z2, 0.5), rtol=1e-6)


def test_local_views_are_half_the_side_of_a_view_and_random_per_sample():
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    params = augment.preset("astro", local_views=2)
    torch.manual_seed(0)
    local = augment.GalaxyAugment(params, 64, local=True)(augment.to_tensor(np.repeat(image[None], 4, axis=0)))
    side = augment.view_size(64) // 2
    assert local.shape == (4, 3, side, side) and 0.0 <= local.min() and local.max() <= 1.0
    assert len({view.numpy().tobytes() for view in local}) == 4


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
    for name in AUGMENT_PRESETS:
        views = augment.sample_views(augment.preset(name), image, n=4, seed=0)
        assert views.shape == (4, augment.view_size(32), augment.view_size(32), 3) and views.dtype == np.uint8
        assert len({v.tobytes() for v in views}) == 4, name  # four different views of one galaxy


def test_astro_preset_keeps_colour_and_rotation_is_free():
    params = augment.preset("astro")
    assert params.saturation == params.hue == params.grayscale_p == 0.0 and params.rotation
    simclr = augment.preset("simclr", grayscale_p=0.5)
    assert simclr.grayscale_p == 0.5 and simclr.hue > 0


def test_a_profile_choosing_a_preset_gets_its_values_and_overrides_win():
    simclr = config.resolve("smoke", ["augment.preset=simclr"]).augment
    assert simclr.crop_scale == AUGMENT_PRESETS["simclr"]["crop_scale"] and simclr.hue == 0.2 and not simclr.rotation
    assert config.resolve("smoke", ["augment.preset=simclr", "augment.hue=0.05"]).augment.hue == 0.05
    assert config.resolve("smoke").augment == augment.preset("astro")


def _axis_ratio(view: np.ndarray) -> float:
    y, x = np.nonzero(view[..., 0] > 127)
    eigenvalues = np.linalg.eigvalsh(np.cov(np.stack([x, y])))
    return float(np.sqrt(eigenvalues[0] / eigenvalues[1]))


def test_astro_crop_keeps_the_axis_ratio_that_marks_an_edge_on_disc():
    yy, xx = np.mgrid[:64, :64]
    disc = np.repeat((((xx - 31.5) ** 2 + (yy - 31.5) ** 2 < 6**2) * 255).astype(np.uint8)[..., None], 3, axis=2)
    # Crops of half the frame always contain the whole disc, so only a stretch changes its shape.
    quiet = dict(blur_sigma=(0.1, 0.1), noise_std=0.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, grayscale_p=0.0)
    astro = [_axis_ratio(v) for v in augment.sample_views(augment.preset("astro", crop_scale=(0.5, 0.6), **quiet), disc, n=16)]
    simclr = [_axis_ratio(v) for v in augment.sample_views(augment.preset("simclr", crop_scale=(0.5, 0.6), **quiet), disc, n=16)]
    assert min(astro) > 0.95
    assert min(simclr) < 0.9  # the original recipe stretches by up to 4:3


def _debiased_double_loop(z1, z2, temperature, tau_plus):
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        positive_index = (i + n) % (2 * n)
        positive = np.exp(z[i] @ z[positive_index] / temperature)
        negatives = [np.exp(z[i] @ z[k] / temperature) for k in range(2 * n) if k not in (i, positive_index)]
        estimate = (sum(negatives) - tau_plus * len(negatives) * positive) / (1 - tau_plus)
        estimate = max(estimate, len(negatives) * np.exp(-1 / temperature))
        total += -np.log(positive / (positive + estimate))
    return total / (2 * n)


def test_debiased_loss_matches_its_formula_and_reduces_to_nt_xent():
    from galaxyutils.model import debiased_contrastive_loss

    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    for tau_plus in (0.05, 0.2):
        loss = debiased_contrastive_loss(torch.tensor(z1), torch.tensor(z2), 0.5, tau_plus).item()
        assert np.isclose(loss, _debiased_double_loop(z1, z2, 0.5, tau_plus), rtol=1e-6)
    plain = debiased_contrastive_loss(torch.tensor(z1), torch.tensor(z2), 0.5, 0.0).item()
    assert np.isclose(plain, nt_xent_loss(torch.tensor(z1), torch.tensor(z2), 0.5).item(), rtol=1e-6)


def test_support_queue_keeps_the_latest_projections_normalised():
    from galaxyutils.model import NearestNeighbourSupport

    support = NearestNeighbourSupport(4, 2)
    support.push(torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
    assert not support.full
    support.push(torch.tensor([[-1.0, 0.0], [0.0, -5.0], [2.0, 0.0]]))  # wraps round: the oldest two go
    assert support.full and int(support.pointer) == 2
    expected = torch.tensor([[0.0, -1.0], [1.0, 0.0], [0.5**0.5, 0.5**0.5], [-1.0, 0.0]])
    assert torch.allclose(support.queue, expected)
    assert torch.allclose(support.nearest(torch.tensor([[0.1, -3.0], [2.0, 1.9]])), expected[[0, 2]])


def test_nearest_neighbour_loss_matches_its_formula():
    from galaxyutils.model import NearestNeighbourSupport, contrastive_loss

    rng = np.random.default_rng(2)
    z1, z2 = torch.tensor(rng.normal(size=(5, 4))), torch.tensor(rng.normal(size=(5, 4)))
    support = NearestNeighbourSupport(6, 4).double()
    filling = contrastive_loss(z1, z2, 0.5, support=support)  # plain NT-Xent until the queue is full
    assert np.isclose(filling.item(), nt_xent_loss(z1, z2, 0.5).item()) and not support.full
    support.push(torch.tensor(rng.normal(size=(3, 4))))  # the queue: three of z1's five, then three others
    queue = support.queue.numpy().copy()

    def unit(v):
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    def one_way(a, b):
        positives = queue[np.argmax(unit(a) @ queue.T, axis=1)]
        logits = positives @ unit(b).T / 0.5
        return np.mean([np.log(np.exp(row).sum()) - row[i] for i, row in enumerate(logits)])

    expected = (one_way(z1.numpy(), z2.numpy()) + one_way(z2.numpy(), z1.numpy())) / 2
    assert np.isclose(contrastive_loss(z1, z2, 0.5, support=support).item(), expected, rtol=1e-6)
    assert torch.allclose(support.queue[[2, 3, 4, 5, 0]], torch.nn.functional.normalize(z1, dim=1))  # then the first views join it


def test_rotation_is_free_and_views_of_a_galaxy_are_rotated_copies():
    # A bar along x: the astro preset's views must come out at many angles, not only 0 and 90.
    image = np.zeros((32, 32, 3), np.uint8)
    image[14:18, 4:28] = 255
    params = augment.preset("astro", crop_scale=(1.0, 1.0), blur_sigma=(0.1, 0.1), noise_std=0.0, brightness=0.0, contrast=0.0)
    views = augment.sample_views(params, image, n=24, seed=0).astype(float).sum(axis=3)
    angles = []
    for view in views:
        y, x = np.nonzero(view > view.max() / 2)
        cov = np.cov(np.stack([x - x.mean(), y - y.mean()]))
        angles.append(np.degrees(np.arctan2(*np.linalg.eigh(cov)[1][:, -1][::-1])) % 180)
    assert len({round(a / 15) for a in angles}) >= 6  # orientations spread over 0-180 degrees


def test_tta_embedding_is_invariant_to_90_degree_rotations():
    from galaxyutils.embed import encode

    model = SimCLRModel(ModelParams()).eval()
    images = (np.random.default_rng(0).random((3, 32, 32, 3)) * 255).astype(np.uint8)
    rotated = np.ascontiguousarray(np.rot90(images, 1, axes=(1, 2)))
    assert np.allclose(encode(model, images, tta=True), encode(model, rotated, tta=True), atol=1e-4)
    assert not np.allclose(encode(model, images), encode(model, rotated), atol=1e-4)


def test_rotated_views_show_no_empty_corners():
    # A uniformly bright frame: a rotated view that reached past the stored image would show black corners.
    image = np.full((64, 64, 3), 200, np.uint8)
    quiet = dict(blur_sigma=(0.1, 0.1), noise_std=0.0, brightness=0.0, contrast=0.0, crop_scale=(0.7, 1.0))
    views = augment.sample_views(augment.preset("astro", **quiet), image, n=32, seed=1)
    assert views.shape[1] == augment.view_size(64) == 42
    assert views.min() >= 190, "a view reached outside the rotated image"


def test_rankme_counts_the_dimensions_a_representation_uses():
    from galaxyutils.train import rankme

    rng = torch.Generator().manual_seed(0)
    spread = torch.randn(2000, 16, generator=rng)
    assert 14 < rankme(spread) <= 16
    collapsed = torch.randn(2000, 1, generator=rng) * torch.randn(1, 16, generator=rng)
    assert rankme(collapsed) < 1.1
