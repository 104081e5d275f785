from __future__ import annotations

import inspect

import pytest

from _require import require_module
from openenvs.tools import environment_factory


def public_functions(cls):
    return {n for n, _ in inspect.getmembers(cls, predicate=inspect.isfunction) if not n.startswith("_")}


def test_shop_as_trl_environment_factory():
    factory = environment_factory("tools/shop-v1")
    env = factory()
    assert public_functions(factory) == {
        "reset",
        "get_reward",
        "find_customer",
        "list_products",
        "list_orders",
        "get_order",
        "cancel_order",
        "refund_order",
        "update_address",
        "place_order",
    }
    prompt = env.reset(index=0)
    assert isinstance(prompt, str) and "@example.com" in prompt
    assert env.reset(index=0, prompt=[{"role": "user", "content": "x"}]) is None
    # play the reference solution through the methods, as TRL's tool loop would
    for name, args in env.env.task.metadata["solution"]:
        out = getattr(env, name)(**args)
        assert not out.startswith("Error"), out
    assert env.get_reward() == 1.0
    env.reset(index=0)
    assert env.get_reward() == 0.0
    assert env.cancel_order(order_id=999999, reason="x").startswith("Error: tool `cancel_order` raised LookupError")


def test_methods_carry_schemas_transformers_can_read():
    get_json_schema = require_module("transformers.utils").get_json_schema
    factory = environment_factory("tools/calculator-v1")
    schema = get_json_schema(factory().calculate)
    assert schema["function"]["name"] == "calculate"
    assert schema["function"]["parameters"]["required"] == ["expression"]
    assert schema["function"]["parameters"]["properties"]["expression"]["type"] == "string"
    shop = environment_factory("tools/shop-v1")()
    place = get_json_schema(shop.place_order)["function"]["parameters"]
    assert place["properties"]["items"]["type"] == "array" and set(place["required"]) == {"customer_id", "items"}
    lp = get_json_schema(shop.list_products)["function"]["parameters"]
    assert "category" in lp["properties"] and "category" not in lp.get("required", [])


def test_calculator_final_answer_through_finish():
    env = environment_factory("tools/calculator-v1")()
    env.reset(index=3)
    result = env.calculate(expression=env.env.task.metadata["expression"])
    assert env._finish([{"role": "assistant", "content": f"\\boxed{{{result}}}"}]) == 1.0
    env.reset(index=3)
    assert env._finish("\\boxed{-1}") == 0.0


def test_non_tool_envs_are_refused():
    with pytest.raises(TypeError, match="needs a ToolEnv"):
        environment_factory("math/arithmetic-v1")
