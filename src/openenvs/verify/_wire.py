"""The data that crosses between the trusted grader and the untrusted solution process.

Values travel as one line of ASCII JSON in a strict tagged form; nothing else is ever accepted
(no pickle, no objects, no code). JSON ``null``/``true``/``false``/strings stand for themselves;
small ints are JSON integers; everything else is a two-item list ``[tag, payload]``:

========  ==========================  =====================================
tag       payload                     Python value
========  ==========================  =====================================
``"I"``   hex string                  int of any size
``"f"``   `float.hex` string          float (nan, inf and -0.0 included)
``"c"``   [real hex, imag hex]        complex
``"b"``   hex string                  bytes
``"l"``   [values]                    list
``"t"``   [values]                    tuple
``"s"``   [values]                    set
``"F"``   [values]                    frozenset
``"d"``   [[key, value], ...]         dict (keys keep their order)
``"h"``   int                         an opaque handle to an object that stays in the untrusted
                                      process (only where the caller passes ``handle``)
========  ==========================  =====================================

`decode` rebuilds exactly these builtin types (never a subclass), so whatever the untrusted side
sends, the trusted side compares plain values with plain ``==``.

This module is stdlib-only and self-contained: the grader also sends its source into the sandbox,
where the solution's side of the protocol uses the same code.

Example:
    >>> text = encode({"a": (1, 2.5, float("inf")), 3: [b"x", None, {frozenset({2**70})}]})
    >>> decode(text) == {"a": (1, 2.5, float("inf")), 3: [b"x", None, {frozenset({2**70})}]}
    True
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "WireError", "decode", "decode_value", "encode", "encode_value"]

MAX_DEPTH = 100
"""Deepest nesting of containers either side accepts."""

_SMALL = 1 << 53
_ATOMS = frozenset({str, bool, type(None), int})
"""Types that travel as themselves (ints only when small); a container of only these is copied fast."""


class WireError(ValueError):
    """A value that cannot cross: not plain data, too deep, or a malformed message."""


def encode_value(
    x: Any, *, lenient: bool = False, handle: Callable[[Any], int | None] | None = None, _depth: int = 0
) -> Any:
    """`x` as a JSON-able tagged tree; raise `WireError` for anything that is not plain data.

    Args:
        x: The value.
        lenient: Also accept subclasses of int, float, str and bytes (sent as their base value)
            and numpy scalars (sent as ``.item()``): what an honest solution may return.
        handle: Called for a value that is not data; an int it returns is sent as a handle.
    """
    t = type(x)
    if x is None or t is bool or t is str:
        return x
    if t is int:
        return x if -_SMALL < x < _SMALL else ["I", format(x, "x")]
    if t is float:
        return ["f", x.hex()]
    if t is complex:
        return ["c", [x.real.hex(), x.imag.hex()]]
    if t is bytes:
        return ["b", x.hex()]
    if _depth >= MAX_DEPTH:
        raise WireError(f"the value is nested deeper than {MAX_DEPTH} levels")
    d = _depth + 1
    if t is list or t is tuple or t is set or t is frozenset:
        tag = "l" if t is list else "t" if t is tuple else "s" if t is set else "F"
        if _plain(x):
            return [tag, list(x)]
        return [tag, [encode_value(v, lenient=lenient, handle=handle, _depth=d) for v in x]]
    if t is dict:
        return [
            "d",
            [
                [
                    encode_value(k, lenient=lenient, handle=handle, _depth=d),
                    encode_value(v, lenient=lenient, handle=handle, _depth=d),
                ]
                for k, v in x.items()
            ],
        ]
    if handle is not None:
        ref = handle(x)
        if ref is not None:
            return ["h", ref]
    if lenient:
        base = _base_value(x)
        if base is not None:
            return encode_value(base[0], handle=handle, _depth=d)
    raise WireError(f"a {t.__module__}.{t.__qualname__} object is not plain data")


def _plain(x: Any) -> bool:
    """True when every item of `x` travels as itself: str, bool, None or a small int."""
    kinds = set(map(type, x))
    if not kinds <= _ATOMS:
        return False
    if int not in kinds:
        return True
    ints = x if len(kinds) == 1 else [v for v in x if type(v) is int]
    return -_SMALL < min(ints) and max(ints) < _SMALL


def _base_value(x: Any) -> tuple[Any] | None:
    """The builtin value under a subclass instance or a numpy scalar, if `x` is one."""
    bases: tuple[type[Any], ...] = (bool, int, float, complex, str, bytes)
    for base in bases:
        if isinstance(x, base):
            try:
                value = base(x)
            except Exception:  # noqa: BLE001 - whatever the subclass does, it is not data
                return None
            return (value,) if type(value) is base else None
    if any(c.__module__ == "numpy" and c.__name__ == "generic" for c in type(x).__mro__):
        try:
            value = x.item()
        except Exception:  # noqa: BLE001
            return None
        if type(value) in (bool, int, float, complex, str, bytes):
            return (value,)
    return None


def encode(x: Any, *, lenient: bool = False, handle: Callable[[Any], int | None] | None = None) -> str:
    """`x` as one line of ASCII JSON (see the module docstring for the form)."""
    return json.dumps(encode_value(x, lenient=lenient, handle=handle), separators=(",", ":"))


def _reject_float(text: str) -> Any:
    raise WireError(f"bare JSON number {text[:20]!r}: floats travel tagged")


def loads(text: str) -> Any:
    """Parse one message line as JSON with no floats and no NaN/Infinity literals."""
    try:
        return json.loads(text, parse_float=_reject_float, parse_constant=_reject_float)
    except WireError:
        raise
    except (ValueError, RecursionError) as exc:
        raise WireError(f"malformed message ({type(exc).__name__}: {str(exc)[:100]})") from None


def decode_value(obj: Any, *, handle: Callable[[int], Any] | None = None, _depth: int = 0) -> Any:
    """Rebuild the value of a tagged tree (from `loads`); raise `WireError` for anything else."""
    t = type(obj)
    if obj is None or t is bool or t is str or t is int:
        return obj
    if t is not list or len(obj) != 2 or type(obj[0]) is not str:
        raise WireError(f"not a tagged value: {type(obj).__name__}")
    tag, payload = obj
    try:
        if tag == "I" and type(payload) is str:
            return int(payload, 16)
        if tag == "f" and type(payload) is str:
            return float.fromhex(payload)
        if tag == "c" and type(payload) is list and len(payload) == 2 and all(type(p) is str for p in payload):
            return complex(float.fromhex(payload[0]), float.fromhex(payload[1]))
        if tag == "b" and type(payload) is str:
            return bytes.fromhex(payload)
    except (ValueError, OverflowError) as exc:
        raise WireError(f"bad {tag!r} payload ({exc})") from None
    if tag == "h" and type(payload) is int and handle is not None:
        return handle(payload)
    if type(payload) is not list:
        raise WireError(f"unknown tag {tag[:10]!r} or bad payload")
    if _depth >= MAX_DEPTH:
        raise WireError(f"the value is nested deeper than {MAX_DEPTH} levels")
    d = _depth + 1
    try:
        if tag in ("l", "t", "s", "F"):
            if set(map(type, payload)) <= _ATOMS:
                items = payload
            else:
                items = [decode_value(v, handle=handle, _depth=d) for v in payload]
            return (
                items if tag == "l" else tuple(items) if tag == "t" else set(items) if tag == "s" else frozenset(items)
            )
        if tag == "d":
            out = {}
            for pair in payload:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("a dict item is not a [key, value] pair")
                out[decode_value(pair[0], handle=handle, _depth=d)] = decode_value(pair[1], handle=handle, _depth=d)
            return out
    except TypeError as exc:  # an unhashable set member or dict key
        raise WireError(f"bad {tag!r} payload ({exc})") from None
    raise WireError(f"unknown tag {tag[:10]!r}")


def decode(text: str, *, handle: Callable[[int], Any] | None = None) -> Any:
    """The value sent as `text` by `encode`; raise `WireError` for anything malformed."""
    return decode_value(loads(text), handle=handle)
