"""Code verification: pull the program out of a model answer and score it in the sandbox.

- `extract_code`: the last fenced code block (preferring Python-tagged ones), or the answer
  itself when it is bare code.
- `run_unit_tests`: grade a solution on assert-style tests with the trusted grader (tests
  here, the solution alone in one sandboxed process), each test with its own time limit.
- `run_io_cases`: run a stdin/stdout program on each case (in parallel) and compare outputs.

Model output never runs in this process: only inside `openenvs.sandbox`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..sandbox import ExecResult, Sandbox

__all__ = ["CaseResult", "TestReport", "extract_code", "outputs_match", "run_io_cases", "run_unit_tests"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PY_TAGS = {"python", "py", "python3", "py3", ""}
_CODE_LINE = re.compile(
    r"^\s*(def |class |import |from \S+ import |print\(|return\b|for .+:|while .+:|if .+:|[A-Za-z_][\w.]*\s*=|@\w)"
)


def extract_code(text: str, language: str = "python") -> str | None:
    r"""The program in a model answer: last fenced block, or the bare answer if it is code.

    Reasoning inside ``<think>...</think>`` is dropped first. Among fenced blocks, the last one
    tagged `language` (or untagged) wins; otherwise the last block of any tag. Without fences,
    the text is returned when most of its non-blank lines look like code.

    Example:
        >>> extract_code("Here:\n```python\ndef f(x):\n    return x + 1\n```\nDone.")
        'def f(x):\n    return x + 1'
        >>> extract_code("def f(x):\n    return 2 * x")
        'def f(x):\n    return 2 * x'
        >>> extract_code("I am not sure.") is None
        True
    """
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(text)]
    if blocks:
        tags = _PY_TAGS if language == "python" else {language.lower(), ""}
        preferred = [body for tag, body in blocks if tag in tags]
        body = (preferred or [b for _, b in blocks])[-1]
        return body.strip("\n").rstrip() or None
    lines = [line for line in text.strip("\n").splitlines() if line.strip()]
    if not lines:
        return None
    codeish = sum(1 for line in lines if _CODE_LINE.match(line) or line.startswith((" ", "\t", "#")))
    if codeish / len(lines) >= 0.6 and _CODE_LINE.match(lines[0]):
        return text.strip("\n").rstrip()
    return None


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one unit test or one stdin/stdout case."""

    passed: bool
    """Whether it passed."""
    error: str | None = None
    """Why it failed: the assertion or exception, a timeout, or a wrong output."""


@dataclass(frozen=True)
class TestReport:
    """How a solution did on a set of tests."""

    __test__ = False  # not a pytest class

    cases: list[CaseResult] = field(default_factory=list)
    """One result per test, in order."""
    setup_error: str | None = None
    """Set when the solution itself failed to load (syntax error, exception at import, timeout)."""

    @property
    def passed(self) -> int:
        """Number of tests passed."""
        return sum(c.passed for c in self.cases)

    @property
    def total(self) -> int:
        """Number of tests."""
        return len(self.cases)

    @property
    def fraction(self) -> float:
        """Fraction of tests passed (0.0 when there are none)."""
        return self.passed / self.total if self.total else 0.0

    @property
    def all_passed(self) -> bool:
        """True when there is at least one test and every test passed."""
        return bool(self.cases) and self.passed == self.total

    def feedback(self, limit: int = 3) -> str:
        """A short text naming the failures, for multi-turn retries."""
        if self.setup_error:
            return f"Your code failed before any test ran:\n{self.setup_error}"
        failed = [(i, c) for i, c in enumerate(self.cases) if not c.passed]
        if not failed:
            return f"All {self.total} tests passed."
        lines = [f"{self.passed}/{self.total} tests passed. Failures:"]
        lines += [f"- test {i + 1}: {c.error}" for i, c in failed[:limit]]
        if len(failed) > limit:
            lines.append(f"- ... and {len(failed) - limit} more")
        return "\n".join(lines)


def _default_box(sandbox: Sandbox | None) -> Sandbox:
    if sandbox is not None:
        return sandbox
    from ..sandbox import default_sandbox

    return default_sandbox()


