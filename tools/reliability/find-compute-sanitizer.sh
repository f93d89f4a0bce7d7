# Sourced by compute-sanitizer.sh and misuse-fuzz-gpu.sh: sets `cs` to NVIDIA's compute-sanitizer,
# $COMPUTE_SANITIZER when set, else the first executable of the CUDA toolkit's usual places and
# PATH; empty when there is none (the caller says so and skips, checking nothing).
cs=${COMPUTE_SANITIZER:-}
if [ -z "$cs" ]; then
  for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer "$(command -v compute-sanitizer 2>/dev/null)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then cs=$c; break; fi
  done
fi
if [ -n "$cs" ] && [ ! -x "$cs" ]; then cs=""; fi
