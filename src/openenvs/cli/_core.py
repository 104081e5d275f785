"""Core commands: list, info, check, play, new."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ._scaffold import scaffold, scaffold_package

__all__ = ["register"]


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def list_cmd(
    tag: list[str] = typer.Option([], "--tag", "-t", help="Only envs carrying this tag (repeatable)."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Only this namespace, e.g. `math`."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifests as JSON."),
) -> None:
    """List registered environments (and namespaces unavailable for a missing dependency)."""
    from .._api import list_envs, registry

    specs = list_envs(tags=tag or None, namespace=namespace)
    unavailable = {} if namespace else registry.unavailable()
    if as_json:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in specs], indent=2))
        for ns, reason in unavailable.items():
            typer.echo(f"unavailable: {ns}/*: {reason}", err=True)
        return
    from rich.text import Text

    console = _console()
    console.print(_list_table(specs, console.width))
    for ns, reason in unavailable.items():  # Text, not markup: a reason holds `[extra]`
        console.print(Text.assemble(("unavailable", "yellow"), " ", (f"{ns}/*", "bold"), f": {reason}"))


# The columns of `openenvs list` after the id, in display order, each with its narrowest useful width,
# and the order they drop in when the terminal is too narrow (the id column never shrinks).
_LIST_COLUMNS = {"kind": 11, "tags": 14, "license": 10, "description": 24}
_LIST_DROP_ORDER = ("tags", "license", "kind", "description")


def _list_table(specs: list[Any], width: int) -> Any:
    """The `list` table: ids are never cut; the other columns wrap, then drop (tags, license, kind, description)."""
    from rich.table import Table
    from rich.text import Text

    id_width = max((len(s.id) for s in specs), default=2)
    if id_width + 4 > width:  # not even the id column fits: one id per line, whole
        return Text("\n".join(s.id for s in specs), no_wrap=True, overflow="ignore")
    shown = dict(_LIST_COLUMNS)
    drop = list(_LIST_DROP_ORDER)
    # A box table spends 3 characters per column plus 1 on borders and padding.
    while shown and id_width + sum(shown.values()) + 3 * (len(shown) + 1) + 1 > width:
        shown.pop(drop.pop(0))
    table = Table(title=f"{len(specs)} environments")
    table.add_column("id", no_wrap=True, min_width=id_width)
    for header, narrowest in shown.items():
        table.add_column(header, min_width=narrowest, overflow="fold", no_wrap=header == "kind")
    for s in specs:
        values = {"kind": s.kind, "license": s.license, "tags": ", ".join(s.tags), "description": s.description}
        table.add_row(s.id, *(values[h] for h in shown))
    return table


def info_cmd(
    env_id: str = typer.Argument(..., help="Environment id, e.g. math/arithmetic-v1."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Show an environment's manifest and fingerprint."""
    from .._api import spec as get_spec

    spec = get_spec(env_id)
    data = spec.model_dump(mode="json")
    data["fingerprint"] = spec.fingerprint
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    table = Table(show_header=False, title=spec.id)
    for key, value in data.items():
        if value in (None, [], {}):
            continue
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    _console().print(table)


def check_cmd(
    env_ids: list[str] = typer.Argument(None, help="Environment ids to check."),
    all_envs: bool = typer.Option(False, "--all", help="Check every registered environment."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="With --all: only this namespace."),
    cross_process: bool = typer.Option(True, help="Also replay each episode in a fresh process."),
    hacks: bool = typer.Option(True, help="Also play the reward-hack probes (32 seeds each)."),
) -> None:
    """Run the conformance checks (openenvs.testing.check_env) on environments."""
    from .._api import list_envs
    from ..testing import check_env, check_reward_hacks

    ids = list(env_ids or [])
    if all_envs:
        ids += [s.id for s in list_envs(namespace=namespace)]
    if not ids:
        raise typer.BadParameter("give one or more environment ids, or --all")
    console = _console()
    failed = 0
    for env_id in ids:
        try:
            check_env(env_id, cross_process=cross_process, hacks=False)
            probes = check_reward_hacks(env_id) if hacks else []
        except Exception as exc:  # report every env, then fail
            failed += 1
            console.print(f"[red]✗[/] {env_id}: {type(exc).__name__}: {exc}")
        else:
            worst = max(probes, key=lambda r: r.mean - r.baseline, default=None)
            note = (
                f" ({len(probes)} hack probes; highest `{worst.probe}` {worst.mean:.3f}, "
                f"allowed {worst.baseline:.3f} + {worst.margin:.3f})"
                if worst
                else ""
            )
            console.print(f"[green]✓[/] {env_id}{note}")
    console.print(f"{len(ids) - failed}/{len(ids)} passed")
    if failed:
        raise typer.Exit(1)


