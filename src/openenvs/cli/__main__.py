"""`python -m openenvs.cli ...` runs the `openenvs` command."""

from . import main

main()
