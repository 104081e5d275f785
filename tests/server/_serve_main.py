"""`python tests/server/_serve_main.py ARGS...`: `openenvs serve ARGS` with the test envs registered."""

import sys

import _testenvs

from openenvs.cli import main

if __name__ == "__main__":
    _testenvs.register()
    main(["serve", *sys.argv[1:]])
