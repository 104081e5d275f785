from __future__ import annotations

import asyncio

import pytest

from openenvs import Env, Message, MultiTurnEnv, Observation, ResetNeeded, StepResult, Task, Turn, action_text


class Echo(Env):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.word = str(self.np_random.integers(1000))
        return Observation(messages=[Message(role="user", content=f"Say {self.word}")]), {}

    def step(self, action):
        return Observation(), float(self.word in action_text(action)), True, False, {"correct": None}


class Forever(Env):
    max_turns = 3

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return Observation(messages=[Message(role="user", content="go")]), {}

    def step(self, action):
        return StepResult(Observation(), 0.0, False, False, {"correct": None})


class AsyncOnly(Env):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return Observation(messages=[Message(role="user", content="async")]), {}

    async def astep(self, action):
        await asyncio.sleep(0)
        return StepResult(Observation(), 1.0, True, False, {"correct": True})


class Guess(MultiTurnEnv):
    def get_task(self, index):
        return Task(prompt="Guess my number (1-10).", answer=index % 10 + 1)

    def on_reset(self, task):
        self.guesses = 0

    def respond(self, message, task):
        self.guesses += 1
        guess = int(message.text.strip() or 0)
        if guess == task.answer:
            return Turn(reward=1.0, done=True, correct=True)
        hint = "higher" if guess < task.answer else "lower"
        return Turn(messages=[Message(role="user", content=hint)], correct=False)


def test_step_returns_step_result_and_seed_decides_episode():
    a, b = Echo(), Echo()
    assert a.reset(seed=4)[0] == b.reset(seed=4)[0]
    result = a.step(f"ok {a.word}")
    assert isinstance(result, StepResult) and result.reward == 1.0 and result.terminated
    assert {Echo().reset(seed=s)[0].messages[0].content for s in range(20)} != {a.word}


def test_step_before_reset_and_after_end_raise_reset_needed():
    env = Echo()
    with pytest.raises(ResetNeeded, match="before reset"):
        env.step("x")
    env.reset(seed=0)
    env.step("x")
    with pytest.raises(ResetNeeded, match="after the episode ended"):
        env.step("x")


def test_max_turns_truncates():
    env = Forever()
    env.reset(seed=0)
    results = [env.step("a") for _ in range(3)]
    assert [r.truncated for r in results] == [False, False, True]
    assert results[-1].info["truncated_by"] == "max_turns"
    assert env.turn == 3


def test_message_actions_and_async_twins():
    env = Echo()
    obs, _ = asyncio.run(env.areset(seed=1))
    result = asyncio.run(env.astep(Message(role="assistant", content=env.word)))
    assert result.reward == 1.0


def test_async_only_env_works_from_sync_code():
    env = AsyncOnly()
    env.reset(seed=0)
    assert env.step("x").reward == 1.0
    with pytest.raises(ResetNeeded):
        env.step("x")


def test_multi_turn_helper_feeds_back_and_truncates():
    env = Guess(max_turns=5)
    obs, info = env.reset(seed=0, options={"index": 6})
    assert obs.messages[-1].content.startswith("Guess") and info["source"]["index"] == 6
    r = env.step("3")
    assert r.observation.messages[0].content == "higher" and not r.terminated
    r = env.step("7")
    assert r.terminated and r.reward == 1.0 and r.info["correct"] is True
    env.reset(seed=0)
    results = [env.step("0") for _ in range(5)]
    assert results[-1].truncated and not any(x.terminated for x in results)


def test_close_and_context_manager():
    class Counted(Echo):
        closes = 0

        def close(self):
            type(self).closes += 1

    with Counted() as env:
        assert isinstance(env, Counted)  # __enter__ returns the env itself
        env.reset(seed=0)
    assert Counted.closes == 1
    with pytest.raises(RuntimeError, match="boom"), Counted():
        raise RuntimeError("boom")  # an error in the block still closes, and is not swallowed
    assert Counted.closes == 2
    plain = Echo()
    plain.reset(seed=0)
    plain.close()
    plain.close()  # the base close is safe to call twice


class Base(Env):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return Observation(messages=[Message(role="user", content="go")]), {}

    def step(self, action):
        return StepResult(Observation(), 0.0, False, False, {"correct": None})

    async def astep(self, action):
        return StepResult(Observation(), 0.0, False, False, {"correct": None})


class Child(Base):
    def reset(self, *, seed=None, options=None):
        return super().reset(seed=seed, options=options)

    def step(self, action):
        return super().step(action)

    async def astep(self, action):
        return await super().astep(action)


class GrandChild(Child):
    def step(self, action):
        return super().step(action)

    async def astep(self, action):
        return await super().astep(action)


class StepViaThread(Base):
    async def astep(self, action):  # an astep that runs the sync step: still one turn per call
        return await asyncio.to_thread(self.step, action)


@pytest.mark.parametrize("cls", [Child, GrandChild, StepViaThread])
def test_turn_bookkeeping_runs_once_per_public_call(cls):
    env = cls()
    env.max_turns = 4
    env.reset(seed=0)
    for turn in range(1, 5):
        result = env.step("x")
        assert env.turn == turn
        assert result.truncated is (turn == 4)
    with pytest.raises(ResetNeeded):
        env.step("x")

    async def play():
        await env.areset(seed=1)
        for turn in range(1, 5):
            result = await env.astep("x")
            assert env.turn == turn
            assert result.truncated is (turn == 4)

    asyncio.run(play())


def test_a_failing_step_does_not_leave_the_env_inside_a_call():
    class Flaky(Base):
        fail = True

        def step(self, action):
            if self.fail:
                self.fail = False
                raise RuntimeError("boom")
            return super().step(action)

    env = Flaky()
    env.max_turns = 2
    env.reset(seed=0)
    with pytest.raises(RuntimeError):
        env.step("x")
    assert env.step("x").truncated is False and env.turn == 1
    assert env.step("x").truncated is True


def test_a_step_with_a_non_dict_info_is_left_for_check_env_to_report():
    from openenvs.testing import ConformanceError, check_env

    class NoneInfo(Base):
        def step(self, action):
            return StepResult(Observation(), 0.0, True, False, None)

    env = NoneInfo()
    env.reset(seed=0)
    assert env.step("x").info is None  # no crash inside the base class
    with pytest.raises(ConformanceError, match="info is NoneType"):
        check_env(NoneInfo())
