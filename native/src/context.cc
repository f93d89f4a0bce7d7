#include "context.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>

#include "addon_data.h"
#include "common.h"
#include "cuda_compat.h"

namespace trtnode {

using Clock = std::chrono::steady_clock;

namespace {

// Pieces of pinned memory are DMA'd this many at a time (one batched copy call), the rest by
// the run's launch: fewer driver calls on the JS thread and fewer, larger DMA submissions.
constexpr size_t kPinnedGroup = 4;
// Ordinary memory copied into the pinned staging goes to the device in ranges of this size as
// they fill: the first megabytes of a batch are on their way while the rest is still arriving.
// Smaller inputs stay in the staging and are copied by the run itself (inside its CUDA graph).
constexpr size_t kDmaSegmentBytes = 2 * 1024 * 1024;
// stageInput and run() track inputs in a 64-bit mask.
constexpr size_t kMaxStagedTensors = 64;

bool SameDims(const nvinfer1::Dims& a, const nvinfer1::Dims& b) {
  return a.nbDims == b.nbDims && std::memcmp(a.d, b.d, sizeof(int64_t) * static_cast<size_t>(std::max(0, a.nbDims))) == 0;
}

bool FullyStatic(const nvinfer1::Dims& d) {
  for (int k = 0; k < d.nbDims; ++k)
    if (d.d[k] < 0) return false;
  return true;
}

// A JS number that must be a byte count or offset: a non-negative integer no larger than 2^53 - 1.
size_t SizeArg(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsNumber()) Throw(env, "ERR_INVALID_ARGUMENT", std::string(what) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d) Throw(env, "ERR_INVALID_ARGUMENT", std::string(what) + " must be an integer >= 0");
  return static_cast<size_t>(d);
}

// [offset, offset + bytes) lies inside a region of `size` bytes (no overflow).
bool Fits(size_t offset, size_t bytes, size_t size) { return offset <= size && bytes <= size - offset; }

void CopiesIn(ContextCore& c, IoSet& set, uint64_t outside) {
  for (size_t i = 0; i < set.bindings.size(); ++i) {
    Binding& b = set.bindings[i];
    if (!c.engine->io[i].isInput || !b.host || b.bytes == 0) continue;
    if (i < kMaxStagedTensors && ((outside >> i) & 1)) continue;  // on its way through the input stream
    CheckCuda(cudaMemcpyAsync(static_cast<uint8_t*>(b.dev->ptr) + b.devOffset, static_cast<uint8_t*>(b.host->ptr) + b.hostOffset, b.bytes,
                              cudaMemcpyHostToDevice, c.stream->stream()),
              "cudaMemcpyAsync (input)");
  }
}

void CopiesOut(ContextCore& c, IoSet& set) {
  for (size_t i = 0; i < set.bindings.size(); ++i) {
    Binding& b = set.bindings[i];
    if (c.engine->io[i].isInput || !b.host || b.bytes == 0) continue;
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

ContextCore::~ContextCore() {
  DeviceGuard guard(engine->device, std::nothrow);  // the thread's own context is put back after
  // Copies of staged pieces write into the staging and DMA on the input stream: let them end.
  for (auto& s : sets) {
    WaitCopies(*s);
    if (s->inStream != nullptr) {
      WarnCuda(cudaStreamSynchronize(s->inStream), "cudaStreamSynchronize");  // DMAs may still read pinned memory the set keeps
      WarnCuda(cudaStreamDestroy(s->inStream), "cudaStreamDestroy");
    }
    if (s->inReady != nullptr) cudaEventDestroy(s->inReady);
  }
  DestroyGraphs();
  delete ctx;
}

RunRecord* ContextCore::NewRecord() {
  for (auto& r : records)
    if (!r->inUse) {
      r->inUse = true;
      return r.get();
    }
  records.push_back(std::make_unique<RunRecord>());
  records.back()->inUse = true;
  return records.back().get();
}

void ContextCore::DestroyGraphs() {
  // An executable graph still in flight is freed by CUDA once it completes.
  for (auto& g : graphs) cudaGraphExecDestroy(g.exec);
  graphs.clear();
  warmKeys.clear();
}

void ContextCore::CheckShape(int index, const nvinfer1::Dims& d) const {
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
}

void ContextCore::Prepare(IoSet& set, const std::vector<nvinfer1::Dims>* dims) {
  bool shapesChanged = false;
  for (size_t i = 0; i < set.bindings.size(); ++i) {
    const TensorInfo& t = engine->io[i];
    if (!t.isInput) continue;
    const nvinfer1::Dims& d = dims != nullptr ? (*dims)[i] : currentDims[i];
    if (!trtDimsSet[i] || !SameDims(trtDims[i], d)) {
      Logger::ClearErrors();
      if (!ctx->setInputShape(t.name.c_str(), d)) {
        trtDimsSet[i] = false;
        throw CodedError{"ERR_SHAPE_MISMATCH", "TensorRT rejected shape " + DimsString(d) + " for '" + t.name + "': " + Logger::TakeErrors()};
      }
      trtDims[i] = d;
      trtDimsSet[i] = true;
      shapesChanged = true;
    }
    if (!SameDims(set.bindings[i].dims, d)) {
      set.bindings[i].dims = d;
      ++set.generation;
    }
  }
  for (size_t i = 0; i < set.bindings.size(); ++i) {
    const TensorInfo& t = engine->io[i];
    Binding& b = set.bindings[i];
    if (!t.isInput) {
      // Output shapes follow the input shapes: ask TensorRT only when those changed.
      if (shapesChanged || b.bytes == 0 || b.dims.nbDims <= 0 || !SameDims(b.dims, trtDims[i])) {
        nvinfer1::Dims d = ctx->getTensorShape(t.name.c_str());
        if (d.nbDims < 0) throw CodedError{"ERR_TRT", "TensorRT could not infer the shape of output '" + t.name + "'"};
        for (int k = 0; k < d.nbDims; ++k)
          if (d.d[k] < 0)
            throw CodedError{"ERR_TRT", "output '" + t.name + "' has a data-dependent shape " + DimsString(d) + ", which this version does not support"};
        if (!SameDims(b.dims, d)) ++set.generation;
        b.dims = d;
        trtDims[i] = d;
      }
    }
    if (t.format != 0)
      throw CodedError{"ERR_TRT", "tensor '" + t.name + "' uses a vectorized format (" + t.formatDesc + "); only linear formats are supported"};
    b.bytes = ByteSize(b.dims, t.elemBits);
    if (!b.dev) throw CodedError{"ERR_MISSING_TENSOR", "no device buffer is bound to " + std::string(t.isInput ? "input" : "output") + " '" + t.name + "'"};
    if (!Fits(b.devOffset, b.bytes, b.dev->bytes))
      throw CodedError{"ERR_BUFFER_TOO_SMALL", "'" + t.name + "' " + DimsString(b.dims) + " needs " + std::to_string(b.bytes) + " bytes; its device buffer has " +
                                                   std::to_string(b.dev->bytes - std::min(b.devOffset, b.dev->bytes))};
    if (b.host && !Fits(b.hostOffset, b.bytes, b.host->bytes))
      throw CodedError{"ERR_BUFFER_TOO_SMALL", "'" + t.name + "' " + DimsString(b.dims) + " needs " + std::to_string(b.bytes) + " bytes; its host staging buffer has " +
                                                   std::to_string(b.host->bytes - std::min(b.hostOffset, b.host->bytes))};
    const void* address = static_cast<uint8_t*>(b.dev->ptr) + b.devOffset;
    if (trtAddress[i] != address) {
      Logger::ClearErrors();
      if (!ctx->setTensorAddress(t.name.c_str(), const_cast<void*>(address))) throw CodedError{"ERR_TRT", "setTensorAddress failed: " + Logger::TakeErrors()};
      trtAddress[i] = address;
    }
  }
}

// ----------------------------------------------------------------------------- staging

void ContextCore::OnPieceCopied(CopyTask* task) {
  auto* c = static_cast<ContextCore*>(task->owner);
  IoSet& set = *c->sets[task->tag >> 16];
  const size_t index = task->tag & 0xffff;
  Binding& b = set.bindings[index];
  InputStage& st = *set.stage[index];
  uint8_t* host = static_cast<uint8_t*>(b.host->ptr) + b.hostOffset;
  const size_t begin = static_cast<size_t>(static_cast<uint8_t*>(task->piece.dst) - host);
  size_t lo = begin, hi = begin + task->piece.bytes;
  bool send = false;
  {
    std::lock_guard<std::mutex> lock(st.mutex);
    // Merge with the copied ranges on either side.
    auto next = st.ready.lower_bound(lo);
    if (next != st.ready.end() && next->first == hi) {
      hi = next->second;
      next = st.ready.erase(next);
    }
    if (next != st.ready.begin()) {
      auto prev = std::prev(next);
      if (prev->second == lo) {
        lo = prev->first;
        st.ready.erase(prev);
      }
    }
    if (hi - lo >= kDmaSegmentBytes) {
      send = true;
      st.dmaIssued = true;
    } else {
      st.ready.emplace(lo, hi);
    }
  }
  if (send) {
    cudaError_t e = cudaSetDevice(c->engine->device);
    if (e == cudaSuccess)
      e = cudaMemcpyAsync(static_cast<uint8_t*>(b.dev->ptr) + b.devOffset + lo, host + lo, hi - lo, cudaMemcpyHostToDevice, set.inStream);
    if (e != cudaSuccess) {
      std::lock_guard<std::mutex> lock(st.mutex);
      if (st.error.empty()) st.error = CudaMessage(e, "cudaMemcpyAsync (staged input)");
    }
  }
  std::lock_guard<std::mutex> lock(c->copyMutex);
  if (--set.copiesPending == 0) c->copyDone.notify_all();
}

void ContextCore::WaitCopies(IoSet& set) {
  std::unique_lock<std::mutex> lock(copyMutex);
  copyDone.wait(lock, [&] { return set.copiesPending == 0; });
}

void ContextCore::ClearStaging(IoSet& set) {
  if (!set.staged) return;
  WaitCopies(set);
  for (auto& st : set.stage)
    if (st) st->Reset();
  set.stagedRefs.clear();  // the copies that read them are done
  {
    std::lock_guard<std::mutex> lock(set.queueMutex);
    set.pinnedQueue.clear();  // never issued
  }
  // DMAs already issued may still be queued on the input stream: the pinned memory they read
  // stays with the set until its next run, which joins the input stream, completes.
  if (!set.stagedKeep.empty()) set.joinPending = true;
  set.tasksUsed = 0;
  set.staged = false;
}

// Any thread: the JS thread every few pieces, the launch thread for the rest.
void ContextCore::IssuePinnedQueue(IoSet& set) {
  std::lock_guard<std::mutex> batch(batchMutex);
  {
    std::lock_guard<std::mutex> lock(set.queueMutex);
    if (set.pinnedQueue.empty()) return;
    batchDst.clear();
    batchSrc.clear();
    batchBytes.clear();
    for (const CopyPiece& p : set.pinnedQueue) {
      batchDst.push_back(p.dst);
      batchSrc.push_back(p.src);
      batchBytes.push_back(p.bytes);
    }
    set.pinnedQueue.clear();
  }
  UseDevice(engine->device);
  MemcpyBatchH2DAsync(batchDst.data(), batchSrc.data(), batchBytes.data(), batchDst.size(), engine->device, set.inStream);
}

// ----------------------------------------------------------------------------- launching

const std::vector<int64_t>& ContextCore::BindingKey(IoSet& set, uint64_t outsideGraph) {
  if (set.keyGeneration == set.generation && set.keyOutside == outsideGraph) return set.key;
  std::vector<int64_t>& k = set.key;
  k.clear();
  k.push_back(profile);
  for (const Binding& b : set.bindings) {
    k.push_back(b.dims.nbDims);
    for (int i = 0; i < b.dims.nbDims; ++i) k.push_back(b.dims.d[i]);
    k.push_back(static_cast<int64_t>(reinterpret_cast<uintptr_t>(b.dev ? b.dev->ptr : nullptr)) + static_cast<int64_t>(b.devOffset));
    k.push_back(static_cast<int64_t>(reinterpret_cast<uintptr_t>(b.host ? b.host->ptr : nullptr)) + static_cast<int64_t>(b.hostOffset));
  }
  k.push_back(static_cast<int64_t>(outsideGraph));
  set.keyGeneration = set.generation;
  set.keyOutside = outsideGraph;
  return k;
}

ContextCore::Graph* ContextCore::FindGraph(const std::vector<int64_t>& key) {
  for (auto& g : graphs)
    if (g.key == key) return &g;
  return nullptr;
}

// Captures the inputs' copies (those not on the input stream), the inference and the output
// copies for the current binding state. false (why says it) when the work cannot be captured.
bool ContextCore::CaptureGraph(IoSet& set, uint64_t outsideGraph, const std::vector<int64_t>& key, std::string& why) {
  cudaStream_t s = stream->stream();
  cudaGraph_t g = nullptr;
  CheckCuda(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  bool ok = true;
  try {
    CopiesIn(*this, set, outsideGraph);
    Enqueue(*this);
    CopiesOut(*this, set);
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
  if (graphs.size() >= maxGraphs) {
    auto lru = std::min_element(graphs.begin(), graphs.end(), [](const Graph& a, const Graph& b) { return a.lastUse < b.lastUse; });
    cudaGraphExecDestroy(lru->exec);  // freed by CUDA after a launch still in flight
    graphs.erase(lru);
  }
  graphs.push_back(Graph{key, exec, 0});
  return true;
}

uint64_t ContextCore::FlushStaged(IoSet& set, uint64_t stagedInputs) {
  uint64_t outside = 0;
  if (stagedInputs == 0) return 0;
  WaitCopies(set);
  IssuePinnedQueue(set);
  for (size_t i = 0; i < set.bindings.size() && i < kMaxStagedTensors; ++i) {
    if (((stagedInputs >> i) & 1) == 0) continue;
    InputStage& st = *set.stage[i];
    Binding& b = set.bindings[i];
    std::lock_guard<std::mutex> lock(st.mutex);
    if (!st.error.empty()) throw CodedError{"ERR_CUDA", st.error};
    // Wholly in the pinned staging and nothing sent yet (a small input): copied by the run
    // itself, inside its graph.
    if (!st.anyPinned && !st.dmaIssued) continue;
    for (const auto& r : st.ready)
      CheckCuda(cudaMemcpyAsync(static_cast<uint8_t*>(b.dev->ptr) + b.devOffset + r.first, static_cast<uint8_t*>(b.host->ptr) + b.hostOffset + r.first,
                                r.second - r.first, cudaMemcpyHostToDevice, set.inStream),
                "cudaMemcpyAsync (staged input)");
    st.ready.clear();
    outside |= uint64_t{1} << i;
  }
  return outside;
}

void ContextCore::EnqueueCompute(IoSet& set, uint64_t outside, TimingEvents* t) {
  cudaStream_t cs = stream->stream();
  if (outside != 0 || set.joinPending) {
    CheckCuda(cudaEventRecord(set.inReady, set.inStream), "cudaEventRecord");
    CheckCuda(cudaStreamWaitEvent(cs, set.inReady, 0), "cudaStreamWaitEvent");
    set.joinPending = false;
  }
  if (graphEnabled) {
    const std::vector<int64_t>& key = BindingKey(set, outside);
    Graph* g = FindGraph(key);
    if (g == nullptr && std::find(warmKeys.begin(), warmKeys.end(), key) != warmKeys.end()) {
      std::string why;
      if (CaptureGraph(set, outside, key, why)) {
        g = FindGraph(key);
      } else {
        // Not capturable (TensorRT needs a synchronization inside, say): run without graphs.
        graphEnabled = false;
        if (engine->runtime->logger)
          engine->runtime->logger->log(nvinfer1::ILogger::Severity::kWARNING, ("tensorrt-node: CUDA graph capture failed, running without graphs: " + why).c_str());
      }
    }
    if (g != nullptr) {
      // Timed, a replay reads as [h2d: the input stream's copies before it, compute: the graph
      // (its own copies included), d2h: 0].
      if (t) CheckCuda(cudaEventRecord(t->ev[1], cs), "cudaEventRecord");
      CheckCuda(cudaGraphLaunch(g->exec, cs), "cudaGraphLaunch");
      g->lastUse = ++graphUses;
      set.replayedGeneration = outside == 0 ? set.generation : 0;
      if (t) {
        CheckCuda(cudaEventRecord(t->ev[2], cs), "cudaEventRecord");
        CheckCuda(cudaEventRecord(t->ev[3], cs), "cudaEventRecord");
      }
      return;
    }
  }
  set.replayedGeneration = 0;
  CopiesIn(*this, set, outside);
  if (t) CheckCuda(cudaEventRecord(t->ev[1], cs), "cudaEventRecord");
  Enqueue(*this);
  if (t) CheckCuda(cudaEventRecord(t->ev[2], cs), "cudaEventRecord");
  CopiesOut(*this, set);
  if (t) CheckCuda(cudaEventRecord(t->ev[3], cs), "cudaEventRecord");
  if (graphEnabled) {
    warmKeys.push_back(BindingKey(set, outside));
    if (warmKeys.size() > 2 * maxGraphs) warmKeys.erase(warmKeys.begin());
  }
}

void ContextCore::Launch(Completion* c) {
  auto* r = static_cast<RunRecord*>(c->launchData);
  IoSet& set = *sets[static_cast<size_t>(r->set)];
  const bool plain = r->stagedInputs == 0;
  const auto t0 = Clock::now();
  UseDevice(engine->device);
  Prepare(set, &r->dims);
  if (r->outDims != nullptr) {
    size_t k = 0;
    for (size_t i = 0; i < set.bindings.size(); ++i) {
      if (engine->io[i].isInput) continue;
      const nvinfer1::Dims& d = set.bindings[i].dims;
      if (k + 1 + static_cast<size_t>(d.nbDims) > r->outDimsLength) break;
      r->outDims[k++] = d.nbDims;
      for (int j = 0; j < d.nbDims; ++j) r->outDims[k++] = static_cast<int32_t>(d.d[j]);
    }
  }
  TimingEvents* t = c->timing;
  if (t) CheckCuda(cudaEventRecord(t->ev[0], r->stagedInputs != 0 ? set.inStream : stream->stream()), "cudaEventRecord");
  const uint64_t outside = FlushStaged(set, r->stagedInputs);
  EnqueueCompute(set, outside, t);
  if (plain) launchMicros = MovingAverage(launchMicros, std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
}

// A replay of the graph this set used last time, or an enqueue measured at a few tens of µs of
// host time (a small network): cheap enough for the JS thread. Runs of staged inputs wait for
// copy threads first, which is the watcher's job.
bool ContextCore::CheapLaunch(const Completion* c) {
  constexpr double kCheapLaunchMicros = 30;
  const auto* r = static_cast<const RunRecord*>(c->launchData);
  if (r->stagedInputs != 0) return false;
  const IoSet& set = *sets[static_cast<size_t>(r->set)];
  if (graphEnabled && set.replayedGeneration == set.generation && !set.joinPending) {
    bool same = true;
    for (size_t i = 0; i < set.bindings.size() && same; ++i)
      if (engine->io[i].isInput) same = SameDims(set.bindings[i].dims, r->dims[i]);
    if (same) return true;  // the graph this set replayed last time
  }
  return launchMicros > 0 && launchMicros < kCheapLaunchMicros;
}

void ContextCore::Discard(Completion*) {}

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
                         InstanceMethod("clearStaged", &ExecutionContext::ClearStaged),
                         InstanceMethod("truncateStaged", &ExecutionContext::TruncateStaged),
                         InstanceMethod("benchmark", &ExecutionContext::Benchmark),
                         InstanceMethod("dispose", &ExecutionContext::Dispose),
                         InstanceAccessor("profile", &ExecutionContext::GetProfile, nullptr),
                         InstanceAccessor("pending", &ExecutionContext::GetPending, nullptr),
                         InstanceAccessor("disposed", &ExecutionContext::GetDisposed, nullptr),
                         InstanceAccessor("ioSets", &ExecutionContext::GetIoSets, nullptr),
                         InstanceAccessor("graphCount", &ExecutionContext::GetGraphCount, nullptr),
                         InstanceAccessor("graphLaunches", &ExecutionContext::GetGraphLaunches, nullptr),
                     });
}

// new ExecutionContext(engine, stream, { profile = 0, deviceMemory?: DeviceBuffer, ioSets = 1, maxGraphs = 32 })
ExecutionContext::ExecutionContext(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExecutionContext>(info) {
  Napi::Env env = info.Env();
  auto engine = Engine::FromJs(env, info[0])->core(env);
  auto stream = Stream::FromJs(env, info[1])->core(env);
  Napi::Object o = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  if (stream->device() != engine->device)
    Throw(env, "ERR_INVALID_ARGUMENT", "the stream is on device " + std::to_string(stream->device()) + ", the engine on device " + std::to_string(engine->device));
  const double setsD = GetNumber(o, "ioSets", 1);
  if (!(setsD >= 1 && setsD <= 8) || std::floor(setsD) != setsD) Throw(env, "ERR_INVALID_ARGUMENT", "ioSets must be an integer from 1 to 8");
  const double graphsD = GetNumber(o, "maxGraphs", 32);
  if (!(graphsD >= 1 && graphsD <= 1024) || std::floor(graphsD) != graphsD) Throw(env, "ERR_INVALID_ARGUMENT", "maxGraphs must be an integer from 1 to 1024");
  const double profileD = GetNumber(o, "profile", 0);
  if (!(profileD >= 0) || std::floor(profileD) != profileD || profileD >= engine->numProfiles)
    Throw(env, "ERR_INVALID_ARGUMENT", "optimization profile " + std::to_string(profileD) + " does not exist (the engine has " + std::to_string(engine->numProfiles) + ")");
  std::shared_ptr<DeviceMem> scratch;
  {
    Napi::Value mem = o.Get("deviceMemory");
    if (!mem.IsUndefined()) {
      if (!DeviceBuffer::Is(env, mem)) Throw(env, "ERR_INVALID_ARGUMENT", std::string("deviceMemory must be a DeviceBuffer, got ") + TypeName(mem));
      scratch = DeviceBuffer::FromJs(env, mem)->mem(env);
      // TensorRT would run kernels on the engine's device against another device's memory
      if (scratch->device != engine->device)
        Throw(env, "ERR_INVALID_ARGUMENT", "deviceMemory is on device " + std::to_string(scratch->device) + ", the engine on device " + std::to_string(engine->device));
    }
  }
  auto core = std::make_shared<ContextCore>();
  core->engine = engine;
  core->stream = stream;
  core->maxGraphs = static_cast<size_t>(graphsD);
  const size_t n = engine->io.size();
  for (int k = 0; k < static_cast<int>(setsD); ++k) {
    auto s = std::make_unique<IoSet>();
    s->index = k;
    s->bindings.resize(n);
    for (size_t i = 0; i < n; ++i) s->stage.push_back(engine->io[i].isInput ? std::make_unique<InputStage>() : nullptr);
    core->sets.push_back(std::move(s));
  }
  core->currentDims.resize(n);
  core->currentDimsSet.assign(n, false);
  core->trtDims.resize(n);
  core->trtDimsSet.assign(n, false);
  core->trtAddress.assign(n, nullptr);
  for (size_t i = 0; i < n; ++i)
    if (engine->io[i].isInput && FullyStatic(engine->io[i].dims)) {
      core->currentDims[i] = engine->io[i].dims;  // a static input needs no shape from the caller
      core->currentDimsSet[i] = true;
    }
  try {
    UseDevice(engine->device);
    int priority = 0;
    CheckCuda(cudaStreamGetPriority(stream->stream(), &priority), "cudaStreamGetPriority");
    for (auto& s : core->sets) {
      CheckCuda(cudaStreamCreateWithPriority(&s->inStream, cudaStreamNonBlocking, priority), "cudaStreamCreateWithPriority");
      CheckCuda(cudaEventCreateWithFlags(&s->inReady, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    }
    Logger::ClearErrors();
    if (scratch) {
      // Caller-managed activation memory: contexts that never run at the same time may share it.
      core->scratch = scratch;
      const int64_t need = engine->engine->getDeviceMemorySizeV2();
      if (need < 0 || static_cast<uint64_t>(core->scratch->bytes) < static_cast<uint64_t>(need))
        throw CodedError{"ERR_BUFFER_TOO_SMALL", "deviceMemory has " + std::to_string(core->scratch->bytes) + " bytes; the engine needs " + std::to_string(need)};
      core->ctx = engine->engine->createExecutionContext(nvinfer1::ExecutionContextAllocationStrategy::kUSER_MANAGED);
      if (core->ctx != nullptr) {
        Logger::ClearErrors();
        core->ctx->setDeviceMemoryV2(core->scratch->ptr, static_cast<int64_t>(core->scratch->bytes));
        const std::string err = Logger::TakeErrors();  // it returns nothing: TensorRT's log says whether it took the memory
        if (!err.empty()) throw CodedError{"ERR_TRT", "setDeviceMemoryV2 failed: " + err};
      }
    } else {
      core->ctx = engine->engine->createExecutionContext(nvinfer1::ExecutionContextAllocationStrategy::kSTATIC);
    }
    if (core->ctx == nullptr) {
      std::string err = Logger::TakeErrors();
      const bool oom = err.find("memory") != std::string::npos || err.find("Memory") != std::string::npos;
      throw CodedError{oom ? "ERR_OUT_OF_MEMORY" : "ERR_TRT", "createExecutionContext failed: " + (err.empty() ? "no reason given" : err)};
    }
    const int profile = static_cast<int>(profileD);
    if (profile != 0 || engine->numProfiles > 1) {
      if (!core->ctx->setOptimizationProfileAsync(profile, stream->stream())) throw CodedError{"ERR_TRT", "setOptimizationProfileAsync failed: " + Logger::TakeErrors()};
    }
    core->profile = profile;
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);  // core's destructor frees what was created
  }
  {
    // Contexts created and dropped over a long life would otherwise leave their expired entries here.
    std::lock_guard<std::mutex> lock(engine->childrenMutex);
    engine->children.erase(std::remove_if(engine->children.begin(), engine->children.end(), [](const std::weak_ptr<ContextCore>& w) { return w.expired(); }),
                           engine->children.end());
    engine->children.push_back(core);
  }
  core_ = core;
  info.This().As<Napi::Object>().TypeTag(&kContextTag);
}

ExecutionContext* ExecutionContext::Unwrap(const Napi::Object& o) { return CheckedUnwrap<ExecutionContext>(o, &kContextTag, "ExecutionContext"); }

ExecutionContext::~ExecutionContext() {
  // Collected without dispose(): what is staged and not run is dropped; work in flight keeps
  // the core until it is delivered.
  if (core_) core_->disposed = true;
}

std::shared_ptr<ContextCore> ExecutionContext::core(Napi::Env env) {
  if (!core_ || core_->disposed) Throw(env, "ERR_DISPOSED", core_ ? "the Engine of this ExecutionContext was disposed" : "the ExecutionContext was disposed");
  return core_;
}

std::shared_ptr<ContextCore> ExecutionContext::Usable(Napi::Env env) {
  auto c = core(env);
  if (c->benchmarking) Throw(env, "ERR_BUSY", "the context is running a benchmark");
  return c;
}

int ExecutionContext::Index(Napi::Env env, const std::shared_ptr<ContextCore>& c, Napi::Value name) {
  if (!name.IsString()) Throw(env, "ERR_INVALID_ARGUMENT", "tensor name must be a string");
  std::string n = name.As<Napi::String>().Utf8Value();
  int i = c->engine->Find(n);
  if (i < 0) Throw(env, "ERR_UNKNOWN_TENSOR", "the engine has no tensor named '" + n + "'");
  return i;
}

IoSet& ExecutionContext::SetArg(Napi::Env env, const std::shared_ptr<ContextCore>& c, Napi::Value v) {
  if (v.IsUndefined() || v.IsNull()) return *c->sets[0];
  const size_t s = SizeArg(env, v, "set");
  if (s >= c->sets.size()) Throw(env, "ERR_INVALID_ARGUMENT", "IO set " + std::to_string(s) + " does not exist (the context has " + std::to_string(c->sets.size()) + ")");
  return *c->sets[s];
}

static nvinfer1::Dims DimsFromJs(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) Throw(env, "ERR_INVALID_ARGUMENT", "a shape must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  nvinfer1::Dims d{};
  if (a.Length() > static_cast<uint32_t>(nvinfer1::Dims::MAX_DIMS)) Throw(env, "ERR_SHAPE_MISMATCH", "too many dimensions");
  d.nbDims = static_cast<int32_t>(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value x = a[i];
    const double f = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1.5;
    if (!(std::fabs(f) <= 9007199254740991.0) || std::floor(f) != f) Throw(env, "ERR_INVALID_ARGUMENT", "shape dimensions must be integers");
    d.d[i] = static_cast<int64_t>(f);
  }
  return d;
}

Napi::Value ExecutionContext::SetInputShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  const int i = Index(env, c, info[0]);
  const nvinfer1::Dims d = DimsFromJs(env, info[1]);
  c->Quiesce();
  try {
    c->CheckShape(i, d);
    UseDevice(c->engine->device);
    Logger::ClearErrors();
    if (!c->ctx->setInputShape(c->engine->io[i].name.c_str(), d)) {
      c->trtDimsSet[i] = false;
      throw CodedError{"ERR_SHAPE_MISMATCH", "TensorRT rejected shape " + DimsString(d) + " for '" + c->engine->io[i].name + "': " + Logger::TakeErrors()};
    }
    c->trtDims[i] = d;
    c->trtDimsSet[i] = true;
    c->currentDims[i] = d;
    c->currentDimsSet[i] = true;
    // TensorRT's input shape changed outside Prepare: the output shapes it derived are stale
    // (Prepare asks again for an output whose cached shape no longer matches).
    for (size_t j = 0; j < c->engine->io.size(); ++j)
      if (!c->engine->io[j].isInput) c->trtDims[j].nbDims = -1;
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  return env.Undefined();
}

Napi::Value ExecutionContext::GetTensorShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  const int i = Index(env, c, info[0]);
  c->Quiesce();
  return DimsToJs(env, c->ctx->getTensorShape(c->engine->io[i].name.c_str()));
}

// setTensorAddress(name, deviceBuffer | null, byteOffset = 0, set = 0)
Napi::Value ExecutionContext::SetTensorAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  const int i = Index(env, c, info[0]);
  IoSet& set = SetArg(env, c, info.Length() > 3 ? info[3] : env.Undefined());
  std::shared_ptr<DeviceMem> mem;
  size_t off = 0;
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    mem = DeviceBuffer::FromJs(env, info[1])->mem(env);
    off = info.Length() > 2 && !info[2].IsUndefined() ? SizeArg(env, info[2], "byteOffset") : 0;
    if (off >= mem->bytes) Throw(env, "ERR_INVALID_ARGUMENT", "byteOffset is beyond the end of the buffer");
    if (mem->device != c->engine->device) Throw(env, "ERR_INVALID_ARGUMENT", "the buffer is on another device than the engine");
    if (off % 256 != 0) Throw(env, "ERR_INVALID_ARGUMENT", "byteOffset must be a multiple of 256 (TensorRT's alignment)");
  }
  c->Quiesce();
  c->ClearStaging(set);  // staged pieces were headed for the old buffer
  Binding& b = set.bindings[i];
  b.dev = std::move(mem);
  b.devOffset = off;
  ++set.generation;
  return env.Undefined();
}

// setHostStaging(name, hostBuffer | null, byteOffset = 0, set = 0): a run copies an input from
// it before the inference and an output into it after.
Napi::Value ExecutionContext::SetHostStaging(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  const int i = Index(env, c, info[0]);
  IoSet& set = SetArg(env, c, info.Length() > 3 ? info[3] : env.Undefined());
  std::shared_ptr<HostMem> mem;
  size_t off = 0;
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    mem = HostBuffer::FromJs(env, info[1])->mem(env);
    off = info.Length() > 2 && !info[2].IsUndefined() ? SizeArg(env, info[2], "byteOffset") : 0;
    if (off >= mem->bytes) Throw(env, "ERR_INVALID_ARGUMENT", "byteOffset is beyond the end of the buffer");
  }
  c->Quiesce();
  c->ClearStaging(set);  // staged pieces were copied into the old staging
  Binding& b = set.bindings[i];
  b.host = std::move(mem);
  b.hostOffset = off;
  ++set.generation;
  return env.Undefined();
}

Napi::Value ExecutionContext::SetOptimizationProfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  const int p = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() != p || p < 0 || p >= c->engine->numProfiles)
    Throw(env, "ERR_INVALID_ARGUMENT", "optimization profile " + std::to_string(p) + " does not exist (the engine has " + std::to_string(c->engine->numProfiles) + ")");
  if (c->inflight > 0) Throw(env, "ERR_BUSY", "cannot change the optimization profile while work is in flight");
  if (p == c->profile) return env.Undefined();
  c->Quiesce();
  UseDevice(c->engine->device);
  Logger::ClearErrors();
  if (!c->ctx->setOptimizationProfileAsync(p, c->stream->stream())) Throw(env, "ERR_TRT", "setOptimizationProfileAsync failed: " + Logger::TakeErrors());
  c->profile = p;
  for (size_t i = 0; i < c->engine->io.size(); ++i) {
    if (!c->engine->io[i].isInput) continue;
    c->trtDimsSet[i] = false;  // shapes must be set again for the new profile
    c->currentDimsSet[i] = FullyStatic(c->engine->io[i].dims);
  }
  return env.Undefined();
}

