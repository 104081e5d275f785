"""The trusted grader for unit-test code tasks: tests run here, the solution runs in the sandbox.

The principle: nothing the solution can touch decides the verdict.

- The solution runs alone in a sandboxed process of its own (`_host.py` next to it), one warm
  process per solution, started again only after a test that crashed or timed out. It never sees
  the tests, the expected values or any secret.
- The tests (dataset code, trusted) run in this process. The names they call that the solution
  defines (the entry point, and any other callable the tests name) are stubs that send the
  arguments to the sandbox and return the result as plain data (`_wire.py`): int, float,
  complex, str, bytes, bool, None and tuple/list/dict/set/frozenset of these. Objects made by
  a class the solution defines stay there, driven through an opaque `Handle`.
- A result that is not plain data, a crash, a timeout, ``SystemExit`` or ``StopIteration`` out
  of the solution fails the test it happened in, whatever the test code does with it (the
  failure is recorded before anything is raised, and raised as a ``BaseException`` that
  ``except Exception`` does not catch). Other exceptions of the solution are raised here as the
  nearest builtin exception type, so tests that expect a ``ValueError`` still work.
- Helper code that comes with a problem (`prelude`: HumanEval's prompt with ``poly`` or
  ``encode_cyclic``, and its ``check``) runs here, from the dataset, never the solution's copy.

Printed text, exit codes, files and anything the solution does to its own interpreter stay in
its process and cannot make a test pass.
"""

from __future__ import annotations

import builtins
import functools
import json
import random
import time
import traceback
import types
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._wire import WireError, decode_value, encode_value, loads

if TYPE_CHECKING:
    from ..sandbox import Sandbox, Session
    from ._code import CaseResult, TestReport

__all__ = ["GRADER_VERSION", "Handle", "SolutionFailed", "grade_unit_tests"]

GRADER_VERSION = "2"
"""Version of the unit-test grader (the manifests' ``verifier.version`` of the code envs)."""

_HERE = Path(__file__).parent
_FUTURE = "from __future__ import annotations\n"


@functools.cache
def host_program() -> str:
    """The program the sandbox runs: the wire codec then the host loop (one source text)."""
    wire = (_HERE / "_wire.py").read_text()
    host = (_HERE / "_host.py").read_text().replace(_FUTURE, "")
    return wire + "\n\n" + host


class SolutionFailed(BaseException):  # noqa: N818 - not an error of the caller: a test verdict
    """Raised inside a test when the solution's side broke the rules; the test has already failed."""


