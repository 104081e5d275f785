"""License reports for a training mixture: every env, data set and upstream source, with use flags.

The flags are what a person deciding on use needs first; they are read from the SPDX expression
of each part (env code, dataset, upstream sources) in the manifests, never guessed from names:

- ``non-commercial``: a ``-NC`` license (e.g. CC-BY-NC-4.0);
- ``share-alike``: copyleft or ``-SA`` terms (GPL, LGPL, AGPL, MPL, EPL, EUPL, CDDL, ODbL, CC-BY-SA);
- ``no-derivatives``: a ``-ND`` license;
- ``attribution``: a notice or credit must be kept (MIT, BSD, Apache, CC-BY, ...);
- ``unknown``: the manifest gives no license, or says it is unknown (``NOASSERTION``, ``LicenseRef-unknown``).

``A OR B`` keeps only the flags every option has (the user may pick the lighter one); ``A AND B``
and ``A WITH exception`` take the union.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .._spec import EnvSpec

__all__ = ["LICENSE_FLAGS", "LicenseEntry", "LicenseReport", "license_flags", "license_problems", "license_report"]

LICENSE_FLAGS = ("non-commercial", "share-alike", "no-derivatives", "attribution", "unknown")
"""Every flag a report can raise, in the order they are shown."""

_UNKNOWN = {"NOASSERTION", "NONE", "UNKNOWN", "LICENSEREF-UNKNOWN", "LICENSEREF-NOASSERTION"}
_NO_ATTRIBUTION = {"CC0-1.0", "Unlicense", "0BSD", "PDDL-1.0", "WTFPL", "MIT-0"}
_COPYLEFT = re.compile(r"^(A?GPL|LGPL|MPL|EPL|EUPL|CDDL|ODbL|OSL|CECILL|CPL)", re.IGNORECASE)


def _token_flags(token: str) -> set[str]:
    if token.upper() in _UNKNOWN or not token:
        return {"unknown"}
    flags: set[str] = set()
    upper = token.upper()
    if "-NC" in upper:
        flags.add("non-commercial")
    if "-ND" in upper:
        flags.add("no-derivatives")
    if "-SA" in upper or _COPYLEFT.match(token):
        flags.add("share-alike")
    if token.startswith("LicenseRef-"):
        flags.add("unknown")  # custom terms: a person has to read them
    elif token not in _NO_ATTRIBUTION:
        flags.add("attribution")
    return flags


def license_flags(expression: str | None) -> list[str]:
    """The use flags of an SPDX expression (None or an unknown marker gives ``["unknown"]``).

    Example:
        >>> license_flags("CC-BY-NC-SA-4.0")
        ['non-commercial', 'share-alike', 'attribution']
        >>> license_flags("MIT OR CC0-1.0")
        []
    """
    if expression is None or not expression.strip():
        return ["unknown"]
    options = []
    for option in re.split(r"\s+OR\s+", expression.strip()):
        tokens = [t for t in re.split(r"[\s()]+", option) if t and t not in {"AND", "WITH"} and not t.endswith("-exception")]
        flags: set[str] = set()
        for token in tokens:
            flags |= _token_flags(token)
        options.append(flags)
    common = set.intersection(*options) if options else {"unknown"}
    return [f for f in LICENSE_FLAGS if f in common]


class LicenseEntry(BaseModel):
    """One licensed part of one env: its code, its data set, or an upstream source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env_id: str
    part: str = Field(description="'env', 'dataset' or 'source'.")
    name: str = Field(description="What the part is: the env id, the dataset name, the source title or URL.")
    license: str | None = Field(description="SPDX expression, or None when the manifest gives none.")
    flags: list[str] = Field(description="Use flags (see `LICENSE_FLAGS`).")
    note: str = Field(default="", description="Why a license is missing or implied.")


class LicenseReport(BaseModel):
    """The licenses of every env and data set in a mixture."""

    model_config = ConfigDict(extra="forbid")

    envs: list[str]
    entries: list[LicenseEntry]

    @property
    def flags(self) -> list[str]:
        """The flags raised by any part of the mixture."""
        raised = {f for e in self.entries for f in e.flags}
        return [f for f in LICENSE_FLAGS if f in raised]

    def to_markdown(self) -> str:
        """A table for cards and terminals."""
        lines = ["| env | part | name | license | flags |", "|---|---|---|---|---|"]
        for e in self.entries:
            flags = ", ".join(e.flags) or "-"
            note = f" ({e.note})" if e.note else ""
            lines.append(f"| {e.env_id} | {e.part} | {e.name}{note} | {e.license or 'unknown'} | {flags} |")
        lines.append("")
        lines.append(f"Mixture flags: {', '.join(self.flags) or 'none'}.")
        return "\n".join(lines)


