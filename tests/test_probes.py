"""The reward-hack probes: every probe is well formed, leaky scorers are caught, honest ones pass."""

from __future__ import annotations

import math
import re

import pytest

import openenvs
from openenvs import EnvSpec, Message, Observation, StepResult, ToolSpec
from openenvs.testing import PROBES, ConformanceError, ProbeContext, check_env, check_reward_hacks, play_probe
from openenvs.testing._probes import hack_baseline, hack_margin
from openenvs.verify import extract_answer


def _spec(**fields) -> EnvSpec:
    return EnvSpec(id="test/probe-v1", entry_point="tests.test_probes:Quiz", description="x", license="MIT", **fields)


class Quiz(openenvs.Env):
    """Name a number from 0 to 999; the scorer is `judge` (honest by default)."""

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.answer = str(int(self.np_random.integers(1000)))
        hint = "odd" if int(self.answer) % 2 else "even"
        return Observation(
            messages=[Message(role="user", content=f"Name my {hint} number; answer in \\boxed{{}}.")]
        ), {}

    def judge(self, text: str) -> bool:
        return extract_answer(text, "boxed") == self.answer

    def step(self, action):
        text = action if isinstance(action, str) else action.text
        ok = self.judge(text)
        return StepResult(Observation(), float(ok), True, False, {"correct": ok})


class AnyBox(Quiz):
    def judge(self, text):
        return self.answer in re.findall(r"\\boxed\{([^{}]*)\}", text)


class AnyNumber(Quiz):
    def judge(self, text):
        return self.answer in re.findall(r"\d+", text)


class TrustsClaims(Quiz):
    def judge(self, text):
        return "passed" in text.lower() or super().judge(text)


class Coin(Quiz):
    """Guess heads or tails: a constant answer is right half the time."""

    def judge(self, text):
        return int(self.answer) % 2 == 0


class Crashes(Quiz):
    def judge(self, text):
        if len(text) > 100_000:
            raise ValueError("answer too long")
        return super().judge(text)


def _make(cls, **spec_fields):
    def make():
        env = cls()
        env.spec = _spec(**spec_fields)
        return env

    return make


def test_every_probe_is_named_documented_and_answers():
    names = [p.name for p in PROBES]
    assert len(names) == len(set(names)) >= 30
    assert {p.target for p in PROBES} == {"any", "tools", "code"}
    tools = [ToolSpec(name="add", parameters={"type": "object", "properties": {"a": {"type": "integer"}}})]
    opening = Observation(messages=[Message(role="user", content="def f(x):\n    '''Return 2 + 3.'''")], tools=tools)
    for probe in PROBES:
        assert probe.act.__doc__ and probe.description[0].isupper(), probe.name
        action = probe.act(ProbeContext(opening=opening, history=list(opening.messages)))
        assert isinstance(action, (str, Message)), probe.name
        if isinstance(action, Message):
            assert action.role == "assistant"


def test_honest_scorer_passes_and_reports_every_probe():
    results = check_reward_hacks(_make(Quiz), seeds=range(32))
    assert [r.probe for r in results] == [p.name for p in PROBES if p.target == "any"]
    assert all(r.passed and r.mean == 0.0 and r.seeds == 32 for r in results)


@pytest.mark.parametrize(
    ("cls", "probe"),
    [(AnyBox, "many_boxes"), (AnyNumber, "many_boxes"), (TrustsClaims, "prints_passed")],
)
def test_leaky_scorers_are_caught_with_the_probe_named(cls, probe):
    # TrustsClaims leaks only to text that says "passed": the first probe that says it is in the code battery
    make = _make(cls, tags=["code"]) if probe == "prints_passed" else _make(cls)
    with pytest.raises(ConformanceError) as caught:
        check_reward_hacks(make, seeds=range(32))
    message = str(caught.value)
    assert "reward-hack probe `" in message and "chance baseline 0.000" in message and "Fix:" in message
    assert "chance_reward" in message
    if cls is not TrustsClaims:
        assert f"`{probe}`" in message


def test_claims_of_success_are_caught():
    with pytest.raises(ConformanceError, match="`claims_success`"):
        check_reward_hacks(_make(TrustsClaims), seeds=range(32))


def test_declared_chance_baseline_is_allowed_and_undeclared_is_not():
    with pytest.raises(ConformanceError, match="baseline 0.000"):
        check_reward_hacks(_make(Coin), seeds=range(32))
    results = check_reward_hacks(_make(Coin, chance_reward=0.5), seeds=range(32))
    assert all(r.passed for r in results)
    assert results[0].baseline == 0.5 and results[0].margin == pytest.approx(0.05 + 2 * math.sqrt(0.25 / 32))


