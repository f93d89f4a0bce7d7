#!/usr/bin/env bash
# On the GPU test host, after the full TensorRT runtime was staged into /tmp/opt/trt
# (tools/gpu-host/stage.sh builder): builds the fixture engines with the TensorRT builder and
# puts them, their ONNX files and references under $OUT for the trip back.
#   build-fixtures.sh [--only a,b | --skip a,b]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
trt=${TRT_DIR:-/tmp/opt/trt}
out=${OUT:?OUT must name the folder whose files come back}
work=/tmp/fixtures
mkdir -p "$work" /tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$trt"/wheels/tensorrt_*bindings-*.whl 2>&1 | tail -2
export PYTHONPATH=/tmp/site LD_LIBRARY_PATH="$trt/lib:${LD_LIBRARY_PATH:-}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader
python3 -c 'import torch, onnx, onnxruntime; print("torch", torch.__version__, "onnx", onnx.__version__, "ort", onnxruntime.__version__)'
python3 "$here/../fixtures/build_fixtures.py" "$work" "$@" 2>&1 | tee "$out/build-fixtures.log"
rc=${PIPESTATUS[0]}
cp "$work/manifest.json" "$out/manifest-$(date +%H%M%S).json"
# Small fixtures travel as one archive; big plans as 15 MiB parts (16 MiB per file comes back).
( cd "$work" && tar -cJf "$out/fixtures-small.tar.xz" --exclude='engines/resnet50*' --exclude='onnx/resnet50*' --exclude='refs/resnet50*' . )
if [ -f "$work/engines/resnet50_fp16.plan" ]; then
  split -b 15M -d -a 1 "$work/engines/resnet50_fp16.plan" "$out/resnet50_fp16.plan.part"
  ( cd "$work" && tar -cJf "$out/resnet50-refs.tar.xz" refs/resnet50 manifest.json )
fi
ls -la "$out"
exit $rc
