"""requirements.txt is the lock of pyproject.toml's runtime dependencies: made from the current list, and every
pin within its requirement. When this fails, run `make lock`."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tools.lock import LOCK, PYPROJECT, dependencies_digest, recorded_digest, runtime_dependencies


def lock_pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        name, separator, version = line.partition("==")
        assert separator, f"requirements.txt: {line!r} is not an exact pin"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def test_the_lock_was_made_from_the_current_dependency_list() -> None:
    assert recorded_digest(LOCK.read_text(encoding="utf-8")) == dependencies_digest(runtime_dependencies()), (
        "pyproject.toml's dependencies changed since requirements.txt was made: run `make lock`"
    )


@pytest.mark.parametrize("requirement", runtime_dependencies())
def test_every_runtime_dependency_is_pinned_within_its_specifier(requirement: str) -> None:
    parsed = Requirement(requirement)
    pins = lock_pins()
    name = canonicalize_name(parsed.name)
    assert name in pins, f"{parsed.name} is not pinned in requirements.txt: run `make lock`"
    assert parsed.specifier.contains(pins[name], prereleases=True), (
        f"requirements.txt pins {parsed.name}=={pins[name]}, outside {parsed.specifier}: run `make lock`"
    )


def test_the_demo_packages_stay_out_of_the_runtime_lock() -> None:
    demo = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["optional-dependencies"]["demo"]
    assert not {canonicalize_name(Requirement(requirement).name) for requirement in demo} & lock_pins().keys()


def test_the_digest_ignores_order_case_and_spaces_but_not_a_specifier() -> None:
    digest = dependencies_digest(["redis>=5.0,<6", "Arq >= 0.26"])
    assert dependencies_digest(["arq>=0.26", "redis >=5.0, <6"]) == digest
    assert dependencies_digest(["arq>=0.27", "redis>=5.0,<6"]) != digest
    assert dependencies_digest(["arq>=0.26"]) != digest