Napi::Value ExecutionContext::SetCudaGraph(const Napi::CallbackInfo& info) {
  auto c = Usable(info.Env());
  c->Quiesce();
  c->graphEnabled = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

// setTiming(enabled, into?: Float64Array): with `into` (3 elements at least), every run's
// timing is written there and the run resolves with it, instead of with a new array.
Napi::Value ExecutionContext::SetTiming(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
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

// run({ inputDims?: Int32Array, outputDims?: Int32Array, set? }) → Promise<undefined | Float64Array>
// inputDims packs [rank, d0, d1, ...] for every input in engine IO order (absent: the shapes of
// the last run or setInputShape). outputDims receives the same packing for every output when
// the run is launched. Inputs with staged pieces (stageInput) take them; the others are copied
// from their host staging, if bound.
Napi::Value ExecutionContext::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  IoSet& set = SetArg(env, c, o.Get("set"));
  const int setIndex = set.index;
  Napi::Value inDims = o.Get("inputDims");
  Napi::Value outDims = o.Get("outputDims");
  if (!inDims.IsUndefined() && !inDims.IsNull() && !(inDims.IsTypedArray() && inDims.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array))
    Throw(env, "ERR_INVALID_ARGUMENT", "inputDims must be an Int32Array");
  if (!outDims.IsUndefined() && !outDims.IsNull() && !(outDims.IsTypedArray() && outDims.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array))
    Throw(env, "ERR_INVALID_ARGUMENT", "outputDims must be an Int32Array");
  if (set.inflight > 0) Throw(env, "ERR_BUSY", "a run of IO set " + std::to_string(setIndex) + " is in flight: its buffers are in use");
  RunRecord* rec = c->NewRecord();
  rec->set = setIndex;
  rec->stagedInputs = 0;
  rec->outDims = nullptr;
  rec->outDimsLength = 0;
  try {
    rec->dims = c->currentDims;
    if (inDims.IsTypedArray()) {
      Napi::Int32Array dims = inDims.As<Napi::Int32Array>();
      size_t k = 0;
      for (size_t i = 0; i < set.bindings.size(); ++i) {
        if (!c->engine->io[i].isInput) continue;
        if (k >= dims.ElementLength()) throw CodedError{"ERR_INVALID_ARGUMENT", "inputDims is too short"};
        nvinfer1::Dims d{};
        d.nbDims = dims[k++];
        if (d.nbDims < 0 || d.nbDims > nvinfer1::Dims::MAX_DIMS || k + static_cast<size_t>(d.nbDims) > dims.ElementLength())
          throw CodedError{"ERR_INVALID_ARGUMENT", "inputDims is malformed"};
        for (int j = 0; j < d.nbDims; ++j) d.d[j] = dims[k++];
        c->CheckShape(static_cast<int>(i), d);
        rec->dims[i] = d;
      }
    }
    for (size_t i = 0; i < set.bindings.size(); ++i) {
      const TensorInfo& t = c->engine->io[i];
      if (!t.isInput) continue;
      if (!inDims.IsTypedArray() && !c->currentDimsSet[i])
        throw CodedError{"ERR_MISSING_TENSOR", "the shape of input '" + t.name + "' was not set (it has dynamic dimensions " + DimsString(t.dims) + ")"};
      if (i >= kMaxStagedTensors) continue;
      const InputStage& st = *set.stage[i];
      if (st.end == 0) continue;
      const size_t bytes = ByteSize(rec->dims[i], t.elemBits);
      if (st.end != bytes)
        throw CodedError{"ERR_SHAPE_MISMATCH", "input '" + t.name + "': " + std::to_string(st.end) + " bytes were staged; shape " + DimsString(rec->dims[i]) +
                                                   " needs " + std::to_string(bytes)};
    }
    // Inputs whose pieces all sit in the pinned staging already, none sent (small ones, copied
    // inline): the run copies them itself, inside its graph, and may launch inline. The others
    // go through the set's input stream, which the launch waits for.
    bool copiesDone = false;
    {
      std::lock_guard<std::mutex> lock(c->copyMutex);
      copiesDone = set.copiesPending == 0;
    }
    for (size_t i = 0; i < set.bindings.size() && i < kMaxStagedTensors; ++i) {
      if (!c->engine->io[i].isInput || set.stage[i]->end == 0) continue;
      InputStage& st = *set.stage[i];
      bool direct = !copiesDone;
      {
        std::lock_guard<std::mutex> lock(st.mutex);
        direct = direct || st.anyPinned || st.dmaIssued;
      }
      if (direct) rec->stagedInputs |= uint64_t{1} << i;
      else st.Reset();
    }
    if (rec->stagedInputs == 0 && copiesDone) {
      set.tasksUsed = 0;
      set.staged = false;
    }
  } catch (const CodedError& e) {
    rec->inUse = false;
    Throw(env, e.code.c_str(), e.message);
  }
  if (inDims.IsTypedArray()) {
    c->currentDims = rec->dims;
    for (size_t i = 0; i < c->engine->io.size(); ++i)
      if (c->engine->io[i].isInput) c->currentDimsSet[i] = true;
  }
  Completion* comp = c->stream->NewCompletion();
  TimingEvents* t = nullptr;
  try {
    t = c->timing ? c->stream->NewTiming() : nullptr;
  } catch (const CodedError& e) {
    rec->inUse = false;
    c->stream->ReturnUnused(comp);
    Throw(env, e.code.c_str(), e.message);
  }
  comp->timing = t;
  if (t != nullptr && !timingTarget_.IsEmpty()) comp->timingOut = Napi::Persistent(timingTarget_.Value());
  if (outDims.IsTypedArray()) {
    Napi::Int32Array a = outDims.As<Napi::Int32Array>();
    rec->outDims = a.Data();
    rec->outDimsLength = a.ElementLength();
    comp->jsRefs.push_back(Napi::Persistent(outDims));  // written by the launch thread
  }
  comp->launcher = c.get();
  comp->launchData = rec;
  comp->keepAlive.push_back(c);
  for (auto& b : set.bindings) {
    if (b.dev) comp->keepAlive.push_back(b.dev);
    if (b.host) comp->keepAlive.push_back(b.host);
  }
  ContextCore* raw = c.get();
  comp->onSettled = [raw, rec] {
    --raw->inflight;
    IoSet& s = *raw->sets[static_cast<size_t>(rec->set)];
    --s.inflight;
    // The launch waited for the set's copies and its completion follows every DMA issued on
    // the set's input stream before it: what they read may go, and the set be staged afresh.
    s.stagedRefs.clear();
    s.stagedKeep.clear();
    if (rec->stagedInputs != 0) {
      for (auto& st : s.stage)
        if (st) st->Reset();
      s.tasksUsed = 0;
      s.staged = false;
    }
    rec->inUse = false;
  };
  ++c->inflight;
  ++set.inflight;
  return c->stream->Submit(env, comp);  // on failure it settles comp (onSettled runs) and throws
}

// stageInput(name, byteOffset, data, set = 0): copies one piece of an input (host memory of any
// kind) towards the device at byteOffset, ahead of the run() of that set, which then takes it
// instead of copying the input from its host staging. Pinned memory (a HostBuffer or a view of
// one) is DMA'd straight from where it is; other memory is copied into the set's pinned staging
// by copy threads and DMA'd from there as ranges fill. Pieces go in order from byte 0 (0 starts
// the input afresh). Refused while a run of the set is in flight: its buffers are in use.
Napi::Value ExecutionContext::StageInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  const int i = Index(env, c, info[0]);
  const std::string& name = c->engine->io[i].name;
  if (!c->engine->io[i].isInput) Throw(env, "ERR_INVALID_ARGUMENT", "'" + name + "' is an output, not an input");
  if (static_cast<size_t>(i) >= kMaxStagedTensors) Throw(env, "ERR_INVALID_ARGUMENT", "stageInput supports the first 64 tensors of an engine");
  IoSet& set = SetArg(env, c, info.Length() > 3 ? info[3] : env.Undefined());
  const size_t setIndex = static_cast<size_t>(set.index);
  if (set.inflight > 0) Throw(env, "ERR_BUSY", "a run of IO set " + std::to_string(setIndex) + " is in flight: its input must not be overwritten");
  const size_t off = SizeArg(env, info.Length() > 1 ? info[1] : env.Undefined(), "byteOffset");
  HostRegion r = GetHostRegion(env, info.Length() > 2 ? info[2] : env.Undefined());
  Binding& b = set.bindings[i];
  if (!b.dev) Throw(env, "ERR_INVALID_ARGUMENT", "input '" + name + "' has no device buffer bound");
  const size_t devRoom = b.dev->bytes - b.devOffset;
  if (!Fits(off, r.bytes, devRoom))
    Throw(env, "ERR_BUFFER_TOO_SMALL", "input '" + name + "': " + std::to_string(r.bytes) + " bytes at byteOffset " + std::to_string(off) + " exceed its device buffer (" +
                                           std::to_string(devRoom) + " bytes)");
  if (!r.pinnedMem) {
    if (!b.host) Throw(env, "ERR_INVALID_ARGUMENT", "input '" + name + "' has no host staging buffer to copy ordinary memory into");
    const size_t hostRoom = b.host->bytes - b.hostOffset;
    if (!Fits(off, r.bytes, hostRoom))
      Throw(env, "ERR_BUFFER_TOO_SMALL", "input '" + name + "': " + std::to_string(r.bytes) + " bytes at byteOffset " + std::to_string(off) + " exceed its host staging (" +
                                             std::to_string(hostRoom) + " bytes)");
  }
  InputStage& st = *set.stage[i];
  if (off != 0 && off != st.end)
    Throw(env, "ERR_INVALID_ARGUMENT", "staged pieces of input '" + name + "' go in order: expected byteOffset 0 or " + std::to_string(st.end) + ", got " + std::to_string(off));
  if (off == 0 && st.end != 0) {
    c->WaitCopies(set);  // this input starts afresh: its earlier pieces' copies must not land later
    st.Reset();
  }
  set.staged = true;
  if (r.bytes > 0) {
    try {
      if (r.pinnedMem) {
        bool issue = false;
        {
          std::lock_guard<std::mutex> lock(set.queueMutex);
          set.pinnedQueue.push_back({static_cast<uint8_t*>(b.dev->ptr) + b.devOffset + off, r.ptr, r.bytes});
          issue = set.pinnedQueue.size() >= kPinnedGroup;
        }
        st.anyPinned = true;
        set.stagedKeep.push_back(r.pinnedMem);
        if (issue) c->IssuePinnedQueue(set);
      } else {
        if (set.tasksUsed == set.tasks.size()) set.tasks.push_back(std::make_unique<CopyTask>());
        CopyTask* task = set.tasks[set.tasksUsed++].get();
        task->piece = {static_cast<uint8_t*>(b.host->ptr) + b.hostOffset + off, r.ptr, r.bytes};
        task->owner = c.get();
        task->tag = (setIndex << 16) | static_cast<size_t>(i);
        task->onDone = &ContextCore::OnPieceCopied;
        set.stagedRefs.push_back(Napi::Persistent(r.jsValue));  // the JS memory stays until the copy is done
        {
          std::lock_guard<std::mutex> lock(c->copyMutex);
          ++set.copiesPending;
        }
        SubmitCopy(task);
      }
    } catch (const CodedError& e) {
      // Pieces staged before this one may not have reached the device: none counts any more.
      c->ClearStaging(set);
      Throw(env, e.code.c_str(), e.message);
    }
  }
  st.end = off + r.bytes;
  return env.Undefined();
}

