#include "cuda_compat.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.h"

namespace trtnode {

namespace {

// Set when the driver answered a batch copy with "not supported" although its version said it
// could: later copies take the per-piece path at once.
std::atomic<bool> gBatchRefused{false};

bool DriverRefused(cudaError_t e) {
  return e == cudaErrorCallRequiresNewerDriver || e == cudaErrorNotSupported || e == cudaErrorNotYetImplemented;
}

// One cudaMemcpyAsync per piece; kind `kind` (cudaMemcpyDefault lets unified addressing decide).
cudaError_t CopyEach(void* const* dst, const void* const* src, const size_t* bytes, size_t count, cudaMemcpyKind kind, cudaStream_t s) {
  for (size_t i = 0; i < count; ++i) {
    if (bytes[i] == 0) continue;
    cudaError_t e = cudaMemcpyAsync(dst[i], src[i], bytes[i], kind, s);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

#if CUDART_VERSION >= 12080
// The runtime's own batch call, whichever declaration its headers carry.
cudaError_t RuntimeBatch(void* const* dst, const void* const* src, const size_t* bytes, size_t count, cudaMemcpyAttributes* attrs,
                         size_t* attrsIdxs, size_t numAttrs, cudaStream_t s) {
#if CUDART_VERSION >= 13000
  return ::cudaMemcpyBatchAsync(dst, src, bytes, count, attrs, attrsIdxs, numAttrs, s);
#else
  // 12.8/12.9 take non-const arrays (which they do not write) and report the failing index.
  size_t failIdx = 0;
  return ::cudaMemcpyBatchAsync(const_cast<void**>(dst), const_cast<void**>(src), const_cast<size_t*>(bytes), count, attrs, attrsIdxs,
                                numAttrs, &failIdx, s);
#endif
}
#endif

}  // namespace

int CudaDriverVersion() {
  static const int version = [] {
    int v = 0;
    if (cudaDriverGetVersion(&v) != cudaSuccess) v = 0;
    return v;
  }();
  return version;
}

bool MemcpyBatchAvailable() {
#if CUDART_VERSION >= 12080
  // TRTNODE_MEMCPY_BATCH=0 takes the per-piece path on any driver: how the GPU host tests the path
  // that drivers older than 12.8 take (tools/gpu-host/compat-check.sh).
  static const bool off = std::getenv("TRTNODE_MEMCPY_BATCH") != nullptr && std::strcmp(std::getenv("TRTNODE_MEMCPY_BATCH"), "0") == 0;
  return !off && CudaDriverVersion() >= 12080 && !gBatchRefused.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

void MemcpyBatchH2DAsync(void* const* dst, const void* const* src, const size_t* bytes, size_t count, int device, cudaStream_t s) {
  if (count == 0) return;
#if CUDART_VERSION >= 12080
  if (count > 1 && MemcpyBatchAvailable()) {
    cudaMemcpyAttributes attr{};
    attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;  // the source is read when the stream gets there
    attr.srcLocHint.type = cudaMemLocationTypeHost;         // (hints; only managed memory uses them)
    attr.dstLocHint.type = cudaMemLocationTypeDevice;
    attr.dstLocHint.id = device;
    attr.flags = cudaMemcpyFlagPreferOverlapWithCompute;
    size_t attrIndex = 0;
    cudaError_t e = RuntimeBatch(dst, src, bytes, count, &attr, &attrIndex, 1, s);
    if (e == cudaSuccess) return;
    if (!DriverRefused(e)) CheckCuda(e, "cudaMemcpyBatchAsync (host to device)");
    cudaGetLastError();  // not sticky: clear it and take the per-piece path from now on
    gBatchRefused.store(true, std::memory_order_relaxed);
  }
#endif
  CheckCuda(CopyEach(dst, src, bytes, count, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (host to device)");
}

}  // namespace trtnode

#if defined(CUDART_VERSION) && CUDART_VERSION >= 12080 && CUDART_VERSION < 13000
cudaError_t cudaMemcpyBatchAsync(void* const* dsts, const void* const* srcs, const size_t* sizes, size_t count,
                                 cudaMemcpyAttributes* attrs, size_t* attrsIdxs, size_t numAttrs, cudaStream_t stream) {
  if (trtnode::MemcpyBatchAvailable()) {
    cudaError_t e = trtnode::RuntimeBatch(dsts, srcs, sizes, count, attrs, attrsIdxs, numAttrs, stream);
    if (!trtnode::DriverRefused(e)) return e;
    cudaGetLastError();
    trtnode::gBatchRefused.store(true, std::memory_order_relaxed);
  }
  // Per piece, in stream order; unified addressing tells the direction of each.
  return trtnode::CopyEach(dsts, srcs, sizes, count, cudaMemcpyDefault, stream);
}
#endif
