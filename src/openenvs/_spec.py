"""The environment manifest (`EnvSpec`), the id grammar and the provenance fingerprint."""

from __future__ import annotations

import hashlib
import json
import math
import re
from functools import cache
from importlib import metadata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ENV_ID_RE",
    "DatasetInfo",
    "EnvKind",
    "EnvSpec",
    "Source",
    "VerifierInfo",
    "package_version",
    "parse_env_id",
]

ENV_ID_RE = re.compile(r"^(?:(?P<namespace>[a-z0-9][a-z0-9_.]*)/)?(?P<name>[a-z0-9][a-z0-9_.-]*?)-v(?P<version>\d+)$")
"""The one id grammar: ``[namespace/]name[-variant]-vN`` in lower case, e.g. ``math/gsm8k-hard-v1``."""

_UNVERSIONED_RE = re.compile(r"^(?:(?P<namespace>[a-z0-9][a-z0-9_.]*)/)?(?P<name>[a-z0-9][a-z0-9_.-]*)$")

EnvKind = Literal["single-turn", "multi-turn", "tools"]

# SPDX identifiers accepted without a `LicenseRef-` prefix (the common open licenses).
_SPDX_IDS = frozenset(
    """0BSD AFL-3.0 AGPL-3.0-only AGPL-3.0-or-later Apache-1.1 Apache-2.0 Artistic-2.0 BSD-1-Clause
    BSD-2-Clause BSD-3-Clause BSD-3-Clause-Clear BSL-1.0 CC-BY-3.0 CC-BY-4.0 CC-BY-NC-4.0 CC-BY-NC-SA-4.0
    CC-BY-SA-3.0 CC-BY-SA-4.0 CC0-1.0 CDDL-1.0 ECL-2.0 EPL-1.0 EPL-2.0 EUPL-1.2 GPL-2.0-only
    GPL-2.0-or-later GPL-3.0-only GPL-3.0-or-later ISC LGPL-2.1-only LGPL-2.1-or-later LGPL-3.0-only
    LGPL-3.0-or-later MIT MIT-0 MPL-2.0 ODC-By-1.0 ODbL-1.0 OFL-1.1 PDDL-1.0 PSF-2.0 Python-2.0 Unlicense
    UPL-1.0 Zlib CDLA-Permissive-2.0 CDLA-Sharing-1.0 LLAMA-2 NOASSERTION""".split()
)


