"""Bridges: other libraries' environments as openenvs envs, one module per library.

- :mod:`openenvs.bridges.textarena`: TextArena's text games as ``textarena/<game>-v0`` ids
  (single-player puzzles; two-player games against a built-in or policy opponent).
- :mod:`openenvs.bridges.gymnasium`: any Gymnasium env with a text rendering, via
  ``from_gym(...)``; the toy-text envs are registered as ``gymnasium/<name>-vN``.
- :mod:`openenvs.bridges.openenv`: an OpenEnv ``Environment`` subclass run in-process.

Each module imports its library only when an env is made (``import openenvs.bridges.textarena``
imports no TextArena), and its ids are listed by a lazy registry provider. See docs/bridges.md
for what maps and what does not.
"""

from __future__ import annotations

__all__: list[str] = []
