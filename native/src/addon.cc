// Module entry: registers the native classes, a CUDA probe, and the environment cleanup hook
// that stops stream watchers before the process exits.
#include <napi.h>

#include <cuda_runtime_api.h>
#include <fcntl.h>

#include <cerrno>
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
Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int driver = 0, runtime = 0, count = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
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
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    cudaGetDeviceProperties(&p, i);
    size_t freeB = 0, totalB = 0;
    cudaSetDevice(i);
    cudaMemGetInfo(&freeB, &totalB);
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", i);
    d.Set("name", p.name);
    d.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
    d.Set("totalMemory", static_cast<double>(totalB));
    d.Set("freeMemory", static_cast<double>(freeB));
    d.Set("multiProcessorCount", p.multiProcessorCount);
    devs[static_cast<uint32_t>(i)] = d;
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
  if (info.Length() < 1 || !info[0].IsNumber()) Throw(env, "ERR_INVALID_ARGUMENT", "dupFd(fd): fd must be a number");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int dup = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) Throw(env, "ERR_INVALID_ARGUMENT", "dupFd(" + std::to_string(fd) + "): " + (fd < 0 ? std::string("negative descriptor") : std::strerror(errno)));
  return Napi::Number::New(env, dup);
}

// markTimingEpoch(device): the mark timed runs' start and end are measured from (common.h).
Napi::Value MarkTimingEpochJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int device = 0;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    const double d = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0) || d > 2147483647.0 || d != static_cast<int>(d)) Throw(env, "ERR_INVALID_ARGUMENT", "markTimingEpoch(device): device must be a GPU ordinal (an integer >= 0)");
    device = static_cast<int>(d);
  }
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
