// Which TensorRT headers this addon compiles against, and why those.
//
// The addon calls TensorRT only through the virtual interfaces of NvInferRuntime.h
// (IRuntime, ICudaEngine, IExecutionContext, IEngineInspector: VRuntime, VCudaEngine,
// VExecutionContext, VEngineInspector in NvInferImpl.h) plus two C entry points
// (createInferRuntime_INTERNAL, getInferLibVersion). Checked against NVIDIA's own headers
// (tags v10.0.0 ... v10.16, v11.0, v11.1) and the TRT-Enterprise 11.4 copy in the crates registry's trtx-sys 0.9:
//
// - 10.1 is the oldest 10.x that compiles: getDeviceMemorySizeV2 and setDeviceMemoryV2 came in
//   10.1. The published TensorRT 10 binary is built against 10.3 (JetPack 6), whose interfaces
//   equal 10.1's; each later 10.x only appends virtual functions at the ends of these classes,
//   so a binary built against 10.x headers runs on every 10.y runtime with y >= x.
// - 11.0 removed, of these classes, only functions the addon does not call (the implicit-batch,
//   V1 device-memory, shape-value and weight-streaming-budget calls, the IStreamReader overload
//   of deserializeCudaEngine, allInputShapesSpecified); the ones it calls keep their names and
//   arguments, so the same sources compile against 11.x with no change. The vtables differ from
//   10.x (a new major is a new ABI and a new soname, libnvinfer.so.11): one binary per major.
//   ILogger became a versioned interface (getInterfaceInfo), which it implements by default.
// - 11.0 -> 11.1 -> 11.4 again only append.
//
// trt_library.cc enforces the rule at load time: same major as the headers, minor >= theirs.
#pragma once

#include <NvInferVersion.h>

// major*10000 + minor*100 + patch of the headers (NV_TENSORRT_MAJOR names another macro in the
// 10.16 and 11.x headers; the preprocessor resolves it).
#define TRTNODE_TRT_HEADER_VERSION (NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH)

#if TRTNODE_TRT_HEADER_VERSION < 100100
#error "tensorrt-node needs TensorRT 10.1 or newer headers (ICudaEngine::getDeviceMemorySizeV2 and IExecutionContext::setDeviceMemoryV2 came in 10.1); point TENSORRT_INCLUDE_DIR at a newer TensorRT"
#endif
#if NV_TENSORRT_MAJOR > 11
#error "tensorrt-node has been checked against TensorRT 10.x and 11.x headers only: check native/src/trt_compat.h's list against this major's removals first"
#endif
