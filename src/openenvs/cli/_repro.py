"""Provenance commands: ``reproduce`` a recorded run, ``licenses`` of a mixture, ``export`` trajectories."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

__all__ = ["card_cmd", "export_cmd", "licenses_cmd", "register", "reproduce_cmd"]


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def reproduce_cmd(
    path: Path = typer.Argument(..., help="A trajectories .jsonl file, or an eval/train run folder."),
    rescore: bool = typer.Option(False, "--rescore", help="Compare rewards and termination only (verifier changed)."),
    strict: bool = typer.Option(False, "--strict", help="Also fail when a fingerprint drifted (replay identical)."),
    regenerate: bool = typer.Option(False, "--regenerate", help="Rerun the recorded model and compare its outputs."),
    base_url: str | None = typer.Option(None, "--base-url", help="Server to regenerate against (served models)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Rebuild every recorded env, name what differs in its fingerprint, replay every episode; exit 1 on a difference."""
    from rich.table import Table

    from ..repro import reproduce
    from ..repro._reproduce import format_report

    report = reproduce(path, rescore=rescore, strict=strict, regenerate=regenerate, base_url=base_url)
    console = _console()
    if as_json:
        console.print_json(report.model_dump_json())
    else:
        table = Table(title=f"reproduce {path}")
        for column in ("env", "episodes", "identical", "differing", "errors", "fingerprint drift", "why"):
            table.add_column(column, overflow="fold")
        for row in format_report(report):
            table.add_row(*row)
        console.print(table)
        if report.regenerate is not None:
            console.print("regenerate: " + json.dumps(report.regenerate, default=str))
        verdict = "reproduced" if report.ok else "NOT reproduced"
        drifted = sum(1 for c in report.episodes if c.drift)
        console.print(f"{verdict}: {sum(c.status == 'identical' for c in report.episodes)}/{len(report.episodes)} "
                      f"episodes identical; {drifted} with fingerprint drift" + (" (--strict)" if strict else ""))
    if not report.ok:
        raise typer.Exit(1)


def licenses_cmd(
    targets: list[str] = typer.Argument(..., help="Env ids, a recipe .yaml or a run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """The licenses of every env and data set in a mixture, flagged for non-commercial, share-alike, ... use."""
    from ..repro import license_report

    report = license_report(targets)
    if as_json:
        _console().print_json(json.dumps({**report.model_dump(mode="json"), "flags": report.flags}))
    else:
        typer.echo(report.to_markdown())


def export_cmd(
    path: Path = typer.Argument(..., help="A run folder (or trajectories file) to export."),
    format: str = typer.Option(..., "--format", help="sft, dpo or grpo-dataset."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write (train.jsonl; `datasets` and TRL read it)."),
    min_reward: float | None = typer.Option(None, "--min-reward", help="sft: keep episodes with at least this reward."),
) -> None:
    """Export trajectories as chat-format data for TRL's SFT/DPO trainers, or as a GRPO dataset for `trl grpo`."""
    from ..repro import export_trajectories

    if format not in ("sft", "dpo", "grpo-dataset"):
        raise ValueError(f"--format must be sft, dpo or grpo-dataset; got {format!r}.")
    file = export_trajectories(path, out, format=format, min_reward=min_reward)  # type: ignore[arg-type]
    rows = sum(1 for _ in file.open(encoding="utf-8"))
    typer.echo(f"wrote {rows} {format} rows to {file}")


def card_cmd(
    run_dir: Path = typer.Argument(..., help="An eval or train run folder."),
) -> None:
    """Rebuild a run folder's card.md and card.json from its files (what ran, what came out, data licenses)."""
    from ..repro._card import write_card

    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a folder; pass the run folder of `openenvs eval` or `train`.")
    typer.echo(f"wrote {write_card(run_dir)}")


def register(app: typer.Typer) -> None:
    """Add the provenance commands to `app`."""
    app.command("reproduce")(reproduce_cmd)
    app.command("licenses")(licenses_cmd)
    app.command("export")(export_cmd)
    app.command("card")(card_cmd)
