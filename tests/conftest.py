import subprocess
import sys
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


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One stage cache for the test session, so tests never touch the repository's runs/.cache."""
    return tmp_path_factory.mktemp("stage-cache")


@pytest.fixture(scope="session")
def cli(cache_dir):
    """``python -m galaxyutils ...`` in a subprocess; run and sweep use the session's cache."""

    def run(*args: str) -> subprocess.CompletedProcess:
        extra = ["--cache", str(cache_dir)] if args[0] in ("run", "sweep") else []
        return subprocess.run([sys.executable, "-m", "galaxyutils", *args, *extra], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)

    return run


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, cli):
    """The smoke profile end to end (~2 min): the run that the pipeline, iterate and paper tests
    read, with what it printed (stdout and stderr)."""
    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    result = cli("run", "--profile", "smoke", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    return run_dir, result.stdout + result.stderr
