"""`tools/bfcl-<category>-v1`: BFCL single-turn function calling, scored by AST match.

Categories: ``simple`` (Python), ``multiple``, ``parallel``, ``parallel_multiple`` and
``irrelevance``. The model sees the question and the functions (as tools) and answers once:
with structured ``tool_calls`` or with calls written as text in any format
`openenvs.tools.parse_tool_calls` reads (BFCL's own ``[f(a=1), g(b=2)]`` included). Reward is
1.0 when the calls match ``possible_answer`` (see `openenvs.envs.bfcl.checker`); for
``irrelevance`` it is 1.0 when the model makes no call.

Data: the `bfcl-eval` package (Apache-2.0), installed with ``pip install --no-deps bfcl-eval``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from pydantic import Field

from openenvs import Action, EnvConfig, Message, Observation, Score, SingleTurnEnv, StepResult, Task, ToolCall, ToolSpec
from openenvs.tools import CallFormat, parse_tool_calls

from .checker import match_calls
from .data import load_rows, tool_specs

__all__ = ["BFCLConfig", "BFCLEnv", "ground_truth_calls"]

SingleCategory = Literal["simple", "multiple", "parallel", "parallel_multiple", "irrelevance"]

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert in composing functions. You are given a question and a set of possible functions. "
    "Based on the question, make one or more function calls to achieve the purpose. If none of the functions "
    "can be used, point it out and make no call. If the question lacks parameters the function requires, "
    "point it out. Answer only with the function call(s) when you call functions."
)


class BFCLConfig(EnvConfig):
    """Config of the single-turn BFCL envs."""

    category: SingleCategory = Field(
        default="simple", description="BFCL category: simple, multiple, parallel, parallel_multiple or irrelevance."
    )
    call_format: CallFormat = Field(
        default="auto", description="How to read calls written as text; `auto` detects the format."
    )


def ground_truth_calls(
    truths: list[dict[str, Any]], functions: list[dict[str, Any]] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """One concrete call per ground-truth entry: the first acceptable value of each parameter.

    Optional parameters (``""`` among the acceptable values) are left out, unless the function
    doc lists them as required.

    Example:
        >>> ground_truth_calls([{"f": {"x": [1, 2], "unit": ["", "cm"]}}])
        [('f', {'x': 1})]
    """
    docs = {f["name"]: f for f in functions or []}
    calls = []
    for truth in truths:
        ((name, params),) = truth.items()
        required = set((docs.get(name, {}).get("parameters") or {}).get("required") or [])
        args = {}
        for param, acceptable in params.items():
            values = [a for a in acceptable if a != ""]
            if not values or ("" in acceptable and param not in required):
                continue
            args[param] = _concrete(values[0])
        calls.append((name, args))
    return calls


def _concrete(value: Any) -> Any:
    """A dict-valued possible answer lists acceptable values per key; pick the first of each."""
    if isinstance(value, dict):
        return {k: _concrete(v[0]) for k, v in value.items() if isinstance(v, list) and v and v[0] != ""}
    if isinstance(value, list):
        return [_concrete(v) for v in value]
    return value


class BFCLEnv(SingleTurnEnv[BFCLConfig]):
    """One BFCL question: make the right function call(s), or none for `irrelevance`."""

    Config = BFCLConfig
    default_system_prompt: ClassVar[str | None] = DEFAULT_SYSTEM_PROMPT

    def __init__(self, **kwargs: Any) -> None:
        """Validate the config; data loads on first reset."""
        super().__init__(**kwargs)
        self._rows: list[dict[str, Any]] | None = None
        self._answers: dict[str, Any] = {}
        self.data_sha256: str | None = None

    def _data(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows, self._answers, self.data_sha256 = load_rows(self.config.category)
        return self._rows

    def num_tasks(self) -> int:
        """Number of entries in the category."""
        return len(self._data())

    def get_task(self, index: int) -> Task:
        """Entry `index` of the category file (the file's order)."""
        row = self._data()[index]
        messages = [Message.from_dict(m) for m in row["question"][0]]
        system = self.config.system_prompt if self.config.system_prompt is not None else self.default_system_prompt
        if system and not any(m.role == "system" for m in messages):
            messages = [Message(role="system", content=system), *messages]
        return Task(
            prompt=messages,
            answer=self._answers.get(row["id"], []),
            metadata={"id": row["id"], "functions": row["function"]},
        )

    def tools(self) -> list[ToolSpec]:
        """The entry's functions as tools."""
        return tool_specs(self.task.metadata["functions"]) if self.task else []

    def calls_of(self, action: Action) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """The calls in an action: its structured ``tool_calls``, else those parsed from its text."""
        if isinstance(action, Message) and action.tool_calls:
            calls, errors = list(action.tool_calls), []
        else:
            text = action if isinstance(action, str) else (action.content or "")
            parsed = parse_tool_calls(text, self.config.call_format, tools=self.tools())
            calls, errors = parsed.calls, parsed.errors
        out = []
        for call in calls:
            try:
                args = json.loads(call.function.arguments or "{}")
            except ValueError:
                errors.append(f"arguments of `{call.name}` are not JSON")
                continue
            out.append((call.name, args if isinstance(args, dict) else {}))
        return out, errors

    def score_calls(self, calls: list[tuple[str, dict[str, Any]]], errors: list[str], task: Task) -> Score:
        """AST-match `calls` against the task's possible answers."""
        if self.config.category == "irrelevance":
            correct = not calls
            reason = None if correct else f"expected no call, got {len(calls)}"
        else:
            reason = match_calls(calls, task.answer, task.metadata["functions"])
            if reason is None and errors:
                reason = f"unreadable call(s): {'; '.join(errors)}"
            correct = reason is None
        return Score(
            reward=1.0 if correct else 0.0, correct=correct, info={"id": task.metadata["id"], "reason": reason}
        )

    def score(self, text: str, task: Task) -> Score:
        """Score calls written as text."""
        calls, errors = self.calls_of(text)
        return self.score_calls(calls, errors, task)

    def step(self, action: Action) -> StepResult:
        """Score the action's calls (structured or in its text) and end the episode."""
        assert self.task is not None
        calls, errors = self.calls_of(action)
        verdict = self.score_calls(calls, errors, self.task)
        info = {"correct": verdict.correct, "source": self.source(), **verdict.info}
        return StepResult(Observation(), verdict.reward, True, False, info)

    def oracle(self) -> str | Message | None:
        """The ground-truth calls as a tool-call message (a plain refusal for `irrelevance`)."""
        if self.task is None:
            return None
        if self.config.category == "irrelevance":
            return "None of the available functions can answer this question."
        calls = [
            ToolCall.create(name, args, id=f"call_{i}")
            for i, (name, args) in enumerate(ground_truth_calls(self.task.answer, self.task.metadata["functions"]))
        ]
        return Message(role="assistant", tool_calls=calls)
