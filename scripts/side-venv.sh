#!/usr/bin/env bash
# Shared by the setup.d steps that build a side venv holding one upstream library plus what openenvs
# needs to run and serve there (openenvs itself comes from the checkout via PYTHONPATH=src).
# Source it, then call:
#   build_side_venv NAME VENV DIST VERSION CHECK_PY [PKG...]
# NAME labels the messages and the stamp/failure files ($VENV/.openenvs-NAME-VERSION,
# $VENV/.openenvs-NAME-failed); DIST==VERSION is installed with PKG (e.g. "${SIDE_VENV_CORE[@]}",
# openenvs' core and `server` dependencies); CHECK_PY must import the library and print its version last.
# Idempotent (the stamp marks a finished install); a failed install is retried once, then recorded
# in the failure file, which the tests quote (and FAIL on under CI=true). uv installs the set in
# well under a minute where pip took 4-5 minutes on 2 cores.
SIDE_VENV_CORE=("pydantic>=2.6" "numpy>=1.24" "gymnasium>=1.0" "typer>=0.12" "rich>=13" "pyyaml>=6"
  "fastapi>=0.110" "uvicorn>=0.29" "websockets>=12" "httpx>=0.27")

build_side_venv() {
  local name=$1 venv=$2 dist=$3 version=$4 check=$5
  shift 5
  local pkgs=("$@")
  local stamp=$venv/.openenvs-$name-$version failed=$venv/.openenvs-$name-failed log
  [ -f "$stamp" ] && return 0
  log=$(mktemp)
  _side_venv_install() {
    local py=${PYTHON:-python3}
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q uv
    "$venv/bin/uv" pip install -q --python "$venv/bin/python" "$dist==$version" "${pkgs[@]}"
    "$venv/bin/python" -c "$check"
  }
  echo "$name: building $venv ($dist $version, about a minute)"
  if _side_venv_install >"$log" 2>&1 || { echo "$name: retrying once"; _side_venv_install >"$log" 2>&1; }; then
    tail -1 "$log" > "$stamp"
    rm -f "$failed"
    echo "$name: ready ($(cat "$stamp"))"
  else
    mkdir -p "$venv"; { echo "$dist $version install failed:"; grep -v '^WARNING: Location' "$log" | tail -20; } > "$failed"
    cat "$failed"
  fi
  rm -f "$log"
}