def _entries(spec: EnvSpec) -> list[LicenseEntry]:
    out = [LicenseEntry(env_id=spec.id, part="env", name=spec.id, license=spec.license, flags=license_flags(spec.license))]
    if spec.dataset is None:
        out.append(
            LicenseEntry(
                env_id=spec.id,
                part="dataset",
                name="generated by the env's code",
                license=spec.license,
                flags=license_flags(spec.license),
                note="no dataset: tasks are generated, so the env's license covers them",
            )
        )
    else:
        lic = spec.dataset.license
        out.append(
            LicenseEntry(
                env_id=spec.id,
                part="dataset",
                name=spec.dataset.name,
                license=lic,
                flags=license_flags(lic),
                note="" if lic else "the manifest gives no dataset license",
            )
        )
    for source in spec.sources:
        if source.license is None and source.kind != "upstream":
            continue  # papers and references carry no license of their own
        name = source.title or source.url or source.kind
        out.append(
            LicenseEntry(
                env_id=spec.id,
                part="source",
                name=name,
                license=source.license,
                flags=license_flags(source.license),
                note="" if source.license else "upstream project without a license in the manifest",
            )
        )
    return out


def license_problems(spec: EnvSpec) -> list[str]:
    """What is missing from a manifest's license data (empty when complete).

    Complete means: a dataset names its license (``NOASSERTION`` is allowed, and then reported as
    unknown: explicit, never silent), and every upstream source names its license.
    """
    problems = []
    if spec.dataset is not None and spec.dataset.license is None:
        problems.append(f"{spec.id}: dataset `{spec.dataset.name}` has no license; set dataset.license (or NOASSERTION)")
    for source in spec.sources:
        if source.kind == "upstream" and source.license is None:
            problems.append(f"{spec.id}: upstream source `{source.title or source.url}` has no license; set its license")
    return problems


def _envs_of_recipe(path: Path) -> list[tuple[str, dict[str, Any]]]:
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    envs = data.get("envs") or data.get("env") or []
    if isinstance(envs, (str, dict)):
        envs = [envs]
    out: list[tuple[str, dict[str, Any]]] = []
    for item in envs:
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, dict) and "id" in item:
            out.append((str(item["id"]), dict(item.get("kwargs") or {})))
    if not out:
        raise ValueError(f"{path} names no envs (expected an `env:` or `envs:` key with env ids).")
    return out


def _envs_of_run(path: Path) -> list[tuple[str, dict[str, Any]]]:
    from ._records import find_trajectory_files

    seen: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for file in find_trajectory_files(path):
        with file.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break
                row = json.loads(line)
                key = (row["env_id"], row.get("env_kwargs", "{}"))
                seen.setdefault(key, (row["env_id"], json.loads(row.get("env_kwargs") or "{}")))
    for name in ("card.json", "report.json", "demo_result.json"):
        file = path / name
        if file.exists():
            data = json.loads(file.read_text())
            for env in data.get("envs", []) if isinstance(data.get("envs"), list) else []:
                env_id = env.get("id") if isinstance(env, dict) else env
                if isinstance(env_id, str):
                    seen.setdefault((env_id, "{}"), (env_id, {}))
    if not seen:
        raise ValueError(f"{path} holds no trajectories or card naming its envs; pass env ids or a recipe instead.")
    return list(seen.values())


def _targets(targets: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            out.extend(_envs_of_run(path))
        elif path.suffix in {".yaml", ".yml"} and path.exists():
            out.extend(_envs_of_recipe(path))
        else:
            out.append((target, {}))
    return out


def license_report(targets: str | Iterable[str]) -> LicenseReport:
    """The licenses of every env and data set named by `targets`: env ids, recipe YAML files or run folders.

    Example:
        >>> report = license_report(["math/arithmetic-v1"])
        >>> report.flags
        ['attribution']
    """
    from .._api import spec as get_spec

    names = [targets] if isinstance(targets, str) else list(targets)
    entries: list[LicenseEntry] = []
    envs: list[str] = []
    for env_id, kwargs in _targets(names):
        spec = get_spec(env_id).with_kwargs(**kwargs)
        if spec.id in envs:
            continue
        envs.append(spec.id)
        entries.extend(_entries(spec))
    return LicenseReport(envs=envs, entries=entries)
