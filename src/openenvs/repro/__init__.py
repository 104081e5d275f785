"""From provenance to reproduction: replay recorded runs, license reports, episode hashes, exports.

>>> from openenvs.repro import license_report
>>> license_report(["math/arithmetic-v1"]).flags
['attribution']
"""

from __future__ import annotations

from ._card import read_card, write_card
from ._export import ExportFormat, export_trajectories
from ._hashes import compute_episode_hashes, diff_episode_hashes, episode_hash
from ._licenses import LICENSE_FLAGS, LicenseEntry, LicenseReport, license_flags, license_problems, license_report
from ._records import fingerprint_inputs, record_manifest
from ._reproduce import EnvSummary, EpisodeCheck, ReproReport, explain_drift, replay_episode, reproduce

__all__ = [
    "LICENSE_FLAGS",
    "EnvSummary",
    "EpisodeCheck",
    "ExportFormat",
    "LicenseEntry",
    "LicenseReport",
    "ReproReport",
    "compute_episode_hashes",
    "diff_episode_hashes",
    "episode_hash",
    "explain_drift",
    "export_trajectories",
    "fingerprint_inputs",
    "license_flags",
    "license_problems",
    "license_report",
    "read_card",
    "record_manifest",
    "replay_episode",
    "reproduce",
    "write_card",
]
