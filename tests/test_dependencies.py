"""What is installed is what pyproject.toml asks for, and the lock files pin it.

pyproject.toml states each dependency's supported range; requirements/*.lock (scripts/lock.sh)
pin exact versions with hashes, and scripts/bootstrap.sh installs from them. These tests fail
when an installed package is outside its range (below the minimum TaskFlow supports, say,
because an environment was set up by hand or another project's install downgraded it), when a
lock file no longer agrees with pyproject.toml, and when pip finds broken requirements."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
TEST = [Requirement(r) for r in PROJECT["optional-dependencies"]["test"]]


def _applies(req: Requirement) -> bool:
    return req.marker is None or req.marker.evaluate({"extra": "test"})


def _pins(lock: Path) -> dict[str, str]:
    """Name -> pinned version, of the pins whose marker holds here (the locks are universal:
    `pywin32==312 ; sys_platform == 'win32'`)."""
    pins = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            req = Requirement(line.rstrip(" \\"))
            if req.marker is None or req.marker.evaluate():
                pins[canonicalize_name(req.name)] = str(req.specifier).removeprefix("==")
    return pins


@pytest.mark.parametrize("req", [r for r in RUNTIME + TEST if _applies(r)], ids=str)
def test_the_installed_version_is_one_pyproject_supports(req: Requirement) -> None:
    try:
        installed = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{req.name} is not installed (run scripts/bootstrap.sh test)")
    assert req.specifier.contains(installed, prereleases=True), \
        f"{req.name} {installed} is installed; pyproject.toml supports {req.specifier}"


@pytest.mark.parametrize(("lock", "reqs"), [("run.lock", RUNTIME), ("test.lock", RUNTIME + TEST)])
def test_the_lock_pins_every_dependency_within_its_range(lock: str, reqs: list[Requirement]) -> None:
    pins = _pins(REPO / "requirements" / lock)
    for req in reqs:
        if not _applies(req):
            continue
        pinned = pins.get(canonicalize_name(req.name))
        assert pinned is not None, f"{req.name} is not in requirements/{lock}: run scripts/lock.sh"
        assert req.specifier.contains(pinned, prereleases=True), \
            f"requirements/{lock} pins {req.name}=={pinned}, outside {req.specifier}: " \
            "run scripts/lock.sh"


def test_the_environment_matches_the_test_lock() -> None:
    """Everything the lock pins is installed at that version (bootstrap installs from it)."""
    wrong = {}
    for name, version in _pins(REPO / "requirements" / "test.lock").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"pinned vs installed (run scripts/bootstrap.sh test): {wrong}"


def test_pip_check_finds_no_broken_requirements() -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
