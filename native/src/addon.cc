// Module entry: registers the native classes, a CUDA probe, and the environment cleanup hook
// that stops stream watchers before the process exits.
#include <napi.h>

#include <cuda_runtime_api.h>
#include <fcntl.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>

#include "addon_data.h"
#include "buffers.h"
#include "builder.h"
#include "common.h"
#include "copy_pool.h"
#include "context.h"
#include "engine.h"
#include "shared_memory.h"
#include "stream.h"
#include "trt_library.h"

namespace trtnode {
namespace {

// cudaInfo() → { driverVersion, runtimeVersion, devices: [...] } or throws ERR_CUDA_UNAVAILABLE.
// A device whose probe fails is listed with `error` (the failed call and CUDA's words) and
// what could be read of it. Free memory is per device, so each is made current in turn; the
// caller's device is current again afterwards.
Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int driver = 0, runtime = 0, count = 0;
  const cudaError_t driverError = cudaDriverGetVersion(&driver);  // 0 (and success) without a driver
  if (driverError != cudaSuccess) {
    cudaGetLastError();
    driver = 0;
  }
  CheckCudaJs(env, cudaRuntimeGetVersion(&runtime), "cudaRuntimeGetVersion");
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    Throw(env, "ERR_CUDA_UNAVAILABLE", "no usable CUDA device: " + CudaMessage(e, "cudaGetDeviceCount") +
                                           (driver == 0 ? " (no NVIDIA driver found)" : ""));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("driverVersion", driver);
  o.Set("runtimeVersion", runtime);
  Napi::Array devs = Napi::Array::New(env, count);
  // Put back afterwards: the thread's context, or, if it had none, its device (whose context
  // exists by then: every device's is made current below).
  void* previousContext = CurrentContext();
  int previous = 0;
  const cudaError_t previousError = cudaGetDevice(&previous);
  if (previousError != cudaSuccess) cudaGetLastError();
  for (int i = 0; i < count; ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", i);
    std::string error;
    const auto failed = [&](cudaError_t r, const char* what) {
      if (r == cudaSuccess) return false;
      cudaGetLastError();
      if (error.empty()) error = CudaMessage(r, what);
      return true;
    };
    cudaDeviceProp p{};
    if (!failed(cudaGetDeviceProperties(&p, i), "cudaGetDeviceProperties")) {
      d.Set("name", std::string(p.name, strnlen(p.name, sizeof(p.name))));
      d.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
      d.Set("multiProcessorCount", p.multiProcessorCount);
    } else {
      d.Set("name", "");
      d.Set("computeCapability", "");
      d.Set("multiProcessorCount", 0);
    }
    size_t freeB = 0, totalB = 0;
    const bool memoryRead = !failed(cudaSetDevice(i), "cudaSetDevice") && !failed(cudaMemGetInfo(&freeB, &totalB), "cudaMemGetInfo");
    d.Set("totalMemory", memoryRead ? static_cast<double>(totalB) : static_cast<double>(p.totalGlobalMem));
    d.Set("freeMemory", memoryRead ? static_cast<double>(freeB) : NAN);
    if (!error.empty()) d.Set("error", error);
    devs[static_cast<uint32_t>(i)] = d;
  }
  if (previousContext != nullptr) {
    if (!RestoreContext(previousContext)) Warn("cuCtxSetCurrent failed: the caller's CUDA context could not be made current again after cudaInfo");
  } else if (count > 0 && previousError == cudaSuccess) {
    WarnCuda(cudaSetDevice(previous), "cudaSetDevice (restoring the caller's device after cudaInfo)");
  }
  o.Set("devices", devs);
  return o;
}

// dupFd(fd) → a new close-on-exec descriptor for the same open file (socket). Lets the server
// hand an accepted connection to a worker thread: the main thread's net.Socket is destroyed
// (closing its descriptor) and the worker wraps the duplicate; Node has no way to move a
// handle between threads.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // An integer descriptor: a number like 2^32 + 1 must not wrap around to descriptor 1.
  const int fd = static_cast<int>(IntegerArg(env, info[0], "dupFd(fd): fd", 0, INT32_MAX));
  const int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) Throw(env, "ERR_INVALID_ARGUMENT", "dupFd(" + std::to_string(fd) + "): " + std::strerror(errno));
  return Napi::Number::New(env, dup);
}

// markTimingEpoch(device = 0): the mark timed runs' start and end are measured from (common.h).
Napi::Value MarkTimingEpochJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int device = info[0].IsUndefined() ? 0 : DeviceArg(env, info[0], "markTimingEpoch(device): device");
  RequireDevice(env, device);
  try {
    MarkTimingEpoch(device);
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Function stream = Stream::Init(env);
  Napi::Function deviceBuffer = DeviceBuffer::Init(env);
  Napi::Function hostBuffer = HostBuffer::Init(env);
  Napi::Function runtime = Runtime::Init(env);
  Napi::Function engine = Engine::Init(env);
  Napi::Function context = ExecutionContext::Init(env);
  data->streamCtor = Napi::Persistent(stream);
  data->deviceBufferCtor = Napi::Persistent(deviceBuffer);
  data->hostBufferCtor = Napi::Persistent(hostBuffer);
  data->runtimeCtor = Napi::Persistent(runtime);
  data->engineCtor = Napi::Persistent(engine);
  data->contextCtor = Napi::Persistent(context);
  exports.Set("Stream", stream);
  exports.Set("DeviceBuffer", deviceBuffer);
  exports.Set("HostBuffer", hostBuffer);
  exports.Set("Runtime", runtime);
  exports.Set("Engine", engine);
  exports.Set("ExecutionContext", context);
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo, "cudaInfo"));
  exports.Set("markTimingEpoch", Napi::Function::New(env, MarkTimingEpochJs, "markTimingEpoch"));
  exports.Set("mapSharedMemory", Napi::Function::New(env, MapSharedMemory, "mapSharedMemory"));
  exports.Set("dupFd", Napi::Function::New(env, DupFd, "dupFd"));
  exports.Set("setErrorFactory", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    if (info[0].IsFunction()) Data(info.Env())->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  }, "setErrorFactory"));
  RegisterBuilder(env, exports);
  exports.Set("headerVersion", Napi::String::New(env, VersionString(HeaderVersion())));
  exports.Set("addonVersion", Napi::String::New(env, TRTNODE_ADDON_VERSION));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  // Watchers are threads: stop this environment's before it goes, so none calls into a dead one
  // (a Worker's exit stops the Worker's streams, never the main thread's).
  napi_add_env_cleanup_hook(env, [](void* arg) { ShutdownStreams(Napi::Env(static_cast<napi_env>(arg))); }, static_cast<napi_env>(env));
  return exports;
}

}  // namespace
}  // namespace trtnode

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return trtnode::Init(env, exports); }

NODE_API_MODULE(tensorrt_node, InitAddon)
