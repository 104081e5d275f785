"""OpenEnv ``Environment`` subclasses run in-process as openenvs envs (work in progress)."""

from __future__ import annotations

import importlib.util

from .._spec import EnvSpec

__all__ = ["specs"]


def specs() -> list[EnvSpec]:
    """Manifests of the ``openenv/*`` ids; none where OpenEnv is not installed (it needs its own venv)."""
    if importlib.util.find_spec("openenv") is None:
        return []
    return []
