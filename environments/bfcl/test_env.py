"""BFCL: ground truth scores 1.0 and a wrong call 0.0 on every task of every registered category."""

from __future__ import annotations

import pytest

import openenvs
from _require import require_module
from openenvs import Message, ToolCall

from .checker import match_call, standardize
from .env import ground_truth_calls

require_module("bfcl_eval")

SINGLE = ["simple", "multiple", "parallel", "parallel-multiple", "irrelevance"]


@pytest.mark.parametrize("name", SINGLE)
def test_ground_truth_scores_one_and_a_wrong_call_zero_on_the_whole_set(name):
    env = openenvs.make(f"tools/bfcl-{name}-v1")
    n = env.num_tasks()
    assert n >= 200
    for index in range(n):
        env.reset(options={"index": index})
        r = env.step(env.oracle())
        assert r.reward == 1.0, (index, r.info)
        env.reset(options={"index": index})
        functions = env.task.metadata["functions"]
        if name == "irrelevance":
            wrong = [ToolCall.create(functions[0]["name"], {})]
        else:
            wrong = [ToolCall.create("not_a_function", {})]
        assert env.step(Message(role="assistant", tool_calls=wrong)).reward == 0.0, index
        if name != "irrelevance":  # the right function with a wrong value also fails
            env.reset(options={"index": index})
            calls = ground_truth_calls(env.task.answer, functions)
            fname, args = calls[0]
            spoiled = dict(args)
            key = next(iter(spoiled), None)
            spoiled = {**spoiled, key: "__wrong__"} if key else {"__extra__": 1}
            bad = [ToolCall.create(fname, spoiled), *[ToolCall.create(c, a) for c, a in calls[1:]]]
            assert env.step(Message(role="assistant", tool_calls=bad)).reward == 0.0, index


def test_calls_written_as_text_are_scored_too():
    env = openenvs.make("tools/bfcl-parallel-v1")
    env.reset(options={"index": 0})
    calls = ground_truth_calls(env.task.answer, env.task.metadata["functions"])
    python = "[" + ", ".join(f"{n}({', '.join(f'{k}={v!r}' for k, v in a.items())})" for n, a in calls) + "]"
    assert env.step(python).reward == 1.0
    env.reset(options={"index": 0})
    hermes = "".join(
        f'<tool_call>{{"name": "{n}", "arguments": {__import__("json").dumps(a)}}}</tool_call>' for n, a in calls
    )
    assert env.step(hermes).reward == 1.0
    env.reset(options={"index": 0})
    assert env.step(python.replace("[", "", 1)).reward == 0.0  # malformed: no credit


def test_checker_rules():
    assert standardize("New-York, NY") == "newyorkny"
    doc = {
        "name": "f",
        "parameters": {
            "type": "dict",
            "properties": {
                "x": {"type": "float"},
                "unit": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["x"],
        },
    }
    truth = {"f": {"x": [2.0], "unit": ["", "cm"], "tags": [["A b"], ""]}}
    assert match_call("f", {"x": 2}, truth, doc) is None  # int accepted for float, optional params omitted
    assert match_call("f", {"x": 2.0, "unit": "CM", "tags": ["a-b"]}, truth, doc) is None
    assert "wrong value" in match_call("f", {"x": 3.0}, truth, doc)
    assert "missing required" in match_call("f", {"unit": "cm"}, truth, doc)
    assert "unexpected" in match_call("f", {"x": 2.0, "y": 1}, truth, doc)
    assert "expected a call to `f`" in match_call("g", {"x": 2.0}, truth, doc)
    assert match_call("f", {"x": True}, truth, doc) is not None  # bool is not a float


def test_multi_turn_ground_truth_scores_one_and_wrong_calls_zero_on_the_whole_set():
    env = openenvs.make("tools/bfcl-multi-turn-base-v1")
    n = env.num_tasks()
    assert n == 200
    for index in range(n):
        env.reset(options={"index": index})
        total, steps = 0.0, 0
        while True:
            r = env.step(env.oracle())
            total, steps = total + r.reward, steps + 1
            if r.terminated or r.truncated:
                break
        assert total == 1.0 and r.info["correct"], (index, r.info)
        # a wrong call: an unknown function, then claiming the request is done
        env.reset(options={"index": index})
        env.step(Message(role="assistant", tool_calls=[ToolCall.create("not_a_function", {})]))
        r = env.step("Done.")
        assert r.terminated and r.reward == 0.0, index


def test_multi_turn_state_check_catches_a_wrong_argument():
    env = openenvs.make("tools/bfcl-multi-turn-base-v1")
    env.reset(options={"index": 0})
    r = env.step(Message(role="assistant", tool_calls=[ToolCall.create("mkdir", {"dir_name": "wrong_dir"})]))
    r = env.step("Done.")
    assert r.reward == 0.0 and "state differs" in r.info["failure"]
