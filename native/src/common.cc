#include "common.h"

#include "addon_data.h"

#include <atomic>
#include <climits>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace trtnode {

Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message) {
  AddonData* data = Data(env);
  // An error made while the factory runs (it called back into the addon and that call failed)
  // is a plain coded Error: asking the factory again could recurse without end.
  if (data != nullptr && !data->errorFactory.IsEmpty() && !data->makingError) {
    // The factory is JS: whatever it does (throw, return something else, call back into the
    // addon), the caller gets an error that carries `code`.
    struct Making {
      bool& flag;
      ~Making() { flag = false; }
    } making{data->makingError = true};
    try {
      Napi::String codeValue = Napi::String::New(env, code);
      Napi::Value v = data->errorFactory.Call({codeValue, Napi::String::New(env, message)});
      if (v.IsObject() && v.As<Napi::Object>().Get("code").StrictEquals(codeValue)) return Napi::Error(env, v);
    } catch (const Napi::Error&) {
      // the factory threw: node-addon-api has taken the exception off the environment already
    }
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Value().Set("code", Napi::String::New(env, code));
  return err;
}

void Throw(Napi::Env env, const char* code, const std::string& message) {
  throw MakeError(env, code, message);
}

size_t MaxExternalBytes(Napi::Env env) {
  if (sizeof(size_t) < 8) return static_cast<size_t>(INT32_MAX);  // 32-bit builds (none published)
  const napi_node_version* v = nullptr;
  const bool node22 = napi_get_node_version(env, &v) == napi_ok && v != nullptr && v->major >= 22;
  return node22 ? static_cast<size_t>(kMaxSafeInteger) : static_cast<size_t>(1) << 32;
}

void CheckExternalBytes(Napi::Env env, size_t bytes, const std::string& what) {
  const size_t most = MaxExternalBytes(env);
  if (bytes > most)
    Throw(env, "ERR_INVALID_ARGUMENT", what + " " + std::to_string(bytes) + " is more than an ArrayBuffer of this Node holds (" + std::to_string(most) + " bytes)");
}

Napi::ArrayBuffer ExternalArrayBuffer(Napi::Env env, void* data, size_t bytes, std::shared_ptr<void> keep, const std::string& what,
                                      std::shared_ptr<void>** hold) {
  CheckExternalBytes(env, bytes, what);
  auto* holder = new std::shared_ptr<void>(std::move(keep));
  if (hold != nullptr) *hold = holder;
  return Napi::ArrayBuffer::New(env, data, bytes, [](Napi::Env, void*, std::shared_ptr<void>* h) { delete h; }, holder);
}

const char* CudaErrorCode(cudaError_t e) {
  switch (e) {
    case cudaErrorMemoryAllocation:
      return "ERR_OUT_OF_MEMORY";
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
    case cudaErrorDevicesUnavailable:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
    case cudaErrorInitializationError:
    case cudaErrorStubLibrary:
      return "ERR_CUDA_UNAVAILABLE";
    default:
      return "ERR_CUDA";
  }
}

std::string CudaMessage(cudaError_t e, const char* what) {
  return std::string(what) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}

void CheckCuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw CodedError{CudaErrorCode(e), CudaMessage(e, what)};
}

void CheckCudaJs(Napi::Env env, cudaError_t e, const char* what) {
  if (e != cudaSuccess) Throw(env, CudaErrorCode(e), CudaMessage(e, what));
}

void UseDevice(int device) {
  int current = -1;
  if (cudaGetDevice(&current) != cudaSuccess || current != device) CheckCuda(cudaSetDevice(device), "cudaSetDevice");
}

