"""Resumed work is checked to belong to the same inputs: changed inputs start afresh."""

import numpy as np
import pytest
import torch
from PIL import Image

from galaxyutils import config, data, train


def _write_images(folder, colours):
    folder.mkdir(exist_ok=True)
    paths = []
    for k, colour in enumerate(colours):
        path = folder / f"g{k}.png"
        Image.new("RGB", (40, 40), colour).save(path)
        paths.append(str(path))
    return paths


_DECODE = data._load_chunk


def killed_at_g4(args):
    """The decoder of a build that dies when it reaches the chunk holding g4."""
    if any(path.endswith("g4.png") for path in args[0]):
        raise KeyboardInterrupt
    return _DECODE(args)


def test_a_partial_store_is_not_resumed_after_its_images_changed(tmp_path, monkeypatch):
    paths = _write_images(tmp_path / "images", [(10 * k, 0, 0) for k in range(8)])
    original = data._load_chunk
    monkeypatch.setattr(data, "_load_chunk", killed_at_g4)
    with pytest.raises(KeyboardInterrupt):
        data.build_image_store(paths, tmp_path / "store.npy", 8, 1.0, workers=1, chunk=2)
    assert (tmp_path / "store.partial.npy").exists()
    monkeypatch.setattr(data, "_load_chunk", original)

    Image.new("RGB", (40, 40), (0, 200, 0)).save(paths[1])  # replaced while the build was down
    store, errors = data.build_image_store(paths, tmp_path / "store.npy", 8, 1.0, workers=1, chunk=2)
    assert tuple(store[1, 4, 4]) == (0, 200, 0) and errors == [None] * 8

    # The same files in another order: rows must follow the new order, not the old partial's.
    shuffled = paths[::-1]
    monkeypatch.setattr(data, "_load_chunk", killed_at_g4)
    with pytest.raises(KeyboardInterrupt):
        data.build_image_store(shuffled, tmp_path / "again.npy", 8, 1.0, workers=1, chunk=2)
    monkeypatch.setattr(data, "_load_chunk", original)
    again, _ = data.build_image_store(paths, tmp_path / "again.npy", 8, 1.0, workers=1, chunk=2)
    assert np.array_equal(again, store)


def test_a_checkpoint_is_not_resumed_after_the_images_changed(tmp_path):
    params = config.resolve("smoke", ["train.epochs=2", "train.batch_size=8", "train.threads=1"])
    images = (np.random.default_rng(0).random((16, 16, 16, 3)) * 255).astype(np.uint8)
    changed = images.copy()
    changed[:5] = 255 - changed[:5]
    one_epoch = config.resolve("smoke", ["train.epochs=1", "train.batch_size=8", "train.threads=1"])
    train.train_simclr(images, one_epoch, tmp_path / "c", tmp_path / "c.csv")  # then "killed"
    resumed, log = train.train_simclr(changed, params, tmp_path / "c", tmp_path / "c.csv")
    straight, _ = train.train_simclr(changed, params, tmp_path / "s", tmp_path / "s.csv")
    assert list(log.epoch) == [1, 2]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert train.load_checkpoint(tmp_path / "c" / "last.pt", torch.device("cpu"))["key"] == train.training_key(changed, params)
