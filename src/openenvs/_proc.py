"""Process helpers shared by the worker pools (sandbox workers, math-verify workers)."""

from __future__ import annotations

import logging
import subprocess

__all__ = ["reap"]

logger = logging.getLogger(__name__)


def reap(proc: subprocess.Popen[bytes], what: str) -> None:
    """After a kill signal was sent: close the worker's pipes and wait for it, warning if it lingers."""
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        logger.warning("%s %d did not exit after SIGKILL", what, proc.pid)
