"""Writing files so that a kill never leaves a half-written one, and finding data folders: the
helpers every step uses (store, checkpoints, run folder)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def write_atomic(writer, path: Path, **kwargs) -> None:
    """``writer(tmp, **kwargs)`` to a temporary name beside ``path``, then rename it into place,
    so a kill never leaves a half-written file under the final name."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    writer(tmp, **kwargs)
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    """``Path.write_text`` through ``write_atomic``."""
    write_atomic(lambda tmp: tmp.write_text(text), path)


def save_array_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` through ``write_atomic``."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file handle: np.save would append .npy to a name
            np.save(handle, array)

    write_atomic(write, path)


def resolve_root(root: str | None, repo_root: Path) -> Path | None:
    """Relative roots are taken from the repository root."""
    if root is None:
        return None
    path = Path(root).expanduser()
    return path if path.is_absolute() else (repo_root / path).resolve()
