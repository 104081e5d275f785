"""AST-style matching of tool calls against BFCL's `possible_answer` (Python categories).

Written here from BFCL's published rules (not imported: bfcl-eval's checker module pulls
heavy dependencies). For each ground-truth call ``{name: {param: [acceptable values]}}``:

- the name must match (a dotted name may also be written with ``_``);
- every required parameter must be given, and every given parameter must be known and listed;
- a parameter left out must have ``""`` among its acceptable values (it is optional);
- values must have the documented type (an ``int`` is accepted for a ``float``; a string is
  accepted where the possible answers are strings, as BFCL does for variable names);
- strings compare after standardising (lower case, no spaces or ``,./-_*^`` punctuation),
  lists element-wise, dicts key by key.

Parallel categories need a one-to-one pairing of calls and ground truth, in any order.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["match_call", "match_calls", "standardize"]

_PY_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "float": float,
    "number": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "object": dict,
}
_STRIP_RE = re.compile(r"[ ,./\-_*^]")


def standardize(text: str) -> str:
    """Lower-case `text` and drop spaces and ``,./-_*^``, as BFCL does before comparing strings.

    Example:
        >>> standardize("New York, NY")
        'newyorkny'
    """
    return _STRIP_RE.sub("", text).lower().replace("'", '"')


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return standardize(value)
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value


def _type_ok(value: Any, expected: str | None, acceptable: list[Any], items_type: str | None) -> tuple[bool, Any]:
    """(is the type acceptable, the value coerced: int -> float where a float is expected)."""
    if expected is None or expected == "any" or expected not in _PY_TYPES:
        return True, value
    py = _PY_TYPES[expected]
    if py is float and type(value) is int:
        value = float(value)
    if py is list and isinstance(value, tuple):
        value = list(value)
    if type(value) is py or (py is dict and isinstance(value, dict)):
        if py is list and items_type in ("float", "number"):
            value = [float(v) if type(v) is int else v for v in value]
        return True, value
    sample = next((a for a in acceptable if a != ""), None)
    if sample is not None and isinstance(sample, str) and isinstance(value, str):
        return True, value  # BFCL: a variable name written as a string
    return False, value


def _dict_ok(value: dict[str, Any], acceptable: list[Any]) -> bool:
    for option in acceptable:
        if not isinstance(option, dict):
            continue
        if all(k in option and _norm(v) in [_norm(a) for a in option[k]] for k, v in value.items()) and all(
            k in value or "" in allowed for k, allowed in option.items()
        ):
            return True
    return False


def _value_ok(value: Any, acceptable: list[Any], prop: dict[str, Any]) -> bool:
    expected = prop.get("type")
    items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
    ok, value = _type_ok(value, expected, acceptable, items.get("type") if items else None)
    if not ok:
        return False
    if isinstance(value, dict):
        return _dict_ok(value, acceptable)
    if isinstance(value, list) and items and items.get("type") in ("dict", "object"):
        return any(
            isinstance(option, list)
            and len(option) == len(value)
            and all(isinstance(v, dict) and _dict_ok(v, [o]) for v, o in zip(value, option, strict=False))
            for option in acceptable
        )
    if isinstance(value, (str, list)):
        return _norm(value) in [_norm(a) for a in acceptable if a != "" or isinstance(value, str)]
    if isinstance(value, bool):
        return any(a is value for a in acceptable)
    return any(a == value and not isinstance(a, (bool, str)) for a in acceptable)


def match_call(name: str, args: dict[str, Any], truth: dict[str, Any], function: dict[str, Any]) -> str | None:
    """Check one call against one ground-truth entry; None when it matches, else the reason.

    Args:
        name: The called function's name.
        args: The call's arguments.
        truth: ``{function_name: {param: [acceptable values]}}``.
        function: The BFCL function doc of the expected function.
    """
    ((gt_name, gt_params),) = truth.items()
    if name != gt_name and name != gt_name.replace(".", "_"):
        return f"expected a call to `{gt_name}`, got `{name}`"
    schema = function.get("parameters") or {}
    props: dict[str, Any] = schema.get("properties") or {}
    for required in schema.get("required") or []:
        if required not in args:
            return f"`{gt_name}`: missing required argument `{required}`"
    for param, value in args.items():
        if param not in props or param not in gt_params:
            return f"`{gt_name}`: unexpected argument `{param}`"
        if not _value_ok(value, list(gt_params[param]), props[param]):
            return f"`{gt_name}`: wrong value for `{param}`: {value!r}"
    for param, acceptable in gt_params.items():
        if param not in args and "" not in acceptable:
            return f"`{gt_name}`: missing argument `{param}`"
    return None


def match_calls(
    calls: list[tuple[str, dict[str, Any]]], truths: list[dict[str, Any]], functions: list[dict[str, Any]]
) -> str | None:
    """Pair every call with a distinct ground-truth entry (any order); None when all match, else the reason."""
    if len(calls) != len(truths):
        return f"expected {len(truths)} call(s), got {len(calls)}"
    docs = {f["name"]: f for f in functions}
    fits = [
        [
            j
            for j, (name, args) in enumerate(calls)
            if match_call(name, args, truth, docs.get(next(iter(truth)), {})) is None
        ]
        for truth in truths
    ]
    owner: dict[int, int] = {}

    def assign(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or assign(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i, truth in enumerate(truths):
        if not assign(i, set()):
            name = next(iter(truth))
            reasons = [match_call(n, a, truth, docs.get(name, {})) for n, a in calls]
            return (
                reasons[0]
                if len(calls) == 1
                else f"no call matches the expected `{name}` call ({'; '.join(r or 'ok' for r in reasons)})"
            )
    return None
