"""Typed tools: `@tool` turns a documented Python function into a `Tool` with a JSON schema.

Arguments are validated with pydantic before the call. `ToolBox` runs calls and turns every
failure (unknown tool, bad JSON, invalid arguments, an exception inside the tool) into a tool
result message that tells the model what went wrong; it never raises.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, get_type_hints, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from .._types import Message, ToolCall, ToolSpec

__all__ = ["Tool", "ToolBox", "ToolFunction", "format_result", "tool", "truncate"]

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


@runtime_checkable
class ToolFunction(Protocol):
    """Anything callable with keyword arguments that returns a value (or an awaitable of one)."""

    def __call__(self, **kwargs: Any) -> Any:  # noqa: D102
        ...


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {arg: description})."""
    if not doc:
        return "", {}
    text = inspect.cleandoc(doc)
    lines = text.splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        header = re.fullmatch(
            r"(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Example|Examples|Note|Notes):", stripped
        )
        if header:
            section = header.group(1)
            current = None
            continue
        if section is None:
            description.append(line)
        elif section in ("Args", "Arguments", "Parameters") and stripped:
            match = re.match(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", stripped)
            if match and not line.startswith("        "):
                current = match.group(1).lstrip("*")
                args[current] = match.group(2).strip()
            elif current:
                args[current] = (args[current] + " " + stripped).strip()
    summary = "\n".join(description).strip()
    return summary, args


def _clean_schema(schema: Any) -> Any:
    """Drop pydantic's `title` keys so the schema reads like a hand-written one."""
    if isinstance(schema, dict):
        return {k: _clean_schema(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]
    return schema


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace local ``$ref``s by their ``$defs`` entries, so the schema is self-contained and flat."""
    defs = schema.pop("$defs", None)
    if not defs:
        return schema

    def resolve(node: Any, depth: int = 0) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and depth < 16:
                target = defs.get(ref.split("/")[-1], {})
                merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
                return resolve(merged, depth + 1)
            return {k: resolve(v, depth) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, depth) for v in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


class Tool:
    """A callable tool: a function plus its `ToolSpec` and a pydantic model of its arguments.

    Build one with :func:`tool`. Calling the tool calls the function; :meth:`validate` checks
    and coerces an argument dict against the signature; :meth:`run` / :meth:`arun` validate,
    call and format the result, raising on error (use :class:`ToolBox` to get error messages).

    Example:
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     '''Add two integers.
        ...
        ...     Args:
        ...         a: First addend.
        ...         b: Second addend.
        ...     '''
        ...     return a + b
        >>> add.spec.parameters["required"]
        ['a', 'b']
        >>> add.run({"a": "2", "b": 3})
        '5'
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Wrap `fn`; `name`, `description` and a JSON schema `parameters` override what is inferred."""
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "tool"))
        if not _NAME_RE.match(self.name):
            raise ValueError(
                f"Tool name {self.name!r} is not valid: use letters, digits, '_', '.' or '-' (at most 64 characters)."
            )
        summary, arg_docs = _parse_docstring(inspect.getdoc(fn))
        self.description = description if description is not None else summary
        call_method = vars(type(fn)).get("__call__") if not inspect.isroutine(fn) else None
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call_method)
        self._bound_self: Any = None
        if parameters is not None:
            self.args_model: type[BaseModel] | None = None
            self.parameters = parameters
        else:
            self.args_model = _args_model(fn, self.name, arg_docs)
            self._required = _required(self.args_model)
            schema = _inline_refs(_clean_schema(self.args_model.model_json_schema()))
            schema.pop("additionalProperties", None)
            schema.setdefault("properties", {})
            self.parameters = schema

    @property
    def spec(self) -> ToolSpec:
        """The `ToolSpec` offered to the model (built once)."""
        cached: ToolSpec | None = self.__dict__.get("_spec")
        if cached is None:
            cached = ToolSpec(name=self.name, description=self.description, parameters=self.parameters)
            self._spec = cached
        return cached

    def __get__(self, instance: Any, owner: type | None = None) -> Tool:
        """Bind a tool defined as a method to its instance (so ``env.my_tool`` is a bound Tool)."""
        if instance is None:
            return self
        bound = object.__new__(Tool)
        bound.__dict__.update(self.__dict__)
        bound._bound_self = instance
        attr = self.__dict__.get("_attr")
        if attr and hasattr(instance, "__dict__"):
            instance.__dict__[attr] = bound  # cache: later accesses return the same bound tool
        return bound

    def __set_name__(self, owner: type, name: str) -> None:
        """Remember the attribute name when the tool is defined in a class body."""
        self._attr = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (no validation)."""
        if self._bound_self is not None:
            return self.fn(self._bound_self, *args, **kwargs)
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Tool {self.name}>"

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check and coerce `arguments` against the signature; raises `pydantic.ValidationError`."""
        if self.args_model is None:
            return dict(arguments)
        model = self.args_model.model_validate(dict(arguments))
        return {key: getattr(model, key) for key in model.model_fields_set | self._required}

    def run(self, arguments: Mapping[str, Any]) -> str:
        """Validate `arguments`, call the tool (sync or async) and format its result as text."""
        kwargs = self.validate(arguments)
        result = self(**kwargs)
        if inspect.isawaitable(result):
            result = _run_coroutine(result)
        return format_result(result)

    async def arun(self, arguments: Mapping[str, Any]) -> str:
        """Async twin of :meth:`run`; a sync tool runs inline."""
        kwargs = self.validate(arguments)
        result = self(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return format_result(result)


def _required(model: type[BaseModel]) -> set[str]:
    return {name for name, field in model.model_fields.items() if field.is_required()}


def _args_model(fn: Callable[..., Any], name: str, arg_docs: dict[str, str]) -> type[BaseModel]:
    from pydantic import Field

    signature = inspect.signature(fn)
    try:
        hints = get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to no type checking for them
        hints = {}
    fields: dict[str, Any] = {}
    for index, (pname, param) in enumerate(signature.parameters.items()):
        if index == 0 and pname in ("self", "cls"):
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, Field(default, description=arg_docs.get(pname) or None))
    model_name = re.sub(r"\W", "_", name) + "_args"
    model: type[BaseModel] = create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)
    return model


def _run_coroutine(coro: Awaitable[Any]) -> Any:
    """Run a coroutine from sync code, also when the caller is inside an event loop (via a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """Make a `Tool` from a typed function with a Google-style docstring (sync or async).

    The JSON schema comes from the type hints (via pydantic); the description is the docstring's
    summary and each parameter's description comes from its ``Args:`` entry. Works on plain
    functions and on methods (the tool is bound to the instance when accessed).

    Args:
        fn: The function; omit it to use ``@tool(name=..., description=...)``.
        name: Tool name shown to the model (default: the function's name).
        description: Tool description (default: the docstring summary).

    Returns:
        A `Tool`, or a decorator that makes one.
    """
    if fn is None:
        return lambda f: Tool(f, name=name, description=description)
    return Tool(fn, name=name, description=description)


def format_result(value: Any) -> str:
    """Turn a tool's return value into the text shown to the model.

    Strings pass through; everything else is JSON (falling back to ``str``).

    Example:
        >>> format_result({"b": 1, "a": [1, 2]})
        '{"b": 1, "a": [1, 2]}'
    """
    if isinstance(value, str):
        return value
    if type(value) is int:
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def truncate(text: str, max_chars: int | None) -> str:
    r"""Cut `text` to `max_chars`, saying how much was dropped.

    Example:
        >>> truncate("abcdefghij", 4)
        'abcd\n[... truncated 6 characters]'
    """
    if max_chars is None or len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n[... truncated {len(text) - max_chars} characters]"


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        if err["type"] == "missing":
            parts.append(f"missing required argument `{loc}`")
        elif err["type"] == "extra_forbidden":
            parts.append(f"unexpected argument `{loc}`")
        else:
            parts.append(f"`{loc}`: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(parts)


class ToolBox:
    """A set of tools by name that executes `ToolCall`s into tool-result messages, never raising.

    Args:
        tools: The tools (`Tool` objects or plain functions, which are wrapped with `tool`).
        max_result_chars: Results longer than this are truncated (None: never).
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = (), *, max_result_chars: int | None = 4000) -> None:
        """Index `tools` by name; a duplicate name raises ValueError."""
        self.tools: dict[str, Tool] = {}
        self.max_result_chars = max_result_chars
        self._specs: list[ToolSpec] | None = None
        for item in tools:
            self.add(item)

    def add(self, item: Tool | Callable[..., Any]) -> Tool:
        """Add one tool (a plain function is wrapped with `tool`) and return it."""
        wrapped = item if isinstance(item, Tool) else Tool(item)
        if wrapped.name in self.tools:
            raise ValueError(f"Two tools are named {wrapped.name!r}; give one a different name with @tool(name=...).")
        self.tools[wrapped.name] = wrapped
        self._specs = None
        return wrapped

    @property
    def specs(self) -> list[ToolSpec]:
        """The `ToolSpec` of every tool, in insertion order."""
        if self._specs is None:
            self._specs = [t.spec for t in self.tools.values()]
        return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def __len__(self) -> int:
        return len(self.tools)

    def _prepare(self, call: ToolCall) -> tuple[Tool | None, dict[str, Any] | None, str | None]:
        chosen = self.tools.get(call.function.name)
        if chosen is None:
            names = ", ".join(sorted(self.tools)) or "(none)"
            import difflib

            close = difflib.get_close_matches(call.function.name, list(self.tools), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            return None, None, f"Error: unknown tool `{call.function.name}`.{hint} Available tools: {names}."
        try:
            args = json.loads(call.function.arguments or "{}")
        except (ValueError, RecursionError) as exc:
            return (
                None,
                None,
                f"Error: the arguments of `{chosen.name}` are not valid JSON ({exc}). Send a JSON object.",
            )
        if not isinstance(args, dict):
            return (
                None,
                None,
                f"Error: the arguments of `{chosen.name}` must be a JSON object, got {type(args).__name__}.",
            )
        try:
            return chosen, chosen.validate(args), None
        except ValidationError as exc:
            return None, None, f"Error: invalid arguments for `{chosen.name}`: {_describe_validation(exc)}."
        except Exception as exc:  # a custom validator raising something else
            return None, None, f"Error: invalid arguments for `{chosen.name}`: {exc}."

    def _message(self, call: ToolCall, text: str) -> Message:
        return Message(
            role="tool", content=truncate(text, self.max_result_chars), tool_call_id=call.id, name=call.function.name
        )

    def _start(self, call: ToolCall) -> Message | tuple[Tool, Awaitable[Any]]:
        """Validate and call the tool: its result message, or (tool, awaitable) when a coroutine tool must finish."""
        chosen, kwargs, error = self._prepare(call)
        if chosen is None or kwargs is None:
            return self._message(call, error or "Error: unknown failure.")
        try:
            result = chosen(**kwargs)
            if inspect.isawaitable(result):
                return chosen, result
            return self._message(call, format_result(result))
        except Exception as exc:
            return self._raised(call, chosen, exc)

    def _raised(self, call: ToolCall, tool: Tool, exc: Exception) -> Message:
        logger.debug("tool %s raised", tool.name, exc_info=True)
        return self._message(call, f"Error: tool `{tool.name}` raised {type(exc).__name__}: {exc}")

    def execute(self, call: ToolCall) -> Message:
        """Run one call and return its tool-result message (an ``Error: ...`` message on any failure)."""
        started = self._start(call)
        if isinstance(started, Message):
            return started
        tool, pending = started
        try:
            return self._message(call, format_result(_run_coroutine(pending)))
        except Exception as exc:
            return self._raised(call, tool, exc)

    async def aexecute(self, call: ToolCall) -> Message:
        """Async twin of :meth:`execute`: a coroutine tool is awaited on the caller's loop."""
        started = self._start(call)
        if isinstance(started, Message):
            return started
        tool, pending = started
        try:
            return self._message(call, format_result(await pending))
        except Exception as exc:
            return self._raised(call, tool, exc)
