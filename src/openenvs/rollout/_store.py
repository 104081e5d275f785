"""Streaming trajectory files: JSONL written as episodes finish, Parquet in shards, resumable.

Layout of an output folder::

    run.json                     model and sampling of the run (a resume must match them)
    trajectories.jsonl           one `Trajectory` per line, appended and flushed as each finishes
    parquet/part-00000.parquet   the same records, in shards of `flush_every` rows
    errors.jsonl                 episodes that failed or timed out (retried by the next run)

A rerun on the same folder skips the episodes already in trajectories.jsonl, drops a torn last
line left by a crash, and writes into Parquet any record a crash kept out of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .._errors import ConfigError
from .._spec import EnvSpec
from ._record import Trajectory, arrow_schema

__all__ = ["TrajectoryStore", "iter_trajectories", "load_trajectories"]

logger = logging.getLogger(__name__)

_RESUME_KEYS = ("model", "revision", "backend", "sampling", "max_turns")


def iter_trajectories(path: str | Path) -> Iterator[Trajectory]:
    """Yield the trajectories of an output folder (or of one JSONL file); a torn last line is skipped."""
    path = Path(path)
    file = path / "trajectories.jsonl" if path.is_dir() else path
    if not file.exists():
        return
    with file.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn write
            yield Trajectory.model_validate_json(line)


def load_trajectories(path: str | Path) -> list[Trajectory]:
    """All trajectories of an output folder (or of one JSONL file)."""
    return list(iter_trajectories(path))


class TrajectoryStore:
    """Writes trajectories to an output folder as they finish (see the module docs for the layout)."""

    def __init__(self, out_dir: str | Path, *, parquet: bool = True, flush_every: int = 256) -> None:
        """Prepare `out_dir`; nothing is written until `open`."""
        self.out_dir = Path(out_dir)
        self.parquet = parquet
        self.flush_every = flush_every
        self.jsonl_path = self.out_dir / "trajectories.jsonl"
        self.errors_path = self.out_dir / "errors.jsonl"
        self.parquet_dir = self.out_dir / "parquet"
        self._jsonl: IO[str] | None = None
        self._errors: IO[str] | None = None
        self._buffer: list[dict[str, Any]] = []
        self._manifests: set[str] = set()
        if parquet:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                logger.warning("pyarrow is not installed: writing JSONL only (pip install 'openenvs[vllm]')")
                self.parquet = False

    def open(self, manifest: dict[str, Any]) -> set[str]:
        """Open the files for appending; return the ids of episodes already finished.

        Raises:
            ConfigError: the folder holds a run with another model or other sampling parameters.
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        run_file = self.out_dir / "run.json"
        if run_file.exists():
            old = json.loads(run_file.read_text())
            changed = [k for k in _RESUME_KEYS if old.get(k) != manifest.get(k)]
            if changed:
                raise ConfigError(
                    f"{self.out_dir} holds a run with different {', '.join(changed)} "
                    f"({', '.join(f'{k}={old.get(k)!r}' for k in changed)}); resuming would mix them. "
                    "Use a new --out folder, or delete that one."
                )
        else:
            run_file.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        done = self._repair_jsonl()
        if self.parquet:
            self._sync_parquet(done)
        self._jsonl = self.jsonl_path.open("a", encoding="utf-8")
        self._errors = self.errors_path.open("a", encoding="utf-8")
        return set(done)

    def _repair_jsonl(self) -> dict[str, int]:
        """Ids (with their line numbers) of finished episodes; cut a torn last line."""
        done: dict[str, int] = {}
        if not self.jsonl_path.exists():
            return done
        good = 0
        with self.jsonl_path.open("rb") as fh:
            for number, line in enumerate(fh):
                if not line.endswith(b"\n"):
                    break
                try:
                    done[json.loads(line)["id"]] = number
                except (json.JSONDecodeError, KeyError):
                    break
                good += len(line)
        if good < self.jsonl_path.stat().st_size:
            logger.warning("%s: dropping a torn last record left by an interrupted run", self.jsonl_path)
            with self.jsonl_path.open("r+b") as fh:
                fh.truncate(good)
        return done

    def _sync_parquet(self, done: dict[str, int]) -> None:
        import pyarrow.parquet as pq

        have: set[str] = set()
        for shard in sorted(self.parquet_dir.glob("part-*.parquet")):
            have.update(pq.read_table(shard, columns=["id"]).column("id").to_pylist())
        missing = set(done) - have
        if missing:
            with self.jsonl_path.open(encoding="utf-8") as fh:
                self._buffer = [row for line in fh if (row := json.loads(line))["id"] in missing]
            self._flush_parquet()

    def add_manifest(self, spec: EnvSpec) -> None:
        """Record the manifest an episode's env was made from (``manifests.json``, once per fingerprint)."""
        fingerprint = spec.fingerprint
        if fingerprint in self._manifests:
            return
        from ..repro._records import record_manifest

        record_manifest(self.out_dir, spec)
        self._manifests.add(fingerprint)

    def add(self, trajectory: Trajectory) -> None:
        """Append one finished episode (flushed to JSONL at once, to Parquet by shard)."""
        assert self._jsonl is not None, "call open() first"
        row = trajectory.model_dump(mode="json")
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        if self.parquet:
            self._buffer.append(row)
            if len(self._buffer) >= self.flush_every:
                self._flush_parquet()

    def add_error(self, record: dict[str, Any]) -> None:
        """Record a failed or timed-out episode."""
        assert self._errors is not None, "call open() first"
        self._errors.write(json.dumps(record, default=str) + "\n")
        self._errors.flush()

    def _flush_parquet(self) -> None:
        if not self._buffer:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.parquet_dir.mkdir(exist_ok=True)
        index = len(list(self.parquet_dir.glob("part-*.parquet")))
        table = pa.Table.from_pylist(self._buffer, schema=arrow_schema())
        tmp = self.parquet_dir / f".part-{index:05d}.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.rename(self.parquet_dir / f"part-{index:05d}.parquet")
        self._buffer = []

    def close(self) -> None:
        """Flush the last Parquet shard and close the files."""
        if self.parquet:
            self._flush_parquet()
        for fh in (self._jsonl, self._errors):
            if fh is not None:
                fh.close()
        self._jsonl = self._errors = None
