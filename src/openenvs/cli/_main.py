"""The typer application and error handling shared by every command.

Each capability adds its commands from its own module, listed in `COMMAND_MODULES`; a module
exposes ``register(app: typer.Typer) -> None``. A module that is not present (an unfinished or
removed capability) is skipped, so one capability never breaks the others' commands.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from .._errors import OpenEnvsError

__all__ = ["COMMAND_MODULES", "app", "main"]

COMMAND_MODULES = [
    "openenvs.cli._core",  # list, info, check, play, new
    "openenvs.cli._sandbox",  # doctor
    "openenvs.cli._eval",  # eval, serve-model
    "openenvs.cli._train",  # train, demo
    "openenvs.cli._tools",  # mcp
    "openenvs.cli._bench",  # bench
    "openenvs.cli._serve",  # serve
]

app = typer.Typer(
    name="openenvs",
    help="One interface for LLM post-training environments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level."),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(level=logging.INFO if verbose or debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; errors print as one line (with the fix) unless ``--debug`` is given."""
    _load_commands()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        rc = app(args=args, standalone_mode=False)
    except SystemExit:
        raise
    except (OpenEnvsError, ValueError, FileNotFoundError, ImportError) as exc:
        if debug:
            raise
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except Exception as exc:  # click's own usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, click.exceptions.Abort):
            raise SystemExit(130) from None
        if debug:
            raise
        from rich.console import Console

        Console(stderr=True).print(
            f"[bold red]error:[/] {type(exc).__name__}: {exc} (run with --debug for the traceback)", highlight=False
        )
        raise SystemExit(1) from None
    if isinstance(rc, int) and rc:
        raise SystemExit(rc)