// clearStaged(set = 0): forgets the pieces staged on the set (the batch they were for will not run).
Napi::Value ExecutionContext::ClearStaged(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  IoSet& set = SetArg(env, c, info.Length() > 0 ? info[0] : env.Undefined());
  if (set.inflight > 0) Throw(env, "ERR_BUSY", "a run of this IO set is in flight");
  c->ClearStaging(set);
  return env.Undefined();
}

// truncateStaged(name, byteLength, set = 0): keeps the first byteLength staged bytes of an input
// (a batch formed shorter than what was staged for it). Pieces beyond may still reach the
// device, past the rows the run reads.
Napi::Value ExecutionContext::TruncateStaged(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  const int i = Index(env, c, info[0]);
  if (!c->engine->io[i].isInput || static_cast<size_t>(i) >= kMaxStagedTensors) Throw(env, "ERR_INVALID_ARGUMENT", "'" + c->engine->io[i].name + "' is not a stageable input");
  IoSet& set = SetArg(env, c, info.Length() > 2 ? info[2] : env.Undefined());
  if (set.inflight > 0) Throw(env, "ERR_BUSY", "a run of this IO set is in flight");
  const size_t keep = SizeArg(env, info.Length() > 1 ? info[1] : env.Undefined(), "byteLength");
  InputStage& st = *set.stage[i];
  if (keep > st.end) Throw(env, "ERR_INVALID_ARGUMENT", "input '" + c->engine->io[i].name + "' has " + std::to_string(st.end) + " bytes staged, fewer than " + std::to_string(keep));
  if (keep == st.end) return env.Undefined();
  c->WaitCopies(set);  // nothing may land in the ranges dropped below afterwards
  {
    std::lock_guard<std::mutex> lock(st.mutex);
    for (auto it = st.ready.begin(); it != st.ready.end();) {
      if (it->first >= keep) {
        it = st.ready.erase(it);
      } else {
        if (it->second > keep) it->second = keep;
        ++it;
      }
    }
  }
  st.end = keep;
  return env.Undefined();
}

