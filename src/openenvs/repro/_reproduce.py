"""`reproduce`: rebuild every env of a recorded run, explain fingerprint drift, replay and compare.

The verdict is decided by replay: each recorded episode is played again (same env id, kwargs and
seed; the recorded assistant turns as actions) and every env message, reward and termination flag
must be identical. A fingerprint that differs while the replay is identical is *drift* (for
example a newer openenvs release that did not change the episode): reported, and a failure only
with ``strict``. ``rescore`` compares rewards and termination only, for envs whose prompts or
feedback changed on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._env import Env
from .._spec import EnvSpec
from .._types import Message
from ._records import find_trajectory_files, fingerprint_inputs, load_manifests, read_records

__all__ = ["EnvSummary", "EpisodeCheck", "ReproReport", "explain_drift", "replay_episode", "reproduce"]

Status = Literal["identical", "differing", "error"]


class EpisodeCheck(BaseModel):
    """The outcome of replaying one recorded episode."""

    model_config = ConfigDict(extra="forbid")

    id: str
    env_id: str
    seed: int
    file: str
    status: Status
    why: str = Field(default="", description="The first difference found (empty when identical).")
    drift: list[str] = Field(default_factory=list, description="How the rebuilt env's fingerprint inputs differ.")


class EnvSummary(BaseModel):
    """One row of the report: the episodes of one env."""

    model_config = ConfigDict(extra="forbid")

    env_id: str
    episodes: int = 0
    identical: int = 0
    differing: int = 0
    errors: int = 0
    drift: list[str] = Field(default_factory=list)
    why: list[str] = Field(default_factory=list, description="Distinct reasons for differences (first few).")


class ReproReport(BaseModel):
    """Everything `reproduce` found; `ok` is the verdict."""

    model_config = ConfigDict(extra="forbid")

    path: str
    episodes: list[EpisodeCheck]
    strict: bool = False
    rescore: bool = False
    regenerate: dict[str, Any] | None = None

    def summaries(self) -> list[EnvSummary]:
        """Per-env counts, in first-seen order."""
        rows: dict[str, EnvSummary] = {}
        for check in self.episodes:
            row = rows.setdefault(check.env_id, EnvSummary(env_id=check.env_id))
            row.episodes += 1
            if check.status == "identical":
                row.identical += 1
            elif check.status == "differing":
                row.differing += 1
            else:
                row.errors += 1
            for item in check.drift:
                if item not in row.drift:
                    row.drift.append(item)
            if check.why and check.why not in row.why and len(row.why) < 3:
                row.why.append(check.why)
        return list(rows.values())

    @property
    def ok(self) -> bool:
        """True when every episode replayed identically (and, with `strict`, nothing drifted)."""
        if not self.episodes:
            return False
        if any(c.status != "identical" for c in self.episodes):
            return False
        if self.regenerate is not None and not self.regenerate.get("ok", False):
            return False
        return not (self.strict and any(c.drift for c in self.episodes))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out or {prefix: {}}
    return {prefix: value}


def explain_drift(recorded: dict[str, Any] | None, spec: EnvSpec) -> list[str]:
    """Name each fingerprint input that differs between a recorded manifest and the rebuilt env.

    Returns entries such as ``"kwargs.difficulty: 2 -> 3"``, ``"dataset.sha256: 1a2b.. -> 9f8e.."`` or
    ``"package reasoning-gym: 0.1.19 -> 0.1.20"``; ``["fingerprint ... -> ... (no manifest recorded)"]``
    when the run did not record its manifests.
    """
    if recorded is None:
        return [f"fingerprint differs and the run recorded no manifest to compare (now {spec.fingerprint})"]
    old = _flatten(recorded)
    new = _flatten(fingerprint_inputs(spec))
    out = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, "<absent>"), new.get(key, "<absent>")
        if before == after:
            continue
        if key.startswith("versions."):
            out.append(f"package {key.split('.', 1)[1]}: {before} -> {after}")
        else:
            out.append(f"{key}: {_short(before)} -> {_short(after)}")
    return out or ["fingerprint differs but every recorded input is equal (a different fingerprint scheme)"]


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _split_turns(messages: list[dict[str, Any]], opening: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """``[(assistant message, env messages after it), ...]`` of a recorded conversation."""
    turns: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for message in messages[opening:]:
        if message.get("role") == "assistant":
            turns.append((message, []))
        elif turns:
            turns[-1][1].append(message)
    return turns


def replay_episode(env: Env, record: Any, *, rescore: bool = False) -> str:
    """Replay a recorded `Trajectory` through `env`; return the first difference, or ``""`` when identical."""
    obs, _ = env.reset(seed=record.seed)
    opening = [m.to_dict() for m in obs.messages]
    if not rescore and record.messages[: len(opening)] != opening:
        return "the opening messages differ from the recorded ones"
    turns = _split_turns(record.messages, len(opening))
    if len(turns) != len(record.steps):
        return f"the record has {len(record.steps)} steps but {len(turns)} assistant messages"
    for step, (action, recorded_env) in zip(record.steps, turns, strict=True):
        result = env.step(Message.from_dict(action))
        if result.reward != step.reward:
            return f"turn {step.turn}: reward {result.reward!r}, recorded {step.reward!r}"
        runner_cut = json.loads(step.info or "{}").get("truncated_by") == "runner.max_turns"
        if result.terminated != step.terminated or (result.truncated != step.truncated and not runner_cut):
            return (
                f"turn {step.turn}: terminated/truncated {result.terminated}/{result.truncated}, "
                f"recorded {step.terminated}/{step.truncated}"
            )
        if not rescore:
            got = [m.to_dict() for m in result.observation.messages]
            if got != recorded_env:
                return f"turn {step.turn}: the env's messages differ from the recorded ones"
            if result.info.get("correct") != json.loads(step.info or "{}").get("correct"):
                return f"turn {step.turn}: info['correct'] is {result.info.get('correct')!r}, recorded otherwise"
    return ""


def _check(record: Any, file: Path, manifests: dict[str, dict[str, Any]], rescore: bool, envs: dict[str, Env]) -> EpisodeCheck:
    from .._api import make

    base = {"id": record.id, "env_id": record.env_id, "seed": record.seed, "file": str(file)}
    key = f"{record.env_id}|{record.env_kwargs}"
    try:
        env = envs.get(key)
        if env is None:
            env = envs[key] = make(record.env_id, **json.loads(record.env_kwargs or "{}"))
    except Exception as exc:  # noqa: BLE001 - a record that cannot be rebuilt is a result, not a crash
        return EpisodeCheck(**base, status="error", why=f"cannot rebuild the env: {exc}")
    try:
        why = replay_episode(env, record, rescore=rescore)
    except Exception as exc:  # noqa: BLE001
        why, status = f"replay raised {type(exc).__name__}: {exc}", "error"
    else:
        status = "differing" if why else "identical"
    drift: list[str] = []
    # compared after the replay: envs that load data record its sha256 in their spec on reset
    if env.spec is not None and env.spec.fingerprint != record.fingerprint:
        recorded = manifests.get(record.fingerprint)
        drift = explain_drift(recorded.get("inputs") if recorded else None, env.spec)
    return EpisodeCheck(**base, status=status, why=why, drift=drift)  # type: ignore[arg-type]


def reproduce(
    path: str | Path,
    *,
    rescore: bool = False,
    strict: bool = False,
    regenerate: bool = False,
    base_url: str | None = None,
) -> ReproReport:
    """Rebuild, compare and replay every episode recorded under `path` (a trajectories file or run folder).

    Args:
        path: A ``trajectories*.jsonl`` file, or a folder searched recursively for them.
        rescore: Compare rewards and termination only (not the env's messages).
        strict: Also fail when a fingerprint drifted although the replay is identical.
        regenerate: Rerun the recorded model with the recorded sampling and compare its outputs.
        base_url: The OpenAI-compatible server to regenerate against (runs recorded with `openai`).
    """
    files = find_trajectory_files(path)
    if not files:
        raise FileNotFoundError(f"No trajectories*.jsonl under {path}; pass a run folder or a trajectories file.")
    checks: list[EpisodeCheck] = []
    envs: dict[str, Env] = {}
    records: list[tuple[Path, Any]] = []
    try:
        for file in files:
            manifests = load_manifests(file)
            for record, _extra in read_records(file):
                records.append((file, record))
                checks.append(_check(record, file, manifests, rescore, envs))
    finally:
        for env in envs.values():
            env.close()
    report = ReproReport(path=str(path), episodes=checks, strict=strict, rescore=rescore)
    if regenerate:
        from ._regenerate import regenerate_records

        report.regenerate = regenerate_records(records, base_url=base_url)
    return report


def format_report(report: ReproReport) -> list[list[str]]:
    """Rows of the per-env table: env, episodes, identical, differing, errors, drift, why."""
    return [
        [
            row.env_id,
            str(row.episodes),
            str(row.identical),
            str(row.differing),
            str(row.errors),
            "; ".join(row.drift) or "-",
            "; ".join(row.why) or "-",
        ]
        for row in report.summaries()
    ]
