// CUDA calls whose availability depends on the driver, behind one function each.
//
// The addon links the CUDA 12.9 runtime statically (PyPI nvidia-cuda-runtime-cu12 12.9.79: the
// oldest 12.x wheel that ships libcudart_static.a), so one binary runs on every CUDA 12.x and
// 13.x driver. Calls that a 12.0 driver lacks return cudaErrorCallRequiresNewerDriver there;
// the functions below ask the driver once and use a path it supports. Every other CUDA call the
// addon makes exists in CUDA 12.0.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace trtnode {

// The driver's CUDA version as cudaDriverGetVersion reports it (12080 = 12.8), asked once per
// process; 0 when there is no driver.
int CudaDriverVersion();

// Whether one cudaMemcpyBatchAsync can carry several copies: the runtime has it (12.8+) and the
// driver does too (12.8+). False after the driver refused it once, and with TRTNODE_MEMCPY_BATCH=0.
bool MemcpyBatchAvailable();

// Host-to-device copies of count pieces (dst[i] <- src[i], bytes[i] each), issued in the order
// of stream `s`: each source is read when the stream reaches the copy, as cudaMemcpyAsync does.
// Sources are pinned host memory, destinations device memory of `device`. One
// cudaMemcpyBatchAsync where the driver has it (12.8+), one cudaMemcpyAsync per piece
// otherwise. Throws CodedError (common.h) when CUDA refuses a copy.
void MemcpyBatchH2DAsync(void* const* dst, const void* const* src, const size_t* bytes, size_t count, int device, cudaStream_t s);

}  // namespace trtnode

#if defined(CUDART_VERSION) && CUDART_VERSION >= 12080 && CUDART_VERSION < 13000
// CUDA 13 dropped cudaMemcpyBatchAsync's failIdx argument and made the pointer arrays const.
// Code written against CUDA 13's declaration compiles against 12.8/12.9 headers through this
// overload (C++ linkage beside the runtime's C function), which also falls back to one
// cudaMemcpyAsync per piece on drivers older than 12.8.
cudaError_t cudaMemcpyBatchAsync(void* const* dsts, const void* const* srcs, const size_t* sizes, size_t count,
                                 cudaMemcpyAttributes* attrs, size_t* attrsIdxs, size_t numAttrs, cudaStream_t stream);
#endif
