from __future__ import annotations

import openenvs
from openenvs import Message, ToolCall, testing

from .env import KINDS, ShopEnv


def call(env, name, **args):
    return env.step(Message(role="assistant", tool_calls=[ToolCall.create(name, args)]))


def play_oracle(env, index):
    return testing.play_oracle(env, options={"index": index})


def test_oracle_reaches_every_kind_of_goal():
    env = openenvs.make("tools/shop-v1")
    for index in range(3 * len(KINDS)):
        total, r = play_oracle(env, index)
        assert total == 1.0, (index, r.info)
        assert r.info["kind"] == KINDS[index % len(KINDS)]
    env.close()


def test_tasks_are_distinct_goal_states():
    env = ShopEnv()
    prompts = set()
    for index in range(30):
        env.reset(options={"index": index})
        prompts.add(env.task.prompt)
        assert env.task.answer != env.state() or env.task.metadata["kind"].endswith("refuse")
    assert len(prompts) == 30


def test_doing_nothing_scores_zero_even_on_refusal_tasks():
    env = ShopEnv()
    for index in range(len(KINDS)):
        env.reset(options={"index": index})
        r = env.step("Sorry, I can't help.")
        assert r.reward == 0.0, (index, r.info)


def find(env, kind, start=0):
    index = KINDS.index(kind) + start * len(KINDS)
    env.reset(options={"index": index})
    return env.task.metadata["solution"]


def test_cancelling_a_shipped_order_breaks_the_policy():
    env = ShopEnv()
    solution = find(env, "cancel_shipped_refuse")
    email, order_id = solution[0][1]["email"], solution[1][1]["order_id"]
    call(env, "find_customer", email=email)
    r = call(env, "cancel_order", order_id=order_id, reason="asked")
    assert r.observation.messages[0].content == f"Order #{order_id} cancelled."  # the backend lets it happen...
    r = env.step("Cancelled.")
    assert r.reward == 0.0 and any("while shipped" in v for v in r.info["violations"])  # ...the policy does not


def test_acting_without_verifying_identity_fails():
    env = ShopEnv()
    solution = find(env, "cancel_pending")
    call(env, *solution[1][:1], **solution[1][1])
    r = env.step("Done.")
    assert r.info["goal_reached"] and r.reward == 0.0
    assert any("without verifying" in v for v in r.info["violations"])


def test_late_refund_and_over_limit_order_are_violations():
    env = ShopEnv()
    solution = find(env, "refund_late_refuse")
    call(env, "find_customer", email=solution[0][1]["email"])
    call(env, "refund_order", order_id=solution[1][1]["order_id"], reason="changed mind")
    r = env.step("Refunded.")
    assert r.reward == 0.0 and any("days after delivery" in v for v in r.info["violations"])
    solution = find(env, "place_over_limit")
    line = dict(solution[2][1]["items"][0], quantity=8)
    call(env, "find_customer", email=solution[0][1]["email"])
    call(env, "place_order", customer_id=solution[2][1]["customer_id"], items=[line])
    r = env.step("Ordered 8.")
    assert r.reward == 0.0 and any("limit 5" in v for v in r.info["violations"])


def test_state_changes_as_expected():
    env = ShopEnv()
    solution = find(env, "cancel_pending")
    order_id = solution[1][1]["order_id"]
    before = env.state()
    items = [i for i in before["items"] if i[0] == order_id]
    call(env, "find_customer", email=solution[0][1]["email"])
    call(env, "cancel_order", order_id=order_id, reason="x")
    after = env.state()
    assert after["orders"][str(order_id)][1] == "cancelled"
    for _, product, qty in items:
        assert after["stock"][product] == before["stock"][product] + qty
    r = call(env, "cancel_order", order_id=order_id, reason="again")
    assert "already cancelled" in r.observation.messages[0].content


def test_out_of_stock_is_a_hard_error():
    env = ShopEnv()
    solution = find(env, "out_of_stock_alternative")
    customer = solution[2][1]["customer_id"]
    empty = next(p for p in env.list_products() if p["stock"] == 0)
    call(env, "find_customer", email=solution[0][1]["email"])
    r = call(env, "place_order", customer_id=customer, items=[{"product_id": empty["id"], "quantity": 1}])
    assert "only 0 of" in r.observation.messages[0].content


def test_every_kind_has_a_builder_in_order():
    from .env import _KIND_BUILDERS

    assert list(_KIND_BUILDERS) == KINDS