class _Test:
    """The verdict of the running test, kept where the test code cannot reach it."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.failure: str | None = None


class _Untrusted:
    """One sandboxed process running the solution, and the calls made to it."""

    def __init__(self, session: Session, call_timeout: float) -> None:
        self.session = session
        self.call_timeout = call_timeout
        self.test: _Test | None = None
        self.handles: dict[int, Handle] = {}

    @property
    def alive(self) -> bool:
        return self.session.ended is None

    def close(self) -> None:
        self.session.close()

    def _fail(self, why: str) -> SolutionFailed:
        if self.test is not None and self.test.failure is None:
            self.test.failure = why
        return SolutionFailed(why)

    def _handle(self, ref: int) -> Handle:
        if ref not in self.handles:
            self.handles[ref] = Handle(self, ref)
        return self.handles[ref]

    def request(self, message: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """One round trip; the reply envelope, or `SolutionFailed` (already recorded)."""
        limit = self.call_timeout if timeout is None else timeout
        if self.test is not None:
            limit = min(limit, self.test.deadline - time.monotonic())
            if limit <= 0:
                raise self._fail(f"the test took longer than {self.call_timeout:g}s")
        if not self.alive:
            raise self._fail("the solution's process had already ended")
        line = self.session.call(encode_line(message), limit)
        if line is None:
            why = self.session.ended
            if why == "timeout":
                raise self._fail(f"the solution took longer than {limit:.3g}s to answer")
            raise self._fail(f"the solution's process ended ({why}) instead of answering")
        try:
            reply = loads(line)
        except WireError as exc:
            raise self._fail(f"unreadable reply from the solution ({exc})") from None
        if type(reply) is not dict:
            raise self._fail("unreadable reply from the solution")
        return reply

    def value(self, message: dict[str, Any]) -> Any:
        """Send a call; return its result as data, or raise what the solution raised."""
        reply = self.request(message)
        if "ok" in reply:
            try:
                return decode_value(reply["ok"], handle=self._handle)
            except (WireError, RecursionError) as exc:
                raise self._fail(f"the solution returned something that is not plain data ({exc})") from None
        if "raise" in reply:
            raise self._exception(reply)
        if "callable" in reply:
            return _CALLABLE
        raise self._fail(str(reply.get("error", "the solution sent a malformed reply"))[:300])

    def _exception(self, reply: dict[str, Any]) -> BaseException:
        names, msg = reply.get("raise"), reply.get("msg")
        if type(names) is not list or type(msg) is not str:
            return self._fail("the solution sent a malformed exception")
        for name in names:
            cls = getattr(builtins, name, None) if type(name) is str else None
            if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, _UNSAFE):
                try:
                    exc: BaseException = cls(msg)
                except Exception:  # noqa: BLE001 - a type that wants other arguments: try its base
                    continue
                return exc
            if isinstance(cls, type) and issubclass(cls, BaseException):
                break
        shown = names[0] if names and type(names[0]) is str else "?"
        return self._fail(f"the solution raised {shown[:50]}: {msg[:200]}")


_UNSAFE = (StopIteration, StopAsyncIteration)
"""Exceptions that end loops silently in the test code: a solution raising one fails the test."""
_CALLABLE = object()


def encode_line(message: dict[str, Any]) -> str:
    """A request envelope as one JSON line (values already in wire form)."""
    return json.dumps(message, separators=(",", ":"))


def _args(conn: _Untrusted, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    def ref(obj: Any) -> int | None:
        return obj.ref if isinstance(obj, Handle) and obj.owner is conn else None

    try:
        return {"args": encode_value(list(args), handle=ref), "kwargs": encode_value(dict(kwargs), handle=ref)}
    except WireError as exc:
        raise conn._fail(f"the test passes an argument the grader cannot send ({exc})") from None


class _Remote:
    """Stands in for a callable the solution defines: calls cross to the sandbox as data."""

    def __init__(self, conn: _Untrusted, name: str) -> None:
        self._conn = conn
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._conn.value({"op": "call", "name": self.__name__, **_args(self._conn, args, kwargs)})

    def __repr__(self) -> str:
        return f"<solution's {self.__name__}>"


class Handle:
    """An object that stays in the solution's process; its methods return plain data.

    Equality is identity: a handle equals only itself, whatever the object claims.
    """

    __slots__ = ("owner", "ref")

    def __init__(self, owner: _Untrusted, ref: int) -> None:
        """Refer to object `ref` of `owner`'s process."""
        self.owner = owner
        self.ref = ref

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = self.owner.value({"op": "getattr", "h": self.ref, "name": name})
        if value is not _CALLABLE:
            return value
        return functools.partial(_method, self, name)

    def _special(self, fn: str, *args: Any) -> Any:
        return self.owner.value({"op": "special", "h": self.ref, "fn": fn, **_args(self.owner, args, {})})

    def __len__(self) -> int:
        n = self._special("len")
        if type(n) is not int:
            raise self.owner._fail("len() of the solution's object is not an int")
        return n

    def __bool__(self) -> bool:
        return self._special("bool") is True

    def __getitem__(self, key: Any) -> Any:
        return self._special("getitem", key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._special("setitem", key, value)

    def __delitem__(self, key: Any) -> None:
        self._special("delitem", key)

    def __contains__(self, key: Any) -> bool:
        return self._special("contains", key) is True

    def __iter__(self) -> Any:
        items = self._special("iter")
        return iter(items if type(items) is list else [])

    def __str__(self) -> str:
        text = self._special("str")
        return text if type(text) is str else ""

    def __repr__(self) -> str:
        return f"<handle {self.ref} to the solution's object>"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def _method(handle: Handle, name: str, *args: Any, **kwargs: Any) -> Any:
    conn = handle.owner
    return conn.value({"op": "method", "h": handle.ref, "name": name, **_args(conn, args, kwargs)})


# -- the trusted side's namespace ------------------------------------------------------------
def _private_random(seed: int) -> types.ModuleType:
    """A `random` module of its own for the tests: deterministic, and the caller's stream untouched."""
    module = types.ModuleType("random", random.__doc__)
    rng = random.Random(seed)
    for name in dir(random):
        if not name.startswith("_"):
            attr = getattr(rng, name, None)
            setattr(module, name, attr if callable(attr) and not isinstance(attr, type) else getattr(random, name))
    return module


def _test_builtins(rng: types.ModuleType) -> dict[str, Any]:
    real_import = builtins.__import__

    def _import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if name == "random" and level == 0:
            return rng
        return real_import(name, globals, locals, fromlist, level)

    table = dict(vars(builtins))
    table["__import__"] = _import
    return table


@functools.lru_cache(maxsize=512)
def _compiled(source: str, filename: str) -> types.CodeType:
    return compile(source, filename, "exec")


def _names(code: types.CodeType) -> set[str]:
    """Every name `code` (and the functions in it) may look up globally."""
    out = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out |= _names(const)
    return out


def _short(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()[:500] or type(exc).__name__


def grade_unit_tests(
    solution: str,
    tests: Sequence[str],
    *,
    sandbox: Sandbox,
    prelude: str | None = None,
    entry_point: str | None = None,
    per_test_timeout: float = 3.0,
    timeout: float | None = None,
    memory_mb: int = 512,
) -> TestReport:
    """Grade `solution` on `tests`: tests here, solution in one warm sandboxed process.

    Args:
        solution: The program.
        tests: Test snippets (trusted dataset code); each passes when it runs without raising.
        sandbox: The sandbox the solution runs in.
        prelude: Trusted code run before the tests in their namespace (problem helpers, a
            ``check`` function); the solution's own definitions of these names are not used.
        entry_point: The name the tests call; it is always a stub for the solution's, even if
            the prelude defines it. Other names the tests use and the solution defines as
            callables become stubs too.
        per_test_timeout: Seconds for loading the solution, and for each test.
        timeout: Wall-clock limit of the whole grading (default: enough for every test).
        memory_mb: Address-space limit of the solution's process, in MiB.
    """
    from ._code import CaseResult, TestReport

    total = timeout if timeout is not None else per_test_timeout * (len(tests) + 1) + 1.0
    end = time.monotonic() + total
    base: dict[str, Any] = {"__name__": "__test__", "__builtins__": _test_builtins(_private_random(0))}
    if prelude:
        try:
            exec(_compiled(prelude, "problem"), base)
        except Exception as exc:  # noqa: BLE001 - the dataset's own code is broken
            error = f"the problem's own test code failed to load: {_short(exc)}"
            return TestReport(cases=[CaseResult(False, error) for _ in tests], setup_error=error)
    compiled: list[types.CodeType | str] = []
    wanted = {entry_point} if entry_point else set()
    for i, test in enumerate(tests):
        try:
            code = _compiled(test, f"test_{i + 1}")
        except SyntaxError as exc:
            compiled.append(f"the test does not compile: {_short(exc)}")
            continue
        compiled.append(code)
        wanted |= _names(code) - (base.keys() - {entry_point}) - set(vars(builtins))
    cases: list[CaseResult] = []
    conn: _Untrusted | None = None
    stubs: dict[str, Any] = {}
    try:
        for item in compiled:
            if isinstance(item, str):
                cases.append(CaseResult(False, item))
                continue
            if conn is None or not conn.alive:
                if conn is not None:
                    conn.close()
                left = end - time.monotonic()
                if left <= 0:
                    cases.append(CaseResult(False, "the grading ran out of time"))
                    continue
                conn, stubs, setup_error = _start(
                    solution, sorted(wanted), entry_point, sandbox, per_test_timeout, left, memory_mb
                )
                if setup_error is not None:
                    cases += [CaseResult(False, setup_error)] * (len(compiled) - len(cases))
                    return TestReport(cases=cases, setup_error=setup_error)
                base.update(stubs)  # prelude functions that name the entry point call the solution's too
            cases.append(_run_test(item, base, conn, per_test_timeout))
    finally:
        if conn is not None:
            conn.close()
    return TestReport(cases=cases)


def _start(
    solution: str,
    names: list[str],
    entry_point: str | None,
    sandbox: Sandbox,
    per_test_timeout: float,
    left: float,
    memory_mb: int,
) -> tuple[_Untrusted, dict[str, Any], str | None]:
    """Start the solution's process and load it: the connection, its stubs, or the setup error."""
    session = sandbox.session(host_program(), timeout=left, memory_mb=memory_mb, precompile=True)
    conn = _Untrusted(session, per_test_timeout)
    probe = _Test(time.monotonic() + per_test_timeout)
    conn.test = probe
    try:
        reply = conn.request({"op": "load", "src": solution, "names": names})
    except SolutionFailed:
        why = probe.failure or "the solution did not load"
        if session.ended == "timeout":
            why = f"loading the solution took longer than {per_test_timeout:g}s"
        return conn, {}, why
    finally:
        conn.test = None
    if "raise" in reply:
        names_ = reply.get("raise")
        kind = names_[0] if type(names_) is list and names_ and type(names_[0]) is str else "Exception"
        return conn, {}, f"{kind[:50]}: {str(reply.get('msg', ''))[:400]}".rstrip(": ")
    kinds = reply.get("kinds")
    if type(kinds) is not dict:
        return conn, {}, "the solution's process sent a malformed reply"
    stubs: dict[str, Any] = {name: _Remote(conn, name) for name in names if name in kinds or name == entry_point}
    return conn, stubs, None


def _run_test(code: types.CodeType, base: dict[str, Any], conn: _Untrusted, limit: float) -> CaseResult:
    from ._code import CaseResult

    test = _Test(time.monotonic() + limit)
    conn.test = test
    ns = dict(base)
    error: str | None = None
    try:
        exec(code, ns)
    except SolutionFailed:
        pass
    except BaseException as exc:  # noqa: BLE001 - the test failed (assertion, NameError, ...)
        if isinstance(exc, KeyboardInterrupt):
            raise
        error = _short(exc)
    finally:
        conn.test = None
    if test.failure is not None:
        return CaseResult(False, test.failure)
    if error is not None:
        return CaseResult(False, error)
    return CaseResult(True)
