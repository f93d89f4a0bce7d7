// Shared helpers of the addon: error objects with stable codes, CUDA error mapping, and the
// per-environment registry that lets the cleanup hook stop what is still alive at exit.
#pragma once

#include <napi.h>

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define TRTNODE_STR2(x) #x
#define TRTNODE_STR(x) TRTNODE_STR2(x)

namespace trtnode {

// One spin-wait hint for busy-polling loops: PAUSE on x86, YIELD on aarch64 (the linux-arm64
// prebuild), nothing elsewhere.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

// Moving average of a duration (µs) that starts at the first sample: what the watcher learns of
// a stream's work and a context of its launches.
inline double MovingAverage(double avg, double sample) { return avg == 0 ? sample : avg * 0.9 + sample * 0.1; }

// A JS Error with a `code` property; the TypeScript layer turns it into TensorRtError.
Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message);
[[noreturn]] void Throw(Napi::Env env, const char* code, const std::string& message);

// The longest ArrayBuffer or Buffer this Node makes over external memory
// (buffer.constants.MAX_LENGTH): 2^32 bytes before Node 22, 2^53 - 1 from it.
size_t MaxExternalBytes(Napi::Env env);
// ERR_INVALID_ARGUMENT "<what> N is more than an ArrayBuffer of this Node holds (M bytes)" when
// bytes > MaxExternalBytes: called before memory that long is pinned or mapped.
void CheckExternalBytes(Napi::Env env, size_t bytes, const std::string& what);

// An ArrayBuffer over memory the addon owns; `keep` stays alive until V8 collects it. A length
// above MaxExternalBytes is refused first (CheckExternalBytes): Node 20 frees the finalizer's data
// itself when it refuses a length, and node-addon-api frees it again (a double free that a 4 GiB
// shared-memory region or HostBuffer reached). `hold`, when given, receives the holder of `keep`,
// which an owner may empty early (HostBuffer.dispose).
Napi::ArrayBuffer ExternalArrayBuffer(Napi::Env env, void* data, size_t bytes, std::shared_ptr<void> keep, const std::string& what,
                                      std::shared_ptr<void>** hold = nullptr);

// C++ exception carrying a code, for code that runs off the JS thread (workers, watchers).
struct CodedError {
  std::string code;
  std::string message;
};

// "ERR_OUT_OF_MEMORY" for allocation failures, "ERR_CUDA_UNAVAILABLE" when there is no
// driver or device, "ERR_CUDA" otherwise.
const char* CudaErrorCode(cudaError_t e);
std::string CudaMessage(cudaError_t e, const char* what);

// Throws CodedError when e != cudaSuccess (off the JS thread).
void CheckCuda(cudaError_t e, const char* what);
// Throws a JS error when e != cudaSuccess (on the JS thread).
void CheckCudaJs(Napi::Env env, cudaError_t e, const char* what);

// Makes `device` current on this thread (CUDA's current device is per thread).
void UseDevice(int device);

// Makes a device current for a scope and, at its end, puts back the CUDA context the thread had.
// CUDA's current context belongs to the thread and is shared by every CUDA user in the process
// (another addon on the JS thread): a call must leave it as it found it. A thread that had no
// context is left on the device (creating a context on the previous device would cost GPU memory).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);  // throws CodedError when `device` cannot be made current
  // For destructors and finalizers, which may not throw: a device that cannot be made current
  // is warned of (WarnCuda) and the cleanup goes on, on whatever device is current.
  DeviceGuard(int device, std::nothrow_t) noexcept;
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  void* previous_ = nullptr;  // the thread's CUcontext before, or null: nothing to restore
};
// The thread's current CUcontext (null without one, or where the driver's entry points are not
// reachable), and putting one back (false if that failed).
void* CurrentContext();
bool RestoreContext(void* ctx);

// What nobody can be told of by an error (destructors, finalizers): a warning on stderr, at
// most a few dozen per process. WarnCuda: a failed CUDA call, quiet at process exit.
void Warn(const std::string& message);
void WarnCuda(cudaError_t e, const char* what);

// ---- Numbers and strings from JS, checked before use

// The largest integer a JS number holds exactly (2^53 - 1): the bound of byte counts and offsets.
constexpr double kMaxSafeInteger = 9007199254740991.0;

