from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from openenvs import Message, ToolCall
from openenvs.tools import Tool, ToolBox, format_result, tool, truncate


@tool
def add(a: int, b: int = 2) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend,
            defaults to two.
    """
    return a + b


@tool(name="fetch", description="Fetch a page.")
async def fetch_page(url: str) -> str:
    """Ignored because description is given.

    Args:
        url: The address.
    """
    await asyncio.sleep(0)
    return f"<html>{url}</html>"


class Point(BaseModel):
    x: float
    y: float


@tool
def norm(p: Point, scale: float | None = None) -> float:
    """Length of a point.

    Args:
        p: The point.
        scale: Optional factor.
    """
    return (p.x**2 + p.y**2) ** 0.5 * (scale or 1)


@tool
def boom(x: int) -> int:
    """Always fails.

    Args:
        x: Anything.
    """
    raise RuntimeError(f"boom {x}")


def test_schema_from_hints_and_docstring():
    spec = add.spec
    assert spec.name == "add"
    assert spec.description == "Add two integers."
    assert spec.parameters["required"] == ["a"]
    assert spec.parameters["properties"]["a"] == {"type": "integer", "description": "First addend."}
    assert spec.parameters["properties"]["b"]["description"] == "Second addend, defaults to two."
    assert spec.parameters["properties"]["b"]["default"] == 2
    assert "title" not in json.dumps(spec.parameters)
    assert fetch_page.spec.name == "fetch" and fetch_page.spec.description == "Fetch a page."
    assert fetch_page.is_async and not add.is_async


def test_nested_models_are_inlined():
    params = norm.spec.parameters
    assert "$defs" not in params and "$ref" not in json.dumps(params)
    assert params["properties"]["p"]["properties"]["x"]["type"] == "number"
    assert norm.run({"p": {"x": 3, "y": 4}}) == "5.0"


def test_validation_coerces_and_rejects():
    assert add.validate({"a": "3"}) == {"a": 3}
    assert add.run({"a": 1, "b": 5}) == "6"
    with pytest.raises(ValidationError):
        add.validate({"a": "three"})
    with pytest.raises(ValidationError):
        add.validate({"a": 1, "c": 2})


def test_async_tool_runs_from_sync_and_async_code():
    assert fetch_page.run({"url": "x"}) == "<html>x</html>"
    assert asyncio.run(fetch_page.arun({"url": "y"})) == "<html>y</html>"

    async def inside_loop():  # sync run from inside a running loop uses a helper thread
        return fetch_page.run({"url": "z"})

    assert asyncio.run(inside_loop()) == "<html>z</html>"


def test_toolbox_turns_every_failure_into_a_message():
    box = ToolBox([add, fetch_page, boom, norm])
    ok = box.execute(ToolCall.create("add", {"a": 1}, id="c1"))
    assert (ok.role, ok.content, ok.tool_call_id, ok.name) == ("tool", "3", "c1", "add")
    unknown = box.execute(ToolCall.create("ad", {"a": 1}))
    assert "unknown tool `ad`" in unknown.content and "Did you mean `add`" in unknown.content
    bad_json = box.execute(ToolCall(id="c", function={"name": "add", "arguments": "{not json"}))
    assert bad_json.content.startswith("Error:") and "not valid JSON" in bad_json.content
    not_object = box.execute(ToolCall(id="c", function={"name": "add", "arguments": "[1, 2]"}))
    assert "must be a JSON object" in not_object.content
    invalid = box.execute(ToolCall.create("add", {"a": "x", "zzz": 1}))
    assert "invalid arguments for `add`" in invalid.content and "zzz" in invalid.content
    missing = box.execute(ToolCall.create("add", {}))
    assert "missing required argument `a`" in missing.content
    raised = box.execute(ToolCall.create("boom", {"x": 7}))
    assert raised.content == "Error: tool `boom` raised RuntimeError: boom 7"
    assert asyncio.run(box.aexecute(ToolCall.create("fetch", {"url": "u"}))).content == "<html>u</html>"
    assert asyncio.run(box.aexecute(ToolCall.create("boom", {"x": 1}))).content.startswith("Error: tool `boom`")


def test_truncation_and_formatting():
    box = ToolBox([tool(lambda n: "x" * n, name="rep")], max_result_chars=20)
    out = box.execute(ToolCall.create("rep", {"n": 100})).content
    assert out.startswith("x" * 20) and "truncated 80 characters" in out
    assert truncate("abc", None) == "abc"
    assert format_result({"a": 1}) == '{"a": 1}'
    assert format_result(Point(x=1, y=2)) == '{"x":1.0,"y":2.0}'
    assert format_result(None) == "null"


def test_duplicate_and_bad_names_are_refused():
    with pytest.raises(ValueError, match="Two tools are named"):
        ToolBox([add, add])
    with pytest.raises(ValueError, match="not valid"):
        Tool(lambda: 1, name="bad name!")


def test_method_tools_bind_to_their_instance():
    class Counter:
        def __init__(self):
            self.n = 0

        @tool
        def bump(self, by: int = 1) -> int:
            """Increase the counter.

            Args:
                by: Step.
            """
            self.n += by
            return self.n

    a, b = Counter(), Counter()
    assert "self" not in a.bump.spec.parameters["properties"]
    assert a.bump is a.bump  # cached per instance
    box = ToolBox([a.bump])
    box.execute(ToolCall.create("bump", {"by": 5}))
    assert (a.n, b.n) == (5, 0)


BOX = ToolBox([add, fetch_page, boom, norm])


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["add", "fetch", "boom", "norm", "nope", ""]), arguments=st.text(max_size=60))
def test_fuzz_execute_never_raises(name, arguments):
    out = BOX.execute(ToolCall(id="c", function={"name": name, "arguments": arguments}))
    assert isinstance(out, Message) and out.role == "tool" and isinstance(out.content, str)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(["add", "norm", "boom"]),
    arguments=st.dictionaries(st.sampled_from(["a", "b", "p", "x", "scale", "z"]), json_values, max_size=4),
)
def test_fuzz_structured_arguments_never_raise(name, arguments):
    out = BOX.execute(ToolCall.create(name, arguments))
    assert isinstance(out.content, str)
    if name == "boom" and set(arguments) == {"x"} and type(arguments["x"]) is int:
        assert out.content.startswith("Error: tool `boom` raised RuntimeError")
