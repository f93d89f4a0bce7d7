#!/usr/bin/env bash
# Creates (or completes) the Python virtual environment .venv used by test/python and
# tools/make_example_models.py. Idempotent: a venv whose pinned packages are already
# installed is left as it is. Needs PyPI; exits non-zero with a one-line reason otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
VENV=.venv
# Pinned versions (top-level); pip resolves their dependencies.
PKGS=(
  "tritonclient[http,grpc]==2.73.0"
  "numpy==2.2.6"
  "pytest==8.4.2"
  "onnx==1.19.1"
)
STAMP="$VENV/.tensorrt-node-setup"
WANT="$(printf '%s\n' "${PKGS[@]}")"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$VENV/bin/python" ]; then
  echo "setup-python: $VENV is up to date"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || { echo "setup-python: cannot create $VENV with $PY" >&2; exit 1; }
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "${PKGS[@]}" \
  || { echo "setup-python: pip install failed (is PyPI reachable?)" >&2; exit 1; }
printf '%s' "$WANT" > "$STAMP"
echo "setup-python: $VENV ready"
