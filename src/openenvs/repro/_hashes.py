"""Published episode hashes: a fixed set of (env id, seed) episodes per built-in env, hashed.

CI recomputes them (``tests/test_episode_hashes.py``), so any change to an episode (prompt, task,
feedback, reward) shows up as a diff naming the env and seed. The way to change an episode on
purpose is to bump the env's ``-vN`` and record the new id: an old id's episodes never change.

Regenerate the file after adding envs::

    python -m openenvs.repro._hashes --write tests/episode_hashes.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._registry import Registry

__all__ = ["SEEDS", "compute_episode_hashes", "diff_episode_hashes", "episode_hash"]

SEEDS: tuple[int, ...] = (0, 1, 2)
"""The seeds hashed for every env."""


def _builtin_registry() -> Registry:
    """A registry of the built-in and installed envs only: no run-time registrations, no `use_remote` routes."""
    from .._registry import Registry

    return Registry()


def episode_hash(env_id: str, seed: int, *, registry: Registry | None = None) -> str:
    """SHA-256 (16 hex chars) of the episode `env_id` plays for `seed` under the conformance kit's probe actions."""
    from ..testing._check import PROBE_ACTIONS, _episode

    env = (registry or _builtin_registry()).make(env_id)
    try:
        trace = _episode(env, seed, PROBE_ACTIONS)
    finally:
        env.close()
    blob = json.dumps(trace, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def compute_episode_hashes(env_ids: Iterable[str], seeds: Sequence[int] = SEEDS) -> dict[str, dict[str, str]]:
    """``{env_id: {seed: hash}}`` for every id, leaving out envs whose default data must be downloaded."""
    from .._errors import ConfigError

    registry = _builtin_registry()
    out: dict[str, dict[str, str]] = {}
    for env_id in sorted(env_ids):
        try:
            out[env_id] = {str(seed): episode_hash(env_id, seed, registry=registry) for seed in seeds}
        except ConfigError as exc:
            if "cannot be reached" not in str(exc):  # only hub-only data is left out (nothing downloads here)
                raise
    return out


def diff_episode_hashes(published: dict[str, dict[str, str]], current: dict[str, dict[str, str]]) -> list[str]:
    """What changed between a published hash file and a recomputation (empty when nothing did)."""
    out = []
    for env_id in sorted(published.keys() | current.keys()):
        old, new = published.get(env_id), current.get(env_id)
        if old is None:
            out.append(f"{env_id}: new env, not in the published file (add it with --write)")
        elif new is None:
            out.append(f"{env_id}: published but not registered any more")
        else:
            changed = [s for s in sorted(old.keys() | new.keys()) if old.get(s) != new.get(s)]
            if changed:
                out.append(
                    f"{env_id}: the episodes of seed(s) {', '.join(changed)} changed; an id's episodes never change: "
                    "bump its -vN (and keep the old version) instead"
                )
    return out


def builtin_ids() -> list[str]:
    """The ids hashed: every built-in or installed id whose optional dependencies are installed here."""
    return [s.id for s in _builtin_registry().list() if not s.deprecated_by]


def main(argv: Sequence[str] | None = None) -> int:
    """``--write FILE`` records the hashes; ``--check FILE`` exits 1 on any difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--check", type=Path)
    args = parser.parse_args(argv)
    current = compute_episode_hashes(builtin_ids())
    if args.write:
        args.write.write_text(json.dumps({"seeds": list(SEEDS), "envs": current}, indent=1, sort_keys=True) + "\n")
        return 0
    published = json.loads(args.check.read_text())["envs"]
    problems = diff_episode_hashes(published, current)
    for line in problems:
        print(line)  # noqa: T201 - a command-line entry point
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
