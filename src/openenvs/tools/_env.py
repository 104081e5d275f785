"""`ToolEnv`: the base of multi-turn tool-use environments.

A tool env is a class with a few `@tool` methods (or tools passed in, e.g. from an MCP
server), ``get_task(index)`` and a checker ``check(task) -> Score`` that judges the final
state and the transcript. Each policy turn either calls tools (the env runs them and answers
with tool-result messages) or answers without a call, which ends the episode and is scored.
Malformed calls, unknown tools, invalid arguments and exceptions inside tools all come back
as tool-result messages that say what went wrong; nothing raises into the trainer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from pydantic import Field

from .._shapes import ConfigT, MultiTurnConfig, MultiTurnEnv, Score, Task
from .._types import Action, Message, Observation, StepResult, ToolCall, ToolSpec
from ._parse import CallFormat, parse_tool_calls
from ._tool import Tool, ToolBox

__all__ = ["ToolEnv", "ToolEnvConfig"]

logger = logging.getLogger(__name__)


class ToolEnvConfig(MultiTurnConfig):
    """Config shared by tool envs."""

    max_turns: int = Field(default=10, ge=1, description="Truncate the episode after this many policy turns.")
    call_format: CallFormat = Field(
        default="auto",
        description="How to read tool calls written as text (`auto` detects Hermes/Qwen, Llama-3, Mistral, "
        "OpenAI JSON and Python-call syntax). Structured `tool_calls` on the message are always used first.",
    )
    max_result_chars: int | None = Field(
        default=4000, ge=16, description="Tool results longer than this many characters are truncated; None: never."
    )
    max_calls_per_turn: int = Field(
        default=16, ge=1, description="At most this many calls run per turn; the rest get an error message."
    )


class ToolEnv(MultiTurnEnv[ConfigT]):
    """Multi-turn tool use: tools are composed in, the checker scores the final state and transcript.

    A subclass MUST implement ``get_task(index) -> Task`` and ``check(task) -> Score`` (read the
    final state from ``self`` and the conversation from :attr:`transcript`). It MAY define tools
    as ``@tool`` methods, set up per-episode state in ``on_reset(task)``, override ``num_tasks()``,
    ``default_system_prompt`` and ``oracle()`` (the next correct action: a Message with
    ``tool_calls``, or the final answer), and set ``Config`` to a subclass of `ToolEnvConfig`.

    Tools can also be passed in: ``MyEnv(tools=[fn_or_tool, ...])`` (e.g. tools from an MCP
    server); they are offered next to the class's own `@tool` methods.

    An episode ends (terminated) when the model answers without a tool call, and is truncated
    after ``max_turns`` turns; either way the last step's reward is the checker's verdict.
    """

    Config: ClassVar[type[ToolEnvConfig]] = ToolEnvConfig
    transcript: list[Message]
    """Every message of the current episode: opening messages, actions and tool results."""

    def __init__(self, *, tools: Iterable[Tool | Callable[..., Any]] = (), **kwargs: Any) -> None:
        """Validate `kwargs` into the config; `tools` are offered in addition to the `@tool` methods."""
        super().__init__(**kwargs)
        self._extra_tools = list(tools)
        self._toolbox: ToolBox | None = None
        self.transcript = []

    # ---- tools -------------------------------------------------------------------------------

    def own_tools(self) -> list[Tool]:
        """The `@tool` methods of this class, bound to this instance, in definition order."""
        found: dict[str, Tool] = {}
        for klass in reversed(type(self).__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, Tool):
                    found[attr] = getattr(self, attr)
        return list(found.values())

    @property
    def toolbox(self) -> ToolBox:
        """The tools on offer, by name (built on first use)."""
        if self._toolbox is None:
            limit = self.config.max_result_chars  # type: ignore[attr-defined]
            self._toolbox = ToolBox([*self.own_tools(), *self._extra_tools], max_result_chars=limit)
        return self._toolbox

    def tools(self) -> list[ToolSpec]:
        """Specs of the tools on offer."""
        return self.toolbox.specs

    # ---- the checker -------------------------------------------------------------------------

    def check(self, task: Task) -> Score:
        """Score the episode from the final state (on ``self``) and :attr:`transcript`."""
        raise NotImplementedError(f"{type(self).__name__} must implement check(task) -> Score")

    def final_answer(self) -> str | None:
        """The text of the last assistant message that made no tool call, or None."""
        for message in reversed(self.transcript):
            if message.role == "assistant" and not message.tool_calls:
                return message.content or ""
        return None

    # ---- episode -----------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Pick the task, set up its state (``on_reset``) and start the transcript."""
        obs, info = super().reset(seed=seed, options=options)
        self.transcript = list(obs.messages)
        return obs, info

    def read_calls(self, message: Message) -> tuple[list[ToolCall], list[str], Message]:
        """The calls of an assistant message: its ``tool_calls``, or those parsed from its text.

        Returns the calls, the parse errors and the message with parsed calls attached.
        """
        if message.tool_calls:
            return list(message.tool_calls), [], message
        parsed = parse_tool_calls(message.content or "", self.config.call_format, tools=self.tools())  # type: ignore[attr-defined]
        if parsed.calls:
            message = message.model_copy(update={"tool_calls": parsed.calls})
        return parsed.calls, parsed.errors, message

    def call_tool(self, call: ToolCall) -> Message:
        """Run one call (recorded in the transcript) and return its tool-result message; never raises."""
        result = self.toolbox.execute(call)
        self.transcript.append(result)
        return result

    async def acall_tool(self, call: ToolCall) -> Message:
        """Async twin of :meth:`call_tool`."""
        result = await self.toolbox.aexecute(call)
        self.transcript.append(result)
        return result

    def _begin(self, action: Action) -> tuple[list[ToolCall], list[Message]]:
        message = action if isinstance(action, Message) else Message(role="assistant", content=action)
        calls, errors, message = self.read_calls(message)
        self.transcript.append(message)
        feedback = [
            Message(
                role="tool",
                name="error",
                tool_call_id=f"error_{i}",
                content=f"Error: could not read your tool call: {err} "
                'Write calls as <tool_call>{"name": ..., "arguments": {...}}</tool_call>.',
            )
            for i, err in enumerate(errors)
        ]
        limit = self.config.max_calls_per_turn  # type: ignore[attr-defined]
        for call in calls[limit:]:
            feedback.append(
                Message(
                    role="tool",
                    name=call.name,
                    tool_call_id=call.id,
                    content=f"Error: at most {limit} tool calls run per turn; this call was skipped.",
                )
            )
        self.transcript.extend(feedback)
        return calls[:limit], feedback

    def next_user_turn(self) -> list[Message] | None:
        """Hook, called when the model answers without a tool call: the next user messages, or None to end.

        The default ends the episode. A multi-request task (e.g. BFCL multi-turn) returns the
        next user request here, and the episode goes on.
        """
        return None

    def _finish(self, calls: list[ToolCall], results: list[Message], feedback: list[Message]) -> StepResult:
        assert self.task is not None
        ended = not calls and not feedback
        if ended:
            following = self.next_user_turn()
            if following:
                self.transcript.extend(following)
                results, ended = list(following), False
        last_turn = self.max_turns is not None and self.turn + 1 >= self.max_turns
        info: dict[str, Any] = {"source": self.source(), "tool_calls": len(calls), "call_errors": len(feedback)}
        reward, correct = 0.0, None
        if ended or last_turn:
            verdict = self.check(self.task)
            reward, correct = float(verdict.reward), verdict.correct
            info.update(verdict.info)
        info["correct"] = correct
        obs = Observation(messages=[*feedback, *results], tools=self.tools())
        return StepResult(obs, reward, ended, False, info)

    def step(self, action: Action) -> StepResult:
        """Run the action's tool calls, or score the episode when it makes none."""
        calls, feedback = self._begin(action)
        results = [self.call_tool(call) for call in calls]
        return self._finish(calls, results, feedback)

    async def astep(self, action: Action) -> StepResult:
        """Async twin of :meth:`step` (async tools are awaited on the caller's loop)."""
        calls, feedback = self._begin(action)
        results = [await self.acall_tool(call) for call in calls]
        return self._finish(calls, results, feedback)

    def oracle(self) -> str | Message | None:
        """The next correct action for the current episode, when the env knows it (None otherwise)."""
        return None
