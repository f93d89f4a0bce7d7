// Builds TensorRT plans from ONNX models: the work of `trtexec --onnx=... --saveEngine=...`,
// through the builder of the dlopen'ed libnvinfer and the parser of libnvonnxparser (found beside
// it). A build runs on a thread of its own (builds take minutes; the libuv pool is not theirs to
// hold), reports TensorRT's IProgressMonitor phases and steps to JS through a thread-safe
// function, and stops at the next step when cancelled. Every result or failure reaches JS as one
// final event; the plan's bytes stay in TensorRT's IHostMemory, owned by the Buffer JS receives.
#include "builder.h"

#include <NvInfer.h>
#include <NvInferVersion.h>
#include <NvOnnxParser.h>
#include <cuda_runtime_api.h>
#include <dirent.h>
#include <dlfcn.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "logger.h"
#include "trt_library.h"

namespace trtnode {

namespace {

constexpr int64_t kInt32Max = 2147483647;

// ----------------------------------------------------------------------------- libraries

struct BuilderLibraries {
  std::shared_ptr<TrtLibrary> infer;
  void* (*createBuilder)(void* logger, int32_t version) = nullptr;
  std::string parserPath;
  std::vector<std::string> resources;  // builder resources loaded from libnvinfer's folder (PreloadBuilderResources)
  void* (*createParser)(void* network, void* logger, int version) = nullptr;
  int32_t parserVersion = 0;
};

std::mutex gLibrariesMutex;
std::map<std::string, std::shared_ptr<BuilderLibraries>> gLibraries;  // by the libraryPath asked for

std::string DirectoryOf(const std::string& file) {
  const size_t slash = file.rfind('/');
  return slash == std::string::npos ? std::string() : file.substr(0, slash);
}

// TensorRT's builder dlopens its resource library (libnvinfer_builder_resource.so.X.Y.Z, in 11.x one
// per GPU architecture: _sm90, _ptx, ...) by bare name, which the dynamic loader looks for on
// LD_LIBRARY_PATH and in the system's folders, not beside libnvinfer. Loading every resource of
// this version found beside libnvinfer first makes the builder's own dlopen find it loaded (glibc
// matches a bare name against the sonames of loaded libraries), so a TensorRT unpacked anywhere
// and named by TENSORRT_LIB_DIR builds without LD_LIBRARY_PATH. Mapping costs address space only;
// the handles stay open for the process's life, as TensorRT keeps its own. Files that do not load
// are left for the builder's own search, which names what is missing.
std::vector<std::string> PreloadBuilderResources(const std::string& dir, int32_t version) {
  std::vector<std::string> loaded;
  if (dir.empty()) return loaded;
  const std::string prefix = "libnvinfer_builder_resource";
  const std::string suffix = ".so." + VersionString(version);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return loaded;
  std::vector<std::string> names;
  while (const dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() >= prefix.size() + suffix.size() && n.compare(0, prefix.size(), prefix) == 0 && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      names.push_back(n);
  }
  closedir(d);
  for (const auto& n : names) {
    const std::string file = dir + "/" + n;
    if (!UnloadableElfReason(file).empty()) continue;  // a truncated file would crash dlopen
    if (dlopen(file.c_str(), RTLD_LAZY | RTLD_LOCAL) != nullptr) loaded.push_back(file);
    else dlerror();
  }
  return loaded;
}

// The full libnvinfer (the lean and dispatch runtimes have no builder) and the ONNX parser beside it.
// Throws CodedError ERR_TRT_NOT_FOUND / ERR_TRT_VERSION saying what was tried.
std::shared_ptr<BuilderLibraries> LoadBuilderLibraries(const std::string& libraryPath) {
  std::lock_guard<std::mutex> lock(gLibrariesMutex);
  auto it = gLibraries.find(libraryPath);
  if (it != gLibraries.end()) return it->second;
  auto libs = std::make_shared<BuilderLibraries>();
  libs->infer = LoadTrtLibrary("full", libraryPath);
  libs->createBuilder = reinterpret_cast<void* (*)(void*, int32_t)>(dlsym(libs->infer->handle, "createInferBuilder_INTERNAL"));
  if (libs->createBuilder == nullptr)
    throw CodedError{"ERR_TRT_NOT_FOUND", libs->infer->path + " has no builder (createInferBuilder_INTERNAL): building a plan needs the full TensorRT library, not a lean or dispatch runtime"};

  // The parser of the same TensorRT: first in the folder libnvinfer came from (found through
  // dladdr when it was loaded by name), then wherever the dynamic loader finds it.
  const std::string soname = "libnvonnxparser.so." TRTNODE_STR(NV_TENSORRT_MAJOR);
  std::string dir = DirectoryOf(libs->infer->path);
  if (dir.empty()) {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(libs->infer->createInferRuntime), &info) != 0 && info.dli_fname != nullptr) dir = DirectoryOf(info.dli_fname);
  }
  std::vector<std::string> candidates;
  if (!dir.empty()) candidates.push_back(dir + "/" + soname);
  candidates.push_back(soname);
  std::vector<std::string> tried;
  void* handle = nullptr;
  for (const auto& c : candidates) {
    const std::string unloadable = UnloadableElfReason(c);
    if (!unloadable.empty()) {
      tried.push_back(c + ": " + unloadable);
      continue;
    }
    handle = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) {
      libs->parserPath = c;
      break;
    }
    const char* err = dlerror();
    tried.push_back(c + ": " + (err ? err : "not loadable"));
  }
  if (handle == nullptr) {
    std::string msg = "the TensorRT ONNX parser (" + soname + ") was not found beside " + libs->infer->path + ". Tried:";
    for (const auto& t : tried) msg += "\n  - " + t;
    msg += "\nInstall TensorRT's ONNX parser (it ships with the full TensorRT) next to libnvinfer, or put its folder on LD_LIBRARY_PATH.";
    throw CodedError{"ERR_TRT_NOT_FOUND", msg};
  }
  libs->createParser = reinterpret_cast<void* (*)(void*, void*, int)>(dlsym(handle, "createNvOnnxParser_INTERNAL"));
  auto version = reinterpret_cast<int (*)()>(dlsym(handle, "getNvOnnxParserVersion"));
  if (libs->createParser == nullptr || version == nullptr) {
    dlclose(handle);
    throw CodedError{"ERR_TRT_NOT_FOUND", libs->parserPath + " does not export createNvOnnxParser_INTERNAL/getNvOnnxParserVersion (not TensorRT's ONNX parser)"};
  }
  libs->parserVersion = version();
  // A parser of another major version than libnvinfer would drive a network it does not know.
  if (libs->parserVersion >= 10000 && libs->parserVersion / 10000 != libs->infer->version / 10000) {
    dlclose(handle);
    throw CodedError{"ERR_TRT_VERSION", "the ONNX parser at " + libs->parserPath + " is version " + VersionString(libs->parserVersion) + ", but libnvinfer at " +
                                            libs->infer->path + " is " + VersionString(libs->infer->version) + ": use the parser of the same TensorRT"};
  }
  libs->resources = PreloadBuilderResources(dir, libs->infer->version);
  gLibraries[libraryPath] = libs;
  return libs;
}

struct DeviceInfo {
  std::string name;
  std::string computeCapability;
};

