"""The lock files say what every machine installs: they must hold what pyproject.toml asks
for (``make lock`` after changing it) and agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def pins(lock: str) -> dict[str, tuple[Version, list[str]]]:
    """Each locked package: its version and its hashes."""
    found: dict[str, tuple[Version, list[str]]] = {}
    name = ""
    for line in (ROOT / lock).read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match.group(1))
            found[name] = (Version(match.group(2)), [])
        elif line.strip().startswith("--hash=sha256:"):
            found[name][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
    return found


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("requirements.lock", PROJECT["dependencies"]),
        (
            "requirements-dev.lock",
            PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"],
        ),
    ],
)
def test_every_dependency_of_pyproject_is_locked_at_a_version_it_allows(lock, requirements):
    locked = pins(lock)
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {lock}: run make lock"
        version, _ = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {name}=={version}, outside {requirement.specifier}: run make lock"
        )


def test_the_production_lock_is_the_dev_lock_without_the_dev_tools():
    production, development = pins("requirements.lock"), pins("requirements-dev.lock")
    assert set(production) < set(development)
    for name, (version, _) in production.items():
        assert development[name][0] == version, name


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_package_has_its_hashes(lock):
    for name, (_, hashes) in pins(lock).items():
        assert hashes, f"{name} has no hash in {lock}"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name
