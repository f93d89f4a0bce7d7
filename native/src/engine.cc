#include "engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>

#include "addon_data.h"
#include "common.h"
#include "context.h"

namespace trtnode {

RuntimeCore::~RuntimeCore() {
  delete runtime;  // TensorRT 10: objects are destroyed with delete
  runtime = nullptr;
}

EngineCore::~EngineCore() {
  // The last holder may be any thread: destroy on the engine's device, leave the thread's as it was.
  try {
    DeviceGuard guard(device);
    delete engine;
  } catch (const CodedError& e) {
    Warn("engine destroyed without its device current: " + e.message);
    delete engine;
  }
  engine = nullptr;
}

int EngineCore::Find(const std::string& name) const {
  for (size_t i = 0; i < io.size(); ++i)
    if (io[i].name == name) return static_cast<int>(i);
  return -1;
}

int ElementBits(int32_t dtype) {
  switch (dtype) {
    case 0: return 32;  // kFLOAT
    case 1: return 16;  // kHALF
    case 2: return 8;   // kINT8
    case 3: return 32;  // kINT32
    case 4: return 8;   // kBOOL
    case 5: return 8;   // kUINT8
    case 6: return 8;   // kFP8
    case 7: return 16;  // kBF16
    case 8: return 64;  // kINT64
    case 9: return 4;   // kINT4
    case 10: return 4;  // kFP4
    case 11: return 8;  // kE8M0
    default: return 0;
  }
}

int64_t Volume(const nvinfer1::Dims& d) {
  for (int i = 0; i < d.nbDims; ++i)
    if (d.d[i] < 0) return -1;  // a dynamic dimension
  int64_t v = 1;
  bool overflow = false;
  for (int i = 0; i < d.nbDims; ++i) {
    if (d.d[i] == 0) return 0;
    overflow = overflow || __builtin_mul_overflow(v, d.d[i], &v);
  }
  return overflow ? INT64_MAX : v;
}

size_t ByteSize(const nvinfer1::Dims& d, int elemBits) {
  const int64_t volume = Volume(d);
  if (volume < 0) return 0;
  int64_t bits = 0;
  if (__builtin_mul_overflow(volume, static_cast<int64_t>(elemBits), &bits) || bits > INT64_MAX - 7) return kImpossibleByteSize;
  const uint64_t bytes = static_cast<uint64_t>((bits + 7) / 8);
  return bytes > kImpossibleByteSize ? kImpossibleByteSize : static_cast<size_t>(bytes);
}

std::string DimsString(const nvinfer1::Dims& d) {
  std::ostringstream s;
  s << '[';
  for (int i = 0; i < d.nbDims; ++i) s << (i ? "," : "") << d.d[i];
  s << ']';
  return s.str();
}

Napi::Array DimsToJs(Napi::Env env, const nvinfer1::Dims& d) {
  Napi::Array a = Napi::Array::New(env, d.nbDims);
  for (int i = 0; i < d.nbDims; ++i) a[static_cast<uint32_t>(i)] = Napi::Number::New(env, static_cast<double>(d.d[i]));
  return a;
}

// ----------------------------------------------------------------------------- deserialize

namespace {

bool ContainsI(const std::string& hay, const char* needle) {
  std::string h = hay, n = needle;
  std::transform(h.begin(), h.end(), h.begin(), ::tolower);
  std::transform(n.begin(), n.end(), n.begin(), ::tolower);
  return h.find(n) != std::string::npos;
}

// TensorRT says why a plan failed only in its log; map its words to our codes.
const char* ClassifyPlanError(const std::string& msg) {
  if (ContainsI(msg, "host code")) return "ERR_PLAN_HOST_CODE";
  if (ContainsI(msg, "incompatible device") || ContainsI(msg, "compute capability") || ContainsI(msg, "different device") ||
      ContainsI(msg, "different gpu") || ContainsI(msg, "hardware compatibility"))
    return "ERR_PLAN_INCOMPATIBLE";
  if (ContainsI(msg, "version") && (ContainsI(msg, "not compatible") || ContainsI(msg, "expecting library version") ||
                                    ContainsI(msg, "version tag") || ContainsI(msg, "rebuild")))
    return "ERR_TRT_VERSION";
  return "ERR_PLAN_INVALID";
}

}  // namespace

std::shared_ptr<EngineCore> DeserializePlan(const std::shared_ptr<RuntimeCore>& rt, const void* data, size_t size) {
  // TensorRT trusts its input; reject what is certainly not a plan before it sees it.
  if (size < 64)
    throw CodedError{"ERR_PLAN_INVALID", "not a TensorRT plan: " + std::to_string(size) + " bytes is too small to be one"};
  DeviceGuard guard(rt->device);
  nvinfer1::ICudaEngine* engine = nullptr;
  std::string errors;
  {
    std::lock_guard<std::mutex> lock(rt->mutex);
    Logger::ClearErrors();
    engine = rt->runtime->deserializeCudaEngine(data, size);
    errors = Logger::TakeErrors();
  }
  if (engine == nullptr) {
    if (errors.empty()) errors = "deserializeCudaEngine returned null";
    const char* code = ClassifyPlanError(errors);
    std::string prefix = std::string(code) == "ERR_TRT_VERSION"
                             ? "plan built by another TensorRT version (runtime is " + VersionString(rt->lib->version) + "; rebuild the plan with it): "
                         : std::string(code) == "ERR_PLAN_HOST_CODE"
                             ? "plan embeds host code (a version-compatible plan with the lean runtime inside) and this runtime was created with hostCodeAllowed: false: "
                         : std::string(code) == "ERR_PLAN_INCOMPATIBLE" ? "plan was built for another GPU: "
                                                                        : "invalid or corrupt TensorRT plan: ";
    throw CodedError{code, prefix + errors};
  }
  auto core = std::make_shared<EngineCore>();
  core->runtime = rt;
  core->engine = engine;
  core->device = rt->device;
  core->numProfiles = engine->getNbOptimizationProfiles();
  const int n = engine->getNbIOTensors();
  for (int i = 0; i < n; ++i) {
    TensorInfo t;
    t.name = engine->getIOTensorName(i);
    const char* name = t.name.c_str();
    t.isInput = engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT;
    t.dtype = static_cast<int32_t>(engine->getTensorDataType(name));
    t.elemBits = ElementBits(t.dtype);
    t.dims = engine->getTensorShape(name);
    t.format = static_cast<int32_t>(engine->getTensorFormat(name));
    const char* desc = engine->getTensorFormatDesc(name);
    t.formatDesc = desc ? desc : "";
    t.location = static_cast<int32_t>(engine->getTensorLocation(name));
    t.shapeTensor = engine->isShapeInferenceIO(name);
    if (t.isInput) {
      for (int p = 0; p < core->numProfiles; ++p) {
        ProfileRange r;
        r.min = engine->getProfileShape(name, p, nvinfer1::OptProfileSelector::kMIN);
        r.opt = engine->getProfileShape(name, p, nvinfer1::OptProfileSelector::kOPT);
        r.max = engine->getProfileShape(name, p, nvinfer1::OptProfileSelector::kMAX);
        t.profiles.push_back(r);
      }
    }
    core->io.push_back(t);
  }
  return core;
}

// ----------------------------------------------------------------------------- Runtime (JS)

Napi::Function Runtime::Init(Napi::Env env) {
  return DefineClass(env, "Runtime",
                     {
                         InstanceMethod("deserialize", &Runtime::Deserialize),
                         InstanceMethod("deserializeAsync", &Runtime::DeserializeAsync),
                         InstanceMethod("setLogSeverity", &Runtime::SetLogSeverity),
                         InstanceMethod("setLogger", &Runtime::SetLogger),
                         InstanceMethod("dispose", &Runtime::Dispose),
                         InstanceAccessor("info", &Runtime::GetInfo, nullptr),
                     });
}

// new Runtime({ flavor = 'auto', libraryPath, device = 0, logSeverity = 2, onLog, hostCodeAllowed = false })
Runtime::Runtime(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Runtime>(info) {
  Napi::Env env = info.Env();
  // Every option is read and checked before a library is loaded or CUDA is asked.
  Napi::Object o = OptionsArg(env, info[0], "Runtime options");
  const std::string flavor = GetStringArg(env, o, "flavor", "auto");
  const std::string libraryPath = GetStringArg(env, o, "libraryPath", "");
  const int device = [&] {
    Napi::Value v = o.Get("device");
    return v.IsUndefined() ? 0 : DeviceArg(env, v, "device");
  }();
  const int severity = static_cast<int>(GetInteger(env, o, "logSeverity", 2, 0, 4));
  Napi::Value onLog = o.Get("onLog");
  if (!onLog.IsUndefined() && !onLog.IsNull() && !onLog.IsFunction())
    Throw(env, "ERR_INVALID_ARGUMENT", std::string("onLog must be a function, got a value of type ") + TypeName(onLog));
  const bool hostCodeAllowed = GetBoolArg(env, o, "hostCodeAllowed", false);
  auto core = std::make_shared<RuntimeCore>();
  core->device = device;
  try {
    core->lib = LoadTrtLibrary(flavor, libraryPath);
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  int count = 0;
  cudaError_t ce = cudaGetDeviceCount(&count);
  if (ce != cudaSuccess || count == 0) {
    cudaGetLastError();
    Throw(env, "ERR_CUDA_UNAVAILABLE",
          "no CUDA device is usable: " + std::string(ce != cudaSuccess ? CudaMessage(ce, "cudaGetDeviceCount") : "cudaGetDeviceCount found 0 devices"));
  }
  if (core->device >= count)
    Throw(env, "ERR_INVALID_ARGUMENT", "device " + std::to_string(core->device) + " does not exist (" + std::to_string(count) + " visible)");
  try {
    DeviceGuard guard(core->device);
    core->logger = std::make_unique<Logger>();
    core->logger->SetThreshold(severity);
    core->logger->SetCallback(env, onLog);
    Logger::ClearErrors();
    core->runtime = static_cast<nvinfer1::IRuntime*>(core->lib->createInferRuntime(core->logger.get(), NV_TENSORRT_VERSION));
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  if (core->runtime == nullptr) {
    std::string err = Logger::TakeErrors();
    Throw(env, "ERR_TRT", "createInferRuntime failed for " + core->lib->path + (err.empty() ? "" : ": " + err));
  }
  core->runtime->setEngineHostCodeAllowed(hostCodeAllowed);
  core_ = core;
  info.This().As<Napi::Object>().TypeTag(&kRuntimeTag);
}

Runtime* Runtime::Unwrap(const Napi::Object& o) { return CheckedUnwrap<Runtime>(o, &kRuntimeTag, "Runtime"); }

std::shared_ptr<RuntimeCore> Runtime::core(Napi::Env env) {
  if (!core_) Throw(env, "ERR_DISPOSED", "the Runtime was disposed");
  return core_;
}

Napi::Value Runtime::GetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = core(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", VersionString(c->lib->version));
  o.Set("versionNumber", c->lib->version);
  o.Set("flavor", c->lib->flavor);
  o.Set("libraryPath", c->lib->path);
  o.Set("headerVersion", VersionString(HeaderVersion()));
  o.Set("device", c->device);
  return o;
}

// The bytes of a plan file. Only a regular file: a FIFO or a device would block or never end.
static std::vector<char> ReadFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw CodedError{"ERR_INVALID_ARGUMENT", "cannot open plan file '" + path + "': " + std::strerror(errno)};
  if (!S_ISREG(st.st_mode)) throw CodedError{"ERR_INVALID_ARGUMENT", "plan file '" + path + "' is not a regular file"};
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CodedError{"ERR_INVALID_ARGUMENT", "cannot open plan file '" + path + "'"};
  std::vector<char> bytes;
  try {
    bytes.resize(static_cast<size_t>(st.st_size));
  } catch (const std::exception&) {  // bad_alloc, length_error
    throw CodedError{"ERR_OUT_OF_MEMORY", "plan file '" + path + "' has " + std::to_string(st.st_size) + " bytes: no memory to read it"};
  }
  if (!bytes.empty() && !f.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw CodedError{"ERR_INVALID_ARGUMENT", "cannot read plan file '" + path + "' (" + std::to_string(st.st_size) + " bytes expected)"};
  return bytes;
}

// deserialize(pathOrBytes) → Engine, on the JS thread.
Napi::Value Runtime::Deserialize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto rt = core(env);
  try {
    std::shared_ptr<EngineCore> e;
    if (info[0].IsString()) {
      std::vector<char> bytes = ReadFile(StringArg(env, info[0], "plan path"));
      e = DeserializePlan(rt, bytes.data(), bytes.size());
    } else {
      HostRegion r = GetHostRegion(env, info[0]);
      e = DeserializePlan(rt, r.ptr, r.bytes);
    }
    return Engine::Wrap(env, e);
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
}

namespace {
class DeserializeWorker : public Napi::AsyncWorker {
 public:
  DeserializeWorker(Napi::Env env, std::shared_ptr<RuntimeCore> rt, std::string path, std::vector<char> bytes)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), rt_(std::move(rt)), path_(std::move(path)), bytes_(std::move(bytes)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      if (!path_.empty()) bytes_ = ReadFile(path_);
      engine_ = DeserializePlan(rt_, bytes_.data(), bytes_.size());
    } catch (const CodedError& e) {
      code_ = e.code;
      SetError(e.message);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(Engine::Wrap(env, engine_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(MakeError(Env(), code_.c_str(), e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<RuntimeCore> rt_;
  std::string path_;
  std::vector<char> bytes_;
  std::shared_ptr<EngineCore> engine_;
  std::string code_ = "ERR_PLAN_INVALID";
};
}  // namespace

// deserializeAsync(pathOrBytes) → Promise<Engine>; the file is read and the plan deserialized
// on a worker thread. Bytes given by JS are copied first so the caller may reuse its buffer.
Napi::Value Runtime::DeserializeAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto rt = core(env);
  std::string path;
  std::vector<char> bytes;
  if (info[0].IsString()) {
    path = StringArg(env, info[0], "plan path");
    if (path.empty()) Throw(env, "ERR_INVALID_ARGUMENT", "the plan path is empty");
  } else {
    HostRegion r = GetHostRegion(env, info[0]);
    try {
      bytes.assign(static_cast<char*>(r.ptr), static_cast<char*>(r.ptr) + r.bytes);
    } catch (const std::exception&) {
      Throw(env, "ERR_OUT_OF_MEMORY", "no memory to copy the " + std::to_string(r.bytes) + " bytes of the plan");
    }
  }
  auto* w = new DeserializeWorker(env, rt, path, std::move(bytes));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Runtime::SetLogSeverity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int severity = static_cast<int>(IntegerArg(env, info[0], "setLogSeverity(severity): severity", 0, 4));
  core(env)->logger->SetThreshold(severity);
  return env.Undefined();
}

// setLogger(fn | undefined | null): undefined or null removes the callback.
Napi::Value Runtime::SetLogger(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsUndefined() && !info[0].IsNull() && !info[0].IsFunction())
    Throw(env, "ERR_INVALID_ARGUMENT", std::string("setLogger(fn): fn must be a function, undefined or null, got a value of type ") + TypeName(info[0]));
  core(env)->logger->SetCallback(env, info[0]);
  return env.Undefined();
}

Napi::Value Runtime::Dispose(const Napi::CallbackInfo& info) {
  if (core_) core_->logger->Release();
  core_.reset();  // engines keep the runtime alive until they are gone
  return info.Env().Undefined();
}

// ----------------------------------------------------------------------------- Engine (JS)

Napi::Function Engine::Init(Napi::Env env) {
  return DefineClass(env, "Engine",
                     {
                         InstanceMethod("layerInformation", &Engine::LayerInformation),
                         InstanceMethod("dispose", &Engine::Dispose),
                         InstanceAccessor("io", &Engine::GetIo, nullptr),
                         InstanceAccessor("profiles", &Engine::GetProfiles, nullptr),
                         InstanceAccessor("deviceMemorySize", &Engine::GetDeviceMemorySize, nullptr),
                         InstanceAccessor("name", &Engine::GetName, nullptr),
                         InstanceAccessor("disposed", &Engine::GetDisposed, nullptr),
                     });
}

// Only Engine::Wrap makes the tagged External this takes: an External of anything else (another
// addon's) is refused, not read as an EngineCore.
Engine::Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
  if (info.Length() < 1 || !info[0].IsExternal() || !HasTag(info[0], &kEngineCoreTag))
    Throw(info.Env(), "ERR_INVALID_ARGUMENT", "Engine objects are made by Runtime.deserialize()");
  core_ = *info[0].As<Napi::External<std::shared_ptr<EngineCore>>>().Data();
  info.This().As<Napi::Object>().TypeTag(&kEngineTag);
}

Napi::Object Engine::Wrap(Napi::Env env, std::shared_ptr<EngineCore> core) {
  std::shared_ptr<EngineCore> holder = std::move(core);
  Napi::External<std::shared_ptr<EngineCore>> external = Napi::External<std::shared_ptr<EngineCore>>::New(env, &holder);
  external.TypeTag(&kEngineCoreTag);
  return Data(env)->engineCtor.New({external});
}

Engine* Engine::Unwrap(const Napi::Object& o) { return CheckedUnwrap<Engine>(o, &kEngineTag, "Engine"); }

Engine* Engine::FromJs(Napi::Env env, Napi::Value v) {
  if (!HasTag(v, &kEngineTag)) Throw(env, "ERR_INVALID_ARGUMENT", "expected an Engine");
  return Napi::ObjectWrap<Engine>::Unwrap(v.As<Napi::Object>());
}

std::shared_ptr<EngineCore> Engine::core(Napi::Env env) {
  if (!core_) Throw(env, "ERR_DISPOSED", "the Engine was disposed");
  return core_;
}

Napi::Value Engine::GetIo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = core(env);
  Napi::Array a = Napi::Array::New(env, c->io.size());
  for (size_t i = 0; i < c->io.size(); ++i) {
    const TensorInfo& t = c->io[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("mode", t.isInput ? "input" : "output");
    o.Set("trtDataType", t.dtype);
    o.Set("shape", DimsToJs(env, t.dims));
    o.Set("format", t.format);
    o.Set("formatDescription", t.formatDesc);
    o.Set("location", t.location == 0 ? "device" : "host");
    o.Set("isShapeTensor", t.shapeTensor);
    a[static_cast<uint32_t>(i)] = o;
  }
  return a;
}

Napi::Value Engine::GetProfiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = core(env);
  Napi::Array a = Napi::Array::New(env, c->numProfiles);
  for (int p = 0; p < c->numProfiles; ++p) {
    Napi::Object prof = Napi::Object::New(env);
    for (const TensorInfo& t : c->io) {
      if (!t.isInput) continue;
      Napi::Object r = Napi::Object::New(env);
      r.Set("min", DimsToJs(env, t.profiles[p].min));
      r.Set("opt", DimsToJs(env, t.profiles[p].opt));
      r.Set("max", DimsToJs(env, t.profiles[p].max));
      prof.Set(t.name, r);
    }
    a[static_cast<uint32_t>(p)] = prof;
  }
  return a;
}

Napi::Value Engine::GetDeviceMemorySize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(core(info.Env())->engine->getDeviceMemorySizeV2()));
}

Napi::Value Engine::GetName(const Napi::CallbackInfo& info) {
  const char* n = core(info.Env())->engine->getName();
  return Napi::String::New(info.Env(), n ? n : "");
}

Napi::Value Engine::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !core_); }

// layerInformation() → JSON string from the engine inspector (detail depends on the
// profiling verbosity the plan was built with).
Napi::Value Engine::LayerInformation(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = core(env);
  std::unique_ptr<nvinfer1::IEngineInspector> inspector(c->engine->createEngineInspector());
  if (!inspector) Throw(env, "ERR_TRT", "this TensorRT runtime (" + c->runtime->lib->flavor + ") offers no engine inspector");
  const char* s = inspector->getEngineInformation(nvinfer1::LayerInformationFormat::kJSON);
  return Napi::String::New(env, s ? s : "{}");
}

// dispose(): the engine accepts no more calls; its contexts are disposed too. Memory is freed
// when the last piece of work in flight completes.
Napi::Value Engine::Dispose(const Napi::CallbackInfo& info) {
  if (core_) {
    std::vector<std::shared_ptr<ContextCore>> kids;
    {
      std::lock_guard<std::mutex> lock(core_->childrenMutex);
      for (auto& w : core_->children)
        if (auto k = w.lock()) kids.push_back(k);
    }
    for (auto& k : kids) k->disposed = true;
  }
  core_.reset();
  return info.Env().Undefined();
}

}  // namespace trtnode