// Checks that `device` exists and names it; throws CodedError ERR_CUDA_UNAVAILABLE / ERR_INVALID_ARGUMENT.
DeviceInfo CheckDevice(int device) {
  int count = 0;
  cudaError_t ce = cudaGetDeviceCount(&count);
  if (ce != cudaSuccess || count == 0) {
    cudaGetLastError();
    throw CodedError{"ERR_CUDA_UNAVAILABLE", "no CUDA device is usable: " + std::string(ce != cudaSuccess ? CudaMessage(ce, "cudaGetDeviceCount") : "cudaGetDeviceCount found 0 devices")};
  }
  if (device < 0 || device >= count)
    throw CodedError{"ERR_INVALID_ARGUMENT", "device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " visible)"};
  cudaDeviceProp p{};
  CheckCuda(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
  return {p.name, std::to_string(p.major) + "." + std::to_string(p.minor)};
}

// ----------------------------------------------------------------------------- the build's inputs

struct ShapeSpec {
  std::string name;
  std::vector<int64_t> min, opt, max;
};

struct BuildSpec {
  std::string libraryPath;
  int device = 0;
  std::string onnxPath;         // read on the build thread, and lets the parser find external weights
  std::vector<char> onnxBytes;  // or the model itself
  std::vector<std::vector<ShapeSpec>> profiles;
  // For a model repository: dimension 0 of every dynamic input ranges over min/opt/max, its other
  // dynamic dimensions come from inputDims (the config's dims, without the batch dimension);
  // without a batch profile, inputDims are whole static shapes.
  bool batchProfile = false;
  int64_t batchMin = 0, batchOpt = 0, batchMax = 0;
  std::map<std::string, std::vector<int64_t>> inputDims;
  bool fp16 = false, bf16 = false, int8 = false, tf32 = true, stronglyTyped = false;
  bool haveCalibration = false;
  std::vector<char> calibrationCache;
  double workspaceBytes = -1, tacticSharedMemoryBytes = -1;
  bool timingCache = false;  // load the given cache and hand the updated one back (trtexec --timingCacheFile)
  std::vector<char> timingCacheBytes;
  int builderOptimizationLevel = -1;
  int avgTimingIterations = -1;
  bool versionCompatible = false, excludeLeanRuntime = false;
  int hardwareCompatibilityLevel = 0;  // nvinfer1::HardwareCompatibilityLevel
  int profilingVerbosity = 0;          // nvinfer1::ProfilingVerbosity
  int logSeverity = 2;
};

[[noreturn]] void Invalid(const std::string& message) { throw CodedError{"ERR_INVALID_ARGUMENT", message}; }

int64_t IntegerOf(const Napi::Value& v, const std::string& what, int64_t min, int64_t max) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) || d > static_cast<double>(max))
    Invalid(what + " must be an integer within " + std::to_string(min) + ".." + std::to_string(max));
  return static_cast<int64_t>(d);
}

int64_t OptionalInteger(const Napi::Object& o, const char* key, int64_t min, int64_t max, int64_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  return IntegerOf(v, std::string("build option ") + key, min, max);
}

double OptionalBytes(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return -1;
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  // size_t holds it; 2^53 keeps it exact as a double
  if (!std::isfinite(d) || d < 0 || d > 9007199254740992.0) Invalid(std::string("build option ") + key + " must be a number of bytes >= 0");
  return std::floor(d);
}

bool OptionalBool(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsBoolean()) Invalid(std::string("build option ") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

// Copies the bytes of a Buffer / TypedArray / DataView / ArrayBuffer.
std::vector<char> BytesOf(const Napi::Value& v, const std::string& what) {
  const uint8_t* data = nullptr;
  size_t size = 0;
  if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    data = static_cast<const uint8_t*>(ab.Data());
    size = ab.ByteLength();
  } else if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    data = static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
    size = t.ByteLength();
  } else if (v.IsDataView()) {
    Napi::DataView dv = v.As<Napi::DataView>();
    data = static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    size = dv.ByteLength();
  } else {
    Invalid(what + " must be a Buffer, TypedArray or ArrayBuffer");
  }
  if (size > 0 && data == nullptr) throw CodedError{"ERR_DETACHED_BUFFER", what + " is detached"};
  return std::vector<char>(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size);
}

std::vector<int64_t> DimsOf(const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) Invalid(what + " must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  // a shape has at most 8 dimensions; a shape tensor's values are a few more at most
  if (a.Length() > 64) Invalid(what + " has " + std::to_string(a.Length()) + " entries (at most 64)");
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(IntegerOf(a.Get(i), what + "[" + std::to_string(i) + "]", -kInt32Max - 1, kInt32Max));
  return out;
}

BuildSpec ReadSpec(const Napi::Object& o) {
  BuildSpec s;
  s.libraryPath = GetString(o, "libraryPath", "");
  s.device = static_cast<int>(OptionalInteger(o, "device", 0, kInt32Max, 0));
  Napi::Value onnx = o.Get("onnx");
  if (onnx.IsString()) {
    s.onnxPath = onnx.As<Napi::String>().Utf8Value();
    if (s.onnxPath.empty()) Invalid("the ONNX model path is empty");
  } else {
    s.onnxBytes = BytesOf(onnx, "the ONNX model");
    if (s.onnxBytes.empty()) Invalid("the ONNX model is empty (0 bytes)");
  }
  Napi::Value profiles = o.Get("profiles");
  if (!profiles.IsUndefined() && !profiles.IsNull()) {
    if (!profiles.IsArray()) Invalid("build option profiles must be an array");
    Napi::Array ps = profiles.As<Napi::Array>();
    for (uint32_t p = 0; p < ps.Length(); ++p) {
      Napi::Value pv = ps.Get(p);
      if (!pv.IsArray()) Invalid("profile " + std::to_string(p) + " must be an array of { name, min, opt, max }");
      Napi::Array entries = pv.As<Napi::Array>();
      std::vector<ShapeSpec> profile;
      for (uint32_t i = 0; i < entries.Length(); ++i) {
        Napi::Value ev = entries.Get(i);
        if (!ev.IsObject()) Invalid("profile " + std::to_string(p) + " entry " + std::to_string(i) + " must be { name, min, opt, max }");
        Napi::Object e = ev.As<Napi::Object>();
        ShapeSpec spec;
        spec.name = GetString(e, "name", "");
        if (spec.name.empty()) Invalid("profile " + std::to_string(p) + " entry " + std::to_string(i) + " has no input name");
        const std::string what = "profile " + std::to_string(p) + " shape of '" + spec.name + "'";
        spec.min = DimsOf(e.Get("min"), what + " (min)");
        spec.opt = DimsOf(e.Get("opt"), what + " (opt)");
        spec.max = DimsOf(e.Get("max"), what + " (max)");
        profile.push_back(std::move(spec));
      }
      s.profiles.push_back(std::move(profile));
    }
  }
  Napi::Value batch = o.Get("batchProfile");
  if (!batch.IsUndefined() && !batch.IsNull()) {
    if (!batch.IsObject()) Invalid("build option batchProfile must be { min, opt, max }");
    Napi::Object b = batch.As<Napi::Object>();
    s.batchProfile = true;
    s.batchMin = IntegerOf(b.Get("min"), "batchProfile.min", 1, kInt32Max);
    s.batchOpt = IntegerOf(b.Get("opt"), "batchProfile.opt", 1, kInt32Max);
    s.batchMax = IntegerOf(b.Get("max"), "batchProfile.max", 1, kInt32Max);
    if (!(s.batchMin <= s.batchOpt && s.batchOpt <= s.batchMax)) Invalid("batchProfile needs min <= opt <= max");
  }
  Napi::Value dims = o.Get("inputDims");
  if (!dims.IsUndefined() && !dims.IsNull()) {
    if (!dims.IsObject()) Invalid("build option inputDims must be { name: dims }");
    Napi::Object d = dims.As<Napi::Object>();
    Napi::Array names = d.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      const std::string name = names.Get(i).ToString().Utf8Value();
      s.inputDims[name] = DimsOf(d.Get(name), "inputDims of '" + name + "'");
    }
  }
  s.fp16 = OptionalBool(o, "fp16");
  s.bf16 = OptionalBool(o, "bf16");
  s.int8 = OptionalBool(o, "int8");
  s.tf32 = !OptionalBool(o, "noTF32");
  s.stronglyTyped = OptionalBool(o, "stronglyTyped");
  Napi::Value calib = o.Get("calibrationCache");
  if (!calib.IsUndefined() && !calib.IsNull()) {
    s.haveCalibration = true;
    s.calibrationCache = BytesOf(calib, "the calibration cache");
    if (s.calibrationCache.empty()) Invalid("the calibration cache is empty (0 bytes)");
  }
