"""pyproject.toml is the one list of dependencies: the lock pins exactly it, the conda files install the lock."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent


def declared(pyproject: str) -> dict[str, Requirement]:
    project = tomllib.loads(pyproject)["project"]
    requirements = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    return {canonicalize_name(r.name): r for r in map(Requirement, requirements)}


def pinned(lock: str) -> dict[str, str]:
    pins = {}
    for line in lock.splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def disagreements(pyproject: str, lock: str, environments: dict[str, str]) -> list[str]:
    """Every way the dependency files disagree, one sentence each."""
    problems = []
    pins = pinned(lock)
    for name, requirement in declared(pyproject).items():
        if name not in pins:
            problems.append(f"{name} is in pyproject.toml but not pinned in requirements.lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"requirements.lock pins {name}=={pins[name]}, outside pyproject.toml's {requirement}")
    lock_python = re.search(r"Python (\d+\.\d+)", lock)
    for file, text in environments.items():
        spec = yaml.safe_load(text)["dependencies"]
        conda = [d for d in spec if isinstance(d, str)]
        pip = next((d["pip"] for d in spec if isinstance(d, dict)), [])
        if "-r requirements.lock" not in pip:
            problems.append(f"{file} does not pip-install requirements.lock")
        extra = [d for d in conda if d.split("=")[0] not in ("python", "pip")]
        if extra:
            problems.append(f"{file} installs {', '.join(extra)} from conda, beside the lock")
        python = next((d.split("=")[1] for d in conda if d.startswith("python=")), None)
        if lock_python and python != lock_python.group(1):
            problems.append(f"{file} asks for Python {python}, the lock was made on {lock_python.group(1)}")
    return problems


def _files() -> tuple[str, str, dict[str, str]]:
    environments = {name: (REPO_ROOT / name).read_text() for name in ("environment-cpu.yml", "environment-gpu.yml")}
    return (REPO_ROOT / "pyproject.toml").read_text(), (REPO_ROOT / "requirements.lock").read_text(), environments


def test_pyproject_the_lock_and_both_conda_files_agree():
    assert disagreements(*_files()) == []


def test_a_disagreement_is_found():
    pyproject, lock, environments = _files()
    assert any("galsim" in p for p in disagreements(pyproject, re.sub(r"(?im)^galsim==.*\n", "", lock), environments))
    assert any("outside" in p for p in disagreements(pyproject.replace('"kornia>=0.7"', '"kornia>=99"'), lock, environments))
    broken = dict(environments, **{"environment-gpu.yml": environments["environment-gpu.yml"].replace("  - python=3.11\n", "  - python=3.11\n  - numpy\n")})
    assert any("numpy" in p for p in disagreements(pyproject, lock, broken))
