"""``openenvs bench [NAME...]``: run the benchmark scripts in ``benchmarks/`` and print their ratio lines.

Each script in ``benchmarks/`` measures against a baseline or a peer in the same run and prints
the comparison (``ratio ...: 0.42x``, ``(goal <= 0.5x)``). This command runs them one after the
other in fresh interpreters (the same Python as the CLI) and prints, per script, the lines that
carry a ratio or a goal; ``--full`` prints everything the script wrote.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import typer

__all__ = ["bench_cmd", "find_benchmarks", "ratio_lines", "register"]

# A line that reports a comparison: "ratio", a goal, or a multiplier such as "0.42x" / "3.1 x".
_RATIO = re.compile(r"ratio|goal|\b\d+(?:\.\d+)?\s?x\b", re.IGNORECASE)


def default_dir() -> Path:
    """``./benchmarks`` if the current folder has one, else the source checkout's ``benchmarks/``."""
    here = Path.cwd() / "benchmarks"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "benchmarks"


def find_benchmarks(folder: Path, names: list[str]) -> list[Path]:
    """The scripts to run: every ``*.py`` in `folder` (sorted), or those named (``core`` or ``core.py``)."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No benchmarks folder at {folder}. Run from a source checkout of openenvs (the wheel does not "
            "ship benchmarks/), or pass --dir."
        )
    scripts = {p.stem: p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")}
    if not names:
        return list(scripts.values())
    unknown = [n for n in names if Path(n).stem not in scripts]
    if unknown:
        raise ValueError(f"No benchmark named {', '.join(unknown)} in {folder}. Available: {', '.join(scripts)}.")
    return [scripts[Path(n).stem] for n in names]


def ratio_lines(output: str) -> list[str]:
    """The lines of a benchmark's output that report a ratio, a multiplier or a goal."""
    return [line.rstrip() for line in output.splitlines() if _RATIO.search(line)]


def bench_cmd(
    names: list[str] = typer.Argument(None, help="Benchmarks to run, e.g. `core sandbox` (default: all)."),
    folder: Path = typer.Option(None, "--dir", help="Folder of benchmark scripts (default: ./benchmarks)."),
    full: bool = typer.Option(False, "--full", help="Print each script's whole output, not only its ratio lines."),
    list_only: bool = typer.Option(False, "--list", help="List the benchmarks and exit."),
    timeout: float = typer.Option(1800.0, "--timeout", help="Seconds each script may run."),
) -> None:
    """Run the benchmark scripts (each measures against a baseline in the same run) and print their ratios."""
    scripts = find_benchmarks(folder or default_dir(), list(names or []))
    if list_only:
        for script in scripts:
            typer.echo(script.stem)
        return
    failed = []
    for script in scripts:
        typer.echo(f"== {script.stem} ({script})")
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, str(script)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=script.parent.parent,
            )
        except subprocess.TimeoutExpired:
            failed.append(script.stem)
            typer.echo(f"   timed out after {timeout:g} s", err=True)
            continue
        lines = proc.stdout.splitlines() if full else ratio_lines(proc.stdout)
        for line in lines or ["(no ratio lines; --full shows the whole output)"]:
            typer.echo(f"   {line}")
        if proc.returncode != 0:
            failed.append(script.stem)
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            typer.echo(f"   exited {proc.returncode}:\n{tail}", err=True)
        typer.echo(f"   ({time.perf_counter() - start:.1f} s)")
    if failed:
        typer.echo(f"error: benchmark(s) failed: {', '.join(failed)}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``bench`` to `app`."""
    app.command("bench")(bench_cmd)
