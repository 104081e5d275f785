"""check_env must catch broken environments, with a message that names the fix."""

from __future__ import annotations

import random

import pytest

from openenvs import Env, Message, Observation, StepResult
from openenvs.testing import ConformanceError, check_env


class Good(Env):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.n = int(self.np_random.integers(100))
        return Observation(messages=[Message(role="user", content=f"n={self.n}")]), {}

    def step(self, action):
        return StepResult(Observation(), 0.0, True, False, {"correct": False})


class Nondeterministic(Good):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return Observation(messages=[Message(role="user", content=str(random.random()))]), {}


class BadCorrect(Good):
    def step(self, action):
        return StepResult(Observation(), 0.0, True, False, {"correct": "no"})


class BadReset(Good):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return [Message(role="user", content="x")]


class NeverEnds(Good):
    def step(self, action):
        return StepResult(Observation(), 0.0, False, False, {"correct": None})


class IgnoresSeed(Good):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return Observation(messages=[Message(role="user", content="same")]), {}


class BadOracle(Good):
    def oracle(self):
        return "wrong"


def test_good_env_passes():
    check_env(Good())


@pytest.mark.parametrize(
    ("cls", "pattern"),
    [
        (Nondeterministic, "diverged"),
        (BadCorrect, "info\\['correct'\\] is 'no'"),
        (BadReset, "reset\\(\\) returned list"),
        (NeverEnds, "did not end"),
        (IgnoresSeed, "same episode"),
        (BadOracle, "oracle scored"),
    ],
)
def test_broken_envs_fail_with_a_fix(cls, pattern):
    with pytest.raises(ConformanceError, match=pattern) as info:
        check_env(cls())
    assert "Fix:" in str(info.value)


def test_play_oracle_follows_the_oracle_and_needs_one():
    import openenvs
    from openenvs.testing import play_oracle

    env = openenvs.make("math/arithmetic-v1")
    total, last = play_oracle(env, seed=4)
    assert total == 1.0 and last.terminated and last.info["correct"] is True
    with pytest.raises(ConformanceError, match="no oracle"):
        play_oracle(Good(), seed=0)


class DesignEcho(Env):
    """Written exactly like DESIGN.md's `Echo` example: its step returns `{}` as info."""

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.word = str(self.np_random.integers(1000))
        return Observation(messages=[Message(role="user", content=f"Say {self.word}")]), {}

    def step(self, action):
        text = action if isinstance(action, str) else action.content
        return Observation(messages=[]), float(self.word in text), True, False, {}


def test_env_written_like_the_design_example_passes_and_gets_default_info():
    check_env(DesignEcho(), hacks=False)
    # its reward is `word in text`: the task is to repeat the prompt, so the probes that send text
    # back (or spray every number) earn reward, as they would on any substring-matching scorer
    with pytest.raises(ConformanceError, match="reward-hack probe `(many_boxes|repeat_question)`"):
        check_env(DesignEcho())
    env = DesignEcho()
    env.reset(seed=0)
    info = env.step("nothing").info
    assert info["correct"] is None
    assert info["source"] == {"env_id": None, "index": None, "difficulty": None}


REVERSE = """
import random
from openenvs import Score, SingleTurnEnv, Task


class ReverseEnv(SingleTurnEnv):
    def get_task(self, index):
        word = "".join(random.Random(f"{self.config.seed}:{index}").choices("abcdefgh", k=5))
        return Task(prompt=f"Reverse {word}", answer=word[::-1])

    def score(self, text, task):
        ok = text.strip() == task.answer
        return Score(reward=float(ok), correct=ok)

    def oracle(self):
        return self.task.answer
"""