// ----------------------------------------------------------------------------- C++ reference loop

namespace {

struct BenchOptions {
  int64_t iterations = 0;
  double durationMs = 3000;
  double warmupMs = 200;
  bool graph = false;
  bool overlap = false;
};

class BenchmarkWorker : public Napi::AsyncWorker {
 public:
  BenchmarkWorker(Napi::Env env, std::shared_ptr<ContextCore> c, BenchOptions o)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), c_(std::move(c)), o_(o) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  // One iteration at a time (each waited for by spinning on an event), or, with overlap, two in
  // flight on two IO sets: the next one's inputs are copied on the input stream while the
  // current one computes, as trtexec does (but on separate buffers).
  void Execute() override {
    const size_t depth = o_.overlap ? 2 : 1;
    TimingEvents t[2];
    struct Restore {
      ContextCore& c;
      bool graph;
      ~Restore() { c.graphEnabled = graph; }
    } restore{*c_, c_->graphEnabled};
    try {
      UseDevice(c_->engine->device);
      for (size_t k = 0; k < depth; ++k)
        for (auto& e : t[k].ev) CheckCuda(cudaEventCreate(&e), "cudaEventCreate");
      c_->graphEnabled = o_.graph;
      for (size_t k = 0; k < depth; ++k) c_->Prepare(*c_->sets[k], nullptr);
      const bool timeline = HasTimingEpoch(c_->engine->device);
      Clock::time_point launched[2];
      double enqueueUs[2] = {0, 0};
      auto launch = [&](size_t k) {
        IoSet& set = *c_->sets[k];
        const Clock::time_point t0 = Clock::now();
        uint64_t outside = 0;
        if (o_.overlap) {
          // The inputs' host staging to the device on the set's input stream, as staged inputs go.
          CheckCuda(cudaEventRecord(t[k].ev[0], set.inStream), "cudaEventRecord");
          for (size_t i = 0; i < set.bindings.size() && i < kMaxStagedTensors; ++i) {
            Binding& b = set.bindings[i];
            if (!c_->engine->io[i].isInput || !b.host || b.bytes == 0) continue;
            CheckCuda(cudaMemcpyAsync(static_cast<uint8_t*>(b.dev->ptr) + b.devOffset, static_cast<uint8_t*>(b.host->ptr) + b.hostOffset, b.bytes,
                                      cudaMemcpyHostToDevice, set.inStream),
                      "cudaMemcpyAsync (input)");
            outside |= uint64_t{1} << i;
          }
          c_->EnqueueCompute(set, outside, nullptr);
          CheckCuda(cudaEventRecord(t[k].ev[3], c_->stream->stream()), "cudaEventRecord");
        } else {
          CheckCuda(cudaEventRecord(t[k].ev[0], c_->stream->stream()), "cudaEventRecord");
          c_->EnqueueCompute(set, 0, &t[k]);
        }
        enqueueUs[k] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        launched[k] = t0;
      };
      auto wait = [&](size_t k, bool record) {
        cudaError_t r;
        while ((r = cudaEventQuery(t[k].ev[3])) == cudaErrorNotReady) CpuRelax();
        CheckCuda(r, "GPU work");
        const Clock::time_point now = Clock::now();
        if (!record) return;
        latency_.push_back(std::chrono::duration<double, std::micro>(now - launched[k]).count());
        enqueue_.push_back(enqueueUs[k]);
        if (o_.overlap) {
          // [h2d + compute + d2h] as one span from the input copy's start to the outputs' end.
          float span = 0;
          Elapsed(&span, t[k].ev[0], t[k].ev[3]);
          h2d_.push_back(0);
          compute_.push_back(span * 1000.0);
          d2h_.push_back(0);
        } else {
          float h2d = 0, compute = 0, d2h = 0;
          Elapsed(&h2d, t[k].ev[0], t[k].ev[1]);
          Elapsed(&compute, t[k].ev[1], t[k].ev[2]);
          Elapsed(&d2h, t[k].ev[2], t[k].ev[3]);
          h2d_.push_back(h2d * 1000.0);
          compute_.push_back(compute * 1000.0);
          d2h_.push_back(d2h * 1000.0);
        }
        if (timeline) {  // only when marked: the reference loop pays nothing otherwise
          startMs_.push_back(EpochOffsetMs(c_->engine->device, t[k].ev[0]));
          endMs_.push_back(EpochOffsetMs(c_->engine->device, t[k].ev[3]));
        }
      };
      // Iteration i runs on set i % depth; before a set is reused, its previous iteration is waited for.
      int64_t i = 0;
      bool measuring = false;
      Clock::time_point w0 = Clock::now(), s0 = w0;
      std::vector<bool> counted(depth, false);
      for (;; ++i) {
        const size_t k = static_cast<size_t>(i) % depth;
        if (i >= static_cast<int64_t>(depth)) {
          wait(k, counted[k]);
          counted[k] = false;  // recorded: the drain after the loop must not record it again
        }
        const double sinceWarm = std::chrono::duration<double, std::milli>(Clock::now() - w0).count();
        if (!measuring && sinceWarm >= o_.warmupMs) {
          // Drain the warm-up, then start the clock.
          for (size_t j = 0; j < depth; ++j)
            if (j != k && i >= static_cast<int64_t>(depth)) {
              cudaError_t r;
              while ((r = cudaEventQuery(t[j].ev[3])) == cudaErrorNotReady) CpuRelax();
            }
          measuring = true;
          s0 = Clock::now();
          measured_ = 0;
        }
        if (measuring) {
          const double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - s0).count();
          if (o_.iterations > 0 ? measured_ >= o_.iterations : elapsed >= o_.durationMs) break;
          ++measured_;
        }
        launch(k);
        counted[k] = measuring;
      }
      // The iterations still in flight belong to the measurement.
      for (size_t d = 1; d <= depth; ++d) {
        const size_t k = static_cast<size_t>(i - static_cast<int64_t>(d) + static_cast<int64_t>(depth) * 2) % depth;
        if (i - static_cast<int64_t>(d) >= 0 && counted[k]) wait(k, true), counted[k] = false;
      }
      totalMs_ = std::chrono::duration<double, std::milli>(Clock::now() - s0).count();
      graphUsed_ = o_.graph && c_->graphEnabled && !c_->graphs.empty();
    } catch (const CodedError& e) {
      code_ = e.code;
      SetError(e.message);
    }
    cudaStreamSynchronize(c_->stream->stream());
    for (size_t k = 0; k < depth; ++k) cudaStreamSynchronize(c_->sets[k]->inStream);
    for (size_t k = 0; k < depth; ++k)
      for (auto e : t[k].ev)
        if (e) cudaEventDestroy(e);
  }

  void OnOK() override {
    Napi::Env env = Env();
    c_->benchmarking = false;
    Napi::Object r = Napi::Object::New(env);
    auto arr = [&](const std::vector<double>& v) {
      Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
      if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(double));
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
    r.Set("iterations", static_cast<double>(measured_));
    r.Set("cudaGraph", graphUsed_);
    r.Set("overlap", o_.overlap);
    r.Set("timingErrors", static_cast<double>(timingErrors_));
    deferred_.Resolve(r);
  }
  void OnError(const Napi::Error& e) override {
    c_->benchmarking = false;
    deferred_.Reject(MakeError(Env(), code_.c_str(), e.Message()).Value());
  }

 private:
  // cudaEventElapsedTime, counting failures (reported as timingErrors) instead of reading them as 0 ms.
  void Elapsed(float* ms, cudaEvent_t a, cudaEvent_t b) {
    if (cudaEventElapsedTime(ms, a, b) != cudaSuccess) {
      cudaGetLastError();
      *ms = std::nanf("");
      ++timingErrors_;
    }
  }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<ContextCore> c_;
  BenchOptions o_;
  std::vector<double> latency_, enqueue_, h2d_, compute_, d2h_, startMs_, endMs_;
  double totalMs_ = 0;
  int64_t measured_ = 0;
  int64_t timingErrors_ = 0;
  bool graphUsed_ = false;
  std::string code_ = "ERR_CUDA";
};

}  // namespace

