"""Shared fixtures for the core tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_registry():
    """A registry with only the built-in manifests (no entry points), isolated from the default one."""
    from openenvs import Registry

    return Registry(entry_points=False)


@pytest.fixture
def python() -> str:
    return sys.executable
