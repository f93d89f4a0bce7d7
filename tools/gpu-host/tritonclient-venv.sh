#!/usr/bin/env bash
# Creates a Python venv with tritonclient[http,grpc], numpy and pytest from staged wheels, offline
# (pip --no-index --find-links): what the GPU host, which has no network, runs the stock Python
# client from. Idempotent: a venv that already imports everything is left as it is.
#   bash tools/gpu-host/tritonclient-venv.sh WHEELS_DIR VENV_DIR
# Exit 0: VENV_DIR/bin/python is ready. Exit 3: WHEELS_DIR has no wheels. Other: the install failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wheels=${1:?usage: tritonclient-venv.sh WHEELS_DIR VENV_DIR}
venv=${2:?usage: tritonclient-venv.sh WHEELS_DIR VENV_DIR}
py=${PYTHON:-python3}
check='import tritonclient.http, tritonclient.grpc, pytest, numpy'
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "tritonclient-venv: $venv is ready"
  exit 0
fi
if ! ls "$wheels"/tritonclient-*.whl >/dev/null 2>&1; then
  echo "tritonclient-venv: no tritonclient wheel in $wheels (bash tools/gpu-host/stage.sh tritonclient)" >&2
  exit 3
fi
rm -rf "$venv"
# Ubuntu's python3 without the python3-venv package has no ensurepip: then make the venv without
# pip and run pip from the staged pip wheel (a wheel is importable as a zip) to install pip into it.
# TRITONCLIENT_VENV_WITHOUT_PIP=1 takes that path on purpose (to test it).
rm -f /tmp/trtn-venv-err.txt
if [ "${TRITONCLIENT_VENV_WITHOUT_PIP:-0}" = 1 ] || ! "$py" -m venv "$venv" 2>/tmp/trtn-venv-err.txt; then
  [ -s /tmp/trtn-venv-err.txt ] && echo "tritonclient-venv: python3 -m venv failed ($(tail -1 /tmp/trtn-venv-err.txt)); bootstrapping pip from the staged wheel" >&2
  rm -rf "$venv"
  "$py" -m venv --without-pip "$venv"
  pipwhl=$(ls "$wheels"/pip-*.whl | head -1)
  "$venv/bin/python" "$pipwhl/pip" install --disable-pip-version-check -q --no-index "$pipwhl"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check -q --no-index --find-links "$wheels" \
  -r "$here/tritonclient-requirements.txt"
"$venv/bin/python" -c "$check"
echo "tritonclient-venv: $venv ready ($("$venv/bin/python" --version), $("$venv/bin/python" -c 'import tritonclient, numpy; print("numpy", numpy.__version__)'))"
