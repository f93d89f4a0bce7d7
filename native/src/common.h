// Shared helpers of the addon: error objects with stable codes, CUDA error mapping, and the
// per-environment registry that lets the cleanup hook stop what is still alive at exit.
#pragma once

#include <napi.h>

#include <cuda_runtime_api.h>

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
