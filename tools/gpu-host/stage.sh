#!/usr/bin/env bash
# On the development machine: prepares the payloads a GPU test host run needs, each small
# enough for one device call (64 MiB), under .stage/ (git-ignored). See docs/gpu-host.md.
#   tools/gpu-host/stage.sh app       node binary + slim node_modules + built addon  -> .stage/app
#   tools/gpu-host/stage.sh runtime   TensorRT 10.6 libnvinfer (run plans)           -> .stage/runtime/<k>
#   tools/gpu-host/stage.sh lean      TensorRT 10.15 lean + dispatch runtimes        -> .stage/lean
#   tools/gpu-host/stage.sh builder   TensorRT 10.6 + builder resource + bindings    -> .stage/builder/<k>
#   tools/gpu-host/stage.sh resnet    the ResNet-50 plan (not in git), split         -> .stage/resnet
#   tools/gpu-host/stage.sh install   npm pack (with the 10.6 prebuild) installed into an empty
#                                       project, node_modules and all                -> .stage/install
#                                       (INSTALL_WITH_NODE=1 adds node.xz, ~24 MB, for a host without run.sh's node)
#   tools/gpu-host/stage.sh tritonclient  wheels of tritonclient[http,grpc], numpy, pytest -> .stage/tritonclient
#       (CPython 3.12 manylinux x86_64, binary only, pinned in tools/gpu-host/tritonclient-requirements.txt;
#        STAGE_PYTHON_VERSION=3.11 STAGE_DEST=DIR downloads the same set for another Python, for a local check)
#   tools/gpu-host/stage.sh prebuilds the release prebuilds for linux-x64: TensorRT 10 (10.3 headers) and 11 (11.0
#                                       headers), CUDA 12.9 runtime linked statically          -> .stage/prebuilds
#   tools/gpu-host/stage.sh runtime11 TensorRT 11.2 libnvinfer.so.11 (Maven)                  -> .stage/runtime11/<k>
#   tools/gpu-host/stage.sh builder11 TensorRT 11.2 builder resource (PTX), ONNX parser, plugins and the
#                                       Python bindings 11.2.1.2 (PyPI, cp312)                   -> .stage/builder11/<k>
#   tools/gpu-host/stage.sh trtexec   trtexec 10.6.0 built by toolchain.mjs (issue 24), with the 10.6
#                                       plugin and parser libraries it dlopens            -> .stage/trtexec
#       (tools/gpu-host/compat-check.sh uses prebuilds, runtime11, builder11; env.sh unpacks prebuilds and trtexec)
#   tools/gpu-host/stage.sh perf-analyzer  NVIDIA perf_analyzer (tritonclient 2.48.0) + libb64, libcudart 12, and an
#                                       OpenSSL 3 fallback, pinned in tools/perf-analyzer.sh -> .stage/perf-analyzer
#       (one .tar.xz, ~6 MB; tools/gpu-host/env.sh unpacks it to /tmp/perf-analyzer, where
#        bench/server-perf-analyzer.mjs finds it; serve-suite.sh --perf-analyzer runs that bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
# shared/ beside the checkout (../../shared from a worktree under wt/)
pack=${PACK_SH:-$root/../shared/device/pack.sh}
[ -f "$pack" ] || [ -n "${PACK_SH:-}" ] || pack=$root/../../shared/device/pack.sh
what=${1:?usage: stage.sh app|runtime|lean|builder|resnet|install|tritonclient|perf-analyzer|prebuilds|runtime11|builder11|trtexec}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case "$what" in
  app)
    [ -f build/Release/tensorrt_node.node ] || npm run build:native
    npm run build:ts >/dev/null || echo "stage.sh: build:ts failed; staging without dist/ (tests run from sources)" >&2
    rm -rf .stage/app && mkdir -p .stage/app
    xz -T0 -6 -c "$(command -v node)" > .stage/app/node.xz
    # vitest and the runtime dependencies; not onnxruntime-node (CPU reference, 290 MB), typescript, typedoc
    tar -cf - --exclude=node_modules/onnxruntime-node --exclude=node_modules/typescript --exclude=node_modules/typedoc \
      --exclude=node_modules/@shikijs --exclude=node_modules/cmake-js node_modules | xz -T0 -6 > .stage/app/node_modules.tar.xz
    tar -cJf .stage/app/build.tar.xz build/Release/tensorrt_node.node $( [ -d dist ] && echo dist )
    du -sh .stage/app/*
    ;;
  runtime)
    node scripts/toolchain.mjs runtime >/dev/null
    mkdir -p "$tmp/src/lib" && cp .cache/toolchain/tensorrt-10.6.0/lib/libnvinfer.so.10 "$tmp/src/lib/"
    # parts of 40 MiB: a call carries the whole tracked tree too, and 56 MiB + the tree passed
    # the 64 MiB a call may take (session 4)
    bash "$pack" "$tmp/src" .stage/runtime 40
    ;;
  lean)
    node scripts/toolchain.mjs lean >/dev/null
    rm -rf .stage/lean && mkdir -p .stage/lean
    tar -C .cache/toolchain/tensorrt-10.15.1.29-lean -cf - . | xz -T0 -6 > .stage/lean/lean.tar.xz
    du -sh .stage/lean/*
    ;;
  builder)
    node scripts/toolchain.mjs runtime bindings >/dev/null
    mkdir -p "$tmp/src/lib" "$tmp/src/wheels"
    cp .cache/toolchain/tensorrt-10.6.0/lib/* "$tmp/src/lib/"
    cp .cache/toolchain/wheels/tensorrt_cu12_bindings-10.6.0-*.whl "$tmp/src/wheels/"
    bash "$pack" "$tmp/src" .stage/builder 53
    ;;
  resnet)
    plan=fixtures/gpu/engines/resnet50_fp16.plan
    [ -f $plan ] || { echo "stage.sh: $plan is missing: rebuild it on the GPU host (build-fixtures.sh --only resnet50) and bring it back" >&2; exit 2; }
    want=$(node -e "console.log(require('./fixtures/gpu/manifest.json').engines.resnet50_fp16.sha256)")
    [ "$(sha256sum $plan | cut -d' ' -f1)" = "$want" ] || { echo "stage.sh: $plan does not match the manifest's sha256" >&2; exit 2; }
    rm -rf .stage/resnet && mkdir -p .stage/resnet && split -b 15M -d -a 1 $plan .stage/resnet/resnet50_fp16.plan.part
    du -sh .stage/resnet
    ;;
  install)
    # issue 8, GPU half: the tarball a user would get, installed as a user would, carried to the
    # host (no network there) and run by tools/gpu-host/install-check.sh.
    # 1. the release prebuilds (TensorRT 10: the exact 10.3 headers, which the host's 10.6 runtime
    #    accepts; TensorRT 11: 11.0's): prebuild.mjs --release refuses any other headers
    node scripts/prebuild.mjs --all --release
    node scripts/prebuild.mjs --verify
    npm run build:ts >/dev/null
    node scripts/pack-check.mjs
    # 2. npm pack, then npm install of the tarball into an empty project (ONNX Runtime's optional
    #    GPU download skipped, as the CPU install test does)
    npm pack --ignore-scripts --json --pack-destination "$tmp" > "$tmp/pack.json"
    tgz=$(node -p "require('$tmp/pack.json')[0].filename")
    mkdir -p "$tmp/app"
    printf '{\n  "name": "tensorrt-node-gpu-consumer",\n  "version": "1.0.0",\n  "private": true,\n  "type": "module"\n}\n' > "$tmp/app/package.json"
    cp test/consumer/app/check-gpu-example.mjs "$tmp/app/"
    (cd "$tmp/app" && env -u npm_config_prefix ONNXRUNTIME_NODE_INSTALL=skip npm_config_onnxruntime_node_install=skip \
      npm install "$tmp/$tgz" --no-audit --no-fund --prefer-offline --loglevel=error)
    # 3. trim what cannot run on the host (linux-x64): ONNX Runtime's binaries for other platforms
    before=$(du -sm "$tmp/app/node_modules" | cut -f1)
    for d in "$tmp"/app/node_modules/onnxruntime-node/bin/napi-v*; do
      [ -d "$d" ] || continue
      find "$d" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
      find "$d/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} + 2>/dev/null || true
    done
    echo "stage.sh: node_modules ${before} MB, $(du -sm "$tmp/app/node_modules" | cut -f1) MB after dropping other platforms' ONNX Runtime binaries"
    rm -rf .stage/install && mkdir -p .stage/install
    tar -C "$tmp" -cf - app | xz -T0 -6 > .stage/install/app.tar.xz
    cp "$tmp/$tgz" .stage/install/
    [ -n "${INSTALL_WITH_NODE:-}" ] && xz -T0 -6 -c "$(command -v node)" > .stage/install/node.xz
    {
      echo "tarball $tgz $(sha256sum "$tmp/$tgz" | cut -d' ' -f1)"
      echo "prebuild $(node -p "const j=require('./prebuilds/linux-x64/tensorrt-node.json'); j.sha256+' headers '+j.tensorrt.headerVersion")"
      echo "node $(node --version)"
      echo "staged $(date -u +%FT%TZ)"
    } > .stage/install/manifest.txt
    cat .stage/install/manifest.txt
    du -sh .stage/install/*; du -shc .stage/install/* | tail -1
    ;;
  tritonclient)
    reqs=tools/gpu-host/tritonclient-requirements.txt
    # the GPU suite must run the same client as the CPU suite: top-level pins as in setup-python.sh
    for p in 'tritonclient\[http,grpc\]' numpy pytest; do
      a=$(grep -oE "\"$p==[^\"]+\"" tools/setup-python.sh | tr -d '"')
      b=$(grep -E "^$p==" $reqs || true)
      [ -n "$a" ] && [ "$a" = "$b" ] || { echo "stage.sh: $reqs pins '${b:-nothing}' but tools/setup-python.sh '${a:-nothing}'" >&2; exit 2; }
    done
    pyver=${STAGE_PYTHON_VERSION:-3.12}
    dest=${STAGE_DEST:-.stage/tritonclient}
    plats=()
    for t in manylinux1 manylinux2010 manylinux2014 manylinux_2_5 manylinux_2_12 manylinux_2_17 manylinux_2_24 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34 manylinux_2_35 manylinux_2_39; do
      plats+=(--platform "${t}_x86_64")
    done
    rm -rf "$dest" && mkdir -p "$dest"
    ${PYTHON:-python3} -m pip download --disable-pip-version-check -q --only-binary=:all: --implementation cp \
      --python-version "$pyver" --abi "cp${pyver/./}" --abi abi3 --abi none "${plats[@]}" --platform any \
      -d "$dest" -r $reqs
    ls "$dest"/tritonclient-*.whl >/dev/null
    echo "stage.sh: $(ls "$dest" | wc -l) wheels for CPython $pyver in $dest"
    du -sh "$dest"
    ;;
  prebuilds)
    # issue 22: the published binaries themselves, one per TensorRT major (tools/gpu-host/compat-check.sh runs them)
    node scripts/prebuild.mjs --all --release
    node scripts/prebuild.mjs --verify
    rm -rf .stage/prebuilds && mkdir -p .stage/prebuilds
    tar -C prebuilds -cf - linux-x64 | xz -T0 -6 > .stage/prebuilds/prebuilds.tar.xz
    node -e "for (const j of ['tensorrt-node.json','tensorrt-node.trt11.json']) { const i = require('./prebuilds/linux-x64/' + j); console.log(i.file, 'headers', i.tensorrt.headerVersion, 'cudart', i.cuda.cudartVersion, 'sha256', i.sha256.slice(0, 16)); }"
    du -sh .stage/prebuilds/*
    ;;
  runtime11)
    node scripts/toolchain.mjs runtime --tensorrt 11.2 >/dev/null
    mkdir -p "$tmp/src/lib" && cp .cache/toolchain/tensorrt-11.2.1/lib/libnvinfer.so.11 "$tmp/src/lib/"
    bash "$pack" "$tmp/src" .stage/runtime11 55   # 55 MiB parts: one per call beside the ~7 MiB tree
    ;;
  builder11)
    # what the 11.2 builder needs beside libnvinfer.so.11 (runtime11): its PTX builder resource (the
    # jar has no sm_90 one), the ONNX parser, the plugins, and the Python bindings that drive it
    # (as build-fixtures.sh drives 10.6's); unpack into the same /tmp/opt/trt11
    node scripts/toolchain.mjs runtime bindings --tensorrt 11.2 >/dev/null
    mkdir -p "$tmp/src/lib" "$tmp/src/wheels"
    cp .cache/toolchain/tensorrt-11.2.1/lib/libnvinfer_builder_resource_ptx.so.11.2.1 .cache/toolchain/tensorrt-11.2.1/lib/libnvonnxparser.so.11 \
      .cache/toolchain/tensorrt-11.2.1/lib/libnvinfer_plugin.so.11 "$tmp/src/lib/"
    cp .cache/toolchain/wheels/tensorrt_cu12_bindings-11.2.1.2-*.whl "$tmp/src/wheels/"
    bash "$pack" "$tmp/src" .stage/builder11 40
    ;;
  trtexec)
    # issue 24 item 1: trtexec 10.6.0 (built with g++ from NVIDIA/TensorRT v10.6.0 by toolchain.mjs; the
    # build needs --source-from and --onnx-tensorrt-from the first time, see docs/toolchain.md)
    node scripts/toolchain.mjs trtexec >/dev/null
    rm -rf .stage/trtexec && mkdir -p .stage/trtexec
    xz -T0 -6 -c .cache/toolchain/trtexec-10.6.0/bin/trtexec > .stage/trtexec/trtexec.xz
    cp .cache/toolchain/trtexec-10.6.0/BUILT_FROM .stage/trtexec/
    # trtexec dlopens the plugin library and the ONNX parser at start, even for --loadEngine; the
    # runtime payload has neither (only the 690 MB builder payload had), so they come along (~11 MB)
    node scripts/toolchain.mjs runtime >/dev/null
    tar -C .cache/toolchain/tensorrt-10.6.0/lib -cf - libnvinfer_plugin.so.10 libnvonnxparser.so.10 | xz -T0 -6 > .stage/trtexec/trtexec-libs.tar.xz
    du -sh .stage/trtexec/*
    ;;
  perf-analyzer)
    bash tools/perf-analyzer.sh --fetch >/dev/null
    rm -rf .stage/perf-analyzer && mkdir -p .stage/perf-analyzer
    tar -C .cache/perf-analyzer -cf - --exclude=downloads . | xz -T0 -6 > .stage/perf-analyzer/perf-analyzer.tar.xz
    cat .cache/perf-analyzer/VERSIONS
    du -sh .stage/perf-analyzer/*
    ;;
  *) echo "stage.sh: unknown payload '$what'" >&2; exit 2 ;;
esac
