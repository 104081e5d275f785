#!/usr/bin/env bash
# Build .venv-gem: a side venv holding GEM (PyPI `gem-llm` 0.1.x) plus what openenvs
# needs to run and serve there (its core dependencies and the `server` extra; openenvs itself comes
# from the checkout via PYTHONPATH=src). GEM pins an older reasoning-gym than ours, so it lives
# apart from .venv. Used by tests/bridges/test_gem*.py and benchmarks/bridges.py.
# Idempotent (scripts/side-venv.sh): a stamp file marks a finished install. A failed install does not stop the setup: the
# reason goes to .venv-gem/.openenvs-gem-failed and the tests (FAIL under CI=true) quote it.
# OPENENVS_SKIP_GEM=1 skips this step.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${OPENENVS_SKIP_GEM:-0}" = "1" ] && { echo "gem: skipped (OPENENVS_SKIP_GEM=1)"; exit 0; }
source scripts/side-venv.sh
build_side_venv gem .venv-gem gem-llm 0.1.0 "import gem; from importlib.metadata import version; print('gem-llm', version('gem-llm'))" "${SIDE_VENV_CORE[@]}"
