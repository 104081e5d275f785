"""Present a tool env in TRL's ``environment_factory`` shape.

TRL's GRPOTrainer takes ``environment_factory``: a callable returning an object whose public
methods are the tools (type hints + Google docstrings give the schemas), with
``reset(**row) -> str | None`` called before each rollout and an optional
``get_reward() -> float`` that scores the rollout from the environment's state.
:func:`environment_factory` builds such a class from any `ToolEnv` (by id or factory).
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable
from typing import Any

from .._errors import ResetNeeded
from .._types import Message, ToolCall, ToolSpec
from ..tools._env import ToolEnv

__all__ = ["environment_factory"]

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _annotation(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "anyOf" in schema:
        kinds = [s for s in schema["anyOf"] if isinstance(s, dict) and s.get("type") != "null"]
        kind = kinds[0].get("type") if kinds else None
    return _JSON_TYPES.get(str(kind), str)


def _method_for(spec: ToolSpec) -> Callable[..., str]:
    """A method ``(self, **args) -> str`` with a real signature and a Google docstring for `spec`."""
    props: dict[str, Any] = spec.parameters.get("properties", {}) or {}
    required = set(spec.parameters.get("required", []) or [])
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {"return": str}
    doc_args = []
    ordered = [p for p in props if p in required] + [p for p in props if p not in required]
    for pname in ordered:
        if not pname.isidentifier() or keyword.iskeyword(pname):
            continue
        ann = _annotation(props[pname] if isinstance(props[pname], dict) else {})
        if pname in required:
            params.append(inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, annotation=ann))
            annotations[pname] = ann
        else:
            params.append(inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann | None))
            annotations[pname] = ann | None
        desc = (props[pname].get("description") if isinstance(props[pname], dict) else None) or pname
        doc_args.append(f"    {pname}: {' '.join(str(desc).split())}")
    name = spec.name

    def method(self: Any, **kwargs: Any) -> str:
        args = {k: v for k, v in kwargs.items() if v is not None or k in required}
        return str(self._call(name, args))

    method.__name__ = name
    method.__qualname__ = name
    method.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    description = " ".join((spec.description or name).split())
    args_block = ("\n\nArgs:\n" + "\n".join(doc_args)) if doc_args else ""
    method.__doc__ = f"{description}{args_block}\n\nReturns:\n    The tool's result as text."
    return method


class _TRLToolEnv:
    """The episode half of every `environment_factory` class; the tools are added per env as methods.

    Helpers start with ``_`` because TRL offers every public method as a tool.
    """

    _build: Callable[[], ToolEnv[Any]]  # set on each generated subclass (a staticmethod)

    def __init__(self) -> None:
        self.env = type(self)._build()
        self._opening: list[Message] = []
        self._calls = 0

    def reset(self, **row: Any) -> str | None:
        """Start an episode for a dataset row (``index`` or ``seed`` column picks the task)."""
        if "index" in row and row["index"] is not None:
            obs, _ = self.env.reset(seed=int(row.get("seed") or 0), options={"index": int(row["index"])})
        else:
            obs, _ = self.env.reset(seed=int(row.get("seed") or 0))
        self._opening = list(obs.messages)
        self._calls = 0
        if row.get("prompt") is not None:
            return None
        users = [m.content for m in obs.messages if m.role == "user" and m.content]
        return users[-1] if users else None

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        self._calls += 1
        call = ToolCall.create(name, arguments, id=f"call_{self._calls}")
        self.env.transcript.append(Message(role="assistant", tool_calls=[call]))
        return self.env.call_tool(call).content or ""

    def get_reward(self) -> float:
        """The checker's reward for the state and transcript so far."""
        if self.env.task is None:
            raise ResetNeeded("call reset() before get_reward()")
        return float(self.env.check(self.env.task).reward)

    def _finish(self, completion: str | list[dict[str, Any]]) -> float:
        """Record the final answer (text, or TRL's completion messages) and return the reward."""
        if isinstance(completion, list):
            texts = [m.get("content") for m in completion if isinstance(m, dict) and m.get("role") == "assistant"]
            text = next((t for t in reversed(texts) if isinstance(t, str) and t.strip()), "")
        else:
            text = completion
        self.env.transcript.append(Message(role="assistant", content=text))
        return float(self.get_reward())

    def _messages(self) -> list[dict[str, Any]]:
        """The opening messages of the current episode, as OpenAI dicts."""
        return [m.to_dict() for m in self._opening]

    def _close(self) -> None:
        self.env.close()


def _builder(env: str | Callable[[], ToolEnv[Any]], make_kwargs: dict[str, Any]) -> Callable[[], ToolEnv[Any]]:
    """A zero-argument callable that makes a fresh `ToolEnv` from an id (with kwargs) or a factory."""

    def build() -> ToolEnv[Any]:
        if isinstance(env, str):
            from .._api import make

            made = make(env, **make_kwargs)
        else:
            made = env()
        if not isinstance(made, ToolEnv):
            raise TypeError(
                f"environment_factory needs a ToolEnv (tools + checker), got {type(made).__name__}; "
                "single-turn envs train with reward functions instead."
            )
        return made

    return build


_RESERVED = {"reset", "get_reward", "env"}


def _tool_methods(specs: list[ToolSpec]) -> dict[str, Callable[..., str]]:
    """One method per tool whose name can be a Python method name (and is not one of the episode methods)."""
    return {
        spec.name: _method_for(spec)
        for spec in specs
        if spec.name.isidentifier() and not keyword.iskeyword(spec.name) and spec.name not in _RESERVED
    }


def environment_factory(env: str | Callable[[], ToolEnv[Any]], **make_kwargs: Any) -> type:
    """Build a TRL ``environment_factory`` class for a tool env.

    The returned class (call it with no arguments to get a fresh instance) has:

    - one public method per tool (keyword arguments, typed, with a Google docstring), which
      runs the call in the env and returns the tool result as text (errors as ``Error: ...``);
    - ``reset(**row) -> str | None``: starts an episode; ``row["index"]`` picks the task (else
      ``row["seed"]``, else 0). Returns None when the row already carries a ``prompt`` column,
      otherwise the task's user prompt (TRL appends it to the last user message);
    - ``get_reward() -> float``: the env's checker over the state and transcript so far;
    - ``_finish(completion) -> float``: record the model's final answer (text or the list of
      completion messages) and return the reward, for envs whose checker reads the answer;
    - ``env``: the underlying `ToolEnv`, and ``_messages()``: its opening messages.

    Helpers start with ``_`` because TRL offers every public method as a tool.

    Args:
        env: A registered env id, or a zero-argument callable returning a `ToolEnv`.
        **make_kwargs: Keyword arguments for ``openenvs.make`` when `env` is an id.

    Returns:
        A class whose instances follow TRL's environment_factory convention.
    """
    build = _builder(env, make_kwargs)
    probe = build()
    try:
        methods = _tool_methods(probe.tools())
    finally:
        probe.close()
    label = env if isinstance(env, str) else type(probe).__name__
    cls_name = "".join(part.capitalize() for part in label.replace("/", "-").replace("_", "-").split("-"))
    namespace: dict[str, Any] = {
        **methods,
        "_build": staticmethod(build),
        "__doc__": f"TRL environment for {label}; its public methods are the tools.",
    }
    return type(f"{cls_name}TRLEnv", (_TRLToolEnv,), namespace)
