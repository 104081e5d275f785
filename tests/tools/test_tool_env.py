from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openenvs import Message, Score, Task, ToolCall
from openenvs.testing import check_env
from openenvs.tools import ToolEnv, ToolEnvConfig, tool


class NotesConfig(ToolEnvConfig):
    """Config of the test env."""


class NotesEnv(ToolEnv[NotesConfig]):
    """Save the word from the prompt in a note, then answer 'saved'."""

    Config = NotesConfig
    default_system_prompt = "Use the tools."

    def num_tasks(self) -> int:
        return 25

    def get_task(self, index: int) -> Task:
        word = ["apple", "pear", "plum", "fig", "kiwi"][index % 5] + str(index)
        return Task(prompt=f"Save the word {word} in a note.", answer=word)

    def on_reset(self, task: Task) -> None:
        self.notes: list[str] = []

    @tool
    def save_note(self, text: str) -> str:
        """Save a note.

        Args:
            text: The note.
        """
        self.notes.append(text)
        return f"saved {len(self.notes)}"

    @tool
    async def count_notes(self) -> int:
        """Count notes."""
        await asyncio.sleep(0)
        return len(self.notes)

    def check(self, task: Task) -> Score:
        ok = task.answer in self.notes and "saved" in (self.final_answer() or "")
        return Score(reward=1.0 if ok else 0.0, correct=ok, info={"notes": list(self.notes)})

    def oracle(self) -> str | Message | None:
        if not self.notes:
            return Message(role="assistant", tool_calls=[ToolCall.create("save_note", {"text": self.task.answer})])
        return "saved"


def test_episode_with_calls_then_answer():
    env = NotesEnv()
    obs, info = env.reset(seed=0)
    assert [t.name for t in obs.tools] == ["save_note", "count_notes"]
    word = env.task.answer
    r = env.step(f'<tool_call>{{"name": "save_note", "arguments": {{"text": "{word}"}}}}</tool_call>')
    assert (r.reward, r.terminated, r.truncated) == (0.0, False, False)
    assert r.observation.messages[0].content == "saved 1" and r.info["correct"] is None
    r = env.step(Message(role="assistant", tool_calls=[ToolCall.create("count_notes", {})]))
    assert r.observation.messages[0].content == "1"
    r = env.step("All saved.")
    assert (r.reward, r.terminated, r.info["correct"]) == (1.0, True, True)
    roles = [m.role for m in env.transcript]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert env.transcript[2].tool_calls[0].name == "save_note"  # parsed calls are attached to the transcript


def test_bad_calls_are_feedback_not_exceptions():
    env = NotesEnv()
    env.reset(seed=1)
    r = env.step(
        '<tool_call>{"name": "save_note", "arguments": {"txt": 1}}</tool_call><tool_call>{oops</tool_call>'
        '<tool_call>{"name": "delete_all", "arguments": {}}</tool_call>'
    )
    texts = [m.content for m in r.observation.messages]
    assert not r.terminated and all(m.role == "tool" for m in r.observation.messages)
    assert any("could not read your tool call" in t for t in texts)
    assert any("invalid arguments for `save_note`" in t for t in texts)
    assert any("unknown tool `delete_all`" in t for t in texts)
    assert r.info["call_errors"] == 1 and r.info["tool_calls"] == 2


def test_max_turns_truncates_and_scores_the_state():
    env = NotesEnv(max_turns=2)
    env.reset(seed=2)
    env.step(env.oracle())
    r = env.step(Message(role="assistant", tool_calls=[ToolCall.create("count_notes", {})]))
    assert r.truncated and not r.terminated and r.info["truncated_by"] == "max_turns"
    assert r.info["correct"] is False  # the word is saved but the model never answered


def test_calls_per_turn_are_capped():
    env = NotesEnv(max_calls_per_turn=1)
    env.reset(seed=3)
    calls = [ToolCall.create("save_note", {"text": str(i)}, id=f"c{i}") for i in range(3)]
    r = env.step(Message(role="assistant", tool_calls=calls))
    assert env.notes == ["0"]
    assert sum("at most 1 tool calls" in m.content for m in r.observation.messages) == 2


def test_composed_tools_sit_next_to_the_class_tools():
    seen: list[Any] = []

    def shout(text: str) -> str:
        """Shout.

        Args:
            text: What to shout.
        """
        seen.append(text)
        return text.upper()

    env = NotesEnv(tools=[shout])
    obs, _ = env.reset(seed=0)
    assert "shout" in [t.name for t in obs.tools]
    r = env.step(Message(role="assistant", tool_calls=[ToolCall.create("shout", {"text": "hi"})]))
    assert r.observation.messages[0].content == "HI" and seen == ["hi"]


def test_async_step_awaits_async_tools():
    env = NotesEnv()

    async def play():
        await env.areset(seed=4)
        r = await env.astep(env.oracle())
        r2 = await env.astep(Message(role="assistant", tool_calls=[ToolCall.create("count_notes", {})]))
        r3 = await env.astep("saved")
        return r, r2, r3

    r, r2, r3 = asyncio.run(play())
    assert r2.observation.messages[0].content == "1" and r3.reward == 1.0


def test_conformance():
    check_env(NotesEnv())


def test_config_typos_fail_loudly():
    with pytest.raises(Exception, match="max_turn"):
        NotesEnv(max_turn=3)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(
        st.one_of(
            st.text(max_size=80),
            st.sampled_from(
                [
                    '<tool_call>{"name": "save_note", "arguments": {"text": 1}}</tool_call>',
                    '<tool_call>{"name": "count_notes"}</tool_call>',
                    "[save_note(text='x')]",
                    "<tool_call>{",
                    "[TOOL_CALLS] [",
                    "",
                ]
            ),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_fuzz_any_policy_output_is_a_valid_step(texts):
    env = NotesEnv(max_turns=4)
    env.reset(seed=0)
    for text in texts:
        r = env.step(text)
        assert 0.0 <= r.reward <= 1.0 and all(m.role == "tool" for m in r.observation.messages)
        if r.terminated or r.truncated:
            break


def test_importing_openenvs_tools_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, openenvs.tools, openenvs.envs.shop.env, openenvs.envs.calculator.env; "
        "heavy = [m for m in ('mcp', 'transformers', 'torch', 'trl', 'vllm', 'bfcl_eval') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
