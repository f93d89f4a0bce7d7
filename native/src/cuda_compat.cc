#include "cuda_compat.h"

namespace trtnode {

namespace {
bool DriverHasBatchedCopies() {
  static const bool has = [] {
    int driver = 0;
    return cudaDriverGetVersion(&driver) == cudaSuccess && driver >= 12080;
  }();
  return has;
}
}  // namespace

cudaError_t MemcpyBatchH2DAsync(void* const* dst, const void* const* src, const size_t* bytes, size_t count, int device, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
#if CUDART_VERSION >= 12080
  if (count > 1 && DriverHasBatchedCopies()) {
    cudaMemcpyAttributes attr{};
    attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;  // the source is read when the stream gets there
    attr.srcLocHint.type = cudaMemLocationTypeHost;         // (hints; only managed memory uses them)
    attr.dstLocHint.type = cudaMemLocationTypeDevice;
    attr.dstLocHint.id = device;
    attr.flags = cudaMemcpyFlagPreferOverlapWithCompute;
    size_t attrIndex = 0;
#if CUDART_VERSION >= 13000
    return cudaMemcpyBatchAsync(dst, src, bytes, count, &attr, &attrIndex, 1, stream);
#else
    size_t failIdx = 0;
    return cudaMemcpyBatchAsync(const_cast<void**>(dst), const_cast<void**>(src), const_cast<size_t*>(bytes), count, &attr, &attrIndex, 1, &failIdx, stream);
#endif
  }
#endif
  (void)device;
  for (size_t i = 0; i < count; ++i) {
    const cudaError_t e = cudaMemcpyAsync(dst[i], src[i], bytes[i], cudaMemcpyHostToDevice, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace trtnode
