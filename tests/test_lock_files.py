"""requirements.lock / requirements-dev.lock pin the whole resolved environment.

Every requirement of pyproject.toml (runtime and the dev extra) is pinned with ``==``, no name
appears twice, and every locked package's own requirements (markers evaluated for this Python)
are locked too, as the installed distributions' metadata declares them.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s;#]*)$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(name: str) -> list[tuple[str, str]]:
    pins = []
    for number, line in enumerate((ROOT / name).read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = PIN.match(text)
        assert match, f"{name}:{number}: {line!r} is not an exact pin NAME==VERSION"
        pins.append((norm(match.group(1)), match.group(2)))
    return pins


RUNTIME = read_lock("requirements.lock")
DEV = read_lock("requirements-dev.lock")
LOCKED = dict(RUNTIME + DEV)
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_no_name_is_locked_twice():
    names = [name for name, _ in RUNTIME + DEV]
    twice = sorted({name for name in names if names.count(name) > 1})
    assert not twice, f"locked more than once: {twice}"


def test_torch_stays_the_local_cpu_build():
    assert LOCKED["torch"] == "2.13.0"


def extra(name: str) -> list[Requirement]:
    """The requirements of an extra, with ``siftrec[other]`` expanded into that extra's."""
    out = []
    for text in PROJECT["optional-dependencies"][name]:
        requirement = Requirement(text)
        if norm(requirement.name) == "siftrec":
            out += [r for other in sorted(requirement.extras) for r in extra(other)]
        else:
            out.append(requirement)
    return out


def test_every_pyproject_requirement_is_pinned_and_satisfies_it():
    runtime = dict(RUNTIME)
    wanted = [(Requirement(r), runtime) for r in PROJECT["dependencies"]]
    wanted += [(r, LOCKED) for r in extra("dev")]
    for requirement, lock in wanted:
        text = str(requirement)
        name = norm(requirement.name)
        assert name in lock, f"{text} is not pinned in the lock it is installed from"
        assert requirement.specifier.contains(lock[name], prereleases=True), (text, lock[name])


def test_locked_packages_bring_no_unlocked_requirement():
    """Each locked distribution's requirements are locked (checked where it is installed)."""
    checked = 0
    for name in LOCKED:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        checked += 1
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            assert norm(requirement.name) in LOCKED, f"{name} needs {text}, which is not locked"
    if checked < len(LOCKED) // 2:
        pytest.skip(f"only {checked} of {len(LOCKED)} locked packages are installed here")
