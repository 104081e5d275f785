r"""Run untrusted, model-written Python safely and fast.

    >>> from openenvs.sandbox import run, Sandbox
    >>> run("print(sum(range(10)))").stdout  # doctest: +SKIP
    '45\n'

Backends: ``local`` (default; a pool of warm worker processes, each in its own network, mount,
IPC, UTS and PID namespaces, with an unprivileged uid, rlimits, Landlock and seccomp where the
machine has them) and ``docker`` (a fresh container per run). ``backend="auto"`` picks local
when it can isolate code here, else Docker, and never silently runs unisolated code.
`capabilities()` and ``openenvs doctor`` report which layers are on.
"""

from __future__ import annotations

from ._api import BackendName, Capabilities, Sandbox, capabilities, default_sandbox, run
from ._types import Backend, ExecRequest, ExecResult, Layer, Session

__all__ = [
    "Backend",
    "BackendName",
    "Capabilities",
    "ExecRequest",
    "ExecResult",
    "Layer",
    "Sandbox",
    "Session",
    "capabilities",
    "default_sandbox",
    "run",
]
