"""The `openenvs` command line: list, info, check, play, new, and the commands of each capability."""

from __future__ import annotations

from ._main import app, main

__all__ = ["app", "main"]
