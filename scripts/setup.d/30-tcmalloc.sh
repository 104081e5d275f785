#!/usr/bin/env bash
# tcmalloc for the vLLM CPU server (Debian libgoogle-perftools4; idempotent; a failure never stops the setup).
# VLLMServer LD_PRELOADs libtcmalloc_minimal.so.4 with the vLLM venv's libiomp5: +40-45% decode speed
# measured on a 2-core machine, and vLLM warns without it. Without it the server still runs, slower.
# OPENENVS_SKIP_APT=1 skips this step.
set -uo pipefail
[ "${OPENENVS_SKIP_APT:-0}" = "1" ] && { echo "tcmalloc: apt step skipped (OPENENVS_SKIP_APT=1)"; exit 0; }
[ "$(uname -s)" = "Linux" ] || exit 0
ldconfig -p 2>/dev/null | grep -q 'libtcmalloc_minimal\.so\.4' && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "tcmalloc: install gperftools (libtcmalloc_minimal.so.4) with your package manager; vLLM runs slower without it"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "tcmalloc: not root and no passwordless sudo; install libgoogle-perftools4 yourself. Continuing without."
    exit 0
  fi
fi
echo "tcmalloc: installing libgoogle-perftools4"
LOG=$(mktemp)
if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends libgoogle-perftools4 >"$LOG" 2>&1 \
  || { $SUDO apt-get update >>"$LOG" 2>&1 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends libgoogle-perftools4 >>"$LOG" 2>&1; }; then
  echo "tcmalloc: installed"
else
  echo "tcmalloc: install failed (vLLM still runs, ~40% slower):"; tail -5 "$LOG"
fi
rm -f "$LOG"
