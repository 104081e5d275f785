"""CI runs the full check: `.ci/run` -> `make test` -> scripts/check (ruff, mypy, tests, coverage gate, minimums)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CORE = ["_types", "_env", "_registry", "_spec", "_shapes", "_errors", "_api"]


def test_ci_runs_make_test_with_ci_true():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M) and 'CI="${CI:-true}"' in ci
    make_test = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert make_test and "./scripts/check" in make_test.group(1)


def test_scripts_check_runs_lint_types_tests_coverage_and_minimums():
    check = (ROOT / "scripts" / "check").read_text()
    for step in ("ruff check src environments tests", ".venv/bin/mypy", "--cov", "--ci-minimums tests/ci_minimums.json"):
        assert step in check, step


def test_coverage_gate_covers_the_core_at_ninety_percent():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    coverage = config["tool"]["coverage"]
    include = coverage["run"]["include"]
    for module in CORE:
        assert f"*/openenvs/{module}.py" in include, module
    assert "*/openenvs/testing/*.py" in include  # the conformance check
    assert coverage["report"]["fail_under"] >= 90
    assert config["tool"]["mypy"]["strict"] is True and config["tool"]["mypy"]["files"] == ["src/openenvs"]