#if NV_TENSORRT_MAJOR >= 11
  // TensorRT 11 removed weakly typed networks: the precision is the model's own (its tensor types
  // and Q/DQ layers), as with trtexec --stronglyTyped.
  if (s.fp16 || s.bf16 || s.int8 || s.haveCalibration)
    Invalid("TensorRT 11 builds strongly typed networks only: fp16, bf16, int8 and a calibration cache do not apply; "
            "export the model with the types it should run in (FP16 weights, or Q/DQ layers for INT8)");
#endif
  s.workspaceBytes = OptionalBytes(o, "workspaceBytes");
  s.tacticSharedMemoryBytes = OptionalBytes(o, "tacticSharedMemoryBytes");
  Napi::Value tc = o.Get("timingCache");
  if (!tc.IsUndefined() && !tc.IsNull()) {
    s.timingCache = true;
    s.timingCacheBytes = BytesOf(tc, "the timing cache");
  }
  s.builderOptimizationLevel = static_cast<int>(OptionalInteger(o, "builderOptimizationLevel", 0, 5, -1));
  s.avgTimingIterations = static_cast<int>(OptionalInteger(o, "avgTimingIterations", 1, kInt32Max, -1));
  s.versionCompatible = OptionalBool(o, "versionCompatible");
  s.excludeLeanRuntime = OptionalBool(o, "excludeLeanRuntime");
  s.hardwareCompatibilityLevel = static_cast<int>(OptionalInteger(o, "hardwareCompatibilityLevel", 0, 1, 0));
  s.profilingVerbosity = static_cast<int>(OptionalInteger(o, "profilingVerbosity", 0, 2, 0));
  s.logSeverity = static_cast<int>(OptionalInteger(o, "logSeverity", 0, 4, 2));
  return s;
}

// ----------------------------------------------------------------------------- events to JS

struct ParserErrorInfo {
  std::string code;  // nvonnxparser::ErrorCode without the k: "UNSUPPORTED_NODE"
  std::string description;
  int node = -1;
  std::string nodeName, nodeOperator;
  std::vector<std::string> localFunctions;
};

struct TensorSummary {
  std::string name;
  bool isInput = false;
  int32_t dtype = 0;
  std::vector<int64_t> dims;
};

struct BuildEvent {
  enum Kind { kPhaseStart, kStep, kPhaseEnd, kWarning, kDone, kError } kind;
  std::string name, parent;
  int32_t number = 0;
  // kDone
  nvinfer1::IHostMemory* plan = nullptr;
  nvinfer1::IHostMemory* timingCache = nullptr;
  std::vector<TensorSummary> io;
  int numProfiles = 0;
  // kError
  std::string code, message;
  std::vector<ParserErrorInfo> parserErrors;

  ~BuildEvent() {
    delete plan;
    delete timingCache;
  }
};

const char* ParserCodeName(nvonnxparser::ErrorCode c) {
  switch (c) {
    case nvonnxparser::ErrorCode::kSUCCESS: return "SUCCESS";
    case nvonnxparser::ErrorCode::kINTERNAL_ERROR: return "INTERNAL_ERROR";
    case nvonnxparser::ErrorCode::kMEM_ALLOC_FAILED: return "MEM_ALLOC_FAILED";
    case nvonnxparser::ErrorCode::kMODEL_DESERIALIZE_FAILED: return "MODEL_DESERIALIZE_FAILED";
    case nvonnxparser::ErrorCode::kINVALID_VALUE: return "INVALID_VALUE";
    case nvonnxparser::ErrorCode::kINVALID_GRAPH: return "INVALID_GRAPH";
    case nvonnxparser::ErrorCode::kINVALID_NODE: return "INVALID_NODE";
    case nvonnxparser::ErrorCode::kUNSUPPORTED_GRAPH: return "UNSUPPORTED_GRAPH";
    case nvonnxparser::ErrorCode::kUNSUPPORTED_NODE: return "UNSUPPORTED_NODE";
    case nvonnxparser::ErrorCode::kUNSUPPORTED_NODE_ATTR: return "UNSUPPORTED_NODE_ATTR";
    case nvonnxparser::ErrorCode::kUNSUPPORTED_NODE_INPUT: return "UNSUPPORTED_NODE_INPUT";
    case nvonnxparser::ErrorCode::kUNSUPPORTED_NODE_DATATYPE: return "UNSUPPORTED_NODE_DATATYPE";
    case nvonnxparser::ErrorCode::kUNSUPPORTED_NODE_DYNAMIC: return "UNSUPPORTED_NODE_DYNAMIC";
    case nvonnxparser::ErrorCode::kUNSUPPORTED_NODE_SHAPE: return "UNSUPPORTED_NODE_SHAPE";
    case nvonnxparser::ErrorCode::kREFIT_FAILED: return "REFIT_FAILED";
  }
  return "UNKNOWN";
}

Napi::Array DimsArray(Napi::Env env, const std::vector<int64_t>& d) {
  Napi::Array a = Napi::Array::New(env, d.size());
  for (size_t i = 0; i < d.size(); ++i) a[static_cast<uint32_t>(i)] = Napi::Number::New(env, static_cast<double>(d[i]));
  return a;
}

Napi::Object EventToJs(Napi::Env env, BuildEvent& ev) {
  Napi::Object o = Napi::Object::New(env);
  switch (ev.kind) {
    case BuildEvent::kPhaseStart:
      o.Set("type", "phaseStart");
      o.Set("phase", ev.name);
      o.Set("parent", ev.parent.empty() ? env.Null() : Napi::String::New(env, ev.parent));
      o.Set("steps", ev.number);
      break;
    case BuildEvent::kStep:
      o.Set("type", "step");
      o.Set("phase", ev.name);
      o.Set("step", ev.number);
      break;
    case BuildEvent::kPhaseEnd:
      o.Set("type", "phaseEnd");
      o.Set("phase", ev.name);
      break;
    case BuildEvent::kWarning:
      o.Set("type", "warning");
      o.Set("message", ev.message);
      break;
    case BuildEvent::kDone: {
      // Node 20's Buffers end at 4 GiB (and N-API, refusing a longer one, frees its memory twice)
      const size_t planBytes = ev.plan != nullptr ? ev.plan->size() : 0;
      const size_t most = MaxExternalBytes(env);
      if (planBytes > most) {
        o.Set("type", "error");
        o.Set("code", "ERR_BUILD_FAILED");
        o.Set("message", "the plan TensorRT built is " + std::to_string(planBytes) + " bytes, more than a Buffer of this Node holds (" + std::to_string(most) +
                             " bytes; Node 22 and later hold 2^53 - 1)");
        o.Set("parserErrors", Napi::Array::New(env, 0));
        break;
      }
      o.Set("type", "done");
      // The Buffer owns TensorRT's memory: no copy of a plan that may be hundreds of MB.
      auto external = [&env](nvinfer1::IHostMemory*& mem) -> Napi::Value {
        if (mem == nullptr) return env.Null();
        nvinfer1::IHostMemory* owned = mem;
        mem = nullptr;
        const size_t size = owned->size();
        Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(size));
        return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(owned->data()), size, [size](Napi::Env e, uint8_t*, nvinfer1::IHostMemory* m) {
          Napi::MemoryManagement::AdjustExternalMemory(e, -static_cast<int64_t>(size));
          delete m;
        }, owned);
      };
      o.Set("plan", external(ev.plan));
      o.Set("timingCache", external(ev.timingCache));
      Napi::Array io = Napi::Array::New(env, ev.io.size());
      for (size_t i = 0; i < ev.io.size(); ++i) {
        Napi::Object t = Napi::Object::New(env);
        t.Set("name", ev.io[i].name);
        t.Set("mode", ev.io[i].isInput ? "input" : "output");
        t.Set("trtDataType", ev.io[i].dtype);
        t.Set("shape", DimsArray(env, ev.io[i].dims));
        io[static_cast<uint32_t>(i)] = t;
      }
      o.Set("io", io);
      o.Set("profiles", ev.numProfiles);
      break;
    }
    case BuildEvent::kError: {
      o.Set("type", "error");
      o.Set("code", ev.code);
      o.Set("message", ev.message);
      Napi::Array errs = Napi::Array::New(env, ev.parserErrors.size());
      for (size_t i = 0; i < ev.parserErrors.size(); ++i) {
        const ParserErrorInfo& p = ev.parserErrors[i];
        Napi::Object e = Napi::Object::New(env);
        e.Set("code", p.code);
        e.Set("description", p.description);
        e.Set("node", p.node);
        e.Set("nodeName", p.nodeName);
        e.Set("operator", p.nodeOperator);
        Napi::Array fns = Napi::Array::New(env, p.localFunctions.size());
        for (size_t k = 0; k < p.localFunctions.size(); ++k) fns[static_cast<uint32_t>(k)] = p.localFunctions[k];
        e.Set("localFunctions", fns);
        errs[static_cast<uint32_t>(i)] = e;
      }
      o.Set("parserErrors", errs);
      break;
    }
  }
  return o;
}

