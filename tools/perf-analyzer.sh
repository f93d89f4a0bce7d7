#!/usr/bin/env bash
# NVIDIA's perf_analyzer (the C++ load generator Triton users measure servers with), as a second,
# separate-process client for the server benchmark (bench/server-perf-analyzer.mjs). Not committed:
# downloaded from PyPI and Debian into .cache/perf-analyzer/ (git-ignored), every file pinned by
# version and sha256:
#   perf_analyzer     PyPI tritonclient 2.48.0, manylinux1_x86_64 wheel: tritonclient-2.48.0.data/data/bin/perf_analyzer
#   libcudart.so.12   PyPI nvidia-cuda-runtime-cu12 12.5.82 (perf_analyzer links it; only CUDA shared memory calls it)
#   libb64.so.0d      Debian bookworm libb64-0d 1.2-5+b1
#   lib-ssl/          Debian bookworm libssl3 3.0.22-1~deb12u2 (libssl.so.3, libcrypto.so.3): used only where the
#                     system has no OpenSSL 3; optional (a security update removes that version from the
#                     mirror: the download then warns and the bundle goes without it)
# Layout: bin/perf_analyzer, lib/, lib-ssl/, and the launcher `perf_analyzer` at the top, which sets
# LD_LIBRARY_PATH from its own location (so the same folder works unpacked anywhere, e.g. /tmp/perf-analyzer
# on the GPU host: tools/gpu-host/stage.sh perf-analyzer, unpacked by tools/gpu-host/env.sh).
#   tools/perf-analyzer.sh --fetch        download and extract into .cache/perf-analyzer/ (once), print the launcher's path
#   tools/perf-analyzer.sh --where        print the launcher's path, exit 3 when there is none
#   tools/perf-analyzer.sh ARGS...        run perf_analyzer ARGS... (fetching first when needed)
# PERF_ANALYZER_DIR=DIR uses an unpacked bundle there instead (--where/ARGS); default: .cache/perf-analyzer,
# else /tmp/perf-analyzer. Needs python3 with pip, apt-get (Debian), dpkg-deb or ar, unzip (for --fetch only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=$root/.cache/perf-analyzer

TRITONCLIENT=tritonclient==2.48.0
TRITONCLIENT_SHA256=7074885798e8a711fedaf94d6dd77f310973fe2ebf29fb2837db350a43e2d6a5   # py3-none-manylinux1_x86_64
CUDART=nvidia-cuda-runtime-cu12==12.5.82
CUDART_SHA256=3e79a060e126df40fd3a068f3f787eb000fa51b251ec6cd97d09579632687115        # py3-none-manylinux2014_x86_64
# Debian packages, by name and version through apt-get download (apt's own sources; run apt-get update first)
LIBB64=libb64-0d=1.2-5+b1
LIBB64_SHA256=b0e1d6fde8bdccc18c3884144aede064dc82464dd4777275fa80e74c05583e82
LIBSSL=libssl3=3.0.22-1~deb12u2
LIBSSL_SHA256=cb4784740daa9b3b0eaea2b444bbefa686794afbbf3d678d238c1fd9875f2efd

check_sha() { # file sha256
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || { echo "perf-analyzer.sh: $1: sha256 $got, expected $2" >&2; return 1; }
}

# a .deb's data member into DIR (dpkg-deb where present, else ar + tar)
deb_extract() { # deb dir
  if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$2"; return; fi
  local t
  t=$(mktemp -d)
  (cd "$t" && ar x "$1" && tar -C "$2" -xf data.tar.*)
  rm -rf "$t"
}

