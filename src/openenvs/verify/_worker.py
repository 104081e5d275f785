"""The math-verify worker process (run as a script by `openenvs.verify._pool`; imports no openenvs).

Protocol, one JSON array per line: the worker writes ``["ready"]`` once imported (or
``["error", message]`` and exits), then answers each request ``[id, pred, gold, cpu_seconds]``
with ``[id, verdict]`` where verdict is true or false. The parent enforces the time limit by
killing the worker. As safeguards for when the parent is gone, the worker exits at the end of its
stdin and sets a CPU-time limit per request, and its address-space limit makes a huge number fail
with MemoryError.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from typing import Any

__all__ = ["main"]


def _limit_cpu(seconds: float) -> None:
    """Let the kernel end this worker if one request burns `seconds` of CPU (the parent may be gone)."""
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ImportError, ValueError, OSError):
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
        request_id, pred, gold, cpu_seconds = json.loads(line)
        _limit_cpu(cpu_seconds)
        try:
            verdict = bool(verify(parse_answer(gold), parse_answer(pred), timeout_seconds=None))
        except BaseException:  # noqa: BLE001 - MemoryError, RecursionError, sympy bugs: all are "not equal"
            verdict = False
        out.write(json.dumps([request_id, verdict]) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
