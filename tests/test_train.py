import numpy as np
import torch

from galaxyutils import config, train


def _params(epochs: int) -> config.Params:
    return config.resolve("smoke", [f"train.epochs={epochs}", "train.batch_size=8", "train.warmup_epochs=1", "train.threads=1"])


def test_resumed_training_reaches_the_same_weights(tmp_path):
    images = (np.random.default_rng(0).random((16, 16, 16, 3)) * 255).astype(np.uint8)
    straight, _ = train.train_simclr(images, _params(2), tmp_path / "a", tmp_path / "a.csv")

    train.train_simclr(images, _params(1), tmp_path / "b", tmp_path / "b.csv")  # then "killed"
    state = train.load_checkpoint(tmp_path / "b" / "last.pt", torch.device("cpu"))
    assert state["epoch"] == 1
    resumed, log = train.train_simclr(images, _params(2), tmp_path / "b", tmp_path / "b.csv")

    assert list(log.epoch) == [1, 2]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


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
