"""`tools/bfcl-multi-turn-base-v1`: BFCL multi-turn, executed against bfcl-eval's stateful API classes.

Each task is a sequence of user requests over stateful APIs (a file system, a messaging app,
a trading bot, ...). The model calls tools; answering without a call ends the current request
and the next one arrives. After each request the env replays the ground-truth calls on a
second set of API instances and checks, as BFCL does:

- state: every public attribute of each model-side instance equals the ground-truth one;
- responses: every result the ground-truth calls produced in this request appears among the
  results of the model's calls so far (in any order);
- a request whose ground truth has calls must see at least one model call.

The reward is 1.0 when every request passes, else 0.0 (the episode ends at the first failure).
Calls are executed by looking the method up on the instance and calling it with the decoded
arguments; model output is never `eval`'d.
"""

from __future__ import annotations

import ast
import copy
import importlib
import inspect
import json
from typing import Any, ClassVar

from pydantic import Field

from openenvs import Message, Score, Task, ToolCall
from openenvs.tools import Tool, ToolBox, ToolEnv, ToolEnvConfig

from .data import load_rows, multi_turn_docs, to_json_schema

__all__ = ["BFCLMultiTurnConfig", "BFCLMultiTurnEnv", "execute", "parse_ground_truth"]

_MODULES = {
    "GorillaFileSystem": "gorilla_file_system",
    "MathAPI": "math_api",
    "MessageAPI": "message_api",
    "TwitterAPI": "posting_api",
    "TicketAPI": "ticket_api",
    "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking",
    "VehicleControlAPI": "vehicle_control",
}
_PACKAGE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
_STATELESS = {"MathAPI"}