// ----------------------------------------------------------------------------- the build

struct BuildFailure {
  std::string code, message;
  std::vector<ParserErrorInfo> parserErrors;
};

class BuildJob;

// The build's logger: what Logger does (the JS callback, the severity threshold), and the errors
// of every thread the builder logs from, for the build's error message.
class BuildLogger : public Logger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    Logger::log(severity, msg);
    if (severity > Severity::kERROR) return;
    try {
      std::lock_guard<std::mutex> lock(errorsMutex_);
      if (!errors_.empty()) errors_ += "; ";
      errors_ += msg;
    } catch (...) {
    }
  }
  std::string TakeErrors() {
    std::lock_guard<std::mutex> lock(errorsMutex_);
    std::string s;
    s.swap(errors_);
    return s;
  }

 private:
  std::mutex errorsMutex_;
  std::string errors_;
};

class ProgressMonitor : public nvinfer1::IProgressMonitor {
 public:
  explicit ProgressMonitor(BuildJob* job) : job_(job) {}
  void phaseStart(char const* phaseName, char const* parentPhase, int32_t nbSteps) noexcept override;
  bool stepComplete(char const* phaseName, int32_t step) noexcept override;
  void phaseFinish(char const* phaseName) noexcept override;

 private:
  BuildJob* job_;
};

// The cache trtexec's --calib=<file> reads: TensorRT takes the scales from it and never asks for
// data. If it does ask (the cache does not cover the network), there is none to give.
// (The calibrator interfaces are deprecated from TensorRT 10.1 in favour of explicit Q/DQ models,
// but they are what reads a calibration cache.)
#if NV_TENSORRT_MAJOR < 11
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
class CacheCalibrator : public nvinfer1::IInt8EntropyCalibrator2 {
 public:
  explicit CacheCalibrator(const std::vector<char>& cache) : cache_(cache) {}
  int32_t getBatchSize() const noexcept override { return 1; }
  bool getBatch(void* bindings[], char const* names[], int32_t nbBindings) noexcept override {
    askedForData = true;
    return false;
  }
  void const* readCalibrationCache(std::size_t& length) noexcept override {
    length = cache_.size();
    return cache_.data();
  }
  void writeCalibrationCache(void const* ptr, std::size_t length) noexcept override {}
  std::atomic<bool> askedForData{false};

 private:
  const std::vector<char>& cache_;
};
#pragma GCC diagnostic pop
#else
// TensorRT 11 has no calibrators (options refuses a calibration cache there).
struct CacheCalibrator {
  std::atomic<bool> askedForData{false};
};
#endif

class BuildJob {
 public:
  BuildJob(BuildSpec spec, std::shared_ptr<BuilderLibraries> libs) : spec_(std::move(spec)), libs_(std::move(libs)) {}

  BuildSpec spec_;
  std::shared_ptr<BuilderLibraries> libs_;
  std::unique_ptr<BuildLogger> logger_;
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::atomic<bool> cancelled_{false};
  napi_env env_ = nullptr;
  bool cleanupHookActive_ = false;  // JS thread only

  void Post(std::unique_ptr<BuildEvent> ev) {
    BuildEvent* raw = ev.release();
    napi_status st = tsfn_.NonBlockingCall(raw, [](Napi::Env env, Napi::Function fn, BuildEvent* e) {
      std::unique_ptr<BuildEvent> owned(e);
      // env is null when the environment is going away with events still queued
      if (env == nullptr || fn == nullptr) return;
      fn.Call({EventToJs(env, *owned)});
    });
    if (st != napi_ok) delete raw;
  }

  void Warn(const std::string& message) {
    auto ev = std::make_unique<BuildEvent>();
    ev->kind = BuildEvent::kWarning;
    ev->message = message;
    Post(std::move(ev));
  }

  // Runs on the build thread.
  void Run() {
    try {
      Build();
    } catch (const BuildFailure& f) {
      auto ev = std::make_unique<BuildEvent>();
      ev->kind = BuildEvent::kError;
      ev->code = f.code;
      ev->message = f.message;
      ev->parserErrors = f.parserErrors;
      Post(std::move(ev));
    } catch (const CodedError& e) {
      auto ev = std::make_unique<BuildEvent>();
      ev->kind = BuildEvent::kError;
      ev->code = e.code;
      ev->message = e.message;
      Post(std::move(ev));
    } catch (const std::bad_alloc&) {
      auto ev = std::make_unique<BuildEvent>();
      ev->kind = BuildEvent::kError;
      ev->code = "ERR_OUT_OF_MEMORY";
      ev->message = "out of host memory while building the plan";
      Post(std::move(ev));
    } catch (const std::exception& e) {
      auto ev = std::make_unique<BuildEvent>();
      ev->kind = BuildEvent::kError;
      ev->code = "ERR_TRT";
      ev->message = std::string("the build failed: ") + e.what();
      Post(std::move(ev));
    }
    tsfn_.Release();
  }

 private:
  [[noreturn]] void Fail(const std::string& code, const std::string& message) {
    std::string logged = logger_->TakeErrors();
    throw BuildFailure{code, logged.empty() ? message : message + ": " + logged, {}};
  }

  void CheckCancelled() {
    if (cancelled_.load()) throw BuildFailure{"ERR_ABORTED", "the build was cancelled", {}};
  }

  std::vector<char> ReadOnnxFile() {
    std::ifstream f(spec_.onnxPath, std::ios::binary | std::ios::ate);
    if (!f) throw CodedError{"ERR_INVALID_ARGUMENT", "cannot open the ONNX model '" + spec_.onnxPath + "'"};
    const std::streamsize n = f.tellg();
    if (n <= 0) throw CodedError{"ERR_ONNX_INVALID", "the ONNX model '" + spec_.onnxPath + "' is empty"};
    f.seekg(0);
    std::vector<char> bytes(static_cast<size_t>(n));
    if (!f.read(bytes.data(), n)) throw CodedError{"ERR_INVALID_ARGUMENT", "cannot read the ONNX model '" + spec_.onnxPath + "'"};
    return bytes;
  }