namespace {
// The driver's cuCtxGetCurrent / cuCtxSetCurrent, through the runtime (the addon links no
// libcuda): the exact context a thread had, put back without creating one. cudaSetDevice cannot
// do that: it makes the device's primary context current, creating it (hundreds of MB of GPU
// memory) on a device the process may never have used.
using CtxGetCurrentFn = int (*)(void** ctx);  // CUresult cuCtxGetCurrent(CUcontext*)
using CtxSetCurrentFn = int (*)(void* ctx);   // CUresult cuCtxSetCurrent(CUcontext)
void* DriverSymbol(const char* name) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
  const cudaError_t e = cudaGetDriverEntryPointByVersion(name, &fn, 12000, cudaEnableDefault, &found);
#else
  const cudaError_t e = cudaGetDriverEntryPoint(name, &fn, cudaEnableDefault, &found);
#endif
  if (e != cudaSuccess) cudaGetLastError();
  return e == cudaSuccess && found == cudaDriverEntryPointSuccess ? fn : nullptr;
}
struct ContextCalls {
  CtxGetCurrentFn get = reinterpret_cast<CtxGetCurrentFn>(DriverSymbol("cuCtxGetCurrent"));
  CtxSetCurrentFn set = reinterpret_cast<CtxSetCurrentFn>(DriverSymbol("cuCtxSetCurrent"));
};
const ContextCalls& Contexts() {
  static const ContextCalls calls;
  return calls;
}
}  // namespace

void* CurrentContext() {
  const ContextCalls& c = Contexts();
  void* ctx = nullptr;
  if (c.get == nullptr || c.set == nullptr || c.get(&ctx) != 0) return nullptr;
  return ctx;
}

bool RestoreContext(void* ctx) {
  const ContextCalls& c = Contexts();
  return c.set != nullptr && c.set(ctx) == 0;
}

DeviceGuard::DeviceGuard(int device) {
  int current = -1;
  const cudaError_t e = cudaGetDevice(&current);
  if (e == cudaSuccess && current == device) return;
  if (e != cudaSuccess) cudaGetLastError();
  previous_ = CurrentContext();  // null: the thread had none, and is left on `device` (no context to create)
  CheckCuda(cudaSetDevice(device), "cudaSetDevice");
}

DeviceGuard::DeviceGuard(int device, std::nothrow_t) noexcept {
  int current = -1;
  const cudaError_t e = cudaGetDevice(&current);
  if (e == cudaSuccess && current == device) return;
  if (e != cudaSuccess) cudaGetLastError();
  previous_ = CurrentContext();
  WarnCuda(cudaSetDevice(device), "cudaSetDevice");
}

DeviceGuard::~DeviceGuard() {
  if (previous_ != nullptr && !RestoreContext(previous_)) Warn("cuCtxSetCurrent failed: the caller's CUDA context could not be made current again");
}

void Warn(const std::string& message) {
  static std::atomic<int> warned{0};
  constexpr int kMaxWarnings = 50;
  const int n = warned.fetch_add(1);
  if (n < kMaxWarnings) std::fprintf(stderr, "tensorrt-node: warning: %s%s\n", message.c_str(), n + 1 == kMaxWarnings ? " (further warnings are not shown)" : "");
}

void WarnCuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // a non-sticky error must not be reported again by the next call
  // At exit CUDA may be torn down before the last objects are freed: nothing to warn about.
  if (e == cudaErrorCudartUnloading || e == cudaErrorContextIsDestroyed) return;
  Warn(CudaMessage(e, what));
}

// ----------------------------------------------------------------------------- JS arguments

int64_t IntegerArg(Napi::Env env, const Napi::Value& v, const std::string& what, int64_t min, int64_t max) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  // min and max are at most 2^53 in magnitude here, exactly representable as doubles
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || std::floor(d) != d)
    Throw(env, "ERR_INVALID_ARGUMENT", what + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                                           (v.IsNumber() ? v.ToString().Utf8Value() : std::string("a value of type ") + TypeName(v)));
  return static_cast<int64_t>(d);
}

int64_t GetInteger(Napi::Env env, const Napi::Object& o, const char* key, int64_t dflt, int64_t min, int64_t max) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? dflt : IntegerArg(env, v, key, min, max);
}

bool GetBoolArg(Napi::Env env, const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) Throw(env, "ERR_INVALID_ARGUMENT", std::string(key) + " must be a boolean, got a value of type " + TypeName(v));
  return v.As<Napi::Boolean>().Value();
}

std::string StringArg(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) Throw(env, "ERR_INVALID_ARGUMENT", what + " must be a string, got a value of type " + TypeName(v));
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) Throw(env, "ERR_INVALID_ARGUMENT", what + " must not contain a NUL character");
  return s;
}

