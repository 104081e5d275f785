from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openenvs import ToolSpec
from openenvs.tools import ParseResult, parse_python_calls, parse_tool_calls

FORMATS = ["auto", "openai", "hermes", "llama3", "mistral", "python"]


def calls_of(result: ParseResult) -> list[tuple[str, dict]]:
    return [(c.name, c.parsed_arguments()) for c in result.calls]


@pytest.mark.parametrize(
    "text,fmt,expected",
    [
        (
            '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>',
            "auto",
            [("add", {"a": 1, "b": 2})],
        ),
        (
            '<tool_call>{"name": "a", "arguments": {}}</tool_call>\n<tool_call>{"name": "b", "arguments": "{\\"x\\": [1]}"}</tool_call>',
            "hermes",
            [("a", {}), ("b", {"x": [1]})],
        ),
        (  # unclosed final tag (generation stopped at EOS)
            '<tool_call>{"name": "a", "arguments": {"q": "x"}}',
            "auto",
            [("a", {"q": "x"})],
        ),
        (
            "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
            "auto",
            [("get_weather", {"city": "Paris", "days": 3})],
        ),
        ('<|python_tag|>{"name": "search", "parameters": {"query": "llm"}}', "auto", [("search", {"query": "llm"})]),
        (
            '{"name": "a", "parameters": {"x": 1}}; {"name": "b", "parameters": {}}',
            "llama3",
            [("a", {"x": 1}), ("b", {})],
        ),
        (
            '[TOOL_CALLS] [{"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {}}]',
            "auto",
            [("f", {"x": 1}), ("g", {})],
        ),
        ('[TOOL_CALLS]f[ARGS]{"x": 2}[TOOL_CALLS]g[ARGS]{}', "mistral", [("f", {"x": 2}), ("g", {})]),
        (
            '{"tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\\"a\\": true}"}}]}',
            "openai",
            [("f", {"a": True})],
        ),
        ('```json\n[{"name": "f", "arguments": {"a": null}}]\n```', "auto", [("f", {"a": None})]),
        (
            '[get_weather(city="Paris"), math.hypot(x=3, y=-4.5), g(flags=[1, 2], opts={"k": True})]',
            "auto",
            [
                ("get_weather", {"city": "Paris"}),
                ("math.hypot", {"x": 3, "y": -4.5}),
                ("g", {"flags": [1, 2], "opts": {"k": True}}),
            ],
        ),
        ("f(a=(1, 2))", "python", [("f", {"a": [1, 2]})]),
        ("The answer is 42. See f(x) in the book.", "auto", []),
        ('Here is JSON: {"answer": 5} and a list [1, 2].', "auto", []),
        ("", "auto", []),
    ],
)
def test_formats(text, fmt, expected):
    result = parse_tool_calls(text, fmt)
    assert calls_of(result) == expected
    assert result.errors == []


def test_ids_and_prose():
    result = parse_tool_calls(
        'Let me look. <tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>{"name": "b"}</tool_call>'
    )
    assert [c.id for c in result.calls] == ["call_0", "call_1"]
    assert result.content == "Let me look."
    assert (
        parse_tool_calls('{"tool_calls": [{"id": "xyz", "function": {"name": "f", "arguments": "{}"}}]}').calls[0].id
        == "xyz"
    )


@pytest.mark.parametrize(
    "text,fmt,fragment",
    [
        ('<tool_call>{"name": "add", "arguments": {"a": 1}</tool_call>', "auto", "not valid JSON"),
        ("<tool_call>just words</tool_call>", "auto", "not valid JSON"),
        ('<tool_call>{"arguments": {}}</tool_call>', "auto", "not a tool call"),
        ('<tool_call>{"name": "f", "arguments": "{oops"}</tool_call>', "auto", "arguments of `f` are not valid JSON"),
        ('<tool_call>{"name": "f", "arguments": [1]}</tool_call>', "auto", "must be a JSON object"),
        ('<tool_call>{"name": 3, "arguments": {}}</tool_call>', "auto", "non-empty string `name`"),
        ('Calling {"name": "f", "arguments": {"x": 1', "auto", "not valid JSON"),
        ("[TOOL_CALLS] [{broken", "auto", "not valid JSON"),
        ("[TOOL_CALLS]f[ARGS]{x", "auto", "arguments of `f` are not valid JSON"),
        ("f(1, 2)", "python", "positional arguments"),
        ("f(x=g(1))", "python", "must be a literal"),
        ("f(**kw)", "python", "kwargs"),
        ("not python at all (", "python", "not valid Python"),
    ],
)
def test_malformed_calls_become_errors(text, fmt, fragment):
    result = parse_tool_calls(text, fmt)
    assert result.calls == []
    assert any(fragment in e for e in result.errors), result.errors


def test_good_and_bad_calls_in_one_message():
    text = '<tool_call>{"name": "ok", "arguments": {}}</tool_call><tool_call>{bad}</tool_call>'
    result = parse_tool_calls(text)
    assert calls_of(result) == [("ok", {})]
    assert len(result.errors) == 1 and "block 2" in result.errors[0]


