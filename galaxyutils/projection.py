"""05_umap: a 2-D map of the embedding for looking at, never for clustering."""

from __future__ import annotations

import numba
import numpy as np
import umap


def umap_2d(X: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, random_state: int | None = 0,
            n_epochs: int | None = None, init: str = "spectral") -> tuple[np.ndarray, int]:
    """UMAP to two dimensions; returns the coordinates and the number of threads UMAP used.

    A fixed ``random_state`` makes UMAP reproducible at the price of running on one thread.
    """
    n_neighbors = min(n_neighbors, len(X) - 1)
    # A seed forces one thread; saying so up front spares the warning umap-learn gives when it overrides n_jobs.
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=random_state, low_memory=True,
                        n_epochs=n_epochs, init=init, n_jobs=1 if random_state is not None else -1)
    coordinates = reducer.fit_transform(X).astype(np.float32)
    # -1 means numba's whole thread pool.
    return coordinates, int(numba.get_num_threads() if reducer.n_jobs == -1 else reducer.n_jobs)
