"""Read tool calls out of model text in the formats model families actually emit.

`parse_tool_calls` never raises: whatever it cannot read becomes an entry in
``ParseResult.errors`` that can be shown to the model as feedback.

Formats:

- ``openai``: ``{"tool_calls": [{"id": ..., "function": {"name": ..., "arguments": "..."}}]}``
  or a bare call object / list of them.
- ``hermes`` (Hermes, Qwen 2.5/3): ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``,
  repeated; also the Qwen3-Coder body ``<function=f><parameter=x>1</parameter></function>``.
- ``llama3``: ``{"name": ..., "parameters": {...}}``, optionally after ``<|python_tag|>``,
  several separated by ``;`` or newlines.
- ``mistral``: ``[TOOL_CALLS] [{"name": ..., "arguments": {...}}]`` or ``[TOOL_CALLS]f[ARGS]{...}``.
- ``python`` (BFCL): ``f(a=1)`` or ``[f(a=1), g(b="x")]``; literal arguments only, never evaluated.
- ``auto``: picks by markers (``<tool_call>``, ``[TOOL_CALLS]``), then JSON call objects anywhere
  in the text, then Python-call syntax when that is the whole message.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from .._types import ToolCall, ToolSpec

__all__ = ["CallFormat", "ParseResult", "parse_python_calls", "parse_tool_calls"]

CallFormat = Literal["auto", "openai", "hermes", "llama3", "mistral", "python"]
_FORMATS = ("auto", "openai", "hermes", "llama3", "mistral", "python")

_HERMES_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_FUNCTION_TAG_RE = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|$)", re.DOTALL)
_PARAM_TAG_RE = re.compile(r"<parameter=([^>\s]+)>(.*?)(?:</parameter>|(?=<parameter=)|$)", re.DOTALL)
_FENCE_RE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_MISTRAL_ARGS_RE = re.compile(r"\s*([A-Za-z_][\w.\-]*)\s*\[ARGS\]", re.DOTALL)
_PYTHON_TAG = "<|python_tag|>"
_MAX_JSON_SCANS = 256
_MAX_PYTHON_CHARS = 200_000
_PYTHON_SHAPE = re.compile(r"^\[?\s*[A-Za-z_][\w.]*\s*\(.*\)\s*\]?$", re.DOTALL)


class ParseResult(NamedTuple):
    """What `parse_tool_calls` found.

    Attributes:
        calls: The tool calls read, in order, with ids ``call_0``, ``call_1``, ...
        errors: One message per call that could not be read (empty when all were fine).
        content: The text left once the call markup is removed (the model's prose).
    """

    calls: list[ToolCall]
    errors: list[str]
    content: str


class _Collector:
    def __init__(self, tools: Sequence[ToolSpec] | None) -> None:
        self.calls: list[ToolCall] = []
        self.errors: list[str] = []
        self.order = {t.name: list(t.parameters.get("properties", {})) for t in tools or ()}

    def add(self, name: Any, arguments: Any, call_id: Any = None, where: str = "call") -> None:
        if not isinstance(name, str) or not name.strip():
            self.errors.append(f"{where}: a tool call needs a non-empty string `name`, got {name!r}.")
            return
        if arguments is None:
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except (ValueError, RecursionError) as exc:
                self.errors.append(f"{where}: the arguments of `{name}` are not valid JSON ({exc}).")
                return
        if not isinstance(arguments, dict):
            self.errors.append(
                f"{where}: the arguments of `{name}` must be a JSON object, got {type(arguments).__name__}."
            )
            return
        try:
            encoded = json.dumps(arguments, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as exc:
            self.errors.append(f"{where}: the arguments of `{name}` cannot be encoded as JSON ({exc}).")
            return
        cid = call_id if isinstance(call_id, str) and call_id else f"call_{len(self.calls)}"
        data = {"id": cid, "type": "function", "function": {"name": name.strip(), "arguments": encoded}}
        self.calls.append(ToolCall.model_validate(data))  # one validation pass for the nested models

    def add_object(self, obj: Any, where: str) -> bool:
        """Add a JSON value that should be a call (or list of calls); False if it is not call-shaped."""
        if isinstance(obj, list):
            if not obj or not all(isinstance(o, dict) and _looks_like_call(o) for o in obj):
                return False
            for i, item in enumerate(obj):
                self.add_object(item, f"{where}[{i}]")
            return True
        if not isinstance(obj, dict):
            return False
        if isinstance(obj.get("tool_calls"), list):
            for i, item in enumerate(obj["tool_calls"]):
                if not self.add_object(item, f"{where}.tool_calls[{i}]"):
                    self.errors.append(f"{where}.tool_calls[{i}]: not a tool call object: {_short(item)}.")
            return True
        if not _looks_like_call(obj):
            return False
        function = obj.get("function")
        body: dict[str, Any] = function if isinstance(function, dict) else obj
        name = body.get("name")
        for key in ("arguments", "parameters", "args", "input"):
            if key in body:
                args = body[key]
                break
        else:
            args = {}
        self.add(name, args, obj.get("id"), where)
        return True


def _looks_like_call(obj: dict[str, Any]) -> bool:
    if isinstance(obj.get("function"), dict):
        return "name" in obj["function"]
    if "name" not in obj:
        return False
    return any(k in obj for k in ("arguments", "parameters", "args", "input")) or set(obj) <= {"name", "id", "type"}


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _strip_fence(text: str) -> str:
    match = _FENCE_RE.match(text)
    return match.group(1) if match else text


def _json_values(text: str) -> list[tuple[int, int, Any]]:
    """JSON objects/arrays found in `text` as (start, end, value), left to right, non-overlapping."""
    decoder = json.JSONDecoder()
    found: list[tuple[int, int, Any]] = []
    pos, scans = 0, 0
    while scans < _MAX_JSON_SCANS:
        starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        scans += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            pos = start + 1
            continue
        found.append((start, end, value))
        pos = end
    return found


def _parse_json_anywhere(text: str, out: _Collector, label: str) -> str:
    """Add every call-shaped JSON value in `text`; return the text with those values removed."""
    body = _strip_fence(text.replace(_PYTHON_TAG, " ")).strip()
    try:
        whole = json.loads(body)
    except (ValueError, RecursionError):
        whole = None
    if whole is not None and out.add_object(whole, label):
        return ""
    keep: list[str] = []
    last = 0
    for start, end, value in _json_values(text):
        if out.add_object(value, f"{label} at offset {start}"):
            keep.append(text[last:start])
            last = end
    keep.append(text[last:])
    remainder = "".join(keep)
    if not out.calls and not out.errors:
        _report_broken_json(text, out, label)
    return remainder


def _report_broken_json(text: str, out: _Collector, label: str) -> None:
    """Flag text that plainly tries a JSON call (``{"name": ...``) but does not decode."""
    match = re.search(r'\{\s*"(?:name|function|tool_calls)"\s*:', text)
    if match is None:
        return
    try:
        json.JSONDecoder().raw_decode(text, match.start())
    except (ValueError, RecursionError) as exc:
        out.errors.append(f"{label}: a tool call at offset {match.start()} is not valid JSON ({exc}).")


def _parse_hermes(text: str, out: _Collector) -> str:
    for i, match in enumerate(_HERMES_RE.finditer(text)):
        where = f"<tool_call> block {i + 1}"
        body = _strip_fence(match.group(1).strip()).strip()
        if body.startswith("<function="):
            _parse_function_tags(body, out, where)
            continue
        try:
            value = json.loads(body)
        except (ValueError, RecursionError) as exc:
            out.errors.append(f"{where} is not valid JSON ({exc}): {_short(body)}")
            continue
        if not out.add_object(value, where):
            out.errors.append(
                f'{where} is not a tool call; expected {{"name": ..., "arguments": {{...}}}}, got {_short(body)}.'
            )
    return _HERMES_RE.sub("", text)


def _parse_function_tags(body: str, out: _Collector, where: str) -> None:
    matches = list(_FUNCTION_TAG_RE.finditer(body))
    if not matches:
        out.errors.append(f"{where}: could not read the <function=...> call: {_short(body)}")
    for match in matches:
        args: dict[str, Any] = {}
        for pm in _PARAM_TAG_RE.finditer(match.group(2)):
            raw = pm.group(2).strip()
            try:
                args[pm.group(1)] = json.loads(raw)
            except (ValueError, RecursionError):
                args[pm.group(1)] = raw
        out.add(match.group(1), args, None, where)


def _parse_mistral(text: str, out: _Collector) -> str:
    head, _, tail = text.partition("[TOOL_CALLS]")
    for i, segment in enumerate(tail.split("[TOOL_CALLS]")):
        where = f"[TOOL_CALLS] block {i + 1}"
        segment = segment.strip()
        named = _MISTRAL_ARGS_RE.match(segment)
        if named:  # v11+ format: name[ARGS]{json}
            rest = segment[named.end() :]
            try:
                args, _end = json.JSONDecoder().raw_decode(rest.lstrip())
            except (ValueError, RecursionError) as exc:
                out.errors.append(f"{where}: the arguments of `{named.group(1)}` are not valid JSON ({exc}).")
                continue
            out.add(named.group(1), args, None, where)
            continue
        try:
            value, _end = json.JSONDecoder().raw_decode(segment)
        except (ValueError, RecursionError) as exc:
            out.errors.append(f"{where} is not valid JSON ({exc}): {_short(segment)}")
            continue
        if not out.add_object(value, where):
            out.errors.append(
                f'{where} is not a list of {{"name": ..., "arguments": {{...}}}} objects: {_short(segment)}'
            )
    return head


def _json_sequence(body: str) -> list[Any] | None:
    """Values of `body` when it is JSON values separated by whitespace, ``;`` or ``,``; else None."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    pos, n = 0, len(body)
    while pos < n:
        while pos < n and body[pos].isspace():
            pos += 1
        if pos >= n:
            break
        try:
            value, pos = decoder.raw_decode(body, pos)
        except (ValueError, RecursionError):
            return None
        values.append(value)
        while pos < n and body[pos].isspace():
            pos += 1
        if pos < n and body[pos] in ";,":
            pos += 1
    return values or None


def _parse_llama3(text: str, out: _Collector) -> str:
    head, _, body = text.partition(_PYTHON_TAG) if _PYTHON_TAG in text else ("", "", text)
    values = _json_sequence(_strip_fence(body.strip()).strip())
    if values and all(
        isinstance(v, (dict, list)) and out.add_object(v, f"llama3 call {i + 1}") for i, v in enumerate(values)
    ):
        return head
    if out.calls or out.errors:
        return head
    return _parse_json_anywhere(text, out, "JSON call")


def parse_python_calls(text: str, tools: Sequence[ToolSpec] | None = None) -> ParseResult:
    """Read Python-call syntax (``f(a=1)`` or ``[f(a=1), g(b=2)]``) with literal arguments.

    Positional arguments are mapped to parameter names through `tools` (by the order of
    ``parameters.properties``); without a schema they are reported as errors.

    Example:
        >>> r = parse_python_calls('[get_weather(city="Paris"), add(a=1, b=2)]')
        >>> [(c.name, c.parsed_arguments()) for c in r.calls]
        [('get_weather', {'city': 'Paris'}), ('add', {'a': 1, 'b': 2})]
    """
    out = _Collector(tools)
    try:
        ok = _python_into(text, out, strict=False)
    except Exception as exc:  # noqa: BLE001 - the parser must never raise
        out.errors.append(f"could not read Python calls: {type(exc).__name__}: {exc}")
        ok = False
    return ParseResult(out.calls, out.errors, "" if ok else text)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _python_into(text: str, out: _Collector, *, strict: bool) -> bool:
    """Parse `text` as Python calls into `out`; False (and nothing added) when it is not call syntax."""
    body = _strip_fence(text.replace(_PYTHON_TAG, " ")).strip()
    if not body or len(body) > _MAX_PYTHON_CHARS or "(" not in body or (strict and not _PYTHON_SHAPE.match(body)):
        if not strict:
            out.errors.append("not a Python call: expected `name(arg=value, ...)` or a list of such calls.")
        return False
    try:
        tree = ast.parse(body, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        if not strict:
            out.errors.append(f"not valid Python call syntax ({type(exc).__name__}: {exc}).")
        return False
    nodes = list(tree.elts) if isinstance(tree, (ast.List, ast.Tuple)) else [tree]
    if not nodes or not all(isinstance(n, ast.Call) and _dotted(n.func) for n in nodes):
        if not strict:
            out.errors.append("not a Python call: expected `name(arg=value, ...)` or a list of such calls.")
        return False
    for i, node in enumerate(nodes):
        assert isinstance(node, ast.Call)
        name = _dotted(node.func) or ""
        where = f"call {i + 1} (`{name}`)"
        try:
            args = _call_arguments(node, name, out.order.get(name))
        except ValueError as exc:
            out.errors.append(f"{where}: {exc}")
            continue
        out.add(name, args, None, where)
    return True


def _call_arguments(node: ast.Call, name: str, order: list[str] | None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if node.args:
        if order is None:
            raise ValueError("positional arguments need the tool's schema; pass them as keywords, e.g. f(x=1).")
        if len(node.args) > len(order):
            raise ValueError(f"`{name}` takes at most {len(order)} positional arguments, got {len(node.args)}.")
        for pname, value in zip(order, node.args, strict=False):
            args[pname] = _literal(value, pname)
    for kw in node.keywords:
        if kw.arg is None:
            raise ValueError("`**kwargs` is not allowed in a tool call; pass each argument by name.")
        if kw.arg in args:
            raise ValueError(f"argument `{kw.arg}` is given twice.")
        args[kw.arg] = _literal(kw.value, kw.arg)
    return args


def _literal(node: ast.expr, pname: str) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        if isinstance(node, ast.Name) and node.id in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[node.id]
        raise ValueError(
            f"argument `{pname}` must be a literal (number, string, list, dict, True/False/None)."
        ) from None
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, complex):
        return str(value)
    return value


def parse_tool_calls(
    text: str | None, format: CallFormat = "auto", *, tools: Sequence[ToolSpec] | None = None
) -> ParseResult:
    """Read the tool calls in a model's text; never raises.

    Args:
        text: The assistant message text.
        format: One of ``auto``, ``openai``, ``hermes``, ``llama3``, ``mistral``, ``python``.
        tools: Tool specs, used to map positional arguments in Python-call syntax.

    Returns:
        A `ParseResult` with the calls, the errors (one per unreadable call) and the prose left.

    Example:
        >>> r = parse_tool_calls('Let me check. <tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>')
        >>> r.calls[0].name, r.calls[0].parsed_arguments(), r.errors, r.content
        ('add', {'a': 1}, [], 'Let me check.')
    """
    if not isinstance(text, str):
        return ParseResult([], [f"expected the message text as a string, got {type(text).__name__}."], "")
    if format not in _FORMATS:
        return ParseResult([], [f"unknown tool-call format {format!r}; use one of {', '.join(_FORMATS)}."], text)
    out = _Collector(tools)
    try:
        content = _dispatch(text, format, out)
    except Exception as exc:  # noqa: BLE001 - last line of defence: the parser must never raise
        out.errors.append(f"could not parse tool calls ({type(exc).__name__}: {exc}).")
        content = text
    return ParseResult(out.calls, out.errors, content.strip())


def _dispatch(text: str, format: str, out: _Collector) -> str:
    if format == "hermes" or (format == "auto" and "<tool_call>" in text):
        return _parse_hermes(text, out)
    if format == "mistral" or (format == "auto" and "[TOOL_CALLS]" in text):
        return _parse_mistral(text, out)
    if format == "llama3":
        return _parse_llama3(text, out)
    if format == "openai":
        return _parse_json_anywhere(text, out, "JSON call")
    if format == "python":
        return "" if _python_into(text, out, strict=False) else text
    # auto, no markers: JSON call objects, then Python-call syntax for the whole message
    if _PYTHON_TAG in text or "{" in text or "[" in text:
        remainder = _parse_llama3(text, out) if _PYTHON_TAG in text else _parse_json_anywhere(text, out, "JSON call")
        if out.calls or out.errors:
            return remainder
    return "" if _python_into(text, out, strict=True) else text
