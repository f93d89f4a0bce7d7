#include "context.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "addon_data.h"
#include "common.h"

namespace trtnode {

using Clock = std::chrono::steady_clock;

ContextCore::~ContextCore() {
  cudaSetDevice(engine->device);
  // Copies staged ahead of a run that never came may still be reading the memory they hold.
  if (!stagedKeep.empty() && stream) cudaStreamSynchronize(stream->stream());
  stagedKeep.clear();
  DestroyGraphs();
  delete ctx;
}

namespace {
// A/B switch for measurements: TRTNODE_INLINE_STAGED_LAUNCH=1 lets a run of staged inputs launch
// a graph replay inline on the JS thread too.
const bool kInlineStagedLaunch = std::getenv("TRTNODE_INLINE_STAGED_LAUNCH") != nullptr;
// stageInput's pieces are issued this many at a time (TRTNODE_STAGE_GROUP, default 4), in one
// cudaMemcpyBatchAsync; the run's launch issues what is left. In issue 4's A/B runs on H200 VMs
// (bench/results/2026-12-03-h200-session8/), 4 at a time beat one at a time by 3 to 5 points of
// the batcher's throughput on three VMs and lost by 1 to 2 on a fourth: the JS thread makes a
// quarter of the driver calls, in the stretch of callers' requests that decides when the batch
// can start, and the copy engine gets fewer, larger submissions. Waiting for all 32 (the whole
// batch at the launch) was worse: the copy starts late.
const size_t kStageGroup = std::getenv("TRTNODE_STAGE_GROUP") ? std::max<long>(1, std::strtol(std::getenv("TRTNODE_STAGE_GROUP"), nullptr, 10)) : 4;
}  // namespace

// Host-to-device copies of pinned pieces, in stream order: one cudaMemcpyBatchAsync (CUDA 12.8+).
void ContextCore::CopyPiecesH2D(const std::vector<CopyPiece>& list) {
  if (list.empty()) return;
  cudaStream_t s = stream->stream();
  if (list.size() == 1) {
    CheckCuda(cudaMemcpyAsync(list[0].dst, list[0].src, list[0].bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (staged input)");
    return;
  }
  batchDst.clear();
  batchSrc.clear();
  batchBytes.clear();
  for (const CopyPiece& p : list) {
    batchDst.push_back(p.dst);
    batchSrc.push_back(p.src);
    batchBytes.push_back(p.bytes);
  }
  cudaMemcpyAttributes attr{};
  attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;  // the source is read when the stream gets there
  attr.srcLocHint.type = cudaMemLocationTypeHost;         // (hints; only managed memory uses them)
  attr.dstLocHint.type = cudaMemLocationTypeDevice;
  attr.dstLocHint.id = engine->device;
  attr.flags = cudaMemcpyFlagPreferOverlapWithCompute;
  size_t attrIndex = 0;
  CheckCuda(cudaMemcpyBatchAsync(batchDst.data(), batchSrc.data(), batchBytes.data(), list.size(), &attr, &attrIndex, 1, s), "cudaMemcpyBatchAsync (staged input)");
}

void ContextCore::IssueStaged() {
  if (stageQueue.empty()) return;
  // The queue is this round's whatever happens: a failed issue fails the run that needed it.
  struct Clear {
    std::vector<CopyPiece>& q;
    ~Clear() { q.clear(); }
  } clear{stageQueue};
  UseDevice(engine->device);
  CopyPiecesH2D(stageQueue);
}

void ContextCore::DestroyGraphs() {
  // An executable graph still in flight is freed by CUDA once it completes.
  for (auto& g : graphs) cudaGraphExecDestroy(g.exec);
  graphs.clear();
  current = -1;
  lookupGeneration = 0;
}

std::vector<int64_t> ContextCore::BindingKey() const {
  std::vector<int64_t> k;
  k.reserve(bindings.size() * 6 + 1);
  k.push_back(profile);
  for (const Binding& b : bindings) {
    k.push_back(b.dims.nbDims);
    for (int i = 0; i < b.dims.nbDims; ++i) k.push_back(b.dims.d[i]);
    k.push_back(static_cast<int64_t>(reinterpret_cast<uintptr_t>(b.dev ? b.dev->ptr : nullptr)) + static_cast<int64_t>(b.devOffset));
    k.push_back(static_cast<int64_t>(reinterpret_cast<uintptr_t>(b.host ? b.host->ptr : nullptr)) + static_cast<int64_t>(b.hostOffset));
  }
  k.push_back(static_cast<int64_t>(directMask));
  return k;
}

ContextCore::Graph* ContextCore::CurrentGraph() {
  if (lookupGeneration != generation || lookupMask != directMask) {
    const std::vector<int64_t> key = BindingKey();
    current = -1;
    for (size_t i = 0; i < graphs.size(); ++i)
      if (graphs[i].key == key) current = static_cast<int>(i);
    lookupGeneration = generation;
    lookupMask = directMask;
  }
  return current >= 0 ? &graphs[static_cast<size_t>(current)] : nullptr;
}

void ContextCore::SetShape(int index, const nvinfer1::Dims& d) {
  const TensorInfo& t = engine->io[index];
  if (!t.isInput) throw CodedError{"ERR_INVALID_ARGUMENT", "'" + t.name + "' is an output; only input shapes can be set"};
  if (d.nbDims != t.dims.nbDims)
    throw CodedError{"ERR_SHAPE_MISMATCH", "input '" + t.name + "' has rank " + std::to_string(t.dims.nbDims) + " (shape " + DimsString(t.dims) +
                                               "), got rank " + std::to_string(d.nbDims) + " " + DimsString(d)};
  const ProfileRange& r = t.profiles[profile];
  for (int i = 0; i < d.nbDims; ++i) {
    if (d.d[i] < 0) throw CodedError{"ERR_SHAPE_MISMATCH", "input '" + t.name + "': negative dimension in " + DimsString(d)};
    if (t.dims.d[i] >= 0 && d.d[i] != t.dims.d[i])
      throw CodedError{"ERR_SHAPE_MISMATCH", "input '" + t.name + "' is " + DimsString(t.dims) + ", got " + DimsString(d) + " (dimension " +
                                                 std::to_string(i) + " is static)"};
    if (d.d[i] < r.min.d[i] || d.d[i] > r.max.d[i])
      throw CodedError{"ERR_SHAPE_OUT_OF_PROFILE", "input '" + t.name + "' shape " + DimsString(d) + " is outside optimization profile " +
                                                       std::to_string(profile) + " (min " + DimsString(r.min) + ", max " + DimsString(r.max) + ")"};
  }
  Binding& b = bindings[index];
  if (b.dimsSet && b.dims.nbDims == d.nbDims && std::memcmp(b.dims.d, d.d, sizeof(int64_t) * d.nbDims) == 0) return;
  Logger::ClearErrors();
  if (!ctx->setInputShape(t.name.c_str(), d)) {
    b.dimsSet = false;
    throw CodedError{"ERR_SHAPE_MISMATCH", "TensorRT rejected shape " + DimsString(d) + " for '" + t.name + "': " + Logger::TakeErrors()};
  }
  b.dims = d;
  b.dimsSet = true;
  ++generation;
}

void ContextCore::Prepare() {
  for (size_t i = 0; i < bindings.size(); ++i) {
    const TensorInfo& t = engine->io[i];
    Binding& b = bindings[i];
    if (t.isInput) {
      if (!b.dimsSet) {
        // A fully static input needs no shape from the caller.
        if (Volume(t.dims) >= 0 && [&] { for (int k = 0; k < t.dims.nbDims; ++k) if (t.dims.d[k] < 0) return false; return true; }()) {
          SetShape(static_cast<int>(i), t.dims);
        } else {
          throw CodedError{"ERR_MISSING_TENSOR", "the shape of input '" + t.name + "' was not set (it has dynamic dimensions " + DimsString(t.dims) + ")"};
        }
      }
    } else {
      nvinfer1::Dims d = ctx->getTensorShape(t.name.c_str());
      for (int k = 0; k < d.nbDims; ++k)
        if (d.d[k] < 0)
          throw CodedError{"ERR_TRT", "output '" + t.name + "' has a data-dependent shape " + DimsString(d) + ", which this version does not support"};
      if (d.nbDims < 0) throw CodedError{"ERR_TRT", "TensorRT could not infer the shape of output '" + t.name + "'"};
      if (b.dims.nbDims != d.nbDims || std::memcmp(b.dims.d, d.d, sizeof(int64_t) * d.nbDims) != 0) ++generation;
      b.dims = d;
      b.dimsSet = true;
    }
    if (t.format != 0)
      throw CodedError{"ERR_TRT", "tensor '" + t.name + "' uses a vectorized format (" + t.formatDesc + "); only linear formats are supported"};
    b.bytes = ByteSize(b.dims, t.elemBits);
    if (!b.dev) throw CodedError{"ERR_MISSING_TENSOR", "no device buffer is bound to " + std::string(t.isInput ? "input" : "output") + " '" + t.name + "'"};
    if (b.devOffset + b.bytes > b.dev->bytes)
      throw CodedError{"ERR_BUFFER_TOO_SMALL", "'" + t.name + "' " + DimsString(b.dims) + " needs " + std::to_string(b.bytes) + " bytes; its device buffer has " +
                                                   std::to_string(b.dev->bytes - b.devOffset)};
    if (b.host && b.hostOffset + b.bytes > b.host->bytes)
      throw CodedError{"ERR_BUFFER_TOO_SMALL", "'" + t.name + "' " + DimsString(b.dims) + " needs " + std::to_string(b.bytes) + " bytes; its host staging buffer has " +
                                                   std::to_string(b.host->bytes - b.hostOffset)};
  }
}

namespace {
// A gathered input is DMA'd in segments of this size while the rest is copied: small enough
// that the first DMA starts early, large enough that few copies are issued (a ResNet-50 batch
// of 32 is 19 MB: 5 segments).
constexpr size_t kGatherSegmentBytes = 4 * 1024 * 1024;

// A batch whose pieces are all pinned: DMA each run of adjacent pieces to its place. Runs stay
// inside one allocation: two allocations may be adjacent in memory, but one copy must not span
// them (CUDA rejects it). Issued before the inference, outside any graph.
void DirectCopies(ContextCore& c) {
  for (size_t i = 0; i < c.direct.size(); ++i) {
    const auto& parts = c.direct[i];
    if (parts.empty()) continue;
    Binding& b = c.bindings[i];
    uint8_t* dst = static_cast<uint8_t*>(b.dev->ptr) + b.devOffset + (i < c.gatherStart.size() ? c.gatherStart[i] : 0);
    for (size_t k = 0; k < parts.size();) {
      const uint8_t* src = static_cast<const uint8_t*>(parts[k].ptr);
      const HostMem* mem = parts[k].pinned;
      size_t n = parts[k].bytes;
      for (++k; k < parts.size() && parts[k].pinned == mem && parts[k].ptr == src + n; ++k) n += parts[k].bytes;
      CheckCuda(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, c.stream->stream()), "cudaMemcpyAsync (gathered input)");
      dst += n;
    }
  }
}

void CopiesIn(ContextCore& c) {
  for (size_t i = 0; i < c.bindings.size(); ++i) {
    Binding& b = c.bindings[i];
    if (i < 64 && (c.directMask >> i) & 1) continue;  // DMA'd by DirectCopies
    if (c.engine->io[i].isInput && b.host && b.bytes > 0)
      CheckCuda(cudaMemcpyAsync(static_cast<uint8_t*>(b.dev->ptr) + b.devOffset, static_cast<uint8_t*>(b.host->ptr) + b.hostOffset, b.bytes,
                                cudaMemcpyHostToDevice, c.stream->stream()),
                "cudaMemcpyAsync (input)");
  }
}
void CopiesOut(ContextCore& c) {
  for (size_t i = 0; i < c.bindings.size(); ++i) {
    Binding& b = c.bindings[i];
    if (!c.engine->io[i].isInput && b.host && b.bytes > 0)
      CheckCuda(cudaMemcpyAsync(static_cast<uint8_t*>(b.host->ptr) + b.hostOffset, static_cast<uint8_t*>(b.dev->ptr) + b.devOffset, b.bytes,
                                cudaMemcpyDeviceToHost, c.stream->stream()),
                "cudaMemcpyAsync (output)");
  }
}
void Enqueue(ContextCore& c) {
  Logger::ClearErrors();
  if (!c.ctx->enqueueV3(c.stream->stream())) throw CodedError{"ERR_TRT", "enqueueV3 failed: " + Logger::TakeErrors()};
}
}  // namespace

// Nothing to gather, and a replay of a captured graph or an enqueue measured at a few tens of
// µs of host time (a small network): cheap enough for the JS thread. (A batch of pinned pieces
// in front of a replay was tried too: its 32 DMA calls cost the JS thread ~160 µs, for no gain:
// bench/results/2026-12-03-h200-session5/batcher-timeline-3-inline.txt.)
bool ContextCore::CheapLaunch() {
  constexpr double kCheapLaunchMicros = 30;
  if (HasGather() || launchOnWatcher) return false;
  if (graphEnabled && CurrentGraph() != nullptr) return true;
  return launchMicros > 0 && launchMicros < kCheapLaunchMicros;
}

bool ContextCore::HasGather() const {
  return std::any_of(gather.begin(), gather.end(), [](const std::vector<GatherPart>& g) { return !g.empty(); });
}

void ContextCore::Launch(TimingEvents* t) {
  const bool plain = !HasGather();
  const auto t0 = std::chrono::steady_clock::now();
  LaunchPieces(t);
  if (plain) launchMicros = MovingAverage(launchMicros, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
}

void ContextCore::LaunchPieces(TimingEvents* t) {
  // The pieces belong to this launch only, whether or not something below throws.
  struct ClearPieces {
    ContextCore& c;
    ~ClearPieces() {
      for (auto& g : c.gather) g.clear();
      for (auto& d : c.direct) d.clear();
      c.gatherStart.clear();
      c.directMask = 0;
    }
  } clearPieces{*this};
  IssueStaged();  // staged pieces still queued go first: the inference reads them
  direct.resize(gather.size());
  gatherStart.resize(gather.size(), 0);
  // directMask may hold inputs staged whole by stageInput already (set by run()).
  bool started = false;  // t->ev[0] recorded before a gathered input's first DMA
  for (size_t i = 0; i < gather.size(); ++i) {
    if (gather[i].empty()) continue;
    const bool allPinned = i < 64 && std::all_of(gather[i].begin(), gather[i].end(), [](const GatherPart& p) { return p.pinned != nullptr; });
    if (allPinned) {
      directMask |= uint64_t{1} << i;
      direct[i].swap(gather[i]);
      continue;
    }
    Binding& b = bindings[i];
    uint8_t* host = static_cast<uint8_t*>(b.host->ptr) + b.hostOffset + gatherStart[i];
    uint8_t* dev = static_cast<uint8_t*>(b.dev->ptr) + b.devOffset + gatherStart[i];
    gatherPieces.clear();
    uint8_t* dst = host;
    for (const auto& part : gather[i]) {
      gatherPieces.push_back({dst, part.ptr, part.bytes});
      dst += part.bytes;
    }
    if (i >= 64) {
      ParallelCopy(gatherPieces);  // beyond the mask: the usual staging copy in EnqueueOnce
      continue;
    }
    // Into the pinned staging, each segment DMA'd to the device as soon as it is complete: the
    // copy engine moves the first megabytes while the CPU gathers the rest.
    if (t != nullptr && !started) CheckCuda(cudaEventRecord(t->ev[0], stream->stream()), "cudaEventRecord");
    started = true;
    ParallelCopySegments(gatherPieces, kGatherSegmentBytes, [&](size_t begin, size_t end) {
      CheckCuda(cudaMemcpyAsync(dev + begin, host + begin, end - begin, cudaMemcpyHostToDevice, stream->stream()), "cudaMemcpyAsync (gathered input)");
    });
    directMask |= uint64_t{1} << i;
  }
  EnqueueOnce(t, !started);
}

void ContextCore::EnqueueOnce(TimingEvents* t, bool recordStart) {
  cudaStream_t s = stream->stream();
  if (t && recordStart) CheckCuda(cudaEventRecord(t->ev[0], s), "cudaEventRecord");
  // Pieces DMA'd straight from the requests change with every batch: copied before the graph.
  if (directMask != 0) DirectCopies(*this);
  if (graphEnabled) {
    Graph* g = CurrentGraph();
    std::string why;
    // Capture once this state has run without a graph since its last change, then replay.
    if (g == nullptr && warmGeneration == generation && warmMask == directMask) {
      if (CaptureGraph(why)) {
        g = CurrentGraph();
      } else {
        // Not capturable (TensorRT needs a synchronization inside, say): run without graphs.
        graphEnabled = false;
        if (engine->runtime->logger)
          engine->runtime->logger->log(nvinfer1::ILogger::Severity::kWARNING, ("tensorrt-node: CUDA graph capture failed, running without graphs: " + why).c_str());
      }
    }
    if (g != nullptr) {
      // Timed, a replay reads as [h2d: the DMA of gathered pieces before it, compute: the graph
      // (its own copies included), d2h: 0].
      if (t) CheckCuda(cudaEventRecord(t->ev[1], s), "cudaEventRecord");
      CheckCuda(cudaGraphLaunch(g->exec, s), "cudaGraphLaunch");
      g->lastUse = ++graphUses;
      if (t) {
        CheckCuda(cudaEventRecord(t->ev[2], s), "cudaEventRecord");
        CheckCuda(cudaEventRecord(t->ev[3], s), "cudaEventRecord");
      }
      return;
    }
  }
  CopiesIn(*this);
  if (t) CheckCuda(cudaEventRecord(t->ev[1], s), "cudaEventRecord");
  Enqueue(*this);
  if (t) CheckCuda(cudaEventRecord(t->ev[2], s), "cudaEventRecord");
  CopiesOut(*this);
  if (t) CheckCuda(cudaEventRecord(t->ev[3], s), "cudaEventRecord");
  warmGeneration = generation;
  warmMask = directMask;
}

// Captures copies + inference for the current binding state into `graphs`, evicting the least
// recently used beyond kMaxGraphs. false (why says it) when the work cannot be captured.
bool ContextCore::CaptureGraph(std::string& why) {
  cudaStream_t s = stream->stream();
  cudaGraph_t g = nullptr;
  CheckCuda(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  bool ok = true;
  try {
    CopiesIn(*this);
    Enqueue(*this);
    CopiesOut(*this);
  } catch (const CodedError& e) {
    ok = false;
    why = e.message;
  }
  cudaError_t e = cudaStreamEndCapture(s, &g);
  cudaGraphExec_t exec = nullptr;
  if (ok && e == cudaSuccess && g != nullptr) e = cudaGraphInstantiate(&exec, g, 0);
  if (g != nullptr) cudaGraphDestroy(g);
  if (!ok || e != cudaSuccess || exec == nullptr) {
    cudaGetLastError();
    if (why.empty()) why = cudaGetErrorString(e);
    return false;
  }
  if (graphs.size() >= kMaxGraphs) {
    auto lru = std::min_element(graphs.begin(), graphs.end(), [](const Graph& a, const Graph& b) { return a.lastUse < b.lastUse; });
    cudaGraphExecDestroy(lru->exec);  // freed by CUDA after a launch still in flight
    graphs.erase(lru);
  }
  graphs.push_back(Graph{BindingKey(), exec, 0});
  lookupGeneration = 0;  // look up again: indices moved
  return true;
}

// ----------------------------------------------------------------------------- JS class

Napi::Function ExecutionContext::Init(Napi::Env env) {
  return DefineClass(env, "ExecutionContext",
                     {
                         InstanceMethod("setInputShape", &ExecutionContext::SetInputShape),
                         InstanceMethod("getTensorShape", &ExecutionContext::GetTensorShape),
                         InstanceMethod("setTensorAddress", &ExecutionContext::SetTensorAddress),
                         InstanceMethod("setHostStaging", &ExecutionContext::SetHostStaging),
                         InstanceMethod("setOptimizationProfile", &ExecutionContext::SetOptimizationProfile),
                         InstanceMethod("setCudaGraph", &ExecutionContext::SetCudaGraph),
                         InstanceMethod("setTiming", &ExecutionContext::SetTiming),
                         InstanceMethod("run", &ExecutionContext::Run),
                         InstanceMethod("stageInput", &ExecutionContext::StageInput),
                         InstanceMethod("benchmark", &ExecutionContext::Benchmark),
                         InstanceMethod("dispose", &ExecutionContext::Dispose),
                         InstanceAccessor("profile", &ExecutionContext::GetProfile, nullptr),
                         InstanceAccessor("pending", &ExecutionContext::GetPending, nullptr),
                         InstanceAccessor("disposed", &ExecutionContext::GetDisposed, nullptr),
                         InstanceAccessor("graphCaptured", &ExecutionContext::GetGraphCaptured, nullptr),
                         InstanceAccessor("graphCount", &ExecutionContext::GetGraphCount, nullptr),
                         InstanceAccessor("graphLaunches", &ExecutionContext::GetGraphLaunches, nullptr),
                     });
}

// new ExecutionContext(engine, stream, { profile = 0, deviceMemory?: DeviceBuffer })
ExecutionContext::ExecutionContext(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExecutionContext>(info) {
  Napi::Env env = info.Env();
  auto engine = Engine::FromJs(env, info[0])->core(env);
  auto stream = Stream::FromJs(env, info[1])->core(env);
  Napi::Object o = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  if (stream->device() != engine->device)
    Throw(env, "ERR_INVALID_ARGUMENT", "the stream is on device " + std::to_string(stream->device()) + ", the engine on device " + std::to_string(engine->device));
  auto core = std::make_shared<ContextCore>();
  core->engine = engine;
  core->stream = stream;
  core->bindings.resize(engine->io.size());
  try {
    UseDevice(engine->device);
    Napi::Value mem = o.Get("deviceMemory");
    Logger::ClearErrors();
    if (DeviceBuffer::Is(env, mem)) {
      // Caller-managed activation memory: contexts that never run at the same time may share it.
      core->scratch = DeviceBuffer::FromJs(env, mem)->mem(env);
      const int64_t need = engine->engine->getDeviceMemorySizeV2();
      if (static_cast<int64_t>(core->scratch->bytes) < need)
        Throw(env, "ERR_BUFFER_TOO_SMALL", "deviceMemory has " + std::to_string(core->scratch->bytes) + " bytes; the engine needs " + std::to_string(need));
      core->ctx = engine->engine->createExecutionContext(nvinfer1::ExecutionContextAllocationStrategy::kUSER_MANAGED);
      if (core->ctx) core->ctx->setDeviceMemoryV2(core->scratch->ptr, static_cast<int64_t>(core->scratch->bytes));
    } else {
      core->ctx = engine->engine->createExecutionContext(nvinfer1::ExecutionContextAllocationStrategy::kSTATIC);
    }
    if (core->ctx == nullptr) {
      std::string err = Logger::TakeErrors();
      const bool oom = err.find("memory") != std::string::npos || err.find("Memory") != std::string::npos;
      Throw(env, oom ? "ERR_OUT_OF_MEMORY" : "ERR_TRT", "createExecutionContext failed: " + (err.empty() ? "no reason given" : err));
    }
    const int profile = static_cast<int>(GetNumber(o, "profile", 0));
    if (profile < 0 || profile >= engine->numProfiles)
      Throw(env, "ERR_INVALID_ARGUMENT", "optimization profile " + std::to_string(profile) + " does not exist (the engine has " + std::to_string(engine->numProfiles) + ")");
    if (profile != 0 || engine->numProfiles > 1) {
      if (!core->ctx->setOptimizationProfileAsync(profile, stream->stream()))
        Throw(env, "ERR_TRT", "setOptimizationProfileAsync failed: " + Logger::TakeErrors());
    }
    core->profile = profile;
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  {
    std::lock_guard<std::mutex> lock(engine->childrenMutex);
    engine->children.push_back(core);
  }
  core_ = core;
}

std::shared_ptr<ContextCore> ExecutionContext::core(Napi::Env env) {
  if (!core_ || core_->disposed) Throw(env, "ERR_DISPOSED", core_ ? "the Engine of this ExecutionContext was disposed" : "the ExecutionContext was disposed");
  return core_;
}

int ExecutionContext::Index(Napi::Env env, Napi::Value name) {
  if (!name.IsString()) Throw(env, "ERR_INVALID_ARGUMENT", "tensor name must be a string");
  std::string n = name.As<Napi::String>().Utf8Value();
  int i = core(env)->engine->Find(n);
  if (i < 0) Throw(env, "ERR_UNKNOWN_TENSOR", "the engine has no tensor named '" + n + "'");
  return i;
}

static nvinfer1::Dims DimsFromJs(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) Throw(env, "ERR_INVALID_ARGUMENT", "a shape must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  nvinfer1::Dims d{};
  if (a.Length() > static_cast<uint32_t>(nvinfer1::Dims::MAX_DIMS)) Throw(env, "ERR_SHAPE_MISMATCH", "too many dimensions");
  d.nbDims = static_cast<int32_t>(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value x = a[i];
    double f = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1.5;
    if (f != static_cast<double>(static_cast<int64_t>(f))) Throw(env, "ERR_INVALID_ARGUMENT", "shape dimensions must be integers");
    d.d[i] = static_cast<int64_t>(f);
  }
  return d;
}

Napi::Value ExecutionContext::SetInputShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int i = Index(env, info[0]);
  core_->Quiesce();
  try {
    core_->SetShape(i, DimsFromJs(env, info[1]));
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  return env.Undefined();
}

Napi::Value ExecutionContext::GetTensorShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int i = Index(env, info[0]);
  core_->Quiesce();
  return DimsToJs(env, core_->ctx->getTensorShape(core_->engine->io[i].name.c_str()));
}

// setTensorAddress(name, deviceBuffer | null, byteOffset = 0)
Napi::Value ExecutionContext::SetTensorAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int i = Index(env, info[0]);
  auto c = core_;
  Binding& b = c->bindings[i];
  c->Quiesce();
  if (i < static_cast<int>(c->staged.size())) c->staged[i].clear();  // staged pieces were in the old buffer
  if (info[1].IsNull() || info[1].IsUndefined()) {
    b.dev.reset();
    ++c->generation;
    return env.Undefined();
  }
  auto mem = DeviceBuffer::FromJs(env, info[1])->mem(env);
  c->Quiesce();
  const size_t off = info.Length() > 2 && info[2].IsNumber() ? static_cast<size_t>(info[2].As<Napi::Number>().Int64Value()) : 0;
  if (off >= mem->bytes) Throw(env, "ERR_INVALID_ARGUMENT", "byteOffset is beyond the end of the buffer");
  if (mem->device != c->engine->device) Throw(env, "ERR_INVALID_ARGUMENT", "the buffer is on another device than the engine");
  if (off % 256 != 0) Throw(env, "ERR_INVALID_ARGUMENT", "byteOffset must be a multiple of 256 (TensorRT's alignment)");
  if (!c->ctx->setTensorAddress(c->engine->io[i].name.c_str(), static_cast<uint8_t*>(mem->ptr) + off))
    Throw(env, "ERR_TRT", "setTensorAddress failed: " + Logger::TakeErrors());
  b.dev = mem;
  b.devOffset = off;
  ++c->generation;
  return env.Undefined();
}

// setHostStaging(name, hostBuffer | null, byteOffset = 0): run() copies inputs from it before
// the inference and outputs into it after.
Napi::Value ExecutionContext::SetHostStaging(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int i = Index(env, info[0]);
  Binding& b = core_->bindings[i];
  core_->Quiesce();
  if (info[1].IsNull() || info[1].IsUndefined()) {
    b.host.reset();
  } else {
    b.host = HostBuffer::FromJs(env, info[1])->mem(env);
    b.hostOffset = info.Length() > 2 && info[2].IsNumber() ? static_cast<size_t>(info[2].As<Napi::Number>().Int64Value()) : 0;
  }
  ++core_->generation;
  return env.Undefined();
}

Napi::Value ExecutionContext::SetOptimizationProfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = core(env);
  const int p = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  if (p < 0 || p >= c->engine->numProfiles)
    Throw(env, "ERR_INVALID_ARGUMENT", "optimization profile " + std::to_string(p) + " does not exist (the engine has " + std::to_string(c->engine->numProfiles) + ")");
  if (c->inflight > 0 || c->benchmarking) Throw(env, "ERR_BUSY", "cannot change the optimization profile while work is in flight");
  if (p == c->profile) return env.Undefined();
  c->Quiesce();
  Logger::ClearErrors();
  if (!c->ctx->setOptimizationProfileAsync(p, c->stream->stream())) Throw(env, "ERR_TRT", "setOptimizationProfileAsync failed: " + Logger::TakeErrors());
  c->profile = p;
  for (size_t i = 0; i < c->bindings.size(); ++i)
    if (c->engine->io[i].isInput) c->bindings[i].dimsSet = false;  // shapes must be set again for the new profile
  ++c->generation;
  return env.Undefined();
}

Napi::Value ExecutionContext::SetCudaGraph(const Napi::CallbackInfo& info) {
  auto c = core(info.Env());
  c->Quiesce();
  c->graphEnabled = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

// setTiming(enabled, into?: Float64Array): with `into` (3 elements at least), every run's
// timing is written there and the run resolves with it, instead of with a new array.
Napi::Value ExecutionContext::SetTiming(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = core(env);
  const bool into = info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull();
  if (into && (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
               info[1].As<Napi::TypedArray>().ElementLength() < 3))
    Throw(env, "ERR_INVALID_ARGUMENT", "setTiming's second argument must be a Float64Array of 3 elements at least");
  c->Quiesce();
  c->timing = info[0].ToBoolean().Value();
  if (into && c->timing) timingTarget_ = Napi::Persistent(info[1]);
  else timingTarget_.Reset();
  return env.Undefined();
}

// run(inputDims?: Int32Array, outputDims?: Int32Array) → Promise<undefined | Float64Array>
// inputDims packs [rank, d0, d1, ...] for every input in engine IO order (null: keep the
// current shapes). outputDims, if given, receives the same packing for every output.
Napi::Value ExecutionContext::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = core(env);
  if (c->benchmarking) Throw(env, "ERR_BUSY", "the context is running a benchmark");
  c->Quiesce();  // a previous run of this context must be launched before its state changes
  try {
    if (info.Length() > 0 && info[0].IsTypedArray()) {
      Napi::Int32Array dims = info[0].As<Napi::Int32Array>();
      size_t k = 0;
      for (size_t i = 0; i < c->bindings.size(); ++i) {
        if (!c->engine->io[i].isInput) continue;
        if (k >= dims.ElementLength()) throw CodedError{"ERR_INVALID_ARGUMENT", "inputDims is too short"};
        nvinfer1::Dims d{};
        d.nbDims = dims[k++];
        if (d.nbDims < 0 || d.nbDims > nvinfer1::Dims::MAX_DIMS || k + d.nbDims > dims.ElementLength())
          throw CodedError{"ERR_INVALID_ARGUMENT", "inputDims is malformed"};
        for (int j = 0; j < d.nbDims; ++j) d.d[j] = dims[k++];
        c->SetShape(static_cast<int>(i), d);
      }
    }
    if (c->preparedGeneration != c->generation) {
      c->Prepare();
      c->preparedGeneration = c->generation;
    }
    // Optional third argument: per input (engine input order), an array of TypedArrays whose
    // bytes, concatenated, are the input; copied into its pinned staging on the launch thread.
    // Optional fourth: how many leading parts of every input stageInput copied already (in this
    // order, from byte 0): they are checked against what was staged and not copied again.
    std::vector<Napi::Value> keepParts;
    std::vector<std::shared_ptr<HostMem>> keepPinned;
    const size_t skip = info.Length() > 3 && info[3].IsNumber() ? static_cast<size_t>(std::max<int64_t>(0, info[3].As<Napi::Number>().Int64Value())) : 0;
    if (info.Length() > 2 && info[2].IsArray()) {
      Napi::Array per = info[2].As<Napi::Array>();
      c->gather.resize(c->bindings.size());
      c->gatherStart.assign(c->bindings.size(), 0);
      uint32_t k = 0;
      for (size_t i = 0; i < c->bindings.size(); ++i) {
        if (!c->engine->io[i].isInput) continue;
        Napi::Value v = per.Get(k++);
        c->gather[i].clear();
        if (!v.IsArray()) {
          if (skip > 0) throw CodedError{"ERR_INVALID_ARGUMENT", "stagedParts needs the parts of every input"};
          continue;
        }
        Binding& b = c->bindings[i];
        if (!b.host) throw CodedError{"ERR_INVALID_ARGUMENT", "input '" + c->engine->io[i].name + "' has no host staging buffer to gather into"};
        Napi::Array parts = v.As<Napi::Array>();
        const std::vector<ContextCore::GatherPart>* staged = i < c->staged.size() ? &c->staged[i] : nullptr;
        if (skip > parts.Length() || (skip > 0 && (staged == nullptr || staged->size() < skip)))
          throw CodedError{"ERR_INVALID_ARGUMENT", "stagedParts " + std::to_string(skip) + ": input '" + c->engine->io[i].name + "' has " +
                                                       std::to_string(staged ? staged->size() : 0) + " pieces staged"};
        size_t total = 0;
        for (uint32_t j = 0; j < parts.Length(); ++j) {
          HostRegion r = GetHostRegion(env, parts.Get(j));
          if (j < skip) {
            const ContextCore::GatherPart& s = (*staged)[j];
            if (s.ptr != r.ptr || s.bytes != r.bytes)
              throw CodedError{"ERR_INVALID_ARGUMENT", "part " + std::to_string(j) + " of input '" + c->engine->io[i].name + "' is not the piece staged there"};
            total += r.bytes;
            c->gatherStart[i] = total;
            continue;
          }
          c->gather[i].push_back({r.ptr, r.bytes, r.pinnedMem.get()});
          total += r.bytes;
          keepParts.push_back(r.jsValue);
          if (r.pinnedMem) keepPinned.push_back(r.pinnedMem);  // alive until the DMA is done
        }
        if (total != b.bytes) {
          c->gather[i].clear();
          throw CodedError{"ERR_SHAPE_MISMATCH", "the parts of input '" + c->engine->io[i].name + "' hold " + std::to_string(total) + " bytes; shape " +
                                                     DimsString(b.dims) + " needs " + std::to_string(b.bytes)};
        }
        // Staged whole: no piece left to copy, yet the input is on the device already (no
        // copy from the staging, and the graph kept for pieces DMA'd before it).
        if (skip > 0 && i < 64) c->directMask |= uint64_t{1} << i;
      }
    }
    // What was staged is used (or superseded: the inputs are copied whole) by this run, whose
    // launch issues any staged piece still queued before its own work.
    for (auto& st : c->staged) st.clear();
    c->launchOnWatcher = skip > 0 && !kInlineStagedLaunch;
    TimingEvents* t = c->timing ? c->stream->NewTiming() : nullptr;
    if (info.Length() > 1 && info[1].IsTypedArray()) {
      Napi::Int32Array out = info[1].As<Napi::Int32Array>();
      size_t k = 0;
      for (size_t i = 0; i < c->bindings.size(); ++i) {
        if (c->engine->io[i].isInput) continue;
        const nvinfer1::Dims& d = c->bindings[i].dims;
        if (k + 1 + d.nbDims > out.ElementLength()) break;
        out[k++] = d.nbDims;
        for (int j = 0; j < d.nbDims; ++j) out[k++] = static_cast<int32_t>(d.d[j]);
      }
    }
    Completion* comp = c->stream->NewCompletion();
    comp->timing = t;
    if (t != nullptr && !timingTarget_.IsEmpty()) comp->timingOut = Napi::Persistent(timingTarget_.Value());
    comp->launcher = c.get();  // the watcher thread enqueues it: the event loop is not held up
    comp->keepAlive.push_back(c);
    for (auto& v : keepParts) comp->jsRefs.push_back(Napi::Persistent(v));
    for (auto& m : keepPinned) comp->keepAlive.push_back(m);
    // Staged copies precede this run in stream order: their memory may go when it completes.
    for (auto& m : c->stagedKeep) comp->keepAlive.push_back(std::move(m));
    c->stagedKeep.clear();
    for (auto& b : c->bindings) {
      if (b.dev) comp->keepAlive.push_back(b.dev);
      if (b.host) comp->keepAlive.push_back(b.host);
    }
    ContextCore* raw = c.get();
    comp->onSettled = [raw] { --raw->inflight; };
    ++c->inflight;
    try {
      return c->stream->Submit(env, comp);
    } catch (...) {
      --c->inflight;
      for (auto& g : c->gather) g.clear();  // never launched: its pieces must not reach a later launch
      c->gatherStart.clear();
      c->directMask = 0;
      throw;
    }
  } catch (const CodedError& e) {
    for (auto& g : c->gather) g.clear();
    c->gatherStart.clear();
    c->directMask = 0;
    Throw(env, e.code.c_str(), e.message);
  }
}

// stageInput(name, byteOffset, pinnedView): copies one piece of an input to the device (a DMA on
// the context's stream, issued from the JS thread together with the next few pieces, see
// kStageGroup, or by the run's launch), ahead of the run() that
// uses it, which then skips it (run's stagedParts). The batcher copies each request as it
// arrives at a free instance, so the copies overlap the rest of the batch's arrival instead of
// following its formation. Pieces go in order from byte 0: byteOffset 0 starts afresh, any other
// must continue where the last piece ended. Only with no run in flight (the device buffer is
// the inference's input) and only from pinned memory (no CPU copy, nothing to wait for).
Napi::Value ExecutionContext::StageInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = core(env);
  const int i = Index(env, info[0]);
  const std::string& name = c->engine->io[i].name;
  if (!c->engine->io[i].isInput) Throw(env, "ERR_INVALID_ARGUMENT", "'" + name + "' is an output, not an input");
  if (i >= 64) Throw(env, "ERR_INVALID_ARGUMENT", "stageInput supports the first 64 tensors of an engine");
  if (c->benchmarking) Throw(env, "ERR_BUSY", "the context is running a benchmark");
  if (c->inflight > 0) Throw(env, "ERR_BUSY", "a run of this context is in flight: its input must not be overwritten");
  if (info.Length() < 2 || !info[1].IsNumber()) Throw(env, "ERR_INVALID_ARGUMENT", "byteOffset must be a number");
  const double offD = info[1].As<Napi::Number>().DoubleValue();
  if (!(offD >= 0) || offD != static_cast<double>(static_cast<int64_t>(offD))) Throw(env, "ERR_INVALID_ARGUMENT", "byteOffset must be an integer >= 0");
  const size_t off = static_cast<size_t>(offD);
  HostRegion r = GetHostRegion(env, info.Length() > 2 ? info[2] : env.Undefined());
  if (!r.pinnedMem) Throw(env, "ERR_INVALID_ARGUMENT", "stageInput takes pinned memory (a HostBuffer or a view of one)");
  Binding& b = c->bindings[i];
  if (!b.dev) Throw(env, "ERR_INVALID_ARGUMENT", "input '" + name + "' has no device buffer bound");
  if (off > b.dev->bytes - b.devOffset || r.bytes > b.dev->bytes - b.devOffset - off)
    Throw(env, "ERR_BUFFER_TOO_SMALL", "input '" + name + "': " + std::to_string(r.bytes) + " bytes at byteOffset " + std::to_string(off) + " exceed its device buffer (" +
                                           std::to_string(b.dev->bytes - b.devOffset) + " bytes)");
  c->staged.resize(c->bindings.size());
  size_t end = 0;  // where the pieces staged so far end (they lie in order from byte 0)
  for (const auto& p : c->staged[i]) end += p.bytes;
  if (off != 0 && off != end)
    Throw(env, "ERR_INVALID_ARGUMENT", "staged pieces of input '" + name + "' go in order: expected byteOffset 0 or " + std::to_string(end) + ", got " + std::to_string(off));
  c->Quiesce();  // stream order: launches submitted earlier are enqueued first
  try {
    UseDevice(c->engine->device);
    c->stageQueue.push_back({static_cast<uint8_t*>(b.dev->ptr) + b.devOffset + off, r.ptr, r.bytes});
    if (c->stageQueue.size() >= kStageGroup) c->IssueStaged();
  } catch (const CodedError& e) {
    // Pieces staged before this one may not have been copied: none counts as staged any more.
    for (auto& st : c->staged) st.clear();
    Throw(env, e.code.c_str(), e.message);
  }
  if (off == 0) c->staged[i].clear();
  c->staged[i].push_back({r.ptr, r.bytes, r.pinnedMem.get()});
  c->stagedKeep.push_back(r.pinnedMem);
  c->stagedKeep.push_back(b.dev);
  return env.Undefined();
}

// ----------------------------------------------------------------------------- C++ reference loop

namespace {

struct BenchOptions {
  int64_t iterations = 0;
  double durationMs = 3000;
  double warmupMs = 200;
  bool graph = false;
};

class BenchmarkWorker : public Napi::AsyncWorker {
 public:
  BenchmarkWorker(Napi::Env env, std::shared_ptr<ContextCore> c, BenchOptions o)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), c_(std::move(c)), o_(o) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    TimingEvents t;
    try {
      UseDevice(c_->engine->device);
      for (auto& e : t.ev) CheckCuda(cudaEventCreate(&e), "cudaEventCreate");
      const bool wasGraph = c_->graphEnabled;
      c_->graphEnabled = o_.graph;
      const bool timeline = HasTimingEpoch(c_->engine->device);
      auto once = [&](bool record) {
        const Clock::time_point t0 = Clock::now();
        c_->EnqueueOnce(&t);
        const Clock::time_point t1 = Clock::now();
        cudaError_t r;
        while ((r = cudaEventQuery(t.ev[3])) == cudaErrorNotReady) CpuRelax();
        CheckCuda(r, "GPU work");
        const Clock::time_point t2 = Clock::now();
        if (!record) return;
        float h2d = 0, compute = 0, d2h = 0;
        cudaEventElapsedTime(&h2d, t.ev[0], t.ev[1]);
        cudaEventElapsedTime(&compute, t.ev[1], t.ev[2]);
        cudaEventElapsedTime(&d2h, t.ev[2], t.ev[3]);
        latency_.push_back(std::chrono::duration<double, std::micro>(t2 - t0).count());
        if (timeline) {  // only when marked: the reference loop pays nothing otherwise
          startMs_.push_back(EpochOffsetMs(c_->engine->device, t.ev[0]));
          endMs_.push_back(EpochOffsetMs(c_->engine->device, t.ev[3]));
        }
        enqueue_.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        h2d_.push_back(h2d * 1000.0);
        compute_.push_back(compute * 1000.0);
        d2h_.push_back(d2h * 1000.0);
      };
      const Clock::time_point w0 = Clock::now();
      do once(false);
      while (std::chrono::duration<double, std::milli>(Clock::now() - w0).count() < o_.warmupMs);
      const Clock::time_point s0 = Clock::now();
      for (int64_t i = 0;; ++i) {
        if (o_.iterations > 0 ? i >= o_.iterations : std::chrono::duration<double, std::milli>(Clock::now() - s0).count() >= o_.durationMs) break;
        once(true);
      }
      totalMs_ = std::chrono::duration<double, std::milli>(Clock::now() - s0).count();
      graphUsed_ = c_->graphEnabled && c_->CurrentGraph() != nullptr;
      c_->graphEnabled = wasGraph;
    } catch (const CodedError& e) {
      code_ = e.code;
      SetError(e.message);
    }
    for (auto e : t.ev)
      if (e) cudaEventDestroy(e);
  }

  void OnOK() override {
    Napi::Env env = Env();
    c_->benchmarking = false;
    Napi::Object r = Napi::Object::New(env);
    auto arr = [&](const std::vector<double>& v) {
      Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
      std::memcpy(a.Data(), v.data(), v.size() * sizeof(double));
      return a;
    };
    r.Set("latencyUs", arr(latency_));
    r.Set("enqueueUs", arr(enqueue_));
    r.Set("h2dUs", arr(h2d_));
    r.Set("computeUs", arr(compute_));
    r.Set("d2hUs", arr(d2h_));
    r.Set("startMs", arr(startMs_));  // from the timeline mark (markTimingEpoch); empty without one
    r.Set("endMs", arr(endMs_));
    r.Set("totalMs", totalMs_);
    r.Set("cudaGraph", graphUsed_);
    deferred_.Resolve(r);
  }
  void OnError(const Napi::Error& e) override {
    c_->benchmarking = false;
    deferred_.Reject(MakeError(Env(), code_.c_str(), e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<ContextCore> c_;
  BenchOptions o_;
  std::vector<double> latency_, enqueue_, h2d_, compute_, d2h_, startMs_, endMs_;
  double totalMs_ = 0;
  bool graphUsed_ = false;
  std::string code_ = "ERR_CUDA";
};

}  // namespace

// benchmark({ iterations, durationMs, warmupMs, cudaGraph }) → Promise<{ latencyUs, ... }>:
// the same work as run() in a C++ loop on a worker thread, one iteration at a time, each
// waited for by spinning on an event: the floor the JS path is compared against.
Napi::Value ExecutionContext::Benchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = core(env);
  if (c->inflight > 0 || c->benchmarking) Throw(env, "ERR_BUSY", "the context has work in flight");
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  BenchOptions b;
  b.iterations = static_cast<int64_t>(GetNumber(o, "iterations", 0));
  b.durationMs = GetNumber(o, "durationMs", 3000);
  b.warmupMs = GetNumber(o, "warmupMs", 200);
  b.graph = GetBool(o, "cudaGraph", false);
  c->Quiesce();
  try {
    c->IssueStaged();  // the loop writes the inputs: after any copy staged into them
    c->Prepare();
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  c->benchmarking = true;
  auto* w = new BenchmarkWorker(env, c, b);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value ExecutionContext::Dispose(const Napi::CallbackInfo& info) {
  if (core_) core_->disposed = true;
  core_.reset();  // the IExecutionContext goes when the work in flight releases it
  return info.Env().Undefined();
}

Napi::Value ExecutionContext::GetProfile(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), core(info.Env())->profile); }
Napi::Value ExecutionContext::GetPending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_ ? static_cast<double>(core_->inflight) : 0);
}
Napi::Value ExecutionContext::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !core_ || core_->disposed); }
Napi::Value ExecutionContext::GetGraphCaptured(const Napi::CallbackInfo& info) {
  auto c = core(info.Env());
  c->Quiesce();  // the launch thread may be capturing
  return Napi::Boolean::New(info.Env(), c->graphEnabled && c->CurrentGraph() != nullptr);
}

Napi::Value ExecutionContext::GetGraphCount(const Napi::CallbackInfo& info) {
  auto c = core(info.Env());
  c->Quiesce();
  return Napi::Number::New(info.Env(), static_cast<double>(c->graphs.size()));
}

Napi::Value ExecutionContext::GetGraphLaunches(const Napi::CallbackInfo& info) {
  auto c = core(info.Env());
  c->Quiesce();
  return Napi::Number::New(info.Env(), static_cast<double>(c->graphUses));
}

}  // namespace trtnode
