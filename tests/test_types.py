from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from openenvs import Message, Observation, StepResult, ToolCall, ToolSpec


def test_message_round_trips_openai_dicts():
    raw = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}],
    }
    msg = Message.from_dict(raw)
    assert msg.tool_calls[0].name == "add"
    assert msg.tool_calls[0].parsed_arguments() == {"a": 1, "b": 2}
    assert msg.to_dict() == {k: v for k, v in raw.items() if v is not None}
    tool_reply = {"role": "tool", "content": "3", "tool_call_id": "c1", "name": "add"}
    assert Message.from_dict(tool_reply).to_dict() == tool_reply


def test_arguments_given_as_dict_are_encoded():
    call = ToolCall.model_validate({"id": "x", "function": {"name": "f", "arguments": {"b": 1, "a": 2}}})
    assert json.loads(call.function.arguments) == {"a": 2, "b": 1}


def test_bad_role_and_unknown_field_fail_loudly():
    with pytest.raises(ValidationError):
        Message(role="robot", content="hi")
    with pytest.raises(ValidationError):
        Message.from_dict({"role": "user", "content": "hi", "contnet": "typo"})


def test_toolspec_accepts_openai_form_and_renders_it():
    openai_form = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}
    spec = ToolSpec.model_validate(openai_form)
    assert spec.name == "f"
    assert spec.to_openai() == openai_form


def test_observation_to_dict_and_step_result_unpacks():
    obs = Observation(messages=[Message(role="user", content="q")], tools=[ToolSpec(name="t")])
    assert obs.to_dict()["messages"] == [{"role": "user", "content": "q"}]
    assert obs.to_dict()["tools"][0]["function"]["name"] == "t"
    result = StepResult(obs, 1.0, True, False, {})
    o, r, term, trunc, info = result
    assert (r, term, trunc, info) == (1.0, True, False, {}) and result.reward == 1.0
