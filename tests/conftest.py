from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real Galaxy Zoo samples beside the repository (present in development and CI)."""
    if not (SHARED_DATA / "gz2_sample").exists():
        pytest.skip(f"real GZ2 sample not found at {SHARED_DATA} (it sits beside the repository in development and CI)")
    return SHARED_DATA