  static std::string ShapeText(const std::vector<int64_t>& d) {
    std::string s;
    for (size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + std::to_string(d[i]);
    return d.empty() ? "scalar" : s;
  }

  static std::vector<int64_t> DimsVector(const nvinfer1::Dims& d) { return std::vector<int64_t>(d.d, d.d + std::max(0, d.nbDims)); }

  static nvinfer1::Dims ToDims(const std::vector<int64_t>& v) {
    nvinfer1::Dims d{};
    d.nbDims = static_cast<int32_t>(v.size());
    for (size_t i = 0; i < v.size(); ++i) d.d[i] = v[i];
    return d;
  }

  // A profile's shapes for a tensor are consistent with the network's input: same rank, static
  // dimensions equal, min <= opt <= max. Shape tensors take values, checked by TensorRT.
  void CheckShape(const nvinfer1::ITensor& input, const ShapeSpec& s, size_t profile) {
    if (input.isShapeTensor()) return;
    const nvinfer1::Dims d = input.getDimensions();
    const std::string where = "profile " + std::to_string(profile) + ", input '" + s.name + "' " + ShapeText(DimsVector(d)) + ": ";
    for (const auto* v : {&s.min, &s.opt, &s.max}) {
      if (static_cast<int>(v->size()) != d.nbDims)
        throw BuildFailure{"ERR_SHAPE_MISMATCH", where + "the shape " + ShapeText(*v) + " has " + std::to_string(v->size()) + " dimensions, the input has " + std::to_string(d.nbDims), {}};
      for (int i = 0; i < d.nbDims; ++i) {
        if ((*v)[i] < 0) throw BuildFailure{"ERR_SHAPE_MISMATCH", where + "negative dimension in " + ShapeText(*v), {}};
        if (d.d[i] >= 0 && (*v)[i] != d.d[i])
          throw BuildFailure{"ERR_SHAPE_MISMATCH", where + "dimension " + std::to_string(i) + " is static (" + std::to_string(d.d[i]) + ") but the shape " + ShapeText(*v) + " gives " + std::to_string((*v)[i]), {}};
      }
    }
    for (int i = 0; i < d.nbDims; ++i) {
      if (!(s.min[i] <= s.opt[i] && s.opt[i] <= s.max[i]))
        throw BuildFailure{"ERR_SHAPE_MISMATCH", where + "dimension " + std::to_string(i) + " needs min <= opt <= max (" + ShapeText(s.min) + ", " + ShapeText(s.opt) + ", " + ShapeText(s.max) + ")", {}};
    }
  }

  // The shapes of a dynamic input that no profile names: from the batch profile (model
  // repository), else every dynamic dimension 1 (what trtexec does, with the same warning).
  ShapeSpec DefaultShape(const nvinfer1::ITensor& input) {
    ShapeSpec s;
    s.name = input.getName();
    const nvinfer1::Dims d = input.getDimensions();
    if (input.isShapeTensor()) {
      std::vector<int64_t> ones(d.nbDims == 0 ? 1 : static_cast<size_t>(std::max<int64_t>(d.d[0], 1)), 1);
      s.min = s.opt = s.max = ones;
      Warn("input '" + s.name + "' is a shape tensor and no shape values were given: using " + ShapeText(ones));
      return s;
    }
    std::vector<int64_t> dims = DimsVector(d);
    if (spec_.batchProfile) {
      if (dims.empty() || dims[0] != -1)
        throw BuildFailure{"ERR_CONFIG", "input '" + s.name + "' " + ShapeText(dims) + " has dynamic dimensions but no dynamic batch dimension (dimension 0): give its shapes explicitly", {}};
      auto given = spec_.inputDims.find(s.name);
      std::vector<int64_t> rest(dims.begin() + 1, dims.end());
      if (given != spec_.inputDims.end()) {
        if (given->second.size() != rest.size())
          throw BuildFailure{"ERR_CONFIG", "input '" + s.name + "': the config's dims " + ShapeText(given->second) + " have " + std::to_string(given->second.size()) +
                                               " dimensions, the model's (without the batch dimension) " + std::to_string(rest.size()), {}};
        for (size_t i = 0; i < rest.size(); ++i) {
          const int64_t g = given->second[i];
          if (rest[i] >= 0 && g >= 0 && g != rest[i])
            throw BuildFailure{"ERR_CONFIG", "input '" + s.name + "': the config's dims " + ShapeText(given->second) + " differ from the model's " + ShapeText(rest), {}};
          if (rest[i] < 0) rest[i] = g;
        }
      }
      for (size_t i = 0; i < rest.size(); ++i)
        if (rest[i] < 0)
          throw BuildFailure{"ERR_CONFIG", "input '" + s.name + "' " + ShapeText(dims) + " has a dynamic dimension " + std::to_string(i + 1) +
                                               " besides the batch: give it in the config's dims, or build the plan with explicit shapes (tensorrt-node build --minShapes/--optShapes/--maxShapes)", {}};
      s.min = s.opt = s.max = rest;
      s.min.insert(s.min.begin(), spec_.batchMin);
      s.opt.insert(s.opt.begin(), spec_.batchOpt);
      s.max.insert(s.max.begin(), spec_.batchMax);
      return s;
    }
    auto given = spec_.inputDims.find(s.name);
    if (given != spec_.inputDims.end()) {
      // a model config without a batch dimension: its dims are the whole shape
      if (given->second.size() != dims.size())
        throw BuildFailure{"ERR_CONFIG", "input '" + s.name + "': the config's dims " + ShapeText(given->second) + " have " + std::to_string(given->second.size()) +
                                             " dimensions, the model's " + std::to_string(dims.size()), {}};
      for (size_t i = 0; i < dims.size(); ++i) {
        const int64_t g = given->second[i];
        if (dims[i] >= 0 && g >= 0 && g != dims[i])
          throw BuildFailure{"ERR_CONFIG", "input '" + s.name + "': the config's dims " + ShapeText(given->second) + " differ from the model's " + ShapeText(dims), {}};
        if (dims[i] < 0) dims[i] = g;
        if (dims[i] < 0)
          throw BuildFailure{"ERR_CONFIG", "input '" + s.name + "' has a dynamic dimension " + std::to_string(i) + " that the config's dims leave dynamic too: give it, or build the plan with explicit shapes", {}};
      }
      s.min = s.opt = s.max = dims;
      return s;
    }
    for (auto& x : dims)
      if (x < 0) x = 1;
    s.min = s.opt = s.max = dims;
    Warn("dynamic dimensions required for input '" + s.name + "', but no shapes were given: using " + ShapeText(dims) + " (give --minShapes/--optShapes/--maxShapes)");
    return s;
  }

  static bool HasQdq(const nvinfer1::INetworkDefinition& network) {
    for (int32_t i = 0; i < network.getNbLayers(); ++i) {
      const auto t = network.getLayer(i)->getType();
      if (t == nvinfer1::LayerType::kQUANTIZE || t == nvinfer1::LayerType::kDEQUANTIZE) return true;
    }
    return false;
  }

  // INT8 without a calibration cache or Q/DQ layers: trtexec gives every tensor a placeholder
  // dynamic range so that INT8 kernels can be timed. Inputs of a layer get ±2 (±4 into a
  // concatenation, so that it needs no requantization), outputs ±4 (±2 out of pooling, whose
  // input and output ranges must agree). The plan is fast but its outputs are not accurate.
#if NV_TENSORRT_MAJOR < 11
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  static bool SetPlaceholderRanges(nvinfer1::INetworkDefinition& network) {
    constexpr float kIn = 2.0F, kOut = 4.0F;
    for (int32_t l = 0; l < network.getNbLayers(); ++l) {
      nvinfer1::ILayer* layer = network.getLayer(l);
      const bool concat = layer->getType() == nvinfer1::LayerType::kCONCATENATION;
      const bool pooling = layer->getType() == nvinfer1::LayerType::kPOOLING;
      for (int32_t i = 0; i < layer->getNbInputs(); ++i) {
        nvinfer1::ITensor* t = layer->getInput(i);
        const float r = concat ? kOut : kIn;
        if (t != nullptr && !t->dynamicRangeIsSet() && !t->setDynamicRange(-r, r)) return false;
      }
      for (int32_t o = 0; o < layer->getNbOutputs(); ++o) {
        nvinfer1::ITensor* t = layer->getOutput(o);
        const float r = pooling ? kIn : kOut;
        if (t != nullptr && !t->dynamicRangeIsSet() && !t->setDynamicRange(-r, r)) return false;
      }
    }
    return true;
  }
#pragma GCC diagnostic pop
#endif

  void Build() {
    UseDevice(spec_.device);
    logger_->TakeErrors();
    std::vector<char> onnx = spec_.onnxPath.empty() ? std::move(spec_.onnxBytes) : ReadOnnxFile();
    CheckCancelled();

    std::unique_ptr<nvinfer1::IBuilder> builder(static_cast<nvinfer1::IBuilder*>(libs_->createBuilder(logger_.get(), NV_TENSORRT_VERSION)));
    if (!builder)
      Fail("ERR_TRT", "TensorRT could not create a builder (" + libs_->infer->path + "; the builder also needs its libnvinfer_builder_resource*.so." +
                          VersionString(libs_->infer->version) + " for this GPU beside libnvinfer or on LD_LIBRARY_PATH; loaded beside it: " +
                          (libs_->resources.empty() ? std::string("none") : std::to_string(libs_->resources.size())) + ")");
#if NV_TENSORRT_MAJOR < 11
    const uint32_t networkFlags = spec_.stronglyTyped ? 1U << static_cast<uint32_t>(nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED) : 0U;
#else
    const uint32_t networkFlags = 0U;  // every TensorRT 11 network is strongly typed (the flag is ignored)
#endif
    std::unique_ptr<nvinfer1::INetworkDefinition> network(builder->createNetworkV2(networkFlags));
    if (!network) Fail("ERR_TRT", "TensorRT could not create a network definition");
    std::unique_ptr<nvonnxparser::IParser> parser(static_cast<nvonnxparser::IParser*>(libs_->createParser(network.get(), logger_.get(), NV_ONNX_PARSER_VERSION)));
    if (!parser) Fail("ERR_TRT", "TensorRT could not create an ONNX parser (" + libs_->parserPath + ")");

    // ---- parse
    const bool parsed = parser->parse(onnx.data(), onnx.size(), spec_.onnxPath.empty() ? nullptr : spec_.onnxPath.c_str());
    std::vector<char>().swap(onnx);
    if (!parsed || parser->getNbErrors() > 0) {
      BuildFailure f;
      bool unsupported = false, memory = false, invalid = false;
      for (int i = 0; i < parser->getNbErrors(); ++i) {
        const nvonnxparser::IParserError* e = parser->getError(i);
        if (e == nullptr) continue;
        ParserErrorInfo p;
        p.code = ParserCodeName(e->code());
        p.description = e->desc() ? e->desc() : "";
        p.node = e->node();
        p.nodeName = e->nodeName() ? e->nodeName() : "";
        p.nodeOperator = e->nodeOperator() ? e->nodeOperator() : "";
        char const* const* fns = e->localFunctionStack();
        for (int32_t k = 0; fns != nullptr && k < e->localFunctionStackSize(); ++k) p.localFunctions.push_back(fns[k] ? fns[k] : "");
        unsupported = unsupported || p.code.rfind("UNSUPPORTED", 0) == 0;
        memory = memory || p.code == "MEM_ALLOC_FAILED";
        invalid = invalid || p.code.rfind("INVALID", 0) == 0 || p.code == "MODEL_DESERIALIZE_FAILED";
        f.parserErrors.push_back(std::move(p));
      }
      f.code = memory ? "ERR_OUT_OF_MEMORY" : unsupported && !invalid ? "ERR_ONNX_UNSUPPORTED" : "ERR_ONNX_INVALID";
      std::string msg = "TensorRT's ONNX parser rejected the model";
      for (const auto& p : f.parserErrors) {
        msg += "\n  - ";
        if (p.node >= 0) msg += "node " + std::to_string(p.node) + (p.nodeName.empty() ? "" : " '" + p.nodeName + "'") + (p.nodeOperator.empty() ? "" : " (" + p.nodeOperator + ")") + ": ";
        msg += p.code + ": " + p.description;
      }
      if (f.parserErrors.empty()) {
        const std::string logged = logger_->TakeErrors();
        msg += logged.empty() ? " (no error reported)" : ": " + logged;
      }
      f.message = msg;
      throw f;
    }
    // The parser takes some bytes that are not ONNX (text, say) for an empty model without a
    // complaint: a network with nothing to compute is not a model either.
    if (network->getNbOutputs() == 0)
      throw BuildFailure{"ERR_ONNX_INVALID", "the ONNX model has no graph outputs: it is empty or not an ONNX model (TensorRT's parser reported no error)", {}};
    CheckCancelled();

    // ---- optimization profiles
    // What the config points to is declared before it, so that it outlives the config.
    std::unique_ptr<CacheCalibrator> calibrator;
    std::unique_ptr<nvinfer1::ITimingCache> timingCache;
    ProgressMonitor monitor(this);
    std::unique_ptr<nvinfer1::IBuilderConfig> config(builder->createBuilderConfig());
    if (!config) Fail("ERR_TRT", "TensorRT could not create a builder config");
    const int nbInputs = network->getNbInputs();
    for (size_t p = 0; p < spec_.profiles.size(); ++p) {
      for (const ShapeSpec& s : spec_.profiles[p]) {
        bool found = false;
        for (int i = 0; i < nbInputs && !found; ++i) found = s.name == network->getInput(i)->getName();
        if (!found) {
          std::string names;
          for (int i = 0; i < nbInputs; ++i) names += std::string(i ? ", " : "") + network->getInput(i)->getName();
          throw BuildFailure{"ERR_UNKNOWN_TENSOR", "profile " + std::to_string(p) + " names '" + s.name + "', which is not an input of the model (inputs: " + names + ")", {}};
        }
      }
    }
    bool dynamic = false;
    for (int i = 0; i < nbInputs; ++i) {
      const nvinfer1::ITensor* t = network->getInput(i);
      const nvinfer1::Dims d = t->getDimensions();
      for (int k = 0; k < d.nbDims; ++k) dynamic = dynamic || d.d[k] < 0;
      dynamic = dynamic || t->isShapeTensor();
    }
    bool explicitShapes = false;
    for (const auto& p : spec_.profiles) explicitShapes = explicitShapes || !p.empty();
    if (!dynamic && explicitShapes)
      throw BuildFailure{"ERR_INVALID_ARGUMENT", "the model's inputs are all static: it takes no --minShapes/--optShapes/--maxShapes (its shapes are its own)", {}};
    std::vector<nvinfer1::IOptimizationProfile*> profiles;
    if (dynamic) {
      const size_t n = std::max<size_t>(1, spec_.profiles.size());
      for (size_t p = 0; p < n; ++p) {
        nvinfer1::IOptimizationProfile* profile = builder->createOptimizationProfile();
        if (profile == nullptr) Fail("ERR_TRT", "TensorRT could not create an optimization profile");
        for (int i = 0; i < nbInputs; ++i) {
          nvinfer1::ITensor* t = network->getInput(i);
          const nvinfer1::Dims d = t->getDimensions();
          bool inputDynamic = t->isShapeTensor();
          for (int k = 0; k < d.nbDims; ++k) inputDynamic = inputDynamic || d.d[k] < 0;
          if (!inputDynamic) continue;
          ShapeSpec s;
          bool given = false;
          if (p < spec_.profiles.size())
            for (const ShapeSpec& x : spec_.profiles[p])
              if (x.name == t->getName()) {
                s = x;
                given = true;
              }
          if (!given) s = DefaultShape(*t);
          CheckShape(*t, s, p);
          bool ok = true;
          if (t->isShapeTensor()) {
            for (const auto* v : {&s.min, &s.opt, &s.max})
              for (int64_t x : *v)
                if (x < -kInt32Max - 1 || x > kInt32Max) ok = false;
#if NV_TENSORRT_MAJOR < 11
            std::vector<int32_t> mn(s.min.begin(), s.min.end()), op(s.opt.begin(), s.opt.end()), mx(s.max.begin(), s.max.end());
            // The int32 form is what 10.3-10.6 have (newer 10.x headers deprecate it for the int64 V2).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
            ok = ok && profile->setShapeValues(t->getName(), nvinfer1::OptProfileSelector::kMIN, mn.data(), static_cast<int32_t>(mn.size())) &&
                 profile->setShapeValues(t->getName(), nvinfer1::OptProfileSelector::kOPT, op.data(), static_cast<int32_t>(op.size())) &&
                 profile->setShapeValues(t->getName(), nvinfer1::OptProfileSelector::kMAX, mx.data(), static_cast<int32_t>(mx.size()));
#pragma GCC diagnostic pop
#else
            ok = ok && profile->setShapeValuesV2(t->getName(), nvinfer1::OptProfileSelector::kMIN, s.min.data(), static_cast<int32_t>(s.min.size())) &&
                 profile->setShapeValuesV2(t->getName(), nvinfer1::OptProfileSelector::kOPT, s.opt.data(), static_cast<int32_t>(s.opt.size())) &&
                 profile->setShapeValuesV2(t->getName(), nvinfer1::OptProfileSelector::kMAX, s.max.data(), static_cast<int32_t>(s.max.size()));
#endif
          } else {
            ok = profile->setDimensions(t->getName(), nvinfer1::OptProfileSelector::kMIN, ToDims(s.min)) &&
                 profile->setDimensions(t->getName(), nvinfer1::OptProfileSelector::kOPT, ToDims(s.opt)) &&
                 profile->setDimensions(t->getName(), nvinfer1::OptProfileSelector::kMAX, ToDims(s.max));
          }
          if (!ok) Fail("ERR_SHAPE_MISMATCH", "profile " + std::to_string(p) + ": TensorRT refused the shapes of input '" + s.name + "' (" + ShapeText(s.min) + " / " + ShapeText(s.opt) + " / " + ShapeText(s.max) + ")");
        }
        if (!profile->isValid()) Fail("ERR_SHAPE_MISMATCH", "optimization profile " + std::to_string(p) + " is not valid");
        if (config->addOptimizationProfile(profile) < 0) Fail("ERR_TRT", "TensorRT refused optimization profile " + std::to_string(p));
        profiles.push_back(profile);
      }
    }

    // ---- builder config: what trtexec sets for the same flags
    if (spec_.workspaceBytes >= 0) config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kWORKSPACE, static_cast<size_t>(spec_.workspaceBytes));
    if (spec_.tacticSharedMemoryBytes >= 0)
      config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kTACTIC_SHARED_MEMORY, static_cast<size_t>(spec_.tacticSharedMemoryBytes));
    if (spec_.builderOptimizationLevel >= 0) config->setBuilderOptimizationLevel(spec_.builderOptimizationLevel);
    if (spec_.avgTimingIterations > 0) config->setAvgTimingIterations(spec_.avgTimingIterations);
    if (!spec_.tf32) config->clearFlag(nvinfer1::BuilderFlag::kTF32);
    if (spec_.versionCompatible) config->setFlag(nvinfer1::BuilderFlag::kVERSION_COMPATIBLE);
    if (spec_.excludeLeanRuntime) config->setFlag(nvinfer1::BuilderFlag::kEXCLUDE_LEAN_RUNTIME);
    config->setProfilingVerbosity(static_cast<nvinfer1::ProfilingVerbosity>(spec_.profilingVerbosity));
    config->setHardwareCompatibilityLevel(static_cast<nvinfer1::HardwareCompatibilityLevel>(spec_.hardwareCompatibilityLevel));
    // The precision flags of weakly typed networks, trtexec's --fp16/--bf16/--int8 (TensorRT
    // headers newer than 10.6 deprecate them in favour of strongly typed networks).
#if NV_TENSORRT_MAJOR < 11
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (spec_.fp16) config->setFlag(nvinfer1::BuilderFlag::kFP16);
    if (spec_.bf16) config->setFlag(nvinfer1::BuilderFlag::kBF16);
    if (spec_.int8) config->setFlag(nvinfer1::BuilderFlag::kINT8);
#pragma GCC diagnostic pop
    if (spec_.int8) {
      const bool qdq = HasQdq(*network);
      if (!qdq && !spec_.haveCalibration) {
        if (!SetPlaceholderRanges(*network)) Fail("ERR_TRT", "TensorRT refused a placeholder INT8 dynamic range");
        Warn("INT8 without a calibration cache (--calib) or Q/DQ layers: every tensor gets a placeholder dynamic range, as trtexec does. "
             "The plan runs at INT8 speed but its outputs are NOT accurate; give --calib=<cache> for a plan to serve.");
      } else if (spec_.haveCalibration) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        calibrator = std::make_unique<CacheCalibrator>(spec_.calibrationCache);
        config->setInt8Calibrator(calibrator.get());
        if (!profiles.empty()) {
          // The calibration profile trtexec uses: the opt shapes of the first profile.
          nvinfer1::IOptimizationProfile* calib = builder->createOptimizationProfile();
          for (int i = 0; calib != nullptr && i < nbInputs; ++i) {
            const char* name = network->getInput(i)->getName();
            if (network->getInput(i)->isShapeTensor()) continue;
            const nvinfer1::Dims opt = profiles[0]->getDimensions(name, nvinfer1::OptProfileSelector::kOPT);
            const nvinfer1::Dims dims = opt.nbDims >= 0 ? opt : network->getInput(i)->getDimensions();
            calib->setDimensions(name, nvinfer1::OptProfileSelector::kMIN, dims);
            calib->setDimensions(name, nvinfer1::OptProfileSelector::kOPT, dims);
            calib->setDimensions(name, nvinfer1::OptProfileSelector::kMAX, dims);
          }
          if (calib == nullptr || !calib->isValid() || !config->setCalibrationProfile(calib)) Fail("ERR_TRT", "TensorRT refused the calibration profile");
        }
#pragma GCC diagnostic pop
      }
    }
