// CUDA runtime calls that need a newer driver than the oldest the addon supports, with a
// fallback where the driver lacks them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace trtnode {

// Host-to-device copies of `count` pieces in stream order: one cudaMemcpyBatchAsync where the
// driver has it (CUDA 12.8+), else one cudaMemcpyAsync per piece.
cudaError_t MemcpyBatchH2DAsync(void* const* dst, const void* const* src, const size_t* bytes, size_t count, int device, cudaStream_t stream);

}  // namespace trtnode
