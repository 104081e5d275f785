#!/usr/bin/env bash
# Build .venv-verifiers: a side venv holding verifiers (PyPI `verifiers` 0.4.x) plus what openenvs
# needs to run and serve there (its core dependencies and the `server` extra; openenvs itself comes
# from the checkout via PYTHONPATH=src). verifiers pins mcp==2.0.0 while ours resolves 2.3, so it
# lives apart from .venv. `uv` is there because verifiers' chat harness (`null`) runs its program as a
# PEP 723 script through `uv` (which fetches that script's few dependencies on first use). Used by
# tests/bridges/test_verifiers.py, tests/rollout/test_verifiers_export.py and benchmarks/bridges.py.
# Idempotent (scripts/side-venv.sh): a stamp file marks a finished install. A failed install does not stop the setup: the
# reason goes to .venv-verifiers/.openenvs-verifiers-failed and the tests (FAIL under CI=true) quote it.
# OPENENVS_SKIP_VERIFIERS=1 skips this step.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${OPENENVS_SKIP_VERIFIERS:-0}" = "1" ] && { echo "verifiers: skipped (OPENENVS_SKIP_VERIFIERS=1)"; exit 0; }
source scripts/side-venv.sh
build_side_venv verifiers .venv-verifiers verifiers 0.4.0 "import verifiers.v1 as vf; from importlib.metadata import version; print('verifiers', version('verifiers'))" "${SIDE_VENV_CORE[@]}"