def run_unit_tests(
    solution: str,
    tests: Sequence[str],
    *,
    sandbox: Sandbox | None = None,
    per_test_timeout: float = 3.0,
    timeout: float | None = None,
    memory_mb: int = 512,
    prelude: str | None = None,
    entry_point: str | None = None,
) -> TestReport:
    r"""Grade `solution` on `tests` (Python source, usually ``assert`` lines) with the trusted grader.

    The solution runs alone in one sandboxed process; the tests run on the trusted side, where
    the functions (and classes) the tests call are stubs that cross to the sandbox and return
    plain data. Each test has its own time limit; an exception, a failed assertion, a crash, a
    timeout or a result that is not plain data fails that test only. Nothing the solution prints,
    writes or patches reaches a verdict (see `openenvs.verify._grader`).

    Args:
        solution: The program (e.g. from `extract_code`).
        tests: Test snippets (trusted dataset code); each passes when it runs without raising.
        sandbox: Sandbox to use; default: the shared `openenvs.sandbox.default_sandbox()`.
        per_test_timeout: Seconds for loading the solution and for each test.
        timeout: Wall-clock limit of the whole run; default: enough for every test.
        memory_mb: Address-space limit in MiB.
        prelude: Trusted problem code run before the tests (helpers, a ``check`` function);
            the tests use these definitions, never the solution's.
        entry_point: The function or class under test; it always stands for the solution's.

    Example:
        >>> report = run_unit_tests("def add(a, b):\n    return a + b", ["assert add(1, 2) == 3", "assert add(2, 2) == 5"])  # doctest: +SKIP
        >>> report.passed, report.total  # doctest: +SKIP
        (1, 2)
    """
    from ._grader import grade_unit_tests

    return grade_unit_tests(
        solution,
        tests,
        sandbox=_default_box(sandbox),
        prelude=prelude,
        entry_point=entry_point,
        per_test_timeout=per_test_timeout,
        timeout=timeout,
        memory_mb=memory_mb,
    )


def _run_failure(result: ExecResult) -> str:
    if result.timed_out:
        return "the program exceeded its time limit"
    if result.output_truncated:
        return "the program printed more than the output limit"
    if result.signal is not None:
        return f"the program was killed (signal {result.signal})"
    tail = result.stderr.strip().splitlines()[-1:] or ["the test did not run"]
    return tail[0][:500]


def outputs_match(got: str, expected: str) -> bool:
    r"""Compare program outputs token by token, ignoring whitespace layout; numbers within 1e-6.

    Example:
        >>> outputs_match("1 2\n3\n", "1 2 3")
        True
        >>> outputs_match("0.3333333", "0.33333333")
        True
        >>> outputs_match("yes", "no")
        False
    """
    a, b = got.split(), expected.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        try:
            fx, fy = float(x), float(y)
        except ValueError:
            return False
        if abs(fx - fy) > 1e-6 * max(1.0, abs(fy)):
            return False
    return True


def run_io_cases(
    program: str,
    cases: Sequence[tuple[str, str]],
    *,
    sandbox: Sandbox | None = None,
    timeout: float = 3.0,
    memory_mb: int = 512,
) -> TestReport:
    r"""Run a stdin/stdout `program` on each ``(input, expected_output)`` case, in parallel.

    Example:
        >>> report = run_io_cases("print(int(input()) * 2)", [("2\n", "4\n"), ("5\n", "11\n")])  # doctest: +SKIP
        >>> [c.passed for c in report.cases]  # doctest: +SKIP
        [True, False]
    """
    box = _default_box(sandbox)
    requests = [box.request(program, stdin=stdin, timeout=timeout, memory_mb=memory_mb) for stdin, _ in cases]
    results = box.run_many(requests)
    out = []
    for (stdin, expected), result in zip(cases, results, strict=True):
        if result.ok and outputs_match(result.stdout, expected):
            out.append(CaseResult(True))
        elif result.ok:
            shown = result.stdout if len(result.stdout) < 200 else result.stdout[:200] + "..."
            out.append(CaseResult(False, f"input {stdin[:100]!r}: expected {expected[:200]!r}, got {shown!r}"))
        else:
            out.append(CaseResult(False, f"input {stdin[:100]!r}: {_run_failure(result)}"))
    setup = None
    if results and all(not r.ok for r in results) and any("SyntaxError" in r.stderr for r in results):
        setup = _run_failure(results[0])
    return TestReport(cases=out, setup_error=setup)
