"""galaxyutils: unsupervised galaxy morphology on Galaxy Zoo 2 (SimCLR -> PCA -> HDBSCAN -> UMAP).

One module per pipeline step: ``data`` (01: the image store; ``readers`` reads the catalogues,
``synthetic``, ``gz2`` and ``download`` serve it), ``train`` (02, with ``augment`` and ``model``),
``embed`` (03), ``cluster`` (04), ``projection`` (05: the 2-D UMAP map), ``analysis`` (06, with
``plots`` and ``explore``). ``config`` holds the parameters, ``run_folder`` a run's folder,
``pipeline`` the runner that executes the notebooks, ``files`` the atomic writers every step
uses; ``paper`` and ``compare`` read finished runs.

Progress goes to the ``galaxyutils`` logger at INFO, shown on the console or in the notebook
cell; ``logging.getLogger("galaxyutils").setLevel(logging.WARNING)`` keeps it quiet.
"""

import logging
import sys
from importlib.metadata import version

__version__ = version("galaxyutils")  # from pyproject.toml, the one place it is written


class _CurrentStdout(logging.StreamHandler):
    """A handler writing to ``sys.stdout`` as it is when each message comes: in a notebook that is
    the running cell's output (so progress shows as text there, not in a stderr box, and the
    runner copies it into the run's run.log), under pytest the captured stream."""

    def __init__(self):
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


_logger = logging.getLogger(__name__)
if not _logger.handlers:
    _handler = _CurrentStdout()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(_handler)
    _logger.setLevel(logging.INFO)
    _logger.propagate = False  # shown once, by the handler above, even where the root logger is configured too
