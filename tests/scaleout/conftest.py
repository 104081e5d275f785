"""Fixtures for the scale-out tests: one real local Ray per session (2 CPUs, no dashboard)."""

from __future__ import annotations

import re

import pytest

from _require import require_module


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray started with ``ray.init(num_cpus=2)`` for the whole session, shut down at the end."""
    ray = require_module("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def oracle():
    """An oracle for math/arithmetic-v1 (digits and + - * only, checked)."""

    def solve(messages, tools):
        expr = re.search(r"What is (.+)\?", messages[-1].content).group(1)
        assert re.fullmatch(r"[\d +*-]+", expr)
        return f"The answer is \\boxed{{{eval(expr)}}}."  # noqa: S307 - digits and operators only, checked above

    return solve