#endif
    if (spec_.timingCache) {
      timingCache.reset(config->createTimingCache(spec_.timingCacheBytes.empty() ? nullptr : spec_.timingCacheBytes.data(), spec_.timingCacheBytes.size()));
      if (!timingCache) Fail("ERR_INVALID_ARGUMENT", "the timing cache file is not a TensorRT timing cache");
      if (!config->setTimingCache(*timingCache, false)) {
        logger_->TakeErrors();
        Warn("the timing cache was made by another TensorRT version or GPU: it is not used, and a new one replaces it");
        timingCache.reset(config->createTimingCache(nullptr, 0));
        if (!timingCache || !config->setTimingCache(*timingCache, false)) Fail("ERR_TRT", "TensorRT refused an empty timing cache");
      }
    }
    config->setProgressMonitor(&monitor);
    CheckCancelled();

    // ---- build
    logger_->TakeErrors();
    std::unique_ptr<nvinfer1::IHostMemory> plan(builder->buildSerializedNetwork(*network, *config));
    config->setProgressMonitor(nullptr);
    if (cancelled_.load()) throw BuildFailure{"ERR_ABORTED", "the build was cancelled", {}};
    if (!plan || plan->size() == 0) {
      std::string hint;
      if (calibrator && calibrator->askedForData.load())
        hint = " (the calibration cache does not cover this network: TensorRT asked for calibration data, which tensorrt-node build does not provide)";
      Fail("ERR_BUILD_FAILED", "TensorRT could not build the plan" + hint);
    }
    if (calibrator && calibrator->askedForData.load())
      Warn("the calibration cache does not cover every tensor of the network: TensorRT asked for calibration data and got none");

    auto done = std::make_unique<BuildEvent>();
    done->kind = BuildEvent::kDone;
    if (timingCache) {
      const nvinfer1::ITimingCache* used = config->getTimingCache();
      done->timingCache = used != nullptr ? used->serialize() : nullptr;
    }
    for (int i = 0; i < nbInputs; ++i) {
      const nvinfer1::ITensor* t = network->getInput(i);
      done->io.push_back({t->getName(), true, static_cast<int32_t>(t->getType()), DimsVector(t->getDimensions())});
    }
    for (int i = 0; i < network->getNbOutputs(); ++i) {
      const nvinfer1::ITensor* t = network->getOutput(i);
      done->io.push_back({t->getName(), false, static_cast<int32_t>(t->getType()), DimsVector(t->getDimensions())});
    }
    done->numProfiles = static_cast<int>(profiles.size());
    done->plan = plan.release();
    // TensorRT's objects go before the event does, so that the caller finds the GPU memory free.
    parser.reset();
    config.reset();
    timingCache.reset();
    calibrator.reset();
    network.reset();
    builder.reset();
    Post(std::move(done));
  }
};

