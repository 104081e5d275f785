"""Fixtures for the bridge tests: the third-party packages are the real ones from PyPI."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))  # _scripted and _policies, shared with the native-side scripts
