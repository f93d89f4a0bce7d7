#include "common.h"

#include "addon_data.h"

#include <cmath>
#include <map>
#include <mutex>
#include <vector>

namespace trtnode {

Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message) {
  AddonData* data = Data(env);
  if (data != nullptr && !data->errorFactory.IsEmpty()) {
    Napi::Value v = data->errorFactory.Call({Napi::String::New(env, code), Napi::String::New(env, message)});
    if (!env.IsExceptionPending() && v.IsObject()) return Napi::Error(env, v);
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Value().Set("code", Napi::String::New(env, code));
  return err;
}

void Throw(Napi::Env env, const char* code, const std::string& message) {
  throw MakeError(env, code, message);
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
std::mutex epochMutex;
std::map<int, cudaEvent_t> epochs;  // current mark per device
std::vector<cudaEvent_t> oldEpochs;  // never destroyed: another thread may be measuring from one
}  // namespace

void MarkTimingEpoch(int device) {
  UseDevice(device);
  cudaEvent_t e = nullptr;
  CheckCuda(cudaEventCreate(&e), "cudaEventCreate");
  CheckCuda(cudaEventRecord(e, nullptr), "cudaEventRecord");
  CheckCuda(cudaEventSynchronize(e), "cudaEventSynchronize");
  std::lock_guard<std::mutex> lock(epochMutex);
  auto it = epochs.find(device);
  if (it != epochs.end()) oldEpochs.push_back(it->second);
  epochs[device] = e;
}

bool HasTimingEpoch(int device) {
  std::lock_guard<std::mutex> lock(epochMutex);
  return epochs.count(device) > 0;
}

double EpochOffsetMs(int device, cudaEvent_t e) {
  cudaEvent_t epoch = nullptr;
  {
    std::lock_guard<std::mutex> lock(epochMutex);
    auto it = epochs.find(device);
    if (it == epochs.end()) return NAN;
    epoch = it->second;
  }
  float ms = 0;
  if (cudaEventElapsedTime(&ms, epoch, e) != cudaSuccess) {
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
