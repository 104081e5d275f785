"""The typer application and error handling shared by every command.

Each capability adds its commands from its own module, listed in `COMMAND_MODULES`; a module
exposes ``register(app: typer.Typer) -> None`` and imports only light modules at its top, so an
optional dependency that is missing breaks only the commands that use it. A listed module that does
not exist is an error (a test imports every one).

Exit codes: 0 success, 1 an error (one line naming the fix; ``--debug`` for the traceback),
2 a usage error (click's own message), 130 interrupted (Ctrl-C).
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
    "openenvs.cli._repro",  # reproduce, licenses, export
    "openenvs.cli._build",  # build
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
    logging.basicConfig(
        level=logging.INFO if verbose or debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


_loaded: list[str] = []


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        if name in _loaded:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                raise RuntimeError(
                    f"The CLI command module `{name}` listed in openenvs.cli._main.COMMAND_MODULES does not exist: "
                    "add the module or remove it from the list."
                ) from None
            raise
        module.register(app)
        _loaded.append(name)


def _click_exception_type() -> type[Exception]:
    """Click's `ClickException` as this typer raises it (typer 0.29 vendors a copy of click; older ones use click)."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    raise RuntimeError("typer.BadParameter does not derive from a ClickException")  # pragma: no cover


def _print_error(message: str) -> None:
    from rich.console import Console
    from rich.text import Text

    # Text, not markup: messages hold `pip install 'openenvs[math]'`, which markup would eat.
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text.assemble(("error:", "bold red"), " ", message))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; errors print as one line (with the fix) unless ``--debug`` is given."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        _load_commands()
        rc = app(args=args, standalone_mode=False)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except (typer.Abort, _click_exception_type(), OpenEnvsError, ValueError, FileNotFoundError, ImportError) as exc:
        if isinstance(exc, typer.Abort):  # click turns Ctrl-C or end of input at a prompt into Abort
            interrupted = isinstance(exc.__context__, KeyboardInterrupt)
            _print_error("interrupted" if interrupted else "aborted (end of input)")
            raise SystemExit(130 if interrupted else 1) from None
        if isinstance(exc, _click_exception_type()):  # usage errors: click's own message and exit code (2)
            exc.show()  # type: ignore[attr-defined]
            raise SystemExit(exc.exit_code) from None  # type: ignore[attr-defined]
        if debug:
            raise
        _print_error(str(exc))
        raise SystemExit(1) from None
    except Exception as exc:
        if debug:
            raise
        _print_error(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
        raise SystemExit(1) from None
    if isinstance(rc, int) and rc:
        raise SystemExit(rc)