void ProgressMonitor::phaseStart(char const* phaseName, char const* parentPhase, int32_t nbSteps) noexcept {
  try {
    auto ev = std::make_unique<BuildEvent>();
    ev->kind = BuildEvent::kPhaseStart;
    ev->name = phaseName ? phaseName : "";
    ev->parent = parentPhase ? parentPhase : "";
    ev->number = nbSteps;
    job_->Post(std::move(ev));
  } catch (...) {
    // progress is best effort; the build goes on
  }
}

bool ProgressMonitor::stepComplete(char const* phaseName, int32_t step) noexcept {
  try {
    auto ev = std::make_unique<BuildEvent>();
    ev->kind = BuildEvent::kStep;
    ev->name = phaseName ? phaseName : "";
    ev->number = step;
    job_->Post(std::move(ev));
  } catch (...) {
  }
  return !job_->cancelled_.load();  // false asks TensorRT to stop the build
}

void ProgressMonitor::phaseFinish(char const* phaseName) noexcept {
  try {
    auto ev = std::make_unique<BuildEvent>();
    ev->kind = BuildEvent::kPhaseEnd;
    ev->name = phaseName ? phaseName : "";
    job_->Post(std::move(ev));
  } catch (...) {
  }
}

// Holds the job for the thread-safe function's finalizer, which runs on the JS thread once the
// build thread has released it: the thread is joined there, so a job never outlives its thread.
struct JobHolder {
  std::shared_ptr<BuildJob> job;
};

