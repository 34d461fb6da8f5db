"""Data-parallel training pieces on CPU with the gloo backend and two processes."""

import os
import socket

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from galaxyutils import config, train
from galaxyutils.model import contrastive_loss, nt_xent_loss


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, z1: torch.Tensor, z2: torch.Tensor, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    share = len(z1) // world
    local1 = z1[rank * share : (rank + 1) * share].clone().requires_grad_(True)
    local2 = z2[rank * share : (rank + 1) * share].clone().requires_grad_(True)
    loss = contrastive_loss(local1, local2, temperature=0.3)
    loss.backward()
    out[rank] = (loss.item(), local1.grad.clone(), local2.grad.clone())
    dist.destroy_process_group()


def test_two_process_loss_and_gradients_equal_one_process_on_the_global_batch():
    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 16, generator=generator), torch.randn(8, 16, generator=generator)
    results = mp.Manager().dict()
    mp.spawn(_worker, args=(2, _free_port(), z1, z2, results), nprocs=2, join=True)

    g1, g2 = z1.clone().requires_grad_(True), z2.clone().requires_grad_(True)
    reference = nt_xent_loss(g1, g2, temperature=0.3)
    reference.backward()
    for rank in (0, 1):
        loss, grad1, grad2 = results[rank]
        assert np.isclose(loss, reference.item(), rtol=1e-6)
        # Each rank holds world_size x its slice of the gradient; DDP's average over ranks
        # divides by world_size, giving exactly the one-process gradient.
        assert torch.allclose(grad1 / 2, g1.grad[rank * 4 : (rank + 1) * 4], atol=1e-7)
        assert torch.allclose(grad2 / 2, g2.grad[rank * 4 : (rank + 1) * 4], atol=1e-7)


def _train_worker(rank: int, world: int, port: int, images: np.ndarray, params_yaml: str, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    params = config.Params.model_validate(__import__("yaml").safe_load(params_yaml))
    train.train_simclr(images, params, __import__("pathlib").Path(folder), __import__("pathlib").Path(folder) / "log.csv")
    dist.destroy_process_group()


def test_ddp_training_on_gloo_writes_one_checkpoint(tmp_path):
    images = (np.random.default_rng(0).random((16, 16, 16, 3)) * 255).astype(np.uint8)
    params = config.resolve("smoke", ["train.epochs=1", "train.batch_size=8", "train.threads=1"])
    mp.spawn(_train_worker, args=(2, _free_port(), images, params.to_yaml(), str(tmp_path)), nprocs=2, join=True)
    state = train.load_checkpoint(tmp_path / "last.pt", torch.device("cpu"))
    assert state["epoch"] == 1
    log = __import__("pandas").read_csv(tmp_path / "log.csv")
    assert len(log) == 1 and np.isfinite(log.loss).all()
