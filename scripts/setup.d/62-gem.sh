#!/usr/bin/env bash
# Build .venv-gem: a side venv holding GEM (PyPI `gem-llm` 0.1.x) plus what openenvs
# needs to run and serve there (its core dependencies and the `server` extra; openenvs itself comes
# from the checkout via PYTHONPATH=src). GEM pins an older reasoning-gym than ours, so it lives
# apart from .venv. Used by tests/bridges/test_gem*.py and benchmarks/bridges.py.
# Idempotent: a stamp file marks a finished install. A failed install does not stop the setup: the
# reason goes to .venv-gem/.openenvs-gem-failed and the tests (FAIL under CI=true) quote it.
# OPENENVS_SKIP_GEM=1 skips this step.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${OPENENVS_SKIP_GEM:-0}" = "1" ] && { echo "gem: skipped (OPENENVS_SKIP_GEM=1)"; exit 0; }
VENV=.venv-gem
VERSION=0.1.0
STAMP=$VENV/.openenvs-gem-$VERSION
[ -f "$STAMP" ] && exit 0
LOG=$(mktemp)
install() {
  local py=${PYTHON:-python3}
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  # uv resolves and installs this set in well under a minute; pip took 4-5 minutes on 2 cores
  "$VENV/bin/python" -m pip install -q uv
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" "gem-llm==$VERSION" "pydantic>=2.6" "numpy>=1.24" "gymnasium>=1.0" \
    "typer>=0.12" "rich>=13" "pyyaml>=6" "fastapi>=0.110" "uvicorn>=0.29" "websockets>=12" "httpx>=0.27"
  "$VENV/bin/python" -c "import gem; from importlib.metadata import version; print('gem-llm', version('gem-llm'))"
}
echo "gem: building $VENV (gem-llm $VERSION, about a minute)"
if install >"$LOG" 2>&1 || { echo "gem: retrying once"; install >"$LOG" 2>&1; }; then
  tail -1 "$LOG" > "$STAMP"
  rm -f "$VENV/.openenvs-gem-failed"
  echo "gem: ready ($(cat "$STAMP"))"
else
  mkdir -p "$VENV"; { echo "gem-llm $VERSION install failed:"; grep -v '^WARNING: Location' "$LOG" | tail -20; } > "$VENV/.openenvs-gem-failed"
  cat "$VENV/.openenvs-gem-failed"
fi
rm -f "$LOG"
