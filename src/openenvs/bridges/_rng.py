"""Per-episode `random` for libraries that draw from the process-global one (GEM, reasoning-gym's codeio).

Saving, seeding and restoring the global `random` around a call is not thread-safe: two
episodes in two threads interleave their draws. Instead, a context variable names the calling
episode's own ``random.Random`` and two routers send draws there:

- `route_modules` points the ``random`` name inside a library's modules at `ROUTER`, which
  answers with the episode's generator inside `episode_rng` and with the `random` module outside;
- `route_global_random` replaces the public functions of the `random` module itself (``seed``,
  ``randint``, ``choice``...) by functions that do the same, for code that runs ``import random``
  where we cannot rename it (code executed with ``exec``). Outside `episode_rng` every call is the
  module's own, so other code sees no change but one context-variable read.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ROUTER", "current", "episode_rng", "route_global_random", "route_modules"]

_CURRENT: contextvars.ContextVar[random.Random | None] = contextvars.ContextVar("openenvs_episode_rng", default=None)


class _RoutedRandom:
    """Stands in for the `random` module: its RNG functions are the current episode's, when there is one."""

    def __getattr__(self, name: str) -> Any:
        rng = _CURRENT.get()
        if rng is not None and not name.startswith("_") and name[0].islower() and hasattr(rng, name):
            return getattr(rng, name)
        return getattr(random, name)


ROUTER = _RoutedRandom()


def current() -> random.Random | None:
    """The calling episode's generator, or None outside `episode_rng`."""
    return _CURRENT.get()


@contextlib.contextmanager
def episode_rng(rng: random.Random) -> Iterator[None]:
    """Within this block, routed draws in this thread (or task) come from `rng`."""
    token = _CURRENT.set(rng)
    try:
        yield
    finally:
        _CURRENT.reset(token)


_lock = threading.Lock()
_routed: set[str] = set()
_global_routed = False


def route_modules(prefix: str) -> None:
    """Point the ``random`` name of every loaded module ``prefix`` / ``prefix.*`` at `ROUTER` (once each)."""
    with _lock:
        for name, module in list(sys.modules.items()):
            if name in _routed or module is None or not (name == prefix or name.startswith(prefix + ".")):
                continue
            if vars(module).get("random") is random:
                module.random = ROUTER  # type: ignore[attr-defined]
            _routed.add(name)


def _router(name: str, default: Callable[..., Any]) -> Callable[..., Any]:
    def routed(*args: Any, **kwargs: Any) -> Any:
        rng = _CURRENT.get()
        return default(*args, **kwargs) if rng is None else getattr(rng, name)(*args, **kwargs)

    routed.__name__ = routed.__qualname__ = name
    routed.__doc__ = default.__doc__
    return routed


def route_global_random() -> None:
    """Route the `random` module's own functions (bound methods of its hidden instance) through the episode's generator."""
    global _global_routed
    with _lock:
        if _global_routed:
            return
        hidden = random._inst
        for name in dir(random):
            value = getattr(random, name)
            if not name.startswith("_") and getattr(value, "__self__", None) is hidden:
                setattr(random, name, _router(name, value))
        _global_routed = True
