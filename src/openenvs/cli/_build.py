"""`openenvs build`: write a Dockerfile and an Apptainer definition that serve registered envs."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["build_cmd", "register"]


def build_cmd(
    env_ids: list[str] = typer.Argument(..., help="Environment ids to serve from the image, e.g. code/stdio-v1."),
    fmt: str = typer.Option("all", "--format", "-f", help="What to write: docker, apptainer or all (both)."),
    out: Path = typer.Option(Path("build"), "--out", "-o", help="Build folder (files, and wheels/ in it)."),
    extra: list[str] = typer.Option([], "--extra", help="More openenvs extras to install (repeatable)."),
    port: int = typer.Option(8000, "--port", help="Port the served envs listen on by default."),
    wheels: bool = typer.Option(
        True, "--wheels/--no-wheels", help="Build the wheels into OUT/wheels (needs a package index or pip's cache)."
    ),
    image: str | None = typer.Option(None, "--image", help="Also run `docker build -t IMAGE OUT` (docker format)."),
) -> None:
    """Write a Dockerfile and an Apptainer definition (one plan) that install openenvs and serve the envs."""
    from ..server._build import DOCKER_RUN_OPTIONS, TOKEN_PATH, build_image, image_extras, write_context

    if fmt not in ("docker", "apptainer", "all"):
        raise ValueError(f"--format must be docker, apptainer or all, got {fmt!r}")
    if image and fmt == "apptainer":
        raise ValueError("--image builds the Docker image; use it with --format docker or all")
    extras = image_extras(env_ids, extra)
    written = write_context(env_ids, out, formats=fmt, extras=extras, port=port, wheels=wheels)  # type: ignore[arg-type]
    for kind, path in written.items():
        typer.echo(f"{kind}: {path}")
    typer.echo(f"extras: {', '.join(extras)}")
    if image:
        build_image(out, image)
        typer.echo(f"image: {image}")
    tag = image or "IMAGE"
    opts = " ".join(DOCKER_RUN_OPTIONS)
    typer.echo(
        f"run:   docker run --rm {opts} -p {port}:{port} -v TOKEN_FILE:{TOKEN_PATH}:ro {tag}\n"
        f"local: docker run --rm {opts} --network host {tag} --host 127.0.0.1 --port {port}"
    )
    if "apptainer" in written:
        typer.echo(f"apptainer: cd {out} && apptainer build env.sif {written['apptainer'].name}")


def register(app: typer.Typer) -> None:
    """Add `build` to the CLI."""
    app.command("build")(build_cmd)
