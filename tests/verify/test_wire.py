"""The grader's wire form: every plain value round-trips with its type; nothing else gets through."""

from __future__ import annotations

import math

import pytest

from openenvs.verify._wire import MAX_DEPTH, WireError, decode, encode

VALUES = [
    None,
    True,
    False,
    0,
    -(2**53) + 1,
    2**53,
    -(10**400),
    1.5,
    -0.0,
    float("inf"),
    float("-inf"),
    1e-310,
    complex(1.5, -2),
    "",
    "déjà vu \n \x00 \ud7ff",
    b"",
    bytes(range(256)),
    [],
    (),
    set(),
    frozenset(),
    {},
    [1, "a", None, True, 2**70],
    (1, (2, (3,))),
    {1, "x", (1, 2), frozenset({b"z"})},
    {"a": [1, {2: (3.5, None)}], 7: {"b"}, (1, 2): frozenset({1}), None: b"", False: 0},
    [[[[]]]],
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_plain_values_round_trip_with_their_types(value: object) -> None:
    back = decode(encode(value))
    assert back == value and _types(back) == _types(value)
    assert encode(value).isascii() and "\n" not in encode(value)


def _types(x: object) -> object:
    if isinstance(x, (list, tuple)):
        return (type(x), [_types(v) for v in x])
    if isinstance(x, dict):
        return (dict, sorted((repr(_types(k)), repr(_types(v))) for k, v in x.items()))
    if isinstance(x, (set, frozenset)):
        return (type(x), sorted(repr(_types(v)) for v in x))
    return type(x)


def test_nan_round_trips() -> None:
    assert math.isnan(decode(encode(float("nan"))))
    c = decode(encode(complex(float("nan"), float("inf"))))
    assert math.isnan(c.real) and c.imag == float("inf")


class Sneaky(int):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize(
    "value",
    [object(), Sneaky(3), [1, Sneaky(2)], {"k": object()}, lambda: 1, ValueError("x"), range(3), bytearray(b"x")],
    ids=repr,
)
def test_anything_else_is_refused(value: object) -> None:
    with pytest.raises(WireError):
        encode(value)


def test_lenient_sends_the_base_value_of_a_subclass() -> None:
    back = decode(encode([Sneaky(3), "s"], lenient=True))
    assert back == [3, "s"] and type(back[0]) is int and back[0] != 4


def test_too_deep_is_refused() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(MAX_DEPTH + 5):
        node.append([])
        node = node[0]  # type: ignore[assignment]
    with pytest.raises(WireError):
        encode(deep)
    text = '["l",[' * (MAX_DEPTH + 5) + "1" + "]]" * (MAX_DEPTH + 5)
    with pytest.raises(WireError):
        decode(text)


@pytest.mark.parametrize(
    "text",
    [
        "1.5",
        "NaN",
        "Infinity",
        '{"a": 1}',
        '["x", 1]',
        '["l"]',
        '["l", 5]',
        '["s", [["l", []]]]',
        '["d", [[["l", []], 1]]]',
        '["d", [[1]]]',
        '["f", "not-hex"]',
        '["I", "zz"]',
        '["b", "abc"]',
        '["c", ["0x1p0"]]',
        '["h", 1]',
        "[1, 2]",
        "1" * 5000,
        "not json",
        '["l", [1, 2]',
    ],
)
def test_malformed_messages_are_refused(text: str) -> None:
    with pytest.raises(WireError):
        decode(text)


def test_handles_only_where_the_caller_allows() -> None:
    made: list[int] = []
    assert decode('["l", [["h", 4]]]', handle=lambda ref: made.append(ref) or ("handle", ref)) == [("handle", 4)]
    assert made == [4]
    with pytest.raises(WireError):
        decode('["h", 4]')
