"""Module-level shortcuts bound to the default registry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._env import Env
from ._registry import Registry
from ._spec import EnvSpec

__all__ = ["list_envs", "make", "register", "registry", "spec"]

registry = Registry()
"""The default registry: registry.json, the `openenvs.environments` entry points and `register()` calls."""


def make(env_id: str | EnvSpec, **kwargs: Any) -> Env:
    """Build a registered environment; kwargs override its manifest defaults.

    An unversioned id (``math/arithmetic``) picks the latest version; an unknown id raises
    `EnvNotFound` naming the closest registered ids.
    """
    return registry.make(env_id, **kwargs)


def spec(env_id: str) -> EnvSpec:
    """The manifest (`EnvSpec`) of a registered environment."""
    return registry.spec(env_id)


def list_envs(tags: Iterable[str] | None = None, namespace: str | None = None) -> list[EnvSpec]:
    """Registered manifests, sorted by id, that carry every tag in `tags`."""
    return registry.list(tags=tags, namespace=namespace)


def register(spec: EnvSpec | dict[str, Any]) -> EnvSpec:
    """Register a manifest at run time; a duplicate id raises `RegistrationError`."""
    return registry.register(spec)