_PLAY_HELP = (
    "Type the assistant's reply and press Enter. Commands: /tool NAME {json args} makes a tool call, "
    "/reset starts a new episode, /quit leaves."
)


def play_cmd(
    env_id: str = typer.Argument(..., help="Environment id."),
    seed: int = typer.Option(0, help="Seed of the first episode (later episodes add 1)."),
    kwarg: list[str] = typer.Option([], "--kwarg", "-k", help="KEY=VALUE passed to the env (JSON values)."),
) -> None:
    """Play an environment in the terminal: you are the policy."""
    from .._api import make
    from .._types import Message, ToolCall

    env = make(env_id, **_parse_kwargs(kwarg))
    console = _console()
    console.print(f"[bold]{env_id}[/]  {_PLAY_HELP}")
    episode = 0
    try:
        while True:
            obs, info = env.reset(seed=seed + episode)
            console.rule(f"episode {episode} (seed {seed + episode})")
            _show(console, obs)
            done, total = False, 0.0
            while not done:
                line = _prompt_line()
                if line is None or line.strip() == "/quit":
                    return
                if line.strip() == "/reset":
                    break
                action: str | Message = line
                if line.startswith("/tool "):
                    name, _, args = line[6:].strip().partition(" ")
                    call = ToolCall.create(name, args.strip() or "{}", id=f"call_{env.turn}")
                    action = Message(role="assistant", content=None, tool_calls=[call])
                obs, reward, terminated, truncated, info = env.step(action)
                total += reward
                _show(console, obs)
                console.print(f"[cyan]reward {reward:g}[/] (total {total:g})  correct={info.get('correct')}")
                done = terminated or truncated
            if done:
                console.print(f"[bold]episode over[/]: return {total:g}" + (" (truncated)" if truncated else ""))
            episode += 1
    finally:
        env.close()  # Ctrl-C propagates: the CLI exits 130


def _prompt_line() -> str | None:
    """One line from the user, or None at the end of input (Ctrl-C propagates)."""
    try:
        return str(typer.prompt("assistant", prompt_suffix="> ", default="", show_default=False))
    except typer.Abort as exc:  # click turns both EOF and Ctrl-C at a prompt into Abort
        if isinstance(exc.__context__, EOFError):
            return None
        raise


def _show(console: Any, obs: Any) -> None:
    for message in obs.messages:
        console.print(f"[bold magenta]{message.role}[/]: {message.content or ''}")
    if obs.tools:
        console.print("[dim]tools: " + ", ".join(f"{t.name}({', '.join(t.parameters.get('properties', {}))})" for t in obs.tools) + "[/]")


def _parse_kwargs(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"--kwarg {pair!r} must look like KEY=VALUE, e.g. difficulty=3")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def new_cmd(
    name: str = typer.Argument(..., help="Family name, e.g. `word_sort` (a Python identifier)."),
    namespace: str = typer.Option("custom", help="Id namespace: the env is registered as NAMESPACE/NAME-v1."),
    root: str | None = typer.Option(None, help="Project root holding registry.json and environments/ (default: found from cwd)."),
    license: str = typer.Option("MIT", help="SPDX license of the new environment."),
    package: Path | None = typer.Option(
        None, "--package", help="Write a standalone pip-installable package into this folder instead (entry point)."
    ),
) -> None:
    """Scaffold environments/NAME/ and its registry.json entry, or (--package DIR) a standalone package."""
    console = _console()
    if package is not None:
        created = scaffold_package(name, package, namespace=namespace, license=license)
        for path in created.files:
            console.print(f"created {path}")
        console.print(f"next: pip install -e {created.folder} && openenvs check {created.env_id} && pytest {created.folder}")
        return
    created = scaffold(name, namespace=namespace, root=root, license=license)
    for path in created.files:
        console.print(f"created {path}")
    console.print(f"registered [bold]{created.env_id}[/] in {created.registry}")
    console.print(f"next: openenvs check {created.env_id} && pytest {created.folder}")


def register(app: typer.Typer) -> None:
    """Add the core commands to `app`."""
    app.command("list")(list_cmd)
    app.command("info")(info_cmd)
    app.command("check")(check_cmd)
    app.command("play")(play_cmd)
    app.command("new")(new_cmd)
