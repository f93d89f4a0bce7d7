// ExecutionContext: one IExecutionContext bound to one stream, with its tensor bindings
// (device buffers, optional pinned staging for host copies), shape validation against the
// active optimization profile, optional CUDA-graph replay, and the C++ reference loop that the
// benchmarks compare the JS path against.
#pragma once

#include <NvInferRuntime.h>
#include <napi.h>

#include <atomic>
#include <memory>
#include <vector>

#include "buffers.h"
#include "copy_pool.h"
#include "engine.h"
#include "stream.h"

namespace trtnode {

struct Binding {
  std::shared_ptr<DeviceMem> dev;
  size_t devOffset = 0;
  std::shared_ptr<HostMem> host;  // pinned staging: copied in before / out after the enqueue
  size_t hostOffset = 0;
  nvinfer1::Dims dims{};          // current shape (inputs: as set; outputs: as inferred)
  bool dimsSet = false;
  size_t bytes = 0;               // bytes of the current shape
};

struct ContextCore : Launcher {
  std::shared_ptr<EngineCore> engine;
  std::shared_ptr<StreamCore> stream;
  std::shared_ptr<DeviceMem> scratch;  // user-managed activation memory, if any
  nvinfer1::IExecutionContext* ctx = nullptr;
  std::vector<Binding> bindings;  // engine IO order
  int profile = 0;
  std::atomic<bool> disposed{false};
  std::atomic<bool> benchmarking{false};
  size_t inflight = 0;  // JS thread only

  // CUDA graph state. "generation" changes with every shape or address change; a graph belongs
  // to one binding state (shapes, addresses, staging), so graphs are kept by that state: a
  // batcher whose batch size goes 32, 31, 32 replays the graph of 32 instead of capturing again.
  uint64_t generation = 1;
  bool graphEnabled = false;
  uint64_t warmGeneration = 0;  // generation that ran once without a graph (TensorRT needs that before capture)
  struct Graph {
    std::vector<int64_t> key;  // BindingKey() it was captured for
    cudaGraphExec_t exec = nullptr;
    uint64_t lastUse = 0;
  };
  static constexpr size_t kMaxGraphs = 8;  // least recently used beyond that are destroyed
  std::vector<Graph> graphs;
  uint64_t graphUses = 0;  // launch thread; also the number of graph launches
  uint64_t lookupGeneration = 0;  // generation `current` was looked up for
  int current = -1;               // index into graphs for this generation, or -1
  bool timing = false;
  // Host time of a launch without gathered pieces (µs, moving average; 0 until measured): a
  // small model's enqueue is cheap enough to launch inline on the JS thread too.
  double launchMicros = 0;