fetch() {
  if [ -x "$cache/perf_analyzer" ] && [ -f "$cache/VERSIONS" ] && grep -qx "$TRITONCLIENT" "$cache/VERSIONS"; then return 0; fi
  local dl=$cache/downloads
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$dl"
  # PyPI, through pip (the registry's ordinary client): binary wheels only, no dependencies, hash-checked
  printf '%s --hash=sha256:%s\n%s --hash=sha256:%s\n' "$TRITONCLIENT" "$TRITONCLIENT_SHA256" "$CUDART" "$CUDART_SHA256" > "$tmp/req.txt"
  ${PYTHON:-python3} -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: --implementation py \
    --python-version 3.11 --platform manylinux1_x86_64 --platform manylinux2014_x86_64 --require-hashes -r "$tmp/req.txt" -d "$dl"
  check_sha "$dl/tritonclient-2.48.0-py3-none-manylinux1_x86_64.whl" "$TRITONCLIENT_SHA256"
  check_sha "$dl/nvidia_cuda_runtime_cu12-12.5.82-py3-none-manylinux2014_x86_64.whl" "$CUDART_SHA256"
  # Debian packages, with Debian's own client (apt checks them against the signed index)
  apt_get() { # pkg=version dest.deb
    local d
    d=$(mktemp -d)
    (cd "$d" && apt-get download -q "$1" >/dev/null 2>&1) && mv "$d"/*.deb "$2"
    local rc=$?
    rm -rf "$d"
    return $rc
  }
  [ -f "$dl/libb64.deb" ] || apt_get "$LIBB64" "$dl/libb64.deb" || { echo "perf-analyzer.sh: apt-get download $LIBB64 failed (apt-get update first?)" >&2; return 1; }
  check_sha "$dl/libb64.deb" "$LIBB64_SHA256"
  local ssl=1
  if [ ! -f "$dl/libssl3.deb" ] && ! apt_get "$LIBSSL" "$dl/libssl3.deb"; then
    echo "perf-analyzer.sh: warning: $LIBSSL is no longer in apt's sources; the bundle has no OpenSSL 3 fallback (needed only where the system lacks libssl.so.3)" >&2
    rm -f "$dl/libssl3.deb"; ssl=0
  fi
  [ $ssl = 0 ] || check_sha "$dl/libssl3.deb" "$LIBSSL_SHA256"

  local new=$tmp/bundle
  mkdir -p "$new/bin" "$new/lib" "$tmp/x"
  unzip -q -o -j "$dl/tritonclient-2.48.0-py3-none-manylinux1_x86_64.whl" 'tritonclient-2.48.0.data/data/bin/perf_analyzer' -d "$new/bin"
  unzip -q -o -j "$dl/nvidia_cuda_runtime_cu12-12.5.82-py3-none-manylinux2014_x86_64.whl" 'nvidia/cuda_runtime/lib/libcudart.so.12' -d "$new/lib"
  deb_extract "$dl/libb64.deb" "$tmp/x"
  cp -L "$tmp/x/usr/lib/x86_64-linux-gnu/libb64.so.0d" "$new/lib/"
  if [ $ssl = 1 ]; then
    mkdir -p "$new/lib-ssl"
    deb_extract "$dl/libssl3.deb" "$tmp/x"
    cp -L "$tmp/x/usr/lib/x86_64-linux-gnu/libssl.so.3" "$tmp/x/usr/lib/x86_64-linux-gnu/libcrypto.so.3" "$new/lib-ssl/"
  fi
  chmod 755 "$new/bin/perf_analyzer"
  cat > "$new/perf_analyzer" <<'EOF'
#!/bin/sh
# perf_analyzer with the libraries bundled next to it (made by tools/perf-analyzer.sh); OpenSSL 3
# from lib-ssl/ only where the system has none
d=$(cd "$(dirname "$0")" && pwd)
lp=$d/lib
if [ -d "$d/lib-ssl" ] && LD_LIBRARY_PATH=$lp ldd "$d/bin/perf_analyzer" 2>/dev/null | grep -Eq 'lib(ssl|crypto)\.so\.3 => not found'; then
  lp=$lp:$d/lib-ssl
fi
LD_LIBRARY_PATH=$lp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec "$d/bin/perf_analyzer" "$@"
EOF
  chmod 755 "$new/perf_analyzer"
  {
    echo "$TRITONCLIENT"
    echo "$CUDART"
    echo "libb64-0d 1.2-5+b1"
    [ $ssl = 0 ] || echo "libssl3 3.0.22-1~deb12u2"
  } > "$new/VERSIONS"
  # a missing library now fails here, not in the middle of a benchmark
  if LD_LIBRARY_PATH=$new/lib:$new/lib-ssl ldd "$new/bin/perf_analyzer" | grep -q 'not found'; then
    LD_LIBRARY_PATH=$new/lib:$new/lib-ssl ldd "$new/bin/perf_analyzer" >&2
    echo "perf-analyzer.sh: perf_analyzer still misses libraries (above)" >&2
    return 1
  fi
  rm -rf "$cache/bin" "$cache/lib" "$cache/lib-ssl" "$cache/perf_analyzer" "$cache/VERSIONS"
  cp -a "$new/." "$cache/"
}

where() {
  local d
  for d in "${PERF_ANALYZER_DIR:-}" "$cache" /tmp/perf-analyzer; do
    if [ -n "$d" ] && [ -x "$d/perf_analyzer" ] && [ -x "$d/bin/perf_analyzer" ]; then echo "$d/perf_analyzer"; return 0; fi
    [ -z "${PERF_ANALYZER_DIR:-}" ] || break # an explicit folder only
  done
  return 3
}

case "${1:-}" in
  --fetch) fetch && where ;;
  --where)
    where || { echo "perf-analyzer.sh: no perf_analyzer in ${PERF_ANALYZER_DIR:-$cache or /tmp/perf-analyzer}: run tools/perf-analyzer.sh --fetch" >&2; exit 3; } ;;
  *)
    pa=$(where) || { [ -z "${PERF_ANALYZER_DIR:-}" ] && fetch >&2 && pa=$(where); } || { echo "perf-analyzer.sh: no perf_analyzer" >&2; exit 3; }
    exec "$pa" "$@" ;;
esac
