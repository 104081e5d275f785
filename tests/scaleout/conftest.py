"""Fixtures for the scale-out tests: one real local Ray per session (2 CPUs, no dashboard)."""

from __future__ import annotations

import os
import re

import pytest

ARITH = "math/arithmetic-v1"


def missing(what: str, fix: str) -> None:
    """Skip outside CI; under CI a missing component this project installs is a failure naming the setup step."""
    message = f"{what} is not available here: {fix}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray started with ``ray.init(num_cpus=2)`` for the whole session, shut down at the end."""
    try:
        import ray
    except ImportError:
        missing("Ray", "scripts/setup installs it with `pip install -e '.[dev]'` (the `ray` extra, part of `all`)")
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