  uint64_t preparedGeneration = 0;  // generation Prepare() last validated
  // Host pieces to concatenate into an input (a batch gathered off the JS thread); per binding,
  // set by run() and consumed by the next Launch. When every piece of an input is pinned
  // (HostBuffer memory), the pieces are copied to the device by DMA, one copy each, with no CPU
  // copy at all; otherwise they are copied into the pinned staging (parallel copy pool), which
  // is DMA'd to the device segment by segment while the rest is still being copied.
  struct GatherPart {
    const void* ptr;
    size_t bytes;
    const HostMem* pinned;  // the pinned allocation holding it, or nullptr (pageable)
  };
  std::vector<std::vector<GatherPart>> gather;
  std::vector<CopyPiece> gatherPieces;             // launch thread: CPU copies into one input's staging
  std::vector<std::vector<GatherPart>> direct;     // launch thread: per binding, DMA'd before the inference
  // Per binding: where gather/direct pieces start in the input (bytes already on the device from
  // stageInput, skipped by run()).
  std::vector<size_t> gatherStart;
  // Pieces copied ahead by stageInput (JS thread), per binding in input order from byte 0: a
  // batch's requests DMA'd to the device as they arrive, before the batch is formed. run()
  // skips its first N pieces when they are these (checked), then forgets them; the memory they
  // read stays alive until the next completion on this stream (stagedKeep), since the copies
  // precede it in stream order.
  std::vector<std::vector<GatherPart>> staged;
  std::vector<std::shared_ptr<void>> stagedKeep;
  // stageInput's pieces not issued yet: issued a few at a time in one batched call (JS thread),
  // the rest by the run's launch before its own work (IssueStaged), so its inference comes after
  // every staged copy in stream order. JS thread, or the launch thread while a run is in flight
  // (when stageInput refuses).
  std::vector<CopyPiece> stageQueue;
  void IssueStaged();  // throws CodedError; the queue is emptied either way
  void CopyPiecesH2D(const std::vector<CopyPiece>& list);  // throws CodedError
  std::vector<void*> batchDst;  // CopyPiecesH2D's arguments, kept to allocate nothing per call
  std::vector<const void*> batchSrc;
  std::vector<size_t> batchBytes;
  // This run's inputs were staged ahead (run's stagedParts) and their copies are still going:
  // the launch has that long to spare, so it goes to the watcher thread even when it is a cheap
  // graph replay, leaving the JS thread (a ResNet-50 replay costs it ~75 µs) to the callers.
  bool launchOnWatcher = false;
  // Bindings (bit i) copied to the device before the inference in this launch (DMA'd pieces, or
  // staging DMA'd while gathered): graphs are kept per mask, since a graph for such a launch
  // holds no input copy for those bindings.
  uint64_t directMask = 0;
  uint64_t lookupMask = 0;
  uint64_t warmMask = 0;

  ~ContextCore() override;
  void Launch(TimingEvents* t) override;
  bool CheapLaunch() override;
  void LaunchPieces(TimingEvents* t);  // Launch without the timing of it
  bool HasGather() const;              // run() left host pieces for the next launch to gather
  // JS thread: TensorRT's context may be touched only when no launch of it is pending.
  void Quiesce() { stream->WaitLaunches(); }
  // Queues copies in, the inference, copies out. Off or on the JS thread; throws CodedError.
  // recordStart false: the caller recorded the first timing event already (before its copies).
  void EnqueueOnce(TimingEvents* t, bool recordStart = true);
  // Checks bindings and recomputes byte sizes; throws CodedError.
  void Prepare();
  void SetShape(int index, const nvinfer1::Dims& d);  // validates against the profile
  // The captured graph for the current binding state, or nullptr.
  Graph* CurrentGraph();
  void DestroyGraphs();

 private:
  std::vector<int64_t> BindingKey() const;
  bool CaptureGraph(std::string& why);  // captures copies + inference for the current state
};

class ExecutionContext : public Napi::ObjectWrap<ExecutionContext> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ExecutionContext(const Napi::CallbackInfo& info);
  std::shared_ptr<ContextCore> core(Napi::Env env);

 private:
  Napi::Value SetInputShape(const Napi::CallbackInfo& info);
  Napi::Value GetTensorShape(const Napi::CallbackInfo& info);
  Napi::Value SetTensorAddress(const Napi::CallbackInfo& info);
  Napi::Value SetHostStaging(const Napi::CallbackInfo& info);
  Napi::Value SetOptimizationProfile(const Napi::CallbackInfo& info);
  Napi::Value SetCudaGraph(const Napi::CallbackInfo& info);
  Napi::Value SetTiming(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value StageInput(const Napi::CallbackInfo& info);
  Napi::Value Benchmark(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetProfile(const Napi::CallbackInfo& info);
  Napi::Value GetPending(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetGraphCaptured(const Napi::CallbackInfo& info);
  Napi::Value GetGraphCount(const Napi::CallbackInfo& info);
  Napi::Value GetGraphLaunches(const Napi::CallbackInfo& info);
  int Index(Napi::Env env, Napi::Value name);

  std::shared_ptr<ContextCore> core_;
  Napi::Reference<Napi::Value> timingTarget_;  // setTiming's Float64Array, if given
};

}  // namespace trtnode