def test_positional_arguments_use_the_schema():
    spec = ToolSpec(name="sort", parameters={"type": "object", "properties": {"file_name": {}, "reverse": {}}})
    result = parse_python_calls("sort('a.txt', True)", tools=[spec])
    assert calls_of(result) == [("sort", {"file_name": "a.txt", "reverse": True})]
    assert "at most 2" in parse_python_calls("sort(1, 2, 3)", tools=[spec]).errors[0]


def test_bad_inputs_never_raise():
    assert parse_tool_calls(None).errors  # type: ignore[arg-type]
    assert "unknown tool-call format" in parse_tool_calls("x", "xml").errors[0]  # type: ignore[arg-type]
    deep = "[" * 100_000 + "]" * 100_000
    for fmt in FORMATS:
        assert isinstance(parse_tool_calls(deep, fmt), ParseResult)
        assert isinstance(parse_tool_calls("f(" * 5000, fmt), ParseResult)
        assert isinstance(parse_tool_calls("<tool_call>" + "{" * 50_000, fmt), ParseResult)


# ---- fuzzing: no input may raise ------------------------------------------------------------

FRAGMENTS = [
    "<tool_call>",
    "</tool_call>",
    "[TOOL_CALLS]",
    "[ARGS]",
    "<|python_tag|>",
    "<function=",
    "<parameter=",
    "</function>",
    "</parameter>",
    ">",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    '"',
    "'",
    ":",
    ",",
    ";",
    "=",
    "\n",
    " ",
    "```",
    "```json",
    '"name"',
    '"arguments"',
    '"parameters"',
    '"function"',
    '"tool_calls"',
    '"id"',
    "null",
    "true",
    "1e999",
    "-0",
    "NaN",
    "f",
    "math.f",
    "**",
    "\\",
    "\\u12",
    "\x00",
    "é",
    "🙂",
    "1",
    "2.5",
]

fragment_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40).map("".join)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c, max_size=3)),
    max_leaves=8,
)
_WORDS = ["get", "weather", "math", "add", "x", "_q", "Tool2", "search_web", "a1"]
names = st.builds(
    lambda parts, dotted: ".".join(parts[:2]) if dotted else "_".join(parts),
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3),
    st.booleans(),
)
identifiers = st.builds("_".join, st.lists(st.sampled_from(_WORDS), min_size=1, max_size=2))
arguments = st.dictionaries(identifiers, json_value, max_size=4)

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_STRUCTURED = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(text=st.text(max_size=300), fmt=st.sampled_from(FORMATS))
def test_fuzz_arbitrary_text(text, fmt):
    result = parse_tool_calls(text, fmt)
    assert isinstance(result, ParseResult)
    for call in result.calls:
        assert isinstance(call.parsed_arguments(), dict)


@FUZZ
@given(text=fragment_text, fmt=st.sampled_from(FORMATS))
def test_fuzz_marker_soup(text, fmt):
    result = parse_tool_calls(text, fmt)
    assert isinstance(result, ParseResult)
    assert all(isinstance(e, str) for e in result.errors)
    for call in result.calls:
        assert call.name and isinstance(call.parsed_arguments(), dict)


def _render(style: str, calls: list[tuple[str, dict]]) -> str:
    if style == "hermes":
        return "".join(f"<tool_call>\n{json.dumps({'name': n, 'arguments': a})}\n</tool_call>\n" for n, a in calls)
    if style == "llama3":
        return "<|python_tag|>" + "; ".join(json.dumps({"name": n, "parameters": a}) for n, a in calls)
    if style == "mistral":
        return "[TOOL_CALLS] " + json.dumps([{"name": n, "arguments": a} for n, a in calls])
    if style == "openai":
        return json.dumps(
            {
                "tool_calls": [
                    {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                    for i, (n, a) in enumerate(calls)
                ]
            }
        )
    return "[" + ", ".join(f"{n}({', '.join(f'{k}={v!r}' for k, v in a.items())})" for n, a in calls) + "]"


@FUZZ_STRUCTURED
@given(
    calls=st.lists(st.tuples(names, arguments), min_size=1, max_size=3),
    style=st.sampled_from(["hermes", "llama3", "mistral", "openai", "python"]),
    explicit=st.booleans(),
)
def test_fuzz_valid_calls_round_trip(calls, style, explicit):
    if style == "python":  # Python literals: keep values Python can write and read back
        calls = [
            (n, {k: v for k, v in a.items() if not isinstance(v, float) and "\\" not in repr(v)}) for n, a in calls
        ]
    text = _render(style, calls)
    result = parse_tool_calls(text, style if explicit else "auto")
    assert result.errors == []
    assert calls_of(result) == calls


@FUZZ_STRUCTURED
@given(
    calls=st.lists(st.tuples(names, arguments), min_size=1, max_size=2),
    cut=st.integers(min_value=0, max_value=400),
    style=st.sampled_from(["hermes", "llama3", "mistral", "openai", "python"]),
)
def test_fuzz_truncated_calls_never_raise(calls, cut, style):
    text = _render(style, calls)
    result = parse_tool_calls(text[: cut % (len(text) + 1)], "auto")
    assert isinstance(result, ParseResult)
