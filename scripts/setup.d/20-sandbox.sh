#!/usr/bin/env bash
# System packages for the local code sandbox (idempotent; a failure never stops the setup).
# - libseccomp2: the library behind pyseccomp (the sandbox's seccomp layer).
# - bubblewrap: reported by `openenvs doctor`; handy for sites without unprivileged user namespaces.
# Without them the sandbox still runs, with the seccomp layer reported off by `openenvs doctor`.
# OPENENVS_SKIP_APT=1 skips this step.
set -uo pipefail
[ "${OPENENVS_SKIP_APT:-0}" = "1" ] && { echo "sandbox: apt step skipped (OPENENVS_SKIP_APT=1)"; exit 0; }
[ "$(uname -s)" = "Linux" ] || { echo "sandbox: not Linux; the local sandbox needs Linux (use backend='docker')"; exit 0; }
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if ! ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2'; then missing+=(libseccomp2); fi
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "sandbox: please install ${missing[*]} with your package manager (no apt-get here); continuing without"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "sandbox: not root and no passwordless sudo; install ${missing[*]} yourself. Continuing without."
    exit 0
  fi
fi
echo "sandbox: installing ${missing[*]}"
LOG=$(mktemp)
if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >"$LOG" 2>&1 \
  || { $SUDO apt-get update >>"$LOG" 2>&1 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1; }; then
  echo "sandbox: installed ${missing[*]}"
else
  echo "sandbox: could not install ${missing[*]} (see below); the sandbox runs with those layers reported off"
  tail -5 "$LOG"
fi
rm -f "$LOG"
exit 0