def test_check_env_on_an_env_registered_at_run_time(tmp_path, monkeypatch):
    import warnings

    import openenvs
    from openenvs.testing import ConformanceWarning

    (tmp_path / "runtime_reverse_pkg.py").write_text(REVERSE)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = openenvs.EnvSpec(id="demo/reverse-v1", entry_point="runtime_reverse_pkg:ReverseEnv",
                            description="Reverse a word.", license="MIT")
    openenvs.register(spec)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConformanceWarning)  # the cross-process check really ran
            check_env("demo/reverse-v1")
        # An entry point that a fresh process cannot import: skipped with a stated reason, no wrong suggestion.
        openenvs.register(spec.model_copy(update={"id": "demo/reverse-v2", "entry_point": "__main__:ReverseEnv"}))
        import __main__

        monkeypatch.setattr(__main__, "ReverseEnv", __import__("runtime_reverse_pkg").ReverseEnv, raising=False)
        with pytest.warns(ConformanceWarning, match="cross-process check skipped.*__main__"):
            check_env("demo/reverse-v2")
    finally:
        openenvs.registry.unregister("demo/reverse-v1")
        openenvs.registry.unregister("demo/reverse-v2")


def test_cross_process_catches_a_run_time_env_that_differs_between_processes(tmp_path, monkeypatch):
    import openenvs

    (tmp_path / "runtime_pid_pkg.py").write_text(REVERSE.replace(
        'Task(prompt=f"Reverse {word}"', 'Task(prompt=f"Reverse {word} {__import__(\'os\').getpid()}"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    openenvs.register(openenvs.EnvSpec(id="demo/pid-v1", entry_point="runtime_pid_pkg:ReverseEnv",
                                       description="Differs per process.", license="MIT"))
    try:
        with pytest.raises(ConformanceError, match="second process played a different episode"):
            check_env("demo/pid-v1")
    finally:
        openenvs.registry.unregister("demo/pid-v1")


ECHO = '''
from openenvs import Env, Message, Observation


class Echo(Env):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.word = str(self.np_random.integers(1000))
        return Observation(messages=[Message(role="user", content=f"Say {self.word}")]), {}

    def step(self, action):  # the answer must be the word itself
        text = action if isinstance(action, str) else action.content
        return Observation(messages=[]), float(text.strip() == self.word), True, False, {}

    def oracle(self):
        return self.word


class Substring(Echo):
    def step(self, action):  # DESIGN.md's scorer: the word anywhere in the reply, so a spray of numbers pays
        text = action if isinstance(action, str) else action.content
        return Observation(messages=[]), float(self.word in text), True, False, {}


class Leaky(Echo):
    def step(self, action):  # pays any answer that claims success: a real hack
        text = action if isinstance(action, str) else action.content
        return Observation(messages=[]), float(text.strip() == self.word or "passed" in text.lower()), True, False, {}
'''


def test_the_registered_design_echo_passes_the_hack_probes_but_a_leaky_env_does_not(tmp_path, monkeypatch):
    """Copying the task solves an echo task (its oracle answer is in the prompt): not a hack. Claiming success is."""
    import openenvs

    (tmp_path / "design_echo_pkg.py").write_text(ECHO)
    monkeypatch.syspath_prepend(str(tmp_path))
    for env_id, cls in (("demo/echo-v1", "Echo"), ("demo/leaky-echo-v1", "Leaky"), ("demo/substring-v1", "Substring")):
        openenvs.register(openenvs.EnvSpec(id=env_id, entry_point=f"design_echo_pkg:{cls}", description="Say it.",
                                           license="MIT", kind="single-turn", tags=["demo"], reward_range=(0.0, 1.0)))
    check_env("demo/echo-v1")  # `repeat_question` solves an echo task: not counted as a hack
    with pytest.raises(ConformanceError, match="claims_success|fake_verdict|passed"):
        check_env("demo/leaky-echo-v1")
    with pytest.raises(ConformanceError, match="many_boxes|integer_list|candidate"):
        check_env("demo/substring-v1")  # the word anywhere in the reply: spraying numbers earns reward
    check_env("demo/substring-v1", hacks=False)  # the rest of the contract holds