// `v` as an integer in [min, max]: a number with no fraction (NaN, ±Infinity refused), checked
// as a double before any conversion (an out-of-range float-to-integer cast is undefined
// behaviour); else ERR_INVALID_ARGUMENT naming `what`. -0 reads as 0.
int64_t IntegerArg(Napi::Env env, const Napi::Value& v, const std::string& what, int64_t min, int64_t max);
// An optional property of an options object: dflt when it is undefined, else as IntegerArg.
// Reading the property may run a getter: read every option before acting on any.
int64_t GetInteger(Napi::Env env, const Napi::Object& o, const char* key, int64_t dflt, int64_t min, int64_t max);
// An optional boolean property: dflt when undefined, ERR_INVALID_ARGUMENT for another type.
bool GetBoolArg(Napi::Env env, const Napi::Object& o, const char* key, bool dflt);
// A string with no NUL character (a path or a name handed to C APIs, which would stop at the
// first NUL and so read another name than the caller gave); else ERR_INVALID_ARGUMENT.
std::string StringArg(Napi::Env env, const Napi::Value& v, const std::string& what);
// An optional string property: dflt when undefined, else as StringArg.
std::string GetStringArg(Napi::Env env, const Napi::Object& o, const char* key, const std::string& dflt);
// A CUDA device ordinal: an integer in [0, INT32_MAX]; whether the device exists is asked of
// CUDA by RequireDevice.
int DeviceArg(Napi::Env env, const Napi::Value& v, const std::string& what);
// Throws ERR_CUDA_UNAVAILABLE without CUDA, ERR_INVALID_ARGUMENT when `device` is not one of
// the visible devices.
void RequireDevice(Napi::Env env, int device);
// Whether [offset, offset + bytes) lies within [0, size), without overflow.
inline bool RangeFits(size_t offset, size_t bytes, size_t size) { return offset <= size && bytes <= size - offset; }
// "number", "string", "object", ... for messages.
const char* TypeName(const Napi::Value& v);
// An options argument: undefined gives an empty object; anything but an object is refused.
Napi::Object OptionsArg(Napi::Env env, const Napi::Value& v, const std::string& what);

// ---- Which native class an object is

// Every native object is tagged (napi_type_tag_object) with its class's tag when constructed.
// A tag cannot be forged from JS, unlike instanceof (an object whose prototype was swapped),
// and node-addon-api checks no receiver of an accessor: a getter of one class called on an
// instance of another would otherwise read that object as the wrong C++ type.
extern const napi_type_tag kStreamTag;
extern const napi_type_tag kDeviceBufferTag;
extern const napi_type_tag kHostBufferTag;
extern const napi_type_tag kRuntimeTag;
extern const napi_type_tag kEngineTag;
extern const napi_type_tag kContextTag;
extern const napi_type_tag kEngineCoreTag;  // the External that carries an EngineCore to Engine's constructor
bool HasTag(const Napi::Value& v, const napi_type_tag* tag);
// The C++ object of `o`, a `T` by its tag, else ERR_INVALID_ARGUMENT ("a `cls` method or
// property was used on another object"). A class that declares
//   static T* Unwrap(Napi::Object o) { return CheckedUnwrap<T>(o, &kTag, "T"); }
// hides ObjectWrap<T>::Unwrap, which node-addon-api calls (as T::Unwrap) for every method and
// accessor: then no callback of T runs on an object that is not a T.
template <typename T>
T* CheckedUnwrap(const Napi::Object& o, const napi_type_tag* tag, const char* cls) {
  if (!HasTag(o, tag))
    throw MakeError(o.Env(), "ERR_INVALID_ARGUMENT", std::string("not a ") + cls + ": a " + cls + " method or property was used on another object");
  return Napi::ObjectWrap<T>::Unwrap(o);
}

// Timeline of timed runs (a diagnostic): MarkTimingEpoch records an event on `device` that the
// start and end of later timed runs are measured from (ms), so that runs of several streams can
// be laid on one time axis. Marked again, later runs use the new mark (float ms from the mark
// keep sub-µs resolution for a few seconds only). EpochOffsetMs is NaN while none is marked
// or when the events cannot be compared.
void MarkTimingEpoch(int device);
bool HasTimingEpoch(int device);
double EpochOffsetMs(int device, cudaEvent_t e);

// Reads an optional property of an options object.
bool GetBool(const Napi::Object& o, const char* key, bool dflt);
double GetNumber(const Napi::Object& o, const char* key, double dflt);
std::string GetString(const Napi::Object& o, const char* key, const std::string& dflt);

}  // namespace trtnode