std::string GetStringArg(Napi::Env env, const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? dflt : StringArg(env, v, key);
}

int DeviceArg(Napi::Env env, const Napi::Value& v, const std::string& what) {
  return static_cast<int>(IntegerArg(env, v, what, 0, INT32_MAX));
}

void RequireDevice(Napi::Env env, int device) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    Throw(env, "ERR_CUDA_UNAVAILABLE", "no usable CUDA device: " + CudaMessage(e, "cudaGetDeviceCount"));
  }
  if (device < 0 || device >= count)
    Throw(env, "ERR_INVALID_ARGUMENT", "device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " visible)");
}

Napi::Object OptionsArg(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (v.IsUndefined()) return Napi::Object::New(env);
  if (!v.IsObject() || v.IsFunction()) Throw(env, "ERR_INVALID_ARGUMENT", what + " must be an object, got a value of type " + TypeName(v));
  return v.As<Napi::Object>();
}

const char* TypeName(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
  }
  return "unknown";
}

// ----------------------------------------------------------------------------- type tags

// Random 128-bit values, one per class (napi_type_tag_object compares them).
const napi_type_tag kStreamTag = {0x7c2bd0a1e6f84d3bULL, 0x9a51f3c07e2d46a8ULL};
const napi_type_tag kDeviceBufferTag = {0x1f6e8a93c4b2475dULL, 0xb3d09e6a52c14f17ULL};
const napi_type_tag kHostBufferTag = {0x5ad4c21b90e3486fULL, 0x8e17b2d4c65a403cULL};
const napi_type_tag kRuntimeTag = {0xc9b03f5e27a14d86ULL, 0x46e8d1a7b3f2509eULL};
const napi_type_tag kEngineTag = {0x2e7f94c6d1b8430aULL, 0xd5a2608f1c3e47b9ULL};
const napi_type_tag kContextTag = {0x8b45e1f2a6c9407dULL, 0x13c7f9d0e28b4a65ULL};
const napi_type_tag kEngineCoreTag = {0x64d8b2a0f5e1493cULL, 0xa0f3c6e91b7d4852ULL};

bool HasTag(const Napi::Value& v, const napi_type_tag* tag) {
  if (v.IsEmpty()) return false;
  const napi_valuetype t = v.Type();
  if (t != napi_object && t != napi_function && t != napi_external) return false;
  bool result = false;
  return napi_check_object_type_tag(v.Env(), v, tag, &result) == napi_ok && result;
}

// ----------------------------------------------------------------------------- timeline

namespace {
// An epoch event lives while it is the mark of its device or a thread is measuring from it.
struct Epoch {
  cudaEvent_t event = nullptr;
  ~Epoch() { WarnCuda(cudaEventDestroy(event), "cudaEventDestroy (timeline mark)"); }
};
std::mutex epochMutex;
std::map<int, std::shared_ptr<Epoch>> epochs;  // current mark per device
}  // namespace

void MarkTimingEpoch(int device) {
  DeviceGuard guard(device);
  auto epoch = std::make_shared<Epoch>();
  CheckCuda(cudaEventCreate(&epoch->event), "cudaEventCreate");
  CheckCuda(cudaEventRecord(epoch->event, nullptr), "cudaEventRecord");
  CheckCuda(cudaEventSynchronize(epoch->event), "cudaEventSynchronize");
  std::lock_guard<std::mutex> lock(epochMutex);
  epochs[device] = std::move(epoch);
}

bool HasTimingEpoch(int device) {
  std::lock_guard<std::mutex> lock(epochMutex);
  return epochs.count(device) > 0;
}

double EpochOffsetMs(int device, cudaEvent_t e) {
  std::shared_ptr<Epoch> epoch;
  {
    std::lock_guard<std::mutex> lock(epochMutex);
    auto it = epochs.find(device);
    if (it == epochs.end()) return NAN;
    epoch = it->second;
  }
  float ms = 0;
  if (cudaEventElapsedTime(&ms, epoch->event, e) != cudaSuccess) {
    cudaGetLastError();
    return NAN;
  }
  return ms;
}

bool GetBool(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

double GetNumber(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
}

std::string GetString(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : dflt;
}

}  // namespace trtnode
