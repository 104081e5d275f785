#!/usr/bin/env bash
# Build .venv-verifiers: a side venv holding verifiers (PyPI `verifiers` 0.4.x) plus what openenvs
# needs to run and serve there (its core dependencies and the `server` extra; openenvs itself comes
# from the checkout via PYTHONPATH=src). verifiers pins mcp==2.0.0 while ours resolves 2.3, so it
# lives apart from .venv. `uv` is there because verifiers' chat harness (`null`) runs its program as a
# PEP 723 script through `uv` (which fetches that script's few dependencies on first use). Used by
# tests/bridges/test_verifiers.py, tests/rollout/test_verifiers_export.py and benchmarks/bridges.py.
# Idempotent: a stamp file marks a finished install. A failed install does not stop the setup: the
# reason goes to .venv-verifiers/.openenvs-verifiers-failed and the tests (FAIL under CI=true) quote it.
# OPENENVS_SKIP_VERIFIERS=1 skips this step.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${OPENENVS_SKIP_VERIFIERS:-0}" = "1" ] && { echo "verifiers: skipped (OPENENVS_SKIP_VERIFIERS=1)"; exit 0; }
VENV=.venv-verifiers
VERSION=0.4.0
STAMP=$VENV/.openenvs-verifiers-$VERSION
[ -f "$STAMP" ] && exit 0
LOG=$(mktemp)
install() {
  local py=${PYTHON:-python3}
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  # uv resolves and installs this set in well under a minute; pip took 4-5 minutes on 2 cores
  "$VENV/bin/python" -m pip install -q uv
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" "verifiers==$VERSION" "pydantic>=2.6" "numpy>=1.24" "gymnasium>=1.0" \
    "typer>=0.12" "rich>=13" "pyyaml>=6" "fastapi>=0.110" "uvicorn>=0.29" "websockets>=12" "httpx>=0.27"
  "$VENV/bin/python" -c "import verifiers.v1 as vf; from importlib.metadata import version; print('verifiers', version('verifiers'))"
}
echo "verifiers: building $VENV (verifiers $VERSION, about a minute)"
if install >"$LOG" 2>&1 || { echo "verifiers: retrying once"; install >"$LOG" 2>&1; }; then
  tail -1 "$LOG" > "$STAMP"
  rm -f "$VENV/.openenvs-verifiers-failed"
  echo "verifiers: ready ($(cat "$STAMP"))"
else
  mkdir -p "$VENV"; { echo "verifiers $VERSION install failed:"; grep -v '^WARNING: Location' "$LOG" | tail -20; } > "$VENV/.openenvs-verifiers-failed"
  cat "$VENV/.openenvs-verifiers-failed"
fi
rm -f "$LOG"