def _check_spdx(expr: str) -> str:
    tokens = [t for t in re.split(r"[\s()]+", expr) if t]
    if not tokens:
        raise ValueError("license is empty; give an SPDX identifier such as 'MIT' or 'Apache-2.0'")
    for token in tokens:
        if token in {"AND", "OR", "WITH"} or token.startswith("LicenseRef-") or token.endswith("-exception"):
            continue
        base = token[:-1] if token.endswith("+") else token
        if base not in _SPDX_IDS:
            import difflib

            close = difflib.get_close_matches(base, sorted(_SPDX_IDS), n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(
                f"{token!r} is not a known SPDX license identifier.{hint} "
                "Use an id from https://spdx.org/licenses/ or 'LicenseRef-<name>' for a custom license."
            )
    return expr


def parse_env_id(env_id: str) -> tuple[str | None, str, int | None]:
    """Split an id into ``(namespace, name, version)``; version is None for an unversioned id.

    Example:
        >>> parse_env_id("math/gsm8k-hard-v1")
        ('math', 'gsm8k-hard', 1)
        >>> parse_env_id("math/gsm8k")
        ('math', 'gsm8k', None)
    """
    m = ENV_ID_RE.match(env_id)
    if m:
        return m["namespace"], m["name"], int(m["version"])
    m = _UNVERSIONED_RE.match(env_id)
    if m:
        return m["namespace"], m["name"], None
    raise ValueError(
        f"Malformed environment id {env_id!r}: ids look like 'namespace/name-vN' "
        "(lower case letters, digits, '-', '_' and '.'), e.g. 'math/arithmetic-v1'."
    )


@cache
def package_version(dist: str) -> str | None:
    """Installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


class Source(BaseModel):
    """Where an environment comes from: a paper, an upstream project or a dataset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["paper", "upstream", "dataset", "other"] = Field(description="What the source is.")
    title: str = Field(description="Human-readable title, e.g. the paper or project name.")
    url: str | None = Field(default=None, description="Link to the paper, repository or dataset card.")
    license: str | None = Field(default=None, description="SPDX license of the source, when it differs.")


class DatasetInfo(BaseModel):
    """The data an environment reads; `sha256` is of the bytes actually loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Dataset name or path, e.g. 'openai/gsm8k' or a bundled fixture file.")
    revision: str | None = Field(default=None, description="Dataset revision or version tag.")
    sha256: str | None = Field(default=None, description="SHA-256 of the data loaded; part of the fingerprint.")
    license: str | None = Field(default=None, description="SPDX license of the data.")


class VerifierInfo(BaseModel):
    """The verifier that scores the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Verifier name, e.g. 'math-verify' or 'openenvs.verify.math_equal'.")
    version: str | None = Field(default=None, description="Verifier version; part of the fingerprint.")


class EnvSpec(BaseModel):
    """The manifest of one registered environment (what registry.json and packages declare)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Environment id, `namespace/name-vN`.")
    entry_point: str = Field(description="Lazy `module:attr` path of the Env class or factory.")
    description: str = Field(description="One or two sentences saying what the task is.")
    license: str = Field(description="SPDX license expression of the environment and its data.")
    kind: EnvKind = Field(default="single-turn", description="Episode shape.")
    tags: list[str] = Field(default_factory=list, description="Free-form tags used by `list_envs(tags=...)`.")
    reward_range: tuple[float, float] = Field(default=(0.0, 1.0), description="Smallest and largest reward.")
    sources: list[Source] = Field(default_factory=list, description="Papers and upstream projects it adopts.")
    dataset: DatasetInfo | None = Field(default=None, description="The data it reads, when any.")
    verifier: VerifierInfo | None = Field(default=None, description="How it is scored.")
    extras: list[str] = Field(default_factory=list, description="openenvs extras it needs, e.g. ['math'].")
    packages: list[str] = Field(
        default_factory=list, description="Distributions whose versions decide behaviour (fingerprinted)."
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Default keyword arguments for the env.")
    max_turns: int | None = Field(default=None, ge=1, description="Episode is truncated after this many steps.")
    chance_reward: float = Field(
        default=0.0,
        description="Mean episode reward of play that knows nothing about the task, under the default kwargs: "
        "0 for open answers, 1/k for a k-way choice, a game's expected payoff under random play. Format "
        "shaping (a config's `format_reward`) is not chance and is not included. The reward-hack probes of "
        "`openenvs.testing.check_env` must stay at or below it plus a margin; declare a measured value with "
        "the reason when an upstream scorer pays for junk.",
    )
    deprecated_by: str | None = Field(default=None, description="Id of the replacement when this version is retired.")

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not ENV_ID_RE.match(value):
            raise ValueError(
                f"id {value!r} does not follow 'namespace/name-vN' (lower case, e.g. 'math/arithmetic-v1')"
            )
        return value

    @field_validator("entry_point")
    @classmethod
    def _check_entry_point(cls, value: str) -> str:
        module, _, attr = value.partition(":")
        if not module or not attr:
            raise ValueError(f"entry_point {value!r} must look like 'package.module:ClassName'")
        return value

    @field_validator("license")
    @classmethod
    def _check_license(cls, value: str) -> str:
        return _check_spdx(value)

    @model_validator(mode="after")
    def _check_range(self) -> EnvSpec:
        low, high = self.reward_range
        if low > high:
            raise ValueError(f"reward_range {self.reward_range} has low > high; write it as (low, high)")
        if not math.isfinite(self.chance_reward):
            raise ValueError(
                f"chance_reward {self.chance_reward} is not finite; give the mean episode reward of play "
                "that knows nothing about the task"
            )
        return self

    @property
    def namespace(self) -> str | None:
        """The id's namespace (``math`` in ``math/arithmetic-v1``)."""
        return parse_env_id(self.id)[0]

    @property
    def name(self) -> str:
        """The id's name without namespace and version."""
        return parse_env_id(self.id)[1]

    @property
    def version(self) -> int:
        """The id's version number N."""
        return parse_env_id(self.id)[2] or 0

    @property
    def base_id(self) -> str:
        """The id without its version suffix."""
        return self.id.rsplit("-v", 1)[0]

    def with_kwargs(self, **kwargs: Any) -> EnvSpec:
        """Return a copy whose default kwargs are updated (used by `make`)."""
        return self.model_copy(update={"kwargs": {**self.kwargs, **kwargs}})

    def to_json_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as written to registry.json."""
        return self.model_dump(mode="json", exclude_defaults=True)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex, 16 chars) of everything that decides behaviour.

        Covers the manifest (minus prose and the declared `chance_reward`), the kwargs, the dataset
        hash, the verifier and the versions of openenvs and of the distributions in `packages`. Stable
        across processes and machines: it hashes canonical JSON, never `hash()` or paths.
        """
        payload = self.model_dump(mode="json", exclude={"description", "tags", "sources", "chance_reward"})
        payload["versions"] = {d: package_version(d) for d in ["openenvs", *sorted(self.packages)]}
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
