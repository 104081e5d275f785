"""The published episode hashes (tests/episode_hashes.json) still hold: an id's episodes never change."""

from __future__ import annotations

import json
from pathlib import Path

from openenvs.repro import compute_episode_hashes, diff_episode_hashes
from openenvs.repro._hashes import builtin_ids

PUBLISHED = Path(__file__).with_name("episode_hashes.json")


def test_every_published_episode_is_unchanged():
    published = json.loads(PUBLISHED.read_text())["envs"]
    current = compute_episode_hashes(builtin_ids())
    problems = diff_episode_hashes(published, current)
    assert problems == [], (
        "\n".join(problems) + "\nIf an env was added, record it with: python -m openenvs.repro._hashes --write "
        "tests/episode_hashes.json (never to hide a change to an existing id)."
    )


def test_a_changed_episode_is_named():
    published = {"math/arithmetic-v1": {"0": "a", "1": "b"}}
    current = {"math/arithmetic-v1": {"0": "a", "1": "c"}, "new/env-v1": {"0": "d"}}
    problems = diff_episode_hashes(published, current)
    assert problems[0].startswith("math/arithmetic-v1: the episodes of seed(s) 1 changed") and "bump its -vN" in problems[0]
    assert problems[1].startswith("new/env-v1: new env")
