#!/usr/bin/env bash
# Build .venv-openenv: a side venv holding OpenEnv (PyPI `openenv` 0.10.x), used by the OpenEnv
# compatibility tests (tests/server/test_openenv_compat.py) and benchmarks/server.py. It lives apart
# from .venv because its pins fight ours (fastmcp 3 and gradio pull an mcp/huggingface_hub/openai
# set that differs from the one TRL and our tools extra resolve). Idempotent: a stamp file marks a
# finished install. A failed install does not stop the setup: the reason goes to
# .venv-openenv/.openenvs-openenv-failed and the tests (which FAIL under CI=true) quote it.
# OPENENVS_SKIP_OPENENV=1 skips this step.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${OPENENVS_SKIP_OPENENV:-0}" = "1" ] && { echo "openenv: skipped (OPENENVS_SKIP_OPENENV=1)"; exit 0; }
source scripts/side-venv.sh
build_side_venv openenv .venv-openenv openenv 0.10.0 \
  "import openenv.core, openenv.core.env_server, openenv.core.generic_client; from importlib.metadata import version; print('openenv', version('openenv'))" \
  websockets
