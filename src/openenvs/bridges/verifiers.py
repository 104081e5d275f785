"""verifiers (placeholder while the bridge is written)."""

from __future__ import annotations

from .._spec import EnvSpec


def specs() -> list[EnvSpec]:
    """No ids yet."""
    return []
