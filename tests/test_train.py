import numpy as np
import pytest
import torch

from galaxyutils import config, train
from galaxyutils.config import ModelParams
from galaxyutils.model import SimCLRModel, contrastive_loss


def _params(epochs: int, *overrides: str) -> config.Params:
    return config.resolve("smoke", [f"train.epochs={epochs}", "train.batch_size=8", "train.warmup_epochs=1", "train.threads=1", *overrides])


def _two_looks(n_round: int, n_streak: int) -> np.ndarray:
    """Noisy round blobs and thin horizontal streaks: two looks any encoder tells apart."""
    y, x = np.mgrid[-8:8, -8:8] + 0.5
    round_blob, streak = np.exp(-(x**2 + y**2) / 20), np.exp(-(x**2 / 40 + y**2 / 0.8))
    shapes = np.r_[np.repeat(round_blob[None], n_round, 0), np.repeat(streak[None], n_streak, 0)][..., None]
    noise = np.random.default_rng(5).normal(0, 8, (n_round + n_streak, 16, 16, 3))
    return np.clip(20 + 200 * shapes + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("balance", [[], ["train.cluster_balance=1", "train.balance_clusters=2"], ["train.nn_support=8"],
                                     ["augment.local_views=2"]],
                         ids=["uniform", "cluster-balanced", "nearest-neighbour", "multi-crop"])
def test_resumed_training_reaches_the_same_weights(tmp_path, balance):
    images = (np.random.default_rng(0).random((16, 16, 16, 3)) * 255).astype(np.uint8)
    straight, _ = train.train_simclr(images, _params(2, *balance), tmp_path / "a", tmp_path / "a.csv")

    train.train_simclr(images, _params(1, *balance), tmp_path / "b", tmp_path / "b.csv")  # then "killed"
    state = train.load_checkpoint(tmp_path / "b" / "last.pt", torch.device("cpu"))
    assert state["epoch"] == 1
    resumed, log = train.train_simclr(images, _params(2, *balance), tmp_path / "b", tmp_path / "b.csv")

    assert list(log.epoch) == [1, 2]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_training_step_pairs_the_local_views_with_both_full_views():
    torch.manual_seed(0)
    model = SimCLRModel(ModelParams(projection_dim=8)).train()
    view1, view2 = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    local = [torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)]
    with torch.no_grad():
        expected = contrastive_loss(model(view1), model(view2), 0.2, local=model(torch.cat(local)).chunk(2)).item()
        two_views = contrastive_loss(model(view1), model(view2), 0.2).item()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss, _ = train.contrastive_step(model, optimizer, view1, view2, torch.float32, 0.2, local=local)
    assert np.isclose(loss.item(), expected, rtol=1e-5) and not np.isclose(expected, two_views, rtol=1e-3)


def test_a_longer_checkpoint_is_not_passed_off_as_a_shorter_run(tmp_path, caplog):
    images = (np.random.default_rng(0).random((16, 16, 16, 3)) * 255).astype(np.uint8)
    fresh, _ = train.train_simclr(images, _params(1), tmp_path / "a", tmp_path / "a.csv")
    train.train_simclr(images, _params(3), tmp_path / "b", tmp_path / "b.csv")

    shortened, log = train.train_simclr(images, _params(1), tmp_path / "b", tmp_path / "b.csv")

    assert "more than the 1 asked for" in caplog.text and list(log.epoch) == [1]
    for (name, a), b in zip(fresh.state_dict().items(), shortened.state_dict().values()):
        assert torch.equal(a, b), name


def test_extending_training_after_the_warm_up_says_the_path_changes(tmp_path, caplog):
    images = (np.random.default_rng(0).random((16, 16, 16, 3)) * 255).astype(np.uint8)
    train.train_simclr(images, _params(2), tmp_path / "a", tmp_path / "a.csv")
    assert "will differ" not in caplog.text

    _, log = train.train_simclr(images, _params(3), tmp_path / "a", tmp_path / "a.csv")

    assert "planned for 2 epochs, now 3" in caplog.text and list(log.epoch) == [1, 2, 3]


def test_training_log_and_schedule(tmp_path):
    images = (np.random.default_rng(1).random((16, 16, 16, 3)) * 255).astype(np.uint8)
    _, log = train.train_simclr(images, _params(2), tmp_path / "c", tmp_path / "c.csv")
    assert list(log.columns) == train.LOG_COLUMNS
    assert np.isfinite(log.loss).all() and (log.embedding_std > 0).all() and (log.rankme > 1).all()
    assert log.lr.iloc[-1] < 1e-6  # cosine decays to zero at the end
    assert train.warmup_cosine(0, 10, 100) == 0.1 and train.warmup_cosine(9, 10, 100) == 1.0


def test_lars_and_debiased_options_train(tmp_path):
    images = (np.random.default_rng(2).random((16, 16, 16, 3)) * 255).astype(np.uint8)
    params = config.resolve("smoke", ["train.epochs=1", "train.batch_size=8", "train.optimizer=lars", "train.lr=0.3", "train.tau_plus=0.1", "train.threads=1"])
    before = train.build_model(params, torch.device("cpu")).state_dict()
    model, log = train.train_simclr(images, params, tmp_path / "d", tmp_path / "d.csv")
    assert np.isfinite(log.loss).all() and 0 <= log.augment_share.iloc[0] <= 1
    changed = [name for name, value in model.state_dict().items() if value.dtype.is_floating_point and not torch.equal(value, before[name])]
    assert any("conv1" in name for name in changed)


def test_uniform_epochs_show_every_image_at_most_once():
    batches = train.epoch_batches(50, 8, 6, seed=3, epoch=1)
    assert batches.shape == (6, 8) and len(np.unique(batches)) == 48
    assert np.array_equal(batches, train.epoch_batches(50, 8, 6, seed=3, epoch=1))
    assert not np.array_equal(batches, train.epoch_batches(50, 8, 6, seed=3, epoch=2))


def test_weighted_batches_follow_the_weights_without_repeats():
    weights = np.r_[np.full(900, 1 / 900), np.full(100, 1 / 100)] / 2  # two clusters of 900 and 100, equalised
    batches = train.epoch_batches(1000, 20, 200, seed=0, epoch=0, weights=weights)
    assert all(len(set(row)) == 20 for row in batches)
    assert abs((batches >= 900).mean() - 0.5) < 0.03
    assert np.array_equal(batches, train.epoch_batches(1000, 20, 200, seed=0, epoch=0, weights=weights))


# power 1: each look half the draws; power 0.5: the looks of 30 and 10 images weigh sqrt(30) : sqrt(10)
@pytest.mark.parametrize("power, rare_share", [(1.0, 0.5), (0.5, np.sqrt(10) / (np.sqrt(10) + np.sqrt(30)))])
def test_cluster_balance_gives_a_rare_look_its_share(power, rare_share):
    images = _two_looks(n_round=30, n_streak=10)
    params = _params(1, f"train.cluster_balance={power}", "train.balance_clusters=2")
    weights = train.cluster_balance_weights(train.build_model(params, torch.device("cpu")), images, params, torch.device("cpu"))
    assert weights.shape == (40,) and np.isclose(weights.sum(), 1)
    assert np.isclose(weights[30:].sum(), rare_share)
    assert train.cluster_balance_weights(train.build_model(_params(1), torch.device("cpu")), images, _params(1), torch.device("cpu")) is None
