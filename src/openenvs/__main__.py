"""`python -m openenvs` runs the CLI."""

from openenvs.cli import main

main()