// benchmark({ iterations, durationMs, warmupMs, cudaGraph, overlap }) → Promise<{ latencyUs, ... }>:
// the same work as run() in a C++ loop on a worker thread: the floor the JS path is compared
// against. overlap (needs two IO sets) keeps two iterations in flight, as trtexec does.
Napi::Value ExecutionContext::Benchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = Usable(env);
  if (c->inflight > 0) Throw(env, "ERR_BUSY", "the context has work in flight");
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  BenchOptions b;
  const double iterations = GetNumber(o, "iterations", 0);
  b.durationMs = GetNumber(o, "durationMs", 3000);
  b.warmupMs = GetNumber(o, "warmupMs", 200);
  if (!(iterations >= 0 && iterations <= 1e12) || std::floor(iterations) != iterations) Throw(env, "ERR_INVALID_ARGUMENT", "iterations must be an integer >= 0");
  if (!(b.durationMs > 0 && b.durationMs <= 3.6e6)) Throw(env, "ERR_INVALID_ARGUMENT", "durationMs must be in (0, 3600000]");
  if (!(b.warmupMs >= 0 && b.warmupMs <= 3.6e6)) Throw(env, "ERR_INVALID_ARGUMENT", "warmupMs must be in [0, 3600000]");
  b.iterations = static_cast<int64_t>(iterations);
  b.graph = GetBool(o, "cudaGraph", false);
  b.overlap = GetBool(o, "overlap", false);
  if (b.overlap && c->sets.size() < 2) Throw(env, "ERR_INVALID_ARGUMENT", "overlap needs a context with two IO sets (ioSets: 2)");
  for (size_t i = 0; i < c->engine->io.size(); ++i)
    if (c->engine->io[i].isInput && !c->currentDimsSet[i])
      Throw(env, "ERR_MISSING_TENSOR", "the shape of input '" + c->engine->io[i].name + "' was not set (it has dynamic dimensions " + DimsString(c->engine->io[i].dims) + ")");
  c->Quiesce();
  for (auto& s : c->sets) {
    if (s->staged) Throw(env, "ERR_BUSY", "inputs are staged on this context: run or clear them first");
  }
  c->benchmarking = true;
  auto* w = new BenchmarkWorker(env, c, b);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value ExecutionContext::Dispose(const Napi::CallbackInfo& info) {
  if (core_) core_->disposed = true;
  core_.reset();  // the IExecutionContext goes when the work in flight (or a benchmark) releases it
  timingTarget_.Reset();
  return info.Env().Undefined();
}

Napi::Value ExecutionContext::GetProfile(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), core(info.Env())->profile); }
Napi::Value ExecutionContext::GetPending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_ ? static_cast<double>(core_->inflight) : 0);
}
Napi::Value ExecutionContext::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !core_ || core_->disposed); }
Napi::Value ExecutionContext::GetIoSets(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(core(info.Env())->sets.size()));
}

Napi::Value ExecutionContext::GetGraphCount(const Napi::CallbackInfo& info) {
  auto c = Usable(info.Env());
  c->Quiesce();
  return Napi::Number::New(info.Env(), static_cast<double>(c->graphs.size()));
}

Napi::Value ExecutionContext::GetGraphLaunches(const Napi::CallbackInfo& info) {
  auto c = Usable(info.Env());
  c->Quiesce();
  return Napi::Number::New(info.Env(), static_cast<double>(c->graphUses));
}

}  // namespace trtnode
