"""The math-verify worker process (run as a script by `openenvs.verify._pool`; imports no openenvs).

Protocol, one JSON array per line: the worker writes ``["ready"]`` once imported (or
``["error", message]`` and exits), then answers each request ``[id, pred, gold]`` with
``[id, verdict]`` where verdict is true or false. The parent enforces the time limit by killing
the worker; the worker lowers its own address-space limit so a huge number fails with MemoryError.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from typing import Any

__all__ = ["main"]


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies (best effort; a no-op elsewhere)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux, or no libc: the stdin EOF still ends the worker
        pass


def _limit_memory(megabytes: int) -> None:
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def main() -> None:
    """Serve verification requests on stdin/stdout until stdin closes."""
    _die_with_parent()
    memory_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    out = sys.stdout
    try:
        from math_verify import parse, verify
    except ImportError as exc:
        out.write(json.dumps(["error", f"cannot import math_verify: {exc}"]) + "\n")
        out.flush()
        return
    logging.disable(logging.CRITICAL)  # math-verify logs every parse failure
    if memory_mb > 0:
        _limit_memory(memory_mb)

    @functools.lru_cache(maxsize=4096)
    def parse_answer(text: str) -> Any:
        return parse("\\boxed{" + text + "}", parsing_timeout=None)

    # warm up: the first LaTeX parse loads the ANTLR grammar and sympy's simplifier (about a second);
    # doing it now keeps that cost out of the first answer's time limit
    verify(parse_answer("\\frac{1}{2} + \\sqrt{x}"), parse_answer("0.5 + x^{1/2}"), timeout_seconds=None)
    out.write('["ready"]\n')
    out.flush()
    for line in sys.stdin:
        request_id, pred, gold = json.loads(line)
        try:
            verdict = bool(verify(parse_answer(gold), parse_answer(pred), timeout_seconds=None))
        except BaseException:  # noqa: BLE001 - MemoryError, RecursionError, sympy bugs: all are "not equal"
            verdict = False
        out.write(json.dumps([request_id, verdict]) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
