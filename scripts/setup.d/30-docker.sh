#!/usr/bin/env bash
# The Docker sandbox backend's system packages (idempotent; a failure never stops the setup).
# - docker.io: the engine (dockerd) and client; containerd and runc come with it.
# - debootstrap: builds the sandbox base image without any image registry.
# The engine is started, and the image `openenvs-sandbox:<recipe>` built, by
# `python -m openenvs.sandbox.docker_engine` (the tests' session fixture calls the same code),
# not here: a setup step should not leave a daemon behind.
# OPENENVS_SKIP_APT=1 or OPENENVS_SKIP_DOCKER=1 skips this step.
set -uo pipefail
cd "$(dirname "$0")/../.."
[ "${OPENENVS_SKIP_APT:-0}" = "1" ] && { echo "docker: apt step skipped (OPENENVS_SKIP_APT=1)"; exit 0; }
[ "${OPENENVS_SKIP_DOCKER:-0}" = "1" ] && { echo "docker: skipped (OPENENVS_SKIP_DOCKER=1)"; exit 0; }
[ "$(uname -s)" = "Linux" ] || { echo "docker: not Linux; install Docker Desktop for backend='docker'"; exit 0; }
STAMP=.venv/.openenvs-docker-packages
missing=()
{ command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ]; } || missing+=(docker.io)
{ command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ]; } || missing+=(debootstrap)
[ -f "$STAMP" ] && [ ${#missing[@]} -eq 0 ] && exit 0
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "docker: please install ${missing[*]} with your package manager (no apt-get here); continuing without"
    exit 0
  fi
  SUDO=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
      echo "docker: not root and no passwordless sudo; install ${missing[*]} yourself. Continuing without."
      exit 0
    fi
  fi
  echo "docker: installing ${missing[*]}"
  LOG=$(mktemp)
  if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >"$LOG" 2>&1 \
    || { $SUDO apt-get update >>"$LOG" 2>&1 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1; }; then
    echo "docker: installed ${missing[*]}"
  else
    echo "docker: could not install ${missing[*]} (see below); the Docker backend stays unavailable"
    tail -5 "$LOG"
    rm -f "$LOG"
    exit 0
  fi
  rm -f "$LOG"
fi
[ -d .venv ] && touch "$STAMP"
exit 0
