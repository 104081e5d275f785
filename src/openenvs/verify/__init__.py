r"""Verifiers: answer extraction and math equivalence (and, with the sandbox, code unit tests).

>>> from openenvs.verify import extract_answer, math_equal
>>> math_equal(extract_answer(r"... \boxed{\frac{1}{2}}"), "0.5")
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._code import CaseResult, TestReport, extract_code, outputs_match, run_io_cases, run_unit_tests
from ._curriculum import Curriculum
from ._extract import AnswerStyle, extract_answer, extract_boxed
from ._fast import parse_number
from ._math import math_equal, verify_batch
from ._pool import VerifyPool, default_pool

__all__ = [
    "AnswerStyle",
    "CaseResult",
    "TestReport",
    "extract_code",
    "outputs_match",
    "run_io_cases",
    "run_unit_tests",
    "Curriculum",
    "MathConfig",
    "MathEnv",
    "VerifyPool",
    "default_pool",
    "extract_answer",
    "extract_boxed",
    "math_equal",
    "parse_number",
    "verify_batch",
]


def __getattr__(name: str) -> Any:
    # MathEnv/MathConfig moved to the core env helpers (openenvs.MathEnv); this re-export keeps old imports working.
    if name in ("MathConfig", "MathEnv"):
        from .. import _math_env

        return getattr(_math_env, name)
    raise AttributeError(f"module 'openenvs.verify' has no attribute {name!r}")


if TYPE_CHECKING:
    from .._math_env import MathConfig, MathEnv
