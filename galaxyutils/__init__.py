"""galaxyutils: unsupervised galaxy morphology on Galaxy Zoo 2 (SimCLR -> PCA -> HDBSCAN -> UMAP).

Modules follow the pipeline: ``data``, ``synthetic``, ``gz2`` and ``download`` (01),
``augment``, ``model`` and ``train`` (02), ``embed`` (03), ``cluster`` (04), ``projection`` (05: the 2-D UMAP map),
``analysis``, ``plots`` and ``explore`` (06); ``config`` and ``pipeline`` hold the parameters
and the run folder, ``files`` the atomic writers every step uses; ``paper`` and ``compare`` read
finished runs.
"""

from importlib.metadata import version

__version__ = version("galaxyutils")  # from pyproject.toml, the one place it is written
