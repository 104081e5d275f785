"""Loading BFCL data from the installed `bfcl-eval` package, without importing its heavy parts.

`bfcl-eval` pins heavy dependencies (vllm, a numpy 1.x, ...), so it is installed with
``pip install --no-deps bfcl-eval`` and only its data files (``bfcl_eval/data``) and its
multi-turn API classes (``eval_checker/multi_turn_eval/func_source_code``, which need only
the standard library and mpmath) are used. Nothing here imports ``bfcl_eval`` itself except
those class modules, whose package ``__init__`` files are empty.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from openenvs import MissingDependency, ToolSpec

__all__ = ["CATEGORY_FILES", "bfcl_version", "data_dir", "load_rows", "multi_turn_docs", "to_json_schema", "tool_specs"]

CATEGORY_FILES: dict[str, str] = {
    "simple": "BFCL_v4_simple_python.json",
    "multiple": "BFCL_v4_multiple.json",
    "parallel": "BFCL_v4_parallel.json",
    "parallel_multiple": "BFCL_v4_parallel_multiple.json",
    "irrelevance": "BFCL_v4_irrelevance.json",
    "multi_turn_base": "BFCL_v4_multi_turn_base.json",
}
"""Registered category -> data file name inside ``bfcl_eval/data``."""

_TYPE_MAP = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "integer": "integer",
    "string": "string",
    "boolean": "boolean",
    "array": "array",
}


def _missing() -> MissingDependency:
    err = MissingDependency("bfcl-eval", "tools", "the BFCL environments")
    err.args = (
        "The package `bfcl-eval` is not installed (needed for the BFCL environments). Its declared dependencies are "
        "heavy, so install it without them: pip install --no-deps bfcl-eval",
    )
    return err


def data_dir() -> Path:
    """The ``bfcl_eval/data`` folder of the installed package (raises `MissingDependency` if absent)."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise _missing()
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not path.is_dir():
        raise _missing()
    return path


def bfcl_version() -> str | None:
    """The installed `bfcl-eval` version, or None."""
    from importlib import metadata

    try:
        return metadata.version("bfcl-eval")
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=16)
def _read_jsonl(path: str) -> tuple[tuple[dict[str, Any], ...], str]:
    raw = Path(path).read_bytes()
    rows = tuple(json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip())
    return rows, hashlib.sha256(raw).hexdigest()


def load_rows(category: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Entries of `category`, their possible answers by id (empty for irrelevance) and the data sha256."""
    if category not in CATEGORY_FILES:
        raise ValueError(f"Unknown BFCL category {category!r}; use one of {', '.join(CATEGORY_FILES)}.")
    base = data_dir()
    rows, digest = _read_jsonl(str(base / CATEGORY_FILES[category]))
    answers: dict[str, Any] = {}
    answer_path = base / "possible_answer" / CATEGORY_FILES[category]
    if answer_path.exists():
        answer_rows, answer_digest = _read_jsonl(str(answer_path))
        answers = {row["id"]: row["ground_truth"] for row in answer_rows}
        digest = hashlib.sha256((digest + answer_digest).encode()).hexdigest()
    return [dict(r) for r in rows], answers, digest


def to_json_schema(schema: Any) -> Any:
    """Convert BFCL's parameter schema (types `dict`, `float`, `tuple`, `any`) to JSON schema.

    Example:
        >>> to_json_schema({"type": "dict", "properties": {"x": {"type": "float"}}})
        {'type': 'object', 'properties': {'x': {'type': 'number'}}}
    """
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            if value in _TYPE_MAP:
                out["type"] = _TYPE_MAP[value]
            continue  # "any": no type constraint
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "oneOf"):
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    return out


def tool_specs(functions: list[dict[str, Any]]) -> list[ToolSpec]:
    """BFCL function docs as `ToolSpec`s (names kept as BFCL writes them, dots included)."""
    specs = []
    for fn in functions:
        params = to_json_schema(fn.get("parameters") or {"type": "dict", "properties": {}})
        params.setdefault("type", "object")
        params.setdefault("properties", {})
        specs.append(ToolSpec(name=fn["name"], description=fn.get("description", ""), parameters=params))
    return specs


@functools.lru_cache(maxsize=1)
def multi_turn_docs() -> dict[str, list[dict[str, Any]]]:
    """Function docs of each multi-turn API class, by class name."""
    files = {
        "GorillaFileSystem": "gorilla_file_system.json",
        "MathAPI": "math_api.json",
        "MessageAPI": "message_api.json",
        "TwitterAPI": "posting_api.json",
        "TicketAPI": "ticket_api.json",
        "TradingBot": "trading_bot.json",
        "TravelAPI": "travel_booking.json",
        "VehicleControlAPI": "vehicle_control.json",
    }
    base = data_dir() / "multi_turn_func_doc"
    return {cls: list(_read_jsonl(str(base / name))[0]) for cls, name in files.items()}

