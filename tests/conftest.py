"""Shared fixtures for the core tests, and the ``--ci-minimums`` option (see ``tests/_require.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from _require import GroupCounter, load_groups

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ci-minimums",
        metavar="JSON",
        default=None,
        help="count the tests that ran per component group in JSON (tests/ci_minimums.json) "
        "and fail when a group ran fewer than its minimum",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--ci-minimums")
    if path:
        config.pluginmanager.register(GroupCounter(load_groups(Path(path))), "openenvs-ci-groups")


@pytest.fixture
def fresh_registry():
    """A registry with only the built-in manifests (no entry points), isolated from the default one."""
    from openenvs import Registry

    return Registry(entry_points=False)


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture(autouse=True)
def _restore_default_registry():
    """Undo what a test did to the default registry (run-time registrations, `use_remote` routes).

    Without this a served id routed by one test leaks into every later test that makes it, and a
    test env registered by one module shows up in the conformance run over all ids.
    """
    import openenvs

    registry = openenvs.registry
    registry._ensure_loaded()
    specs, providers = dict(registry._specs), dict(registry._providers)
    yield
    registry._specs.clear()
    registry._specs.update(specs)
    registry._providers.clear()
    registry._providers.update(providers)
