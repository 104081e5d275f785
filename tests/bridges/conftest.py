"""Fixtures for the bridge tests: the third-party packages are the real ones from PyPI."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))  # _scripted, shared with the native-side scripts


def require(module: str, fix: str) -> None:
    """Skip when `module` is missing, or fail under CI, where the repo's setup installs it."""
    if importlib.util.find_spec(module) is not None:
        return
    message = f"`{module}` is not installed; {fix}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI runs the setup, so this is a setup failure)")
    pytest.skip(message)
