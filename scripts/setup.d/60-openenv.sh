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
VENV=.venv-openenv
VERSION=0.10.0
STAMP=$VENV/.openenvs-openenv-$VERSION
[ -f "$STAMP" ] && exit 0
LOG=$(mktemp)
install() {
  local py=${PYTHON:-python3}
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q -U pip
  "$VENV/bin/python" -m pip install -q "openenv==$VERSION" websockets
  "$VENV/bin/python" -c "import openenv.core, openenv.core.env_server, openenv.core.generic_client; from importlib.metadata import version; print('openenv', version('openenv'))"
}
echo "openenv: building $VENV (openenv $VERSION, about a minute)"
if install >"$LOG" 2>&1 || { echo "openenv: retrying once"; install >"$LOG" 2>&1; }; then
  tail -1 "$LOG" > "$STAMP"
  rm -f "$VENV/.openenvs-openenv-failed"
  echo "openenv: ready ($(cat "$STAMP"))"
else
  mkdir -p "$VENV"; { echo "openenv $VERSION install failed:"; grep -v '^WARNING: Location' "$LOG" | tail -20; } > "$VENV/.openenvs-openenv-failed"
  cat "$VENV/.openenvs-openenv-failed"
fi
rm -f "$LOG"