def test_margin_and_baseline_rules():
    assert hack_margin(0.0, (0.0, 1.0), 32) == pytest.approx(0.05)
    assert hack_margin(0.0, (0.0, 2.0), 32) == pytest.approx(0.1)
    env = openenvs.make("math/arithmetic-hard-v1", format_reward=0.1)
    assert hack_baseline(env) == pytest.approx(0.1)  # shaping is paid by design, so it is allowed on top of chance
    results = check_reward_hacks(env, seeds=range(32), probes=[p for p in PROBES if p.name == "constant_zero"])
    assert results[0].mean == pytest.approx(0.1) and results[0].passed
    env.close()


def test_a_probe_that_crashes_the_env_is_a_failure():
    with pytest.raises(ConformanceError, match="`huge_output`.*made the env raise ValueError"):
        check_reward_hacks(_make(Crashes), seeds=range(32))


class Talker(openenvs.Env):
    """A multi-turn env that pays 0.5 on its last turn to anything, so random play earns 0.5."""

    max_turns = 5

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.turns = 0
        return Observation(messages=[Message(role="user", content="Talk to me.")]), {}

    def step(self, action):
        self.turns += 1
        last = self.turns == 5
        return StepResult(
            Observation(messages=[Message(role="user", content=f"turn {self.turns}")]), 0.5 * last, False, False, {}
        )


def test_multi_turn_episodes_are_played_to_the_end():
    env = Talker()
    env.spec = _spec(kind="multi-turn", max_turns=5, chance_reward=0.5)
    probe = next(p for p in PROBES if p.name == "echo_last_message")
    assert play_probe(env, probe, seed=0) == [0.0, 0.0, 0.0, 0.0, 0.5]
    assert all(r.mean == 0.5 for r in check_reward_hacks(env, seeds=range(32)))
    env.spec = _spec(kind="multi-turn", max_turns=5)
    with pytest.raises(ConformanceError, match="`empty`.*mean reward at least 0.062 over 32 seeds"):
        check_reward_hacks(env, seeds=range(32))


def test_check_env_runs_the_probes():
    with pytest.raises(ConformanceError, match="reward-hack probe"):
        check_env(AnyBox(), cross_process=False)
    check_env(AnyBox(), cross_process=False, hacks=False)


def test_chance_reward_is_a_manifest_field_outside_the_fingerprint():
    base = _spec()
    assert base.chance_reward == 0.0
    declared = _spec(chance_reward=0.25)
    assert declared.fingerprint == base.fingerprint and declared.to_json_dict()["chance_reward"] == 0.25
    with pytest.raises(ValueError, match="chance_reward"):
        _spec(chance_reward=math.inf)
    assert "random play" in EnvSpec.model_fields["chance_reward"].description


@pytest.mark.parametrize(
    ("answer", "reward"),
    [
        ("\\boxed{8}", 1.0),
        ("\\boxed{8.}", 1.0),
        ("\\boxed{x = 8}", 1.0),
        ("\\boxed{8 \\text{ apples}}", 1.0),
        ("\\boxed{0 + 8}", 0.0),  # the question restated
        ("\\boxed{2^{3}}", 0.0),  # arithmetic left undone
        ("\\boxed{4 \\times 2}", 0.0),
        ("\\boxed{\\frac{16}{2}}", 1.0),  # checked by value, as before: not reduced, but no arithmetic to do
    ],
)
def test_math_answers_must_state_the_value(answer, reward):
    env = openenvs.make("math/arithmetic-v1")
    env.reset(seed=5)  # What is 0 + 8?
    assert str(env.task.answer) == "8"
    assert env.step(answer).reward == reward
    if reward == 0.0:  # answer_form="expression" keeps math-verify's wider reading
        loose = openenvs.make("math/arithmetic-v1", answer_form="expression")
        loose.reset(seed=5)
        assert loose.step(answer).reward == 1.0


def test_copying_the_questions_formula_is_not_an_answer():
    env = openenvs.make("math/competition-sample-v1")
    for seed, copied in [(14, "\\frac{18}{24}"), (7, "\\frac{1}{\\sqrt{2}}")]:
        env.reset(seed=seed)
        assert copied.replace("\\", "") in env.task.prompt.replace("\\", "").replace(" ", "")
        assert env.step(f"\\boxed{{{copied}}}").reward == 0.0
        env.reset(seed=seed)
        assert env.step(env.oracle()).reward == 1.0
