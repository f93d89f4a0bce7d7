// Runtime (one loaded TensorRT library + IRuntime + logger) and Engine (ICudaEngine with its
// IO signature and profiles). Children hold their parents through shared_ptr, so a parent
// disposed in JS is freed only after its last context and the work in flight are gone.
#pragma once

#include <NvInferRuntime.h>
#include <napi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "logger.h"
#include "trt_library.h"

namespace trtnode {

struct RuntimeCore {
  std::shared_ptr<TrtLibrary> lib;
  std::unique_ptr<Logger> logger;
  nvinfer1::IRuntime* runtime = nullptr;
  std::mutex mutex;  // deserialization is serialized per runtime
  int device = 0;
  ~RuntimeCore();
};

struct ProfileRange {
  nvinfer1::Dims min, opt, max;
};

struct TensorInfo {
  std::string name;
  bool isInput = false;
  int32_t dtype = 0;
  int elemBits = 32;  // bits per element (4 for packed 4-bit types)
  nvinfer1::Dims dims;  // -1 for dynamic dimensions
  int32_t format = 0;   // nvinfer1::TensorFormat
  std::string formatDesc;
  int32_t location = 0;  // nvinfer1::TensorLocation
  bool shapeTensor = false;
  std::vector<ProfileRange> profiles;  // inputs only, one per optimization profile
};

struct ContextCore;

struct EngineCore {
  std::shared_ptr<RuntimeCore> runtime;
  nvinfer1::ICudaEngine* engine = nullptr;
  int device = 0;
  int numProfiles = 0;
  std::vector<TensorInfo> io;
  std::mutex childrenMutex;
  std::vector<std::weak_ptr<ContextCore>> children;
  ~EngineCore();
  int Find(const std::string& name) const;
};

int ElementBits(int32_t dtype);
// The number of elements: -1 with a dynamic (negative) dimension, INT64_MAX when it overflows.
int64_t Volume(const nvinfer1::Dims& d);
// What ByteSize says of a shape whose size overflows: more than any buffer holds, yet small
// enough that adding an offset or another size to it cannot wrap around.
constexpr size_t kImpossibleByteSize = size_t{1} << 62;
// Bytes of a shape (0 with a dynamic dimension; kImpossibleByteSize past that).
size_t ByteSize(const nvinfer1::Dims& d, int elemBits);
std::string DimsString(const nvinfer1::Dims& d);
Napi::Array DimsToJs(Napi::Env env, const nvinfer1::Dims& d);

class Runtime : public Napi::ObjectWrap<Runtime> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Runtime(const Napi::CallbackInfo& info);
  std::shared_ptr<RuntimeCore> core(Napi::Env env);
  static Runtime* Unwrap(const Napi::Object& o);  // checks the receiver's class (common.h)

 private:
  Napi::Value Deserialize(const Napi::CallbackInfo& info);
  Napi::Value DeserializeAsync(const Napi::CallbackInfo& info);
  Napi::Value SetLogSeverity(const Napi::CallbackInfo& info);
  Napi::Value SetLogger(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetInfo(const Napi::CallbackInfo& info);

  std::shared_ptr<RuntimeCore> core_;
};

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Engine(const Napi::CallbackInfo& info);  // constructed natively with an External<EngineCore>
  std::shared_ptr<EngineCore> core(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<EngineCore> core);
  static Engine* FromJs(Napi::Env env, Napi::Value v);
  static Engine* Unwrap(const Napi::Object& o);  // checks the receiver's class (common.h)

 private:
  Napi::Value GetIo(const Napi::CallbackInfo& info);
  Napi::Value GetProfiles(const Napi::CallbackInfo& info);
  Napi::Value GetDeviceMemorySize(const Napi::CallbackInfo& info);
  Napi::Value GetName(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value LayerInformation(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<EngineCore> core_;
};

// Deserializes a plan; throws CodedError with a code that says why it failed.
std::shared_ptr<EngineCore> DeserializePlan(const std::shared_ptr<RuntimeCore>& rt, const void* data, size_t size);

}  // namespace trtnode
