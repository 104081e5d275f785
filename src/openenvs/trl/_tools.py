"""Tool envs as TRL ``environment_factory`` classes: the env's tools become methods, the env scores the end.

TRL's convention: a class whose public methods are the tools (typed, Google docstrings), a
``reset(**row)`` called before each rollout with the dataset row, and the trainer's tool loop
calling the methods the model asks for. :func:`tool_class` builds such a class for a registered
tool env; each call is passed to the env as an assistant tool call, so the env's own argument
checks, error messages and state apply. The final answer is scored by the env when the reward
function (``openenvs.trl.env_reward``) calls ``EnvTools._finish`` on it.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from .._api import make
from .._env import Env
from .._errors import ConfigError
from .._types import Message, ToolCall, ToolSpec

__all__ = ["EnvTools", "chatml_tool_template", "tool_class"]

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}


class EnvTools:
    """Base of the generated classes: one env episode per rollout, driven by tool calls.

    Subclasses are made by :func:`tool_class`; they set `env_id` and `env_kwargs` and add one
    method per tool.
    """

    env_id: str = ""
    env_kwargs: dict[str, Any] = {}

    def __init__(self) -> None:
        """No env yet: it is made on the first `reset`."""
        self._env: Env | None = None
        self._key: tuple[str, str] | None = None
        self._done = False
        self._verdict: tuple[float, dict[str, Any]] = (0.0, {})

    def reset(self, **row: Any) -> str | None:
        """Start the episode of a dataset row (``env_id``, ``env_kwargs``, ``env_seed``); the prompt is in the row."""
        key = (str(row.get("env_id", self.env_id)), str(row.get("env_kwargs", json.dumps(self.env_kwargs))))
        if self._env is None or key != self._key:
            if self._env is not None:
                self._env.close()
            self._env = make(key[0], **json.loads(key[1]))
            self._key = key
        self._env.reset(seed=int(row.get("env_seed", 0)))
        self._done = False
        self._verdict = (0.0, {})
        return None

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        if self._env is None or self._done:
            return "Error: the episode is over; give your final answer without calling tools."
        args = {k: v for k, v in arguments.items() if v is not None}
        action = Message(role="assistant", content="", tool_calls=[ToolCall.create(name, args)])
        result = self._env.step(action)
        if result.terminated or result.truncated:
            self._done = True
            self._verdict = (float(result.reward), dict(result.info))
        texts = [m.content or "" for m in result.observation.messages]
        return "\n".join(texts) if texts else "(no output)"

    def _finish(self, text: str) -> tuple[float, dict[str, Any]]:
        """Give the env the model's final answer (unless the episode already ended) and return its verdict."""
        if self._env is not None and not self._done:
            result = self._env.step(Message(role="assistant", content=text))
            self._verdict = (float(result.reward), dict(result.info))
            self._done = bool(result.terminated or result.truncated)
        return self._verdict


def _method(spec: ToolSpec) -> Any:
    props: dict[str, Any] = spec.parameters.get("properties", {}) or {}
    required = set(spec.parameters.get("required", []) or [])
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    lines = [spec.description or f"Call the `{spec.name}` tool.", "", "Args:"]
    for name, schema in props.items():
        kind = schema.get("type", "string") if isinstance(schema, dict) else "string"
        py_type = _JSON_TYPES.get(kind if isinstance(kind, str) else "string", str)
        annotation = py_type if name in required else py_type | None
        default = inspect.Parameter.empty if name in required else None
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
        annotations[name] = annotation
        lines.append(f"    {name}: {(schema.get('description') if isinstance(schema, dict) else None) or name}")
    if not props:
        lines = lines[:-2]
    lines += ["", "Returns:", "    The tool's output."]
    annotations["return"] = str

    def method(self: EnvTools, **kwargs: Any) -> str:
        return self._call(spec.name, kwargs)

    method.__name__ = method.__qualname__ = spec.name
    method.__doc__ = "\n".join(lines)
    method.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    return method


def tool_class(env_id: str, env_kwargs: dict[str, Any] | None = None) -> type[EnvTools]:
    """A TRL ``environment_factory`` class for a tool env: one method per tool the env offers.

    Args:
        env_id: A registered env whose episodes offer the same tools every time.
        env_kwargs: Keyword arguments for ``make``.

    Raises:
        ConfigError: The env offers no tools, or a tool name clashes with ``reset``/``get_reward``.
    """
    kwargs = dict(env_kwargs or {})
    probe = make(env_id, **kwargs)
    obs, _ = probe.reset(seed=0)
    probe.close()
    if not obs.tools:
        raise ConfigError(f"`{env_id}` offers no tools; train it with a dataset and reward functions instead.")
    namespace: dict[str, Any] = {"env_id": env_id, "env_kwargs": kwargs, "__doc__": f"Tools of `{env_id}` for TRL."}
    for spec in obs.tools:
        if spec.name in {"reset", "get_reward"} or spec.name.startswith("_") or not spec.name.isidentifier():
            raise ConfigError(f"Tool name `{spec.name}` of `{env_id}` cannot be a Python method name for TRL.")
        namespace[spec.name] = _method(spec)
    name = "".join(part.capitalize() for part in env_id.replace("/", "-").replace("_", "-").split("-")) + "Tools"
    return type(name, (EnvTools,), namespace)


def chatml_tool_template() -> str:
    """A ChatML chat template that renders tools and tool calls (TRL's Qwen2.5 template).

    SmolLM2 speaks ChatML but its template has no tool support; TRL needs one that does. Set
    ``tokenizer.chat_template = chatml_tool_template()`` for tool envs.
    """
    from trl.chat_template_utils import qwen2_5_chat_template

    return str(qwen2_5_chat_template)
