r"""Question/answer math datasets: JSONL, JSON, Parquet, a saved `datasets` dataset, or a Hub name.

The same class serves `math/gsm8k-v1` (GSM8K schema: ``question``, ``answer`` ending in
``#### 42``) and `math/competition-v1` (MATH schema: ``problem``, ``solution`` with a
``\boxed{}``, ``answer``, ``level``, ``subject``). Field names are config fields, so any
question/answer file works. Data loads on the first `reset` (never in the constructor); the
SHA-256 of what was loaded goes into ``env.spec.dataset`` and so into the fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from openenvs import ConfigError, DatasetInfo, MissingDependency, Task
from openenvs.verify import MathConfig, MathEnv, extract_answer, extract_boxed

__all__ = ["BUNDLED", "MathDatasetConfig", "MathDatasetEnv", "load_rows"]

logger = logging.getLogger(__name__)

BUNDLED = Path(__file__).with_name("data")
"""Folder of the small fixtures; ``path="bundled:<file>"`` points inside it."""


class MathDatasetConfig(MathConfig):
    """Config of the dataset-backed math envs (`math/gsm8k-v1`, `math/competition-v1`)."""

    path: str | None = Field(
        default=None,
        description="A local .jsonl/.json/.parquet file, a folder saved with `datasets.save_to_disk`, "
        "'bundled:<file>' for a fixture shipped with openenvs, or a Hugging Face Hub dataset name.",
    )
    name: str | None = Field(default=None, description="Hub dataset configuration, e.g. 'main' for openai/gsm8k.")
    split: str = Field(default="test", description="Split to read from a Hub or saved dataset.")
    format: Literal["auto", "jsonl", "json", "parquet", "hf"] = Field(
        default="auto", description="File format; 'auto' decides from the suffix ('hf': saved folder or Hub name)."
    )
    question_field: str = Field(default="question", description="Field holding the problem text.")
    answer_field: str = Field(default="answer", description="Field holding the answer or the worked solution.")
    answer_format: Literal["plain", "gsm8k", "boxed"] = Field(
        default="plain",
        description="How the gold answer sits in `answer_field`: the answer itself, a GSM8K solution ending "
        "in '#### <answer>', or a solution whose last \\boxed{} holds it.",
    )
    level_field: str | None = Field(default=None, description="Field with the difficulty level (e.g. MATH's 'level').")
    levels: list[int] | None = Field(default=None, description="Keep only rows whose level is in this list.")
    limit: int | None = Field(default=None, ge=1, description="Keep only the first `limit` rows (after filtering).")
    prompt_template: str = Field(
        default="{question}", description="User prompt; '{question}' is replaced by the problem text."
    )


_LEVEL_DIGITS = re.compile(r"\d+")


class MathDatasetEnv(MathEnv):
    """One row of a question/answer dataset per episode; row *i* is task *i* (the seed picks the row)."""

    Config = MathDatasetConfig
    config: MathDatasetConfig
    default_system_prompt: ClassVar[str | None] = (
        "Solve the problem. Reason step by step, then put the final answer in \\boxed{}."
    )

    def __init__(self, **kwargs: Any) -> None:
        """Validate the config; the data is read on the first `reset`."""
        super().__init__(**kwargs)
        if "{question}" not in self.config.prompt_template:
            raise ConfigError(f"prompt_template must contain '{{question}}'; got {self.config.prompt_template!r}.")
        self._rows: list[tuple[str, str, int | None]] | None = None
        self.dataset: DatasetInfo | None = None

    def num_tasks(self) -> int:
        """Number of rows (loads the data on first use)."""
        return len(self._load())

    def get_task(self, index: int) -> Task:
        """Task `index`: row ``index mod len(rows)``."""
        rows = self._load()
        question, answer, level = rows[index % len(rows)]
        prompt = self.config.prompt_template.replace("{question}", question)
        return Task(prompt=prompt, answer=answer, difficulty=level, metadata={"row": index % len(rows)})

    def _load(self) -> list[tuple[str, str, int | None]]:
        if self._rows is not None:
            return self._rows
        config = self.config
        env_id = self.spec.id if self.spec else type(self).__name__
        if config.path is None:
            raise ConfigError(
                f"{env_id} needs data: pass path='questions.jsonl' (one JSON object per line with "
                f"`{config.question_field}` and `{config.answer_field}`), a .parquet file, or a Hub dataset name."
            )
        records, source, sha256 = load_rows(config, env_id)
        rows: list[tuple[str, str, int | None]] = []
        for number, record in enumerate(records):
            for field in (config.question_field, config.answer_field):
                if field not in record:
                    raise ConfigError(
                        f"Row {number} of {source} has no field `{field}` (fields: {sorted(record)}). "
                        "Set question_field=/answer_field= to the names your data uses."
                    )
            level = _level(record.get(config.level_field)) if config.level_field else None
            if config.levels is not None and level not in config.levels:
                continue
            gold = _gold(str(record[config.answer_field]), config.answer_format)
            if gold is None:
                logger.warning("Skipping row %d of %s: no %s answer found", number, source, config.answer_format)
                continue
            rows.append((str(record[config.question_field]), gold, level))
            if config.limit is not None and len(rows) >= config.limit:
                break
        if not rows:
            raise ConfigError(
                f"{source} has no usable rows for {env_id} (check `levels`, `answer_format` and the fields)."
            )
        self._rows = rows
        license_ = self.spec.dataset.license if self.spec and self.spec.dataset else None
        self.dataset = DatasetInfo(name=source, revision=config.name, sha256=sha256, license=license_)
        if self.spec is not None:
            self.spec = self.spec.model_copy(update={"dataset": self.dataset})
        return rows


def _level(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    digits = _LEVEL_DIGITS.search(str(value))
    return int(digits.group(0)) if digits else None


def _gold(text: str, answer_format: str) -> str | None:
    if answer_format == "gsm8k":
        found = extract_answer(text, "gsm8k")
        return found.replace(",", "") if found else None
    if answer_format == "boxed":
        return extract_boxed(text)
    return text.strip() or None


def load_rows(config: MathDatasetConfig, env_id: str = "the env") -> tuple[list[dict[str, Any]], str, str]:
    """Read the records named by `config.path`; return ``(records, source name, sha256)``.

    The SHA-256 is of the file's bytes for a file, and of the records as canonical JSON lines for
    a saved or Hub dataset.
    """
    assert config.path is not None
    raw = config.path
    path = BUNDLED / raw.removeprefix("bundled:") if raw.startswith("bundled:") else Path(raw).expanduser()
    fmt = config.format
    if fmt == "auto":
        suffix = path.suffix.lower()
        fmt = {".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}.get(suffix, "hf")  # type: ignore[assignment]
    if fmt in ("jsonl", "json", "parquet"):
        if not path.is_file():
            raise ConfigError(
                f"{env_id}: data file {path} does not exist. Point path= at a .jsonl, .json or .parquet file "
                "with question and answer fields."
            )
        data = path.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        if fmt == "jsonl":
            records = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        elif fmt == "json":
            loaded = json.loads(data)
            records = loaded if isinstance(loaded, list) else loaded.get("data", [])
        else:
            try:
                import pyarrow.parquet as pq
            except ImportError as exc:
                raise MissingDependency("pyarrow", "math", purpose="reading Parquet datasets") from exc
            records = pq.read_table(path).to_pylist()
        return records, (raw if raw.startswith("bundled:") else str(path)), sha256
    return _load_hf(config, path, raw, env_id)


def _load_hf(config: MathDatasetConfig, path: Path, raw: str, env_id: str) -> tuple[list[dict[str, Any]], str, str]:
    try:
        import datasets
    except ImportError as exc:
        raise MissingDependency("datasets", "math", purpose=f"loading `{raw}`") from exc
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            loaded = loaded[config.split]
        source = str(path)
    else:
        if not _hub_reachable():
            raise ConfigError(
                f"{env_id}: `{raw}` is not a local file or folder, and the Hugging Face Hub cannot be reached to "
                f"download it. Where you have network, run `datasets.load_dataset({raw!r}, {config.name!r}, "
                f"split={config.split!r}).to_json('data.jsonl')` and pass path='data.jsonl'."
            )
        loaded = datasets.load_dataset(raw, config.name, split=config.split)
        source = raw
    records = [dict(r) for r in loaded]
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, default=str).encode() + b"\n")
    return records, source, digest.hexdigest()


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Quick check that huggingface.co answers on port 443 (fails fast when offline)."""
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False