// The environment is going away (process exit, a Worker terminated) while a build runs: stop it
// at TensorRT's next step and wait for the thread, which never waits for the JS thread.
void StopJobAtCleanup(void* arg) {
  auto* job = static_cast<BuildJob*>(arg);
  job->cleanupHookActive_ = false;
  job->cancelled_.store(true);
  if (job->thread_.joinable()) job->thread_.join();
}

// ----------------------------------------------------------------------------- JS entry points

Napi::Object DeviceToJs(Napi::Env env, int index, const DeviceInfo& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", index);
  o.Set("name", d.name);
  o.Set("computeCapability", d.computeCapability);
  return o;
}

// builderInfo({ libraryPath, device }) → { version, versionNumber, libraryPath, parserPath,
// parserVersion, headerVersion, builderResources, device: { index, name, computeCapability } }: what a build would
// use, without building. Throws ERR_TRT_NOT_FOUND, ERR_TRT_VERSION, ERR_CUDA_UNAVAILABLE.
Napi::Value BuilderInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  try {
    const int device = static_cast<int>(OptionalInteger(o, "device", 0, kInt32Max, 0));
    auto libs = LoadBuilderLibraries(GetString(o, "libraryPath", ""));
    const DeviceInfo d = CheckDevice(device);
    Napi::Object r = Napi::Object::New(env);
    r.Set("version", VersionString(libs->infer->version));
    r.Set("versionNumber", libs->infer->version);
    r.Set("libraryPath", libs->infer->path);
    r.Set("parserPath", libs->parserPath);
    r.Set("parserVersion", VersionString(libs->parserVersion));
    r.Set("headerVersion", VersionString(HeaderVersion()));
    Napi::Array resources = Napi::Array::New(env, libs->resources.size());
    for (size_t i = 0; i < libs->resources.size(); ++i) resources.Set(static_cast<uint32_t>(i), libs->resources[i]);
    r.Set("builderResources", resources);
    r.Set("device", DeviceToJs(env, device, d));
    return r;
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
}

// startBuild(spec, onEvent) → { cancel() }. Loads the libraries and checks the device on the
// calling thread (their errors throw here), then builds on a thread of its own; onEvent gets
// { type: 'phaseStart' | 'step' | 'phaseEnd' | 'warning' } events and then exactly one
// { type: 'done', plan, timingCache, io, profiles } or { type: 'error', code, message, parserErrors }.
Napi::Value StartBuild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) Throw(env, "ERR_INVALID_ARGUMENT", "startBuild(spec, onEvent)");
  Napi::Object o = info[0].As<Napi::Object>();
  std::shared_ptr<BuildJob> job;
  try {
    BuildSpec spec = ReadSpec(o);
    auto libs = LoadBuilderLibraries(spec.libraryPath);
    CheckDevice(spec.device);
    job = std::make_shared<BuildJob>(std::move(spec), std::move(libs));
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  job->logger_ = std::make_unique<BuildLogger>();
  job->logger_->SetThreshold(job->spec_.logSeverity);
  job->logger_->SetCallback(env, o.Get("onLog"));
  job->env_ = env;
  auto* holder = new JobHolder{job};
  // The function stays referenced while the build runs: the process waits for its result.
  job->tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "tensorrt-node-build", 0, 1, holder, [](Napi::Env e, JobHolder* h) {
    std::shared_ptr<BuildJob> j = h->job;
    delete h;
    j->cancelled_.store(true);
    if (j->thread_.joinable()) j->thread_.join();
    if (j->cleanupHookActive_) {
      napi_remove_env_cleanup_hook(j->env_, StopJobAtCleanup, j.get());
      j->cleanupHookActive_ = false;
    }
    j->logger_->Release();
    // TensorRT keeps the first logger a process gives it as its global one (nvinfer1::getLogger()):
    // a build's logger may be that one, so it is never freed (a few bytes per build).
    (void)j->logger_.release();
  });
  if (napi_add_env_cleanup_hook(env, StopJobAtCleanup, job.get()) == napi_ok) job->cleanupHookActive_ = true;
  try {
    job->thread_ = std::thread([job] { job->Run(); });
  } catch (const std::system_error& e) {
    job->tsfn_.Release();
    Throw(env, "ERR_OUT_OF_MEMORY", std::string("cannot start the build thread: ") + e.what());
  }
  Napi::Object handle = Napi::Object::New(env);
  std::weak_ptr<BuildJob> weak = job;
  handle.Set("cancel", Napi::Function::New(env, [weak](const Napi::CallbackInfo& ci) -> Napi::Value {
    if (auto j = weak.lock()) j->cancelled_.store(true);
    return ci.Env().Undefined();
  }, "cancel"));
  return handle;
}

}  // namespace

void RegisterBuilder(Napi::Env env, Napi::Object exports) {
  exports.Set("builderInfo", Napi::Function::New(env, BuilderInfo, "builderInfo"));
  exports.Set("startBuild", Napi::Function::New(env, StartBuild, "startBuild"));
}

}  // namespace trtnode