def _instances(classes: list[str], config: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in classes:
        module = importlib.import_module(f"{_PACKAGE}.{_MODULES[name]}")
        instance = getattr(module, name)()
        if name not in _STATELESS:
            instance._load_scenario(copy.deepcopy(config.get(name, {})), long_context=False)
        out[name] = instance
    return out


def _methods(instances: dict[str, Any]) -> dict[str, Any]:
    """Public method name -> bound method; a later class wins a name clash, as in BFCL."""
    table: dict[str, Any] = {}
    for instance in instances.values():
        for name, method in inspect.getmembers(instance, predicate=inspect.ismethod):
            if not name.startswith("_"):
                table[name] = method
    return table


def execute(method: Any, args: dict[str, Any]) -> str:
    """Call `method(**args)` and format the result as BFCL does (str as is, dict as JSON, errors as text)."""
    try:
        result = method(**args)
    except Exception as exc:  # the model sees the error, as in BFCL
        return f"Error during execution: {exc}"
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


def parse_ground_truth(call: str, methods: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Turn a ground-truth string like ``"sort('a.txt')"`` into (name, keyword arguments).

    Positional arguments are bound to names with the method's signature.
    """
    node = ast.parse(call.strip(), mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"not a simple call: {call!r}")
    name = node.func.id
    positional = [ast.literal_eval(a) for a in node.args]
    keywords = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    bound = inspect.signature(methods[name]).bind(*positional, **keywords)
    return name, json.loads(json.dumps(dict(bound.arguments)))


def _state(instance: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(instance).items() if not k.startswith("_")}


class BFCLMultiTurnConfig(ToolEnvConfig):
    """Config of `tools/bfcl-multi-turn-base-v1`."""

    max_turns: int = Field(
        default=40, ge=1, description="Truncate after this many policy turns (all requests together)."
    )


class BFCLMultiTurnEnv(ToolEnv[BFCLMultiTurnConfig]):
    """BFCL multi-turn base: fulfil each request with calls on stateful APIs."""

    Config = BFCLMultiTurnConfig
    default_system_prompt: ClassVar[str | None] = (
        "You are an assistant that fulfils the user's requests by calling the available functions. "
        "Make the calls each request needs; when a request is done, reply to the user without a call."
    )

    def __init__(self, **kwargs: Any) -> None:
        """Validate the config; data loads on first reset."""
        super().__init__(**kwargs)
        self._rows: list[dict[str, Any]] | None = None
        self._answers: dict[str, Any] = {}
        self.model_side: dict[str, Any] = {}
        self.truth_side: dict[str, Any] = {}
        self.request = 0
        self.failure: str | None = None
        self._results: list[str] = []
        self._calls_this_request = 0

    def _data(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows, self._answers, _ = load_rows("multi_turn_base")
        return self._rows

    def num_tasks(self) -> int:
        """Number of entries (200)."""
        return len(self._data())

    def get_task(self, index: int) -> Task:
        """Entry `index`: its requests, initial API state and ground-truth calls per request."""
        row = self._data()[index]
        system = self.config.system_prompt if self.config.system_prompt is not None else self.default_system_prompt
        opening = [Message(role="system", content=system)] if system else []
        opening += [Message.from_dict(m) for m in row["question"][0]]
        return Task(
            prompt=opening,
            answer=self._answers[row["id"]],
            metadata={
                "id": row["id"],
                "requests": row["question"],
                "initial_config": row["initial_config"],
                "involved_classes": row["involved_classes"],
                "excluded": row.get("excluded_function", []),
            },
        )

    def on_reset(self, task: Task) -> None:
        """Load the APIs' initial state twice (model side and ground-truth side) and build the tools."""
        meta = task.metadata
        self.model_side = _instances(meta["involved_classes"], meta["initial_config"])
        self.truth_side = _instances(meta["involved_classes"], meta["initial_config"])
        self.request, self.failure, self._results, self._calls_this_request = 0, None, [], 0
        methods = _methods(self.model_side)
        docs = multi_turn_docs()
        tools: list[Tool] = []
        for cls in meta["involved_classes"]:
            for doc in docs[cls]:
                name = doc["name"]
                if name in meta["excluded"] or name not in methods or any(t.name == name for t in tools):
                    continue
                params = to_json_schema(doc.get("parameters") or {"type": "dict", "properties": {}})
                params.setdefault("type", "object")
                tools.append(
                    Tool(self._runner(name), name=name, description=doc.get("description", ""), parameters=params)
                )
        self._toolbox = ToolBox(tools, max_result_chars=self.config.max_result_chars)

    def _runner(self, name: str) -> Any:
        def run(**kwargs: Any) -> str:
            result = execute(_methods(self.model_side)[name], kwargs)
            self._results.append(result)
            self._calls_this_request += 1
            return result

        return run

    def next_user_turn(self) -> list[Message] | None:
        """Check the finished request against the ground truth; hand out the next request, or end."""
        assert self.task is not None
        truth_calls = self.task.answer[self.request]
        methods = _methods(self.truth_side)
        expected = []
        for text in truth_calls:
            name, args = parse_ground_truth(text, methods)
            expected.append(execute(methods[name], args))
        if truth_calls:
            self.failure = self._check_request(expected)
        self._calls_this_request = 0
        if self.failure is not None:
            return None
        self.request += 1
        requests = self.task.metadata["requests"]
        if self.request >= len(requests):
            return None
        return [Message.from_dict(m) for m in requests[self.request]]

    def _check_request(self, expected: list[str]) -> str | None:
        if self._calls_this_request == 0:
            return f"request {self.request}: no function call was made"
        for cls, truth in self.truth_side.items():
            mine, want = _state(self.model_side[cls]), _state(truth)
            differing = sorted(k for k in want if mine.get(k) != want[k])
            if differing:
                return f"request {self.request}: {cls} state differs in {', '.join(differing)}"
        pool = list(self._results)
        for item in expected:
            if item in pool:
                pool.remove(item)
            else:
                return f"request {self.request}: missing the result {item[:120]!r}"
        return None

    def check(self, task: Task) -> Score:
        """1.0 when every request passed its state and response checks."""
        done = self.request >= len(task.metadata["requests"])
        correct = done and self.failure is None
        return Score(
            reward=1.0 if correct else 0.0,
            correct=correct,
            info={"id": task.metadata["id"], "requests_passed": self.request, "failure": self.failure},
        )

    def oracle(self) -> str | Message | None:
        """All ground-truth calls of the current request in one message, then a closing reply."""
        if self.task is None or self.request >= len(self.task.answer):
            return None
        made = False
        for message in reversed(self.transcript):
            if message.role == "user":
                break
            made = made or (message.role == "assistant" and bool(message.tool_calls))
        truth_calls = self.task.answer[self.request]
        if made or not truth_calls:
            return "Done."
        methods = _methods(self.model_side)
        calls = []
        for i, text in enumerate(truth_calls):
            name, args = parse_ground_truth(text, methods)
            calls.append(ToolCall.create(name, args, id=f"call_{self.request}_{i}"))
        return Message(role="assistant", tool_calls=calls)
