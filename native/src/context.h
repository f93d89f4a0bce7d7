// ExecutionContext: one IExecutionContext with its compute stream, an input stream for
// host-to-device copies, and one or more IO sets (device buffers and optional pinned staging per
// tensor). Runs on different sets may be in flight at once: the next run's inputs are copied on
// the input stream while the current run computes (what trtexec does), without two runs ever
// sharing a buffer. Also the C++ reference loop that benchmarks compare the JS path against.
//
// Threads: the JS thread validates and submits runs and stages inputs; the stream's watcher
// thread launches them (on a 'poll' stream the JS thread launches a cheap one itself: a replay
// of the set's last CUDA graph or an enqueue measured under 30 µs, never a run of staged inputs),
// and the launching thread is the only one that touches TensorRT's context while a launch is
// pending; copy threads copy staged pieces of ordinary JS memory into the pinned staging and DMA
// them to the device.
#pragma once

#include <NvInferRuntime.h>
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "buffers.h"
#include "copy_pool.h"
#include "engine.h"
#include "stream.h"

namespace trtnode {

struct Binding {
  std::shared_ptr<DeviceMem> dev;
  size_t devOffset = 0;
  std::shared_ptr<HostMem> host;  // pinned staging: inputs copied from it, outputs into it
  size_t hostOffset = 0;
  nvinfer1::Dims dims{};  // shape of the last launch of this set (outputs: as TensorRT inferred)
  size_t bytes = 0;       // bytes of that shape
};

// The pieces of one input of one set staged for its next run (stageInput), in order from byte 0.
struct InputStage {
  size_t end = 0;          // JS thread: bytes staged so far
  bool anyPinned = false;  // JS thread: a piece went to the device straight from pinned memory
  // Pieces of ordinary memory are copied into the set's pinned staging by copy threads; what is
  // copied and not yet sent to the device is kept here (merged ranges, start → end) and sent in
  // segments as they fill, the rest by the run's launch.
  std::mutex mutex;
  std::map<size_t, size_t> ready;
  bool dmaIssued = false;   // a range of the staging went to the device already
  std::string error;        // a copy thread's DMA failed: the run fails with it
  void Reset() {
    end = 0;
    anyPinned = false;
    std::lock_guard<std::mutex> lock(mutex);
    ready.clear();
    dmaIssued = false;
    error.clear();
  }
};

struct IoSet {
  int index = 0;
  // Host-to-device copies of this set's staged inputs; the compute stream waits on inReady.
  // One per set, so that a run never waits for copies meant for another set's run.
  cudaStream_t inStream = nullptr;
  cudaEvent_t inReady = nullptr;
  std::vector<Binding> bindings;                     // engine IO order
  std::vector<std::unique_ptr<InputStage>> stage;    // engine IO order (used for inputs)
  std::vector<std::unique_ptr<CopyTask>> tasks;      // reused copy tasks of staged pieces
  size_t tasksUsed = 0;                              // JS thread
  int copiesPending = 0;                             // under ContextCore::copyMutex
  bool staged = false;                               // JS thread: stageInput was called since the last run
  std::vector<Napi::Reference<Napi::Value>> stagedRefs;  // JS memory the copies read (JS thread)
  std::vector<std::shared_ptr<void>> stagedKeep;          // pinned memory the DMAs read (JS thread)
  // DMAs of pieces that were cleared (clearStaged) may still be queued on inStream: the next
  // run of the set joins inStream even if it stages nothing, so that its completion covers them.
  bool joinPending = false;
  // Pieces of pinned memory waiting to be DMA'd: issued a few at a time, the rest by the launch.
  std::mutex queueMutex;
  std::vector<CopyPiece> pinnedQueue;
  int inflight = 0;                                  // JS thread: runs of this set not delivered
  uint64_t generation = 1;                           // bumps when a binding or shape of the set changes
  // The last launch (launch thread): whether it replayed a graph, and for which state.
  uint64_t replayedGeneration = 0;
  // The graph key of the current state (launch thread), rebuilt when the state changes.
  std::vector<int64_t> key;
  uint64_t keyGeneration = 0;
  uint64_t keyOutside = ~uint64_t{0};
};

// What one run() asks of its launch (pooled per context; owned by the context).
struct RunRecord {
  int set = 0;
  std::vector<nvinfer1::Dims> dims;  // per IO: the input shapes to apply (inputs only)
  int32_t* outDims = nullptr;        // written at the launch: [rank, d...] per output
  size_t outDimsLength = 0;
  uint64_t stagedInputs = 0;  // inputs (bit per IO index) whose staged pieces this run takes
  bool inUse = false;
};

struct ContextCore : Launcher {
  std::shared_ptr<EngineCore> engine;
  std::shared_ptr<StreamCore> stream;  // compute stream; runs complete on it
  std::shared_ptr<DeviceMem> scratch;  // user-managed activation memory, if any
  nvinfer1::IExecutionContext* ctx = nullptr;
  std::vector<std::unique_ptr<IoSet>> sets;
  int profile = 0;
  std::atomic<bool> disposed{false};
  std::atomic<bool> benchmarking{false};
  size_t inflight = 0;  // JS thread

  // Input shapes for runs that give none (setInputShape); per IO.
  std::vector<nvinfer1::Dims> currentDims;
  std::vector<bool> currentDimsSet;
  // What TensorRT's context holds now (launch thread, or the JS thread with no launch pending).
  std::vector<nvinfer1::Dims> trtDims;
  std::vector<bool> trtDimsSet;
  std::vector<const void*> trtAddress;

  // CUDA graphs, kept by binding state (shapes, addresses, which inputs are copied outside the
  // graph): a batcher whose batch size goes 32, 31, 32 replays the graph of 32, and runs that
  // alternate between IO sets replay one graph each.
  bool graphEnabled = false;
  struct Graph {
    std::vector<int64_t> key;
    cudaGraphExec_t exec = nullptr;
    uint64_t lastUse = 0;
  };
  size_t maxGraphs = 32;  // least recently used beyond that are destroyed
  std::vector<Graph> graphs;
  std::vector<std::vector<int64_t>> warmKeys;  // states that ran once without a graph (TensorRT needs that before a capture)
  uint64_t graphUses = 0;                      // also the number of graph launches
  bool timing = false;
  // Host time of a launch (µs, moving average; 0 until measured): a small network's enqueue is
  // cheap enough to launch inline on the JS thread too.
  double launchMicros = 0;

  std::mutex batchMutex;  // the batched-copy argument arrays below (JS thread and launch thread)
  std::vector<void*> batchDst;
  std::vector<const void*> batchSrc;
  std::vector<size_t> batchBytes;

  std::mutex copyMutex;  // IoSet::copiesPending
  std::condition_variable copyDone;

  std::vector<std::unique_ptr<RunRecord>> records;

  ~ContextCore() override;
  void Launch(Completion* c) override;
  bool CheapLaunch(const Completion* c) override;
  void Discard(Completion* c) override;

  // JS thread: TensorRT's context may be touched only when no launch is pending.
  void Quiesce() { stream->WaitLaunches(); }

  // Validates an input shape against the engine and the active profile (no TensorRT call).
  void CheckShape(int index, const nvinfer1::Dims& d) const;
  // Applies shapes and addresses of `set` to TensorRT's context, infers output shapes, checks
  // buffer sizes. Launch thread (or JS thread with nothing pending); throws CodedError.
  void Prepare(IoSet& set, const std::vector<nvinfer1::Dims>* dims);
  // Launch thread: sends what is left of the staged inputs on the set's input stream; returns
  // the inputs that are copied there (outside the run's graph). Throws CodedError.
  uint64_t FlushStaged(IoSet& set, uint64_t stagedInputs);
  // Launch thread: joins the input stream if `outside` or a join is pending, then the other
  // inputs' copies, the inference and the output copies on the compute stream, replaying a
  // CUDA graph where one is kept. t->ev[0] must be recorded already. Throws CodedError.
  void EnqueueCompute(IoSet& set, uint64_t outside, TimingEvents* t);

  // Staging (stageInput) of ordinary memory: copy-thread completion.
  static void OnPieceCopied(CopyTask* task);
  void WaitCopies(IoSet& set);    // until no copy of the set is running
  void ClearStaging(IoSet& set);  // JS thread: forgets staged pieces (waits for their copies)
  void IssuePinnedQueue(IoSet& set);  // DMAs the queued pinned pieces; throws CodedError

  RunRecord* NewRecord();
  void DestroyGraphs();

 private:
  const std::vector<int64_t>& BindingKey(IoSet& set, uint64_t outsideGraph);
  Graph* FindGraph(const std::vector<int64_t>& key);
  bool CaptureGraph(IoSet& set, uint64_t outsideGraph, const std::vector<int64_t>& key, std::string& why);
};

class ExecutionContext : public Napi::ObjectWrap<ExecutionContext> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ExecutionContext(const Napi::CallbackInfo& info);
  ~ExecutionContext() override;
  std::shared_ptr<ContextCore> core(Napi::Env env);
  // Hides ObjectWrap's: no method or accessor of ExecutionContext runs on another object (common.h).
  static ExecutionContext* Unwrap(const Napi::Object& o);

 private:
  // Every entry point that changes or reads launch state goes through here: refuses a disposed
  // context and one whose benchmark is running.
  std::shared_ptr<ContextCore> Usable(Napi::Env env);
  IoSet& SetArg(Napi::Env env, const std::shared_ptr<ContextCore>& c, Napi::Value v);

  Napi::Value SetInputShape(const Napi::CallbackInfo& info);
  Napi::Value GetTensorShape(const Napi::CallbackInfo& info);
  Napi::Value SetTensorAddress(const Napi::CallbackInfo& info);
  Napi::Value SetHostStaging(const Napi::CallbackInfo& info);
  Napi::Value SetOptimizationProfile(const Napi::CallbackInfo& info);
  Napi::Value SetCudaGraph(const Napi::CallbackInfo& info);
  Napi::Value SetTiming(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value StageInput(const Napi::CallbackInfo& info);
  Napi::Value ClearStaged(const Napi::CallbackInfo& info);
  Napi::Value TruncateStaged(const Napi::CallbackInfo& info);
  Napi::Value Benchmark(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetProfile(const Napi::CallbackInfo& info);
  Napi::Value GetPending(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetIoSets(const Napi::CallbackInfo& info);
  Napi::Value GetGraphCount(const Napi::CallbackInfo& info);
  Napi::Value GetGraphLaunches(const Napi::CallbackInfo& info);
  int Index(Napi::Env env, const std::shared_ptr<ContextCore>& c, Napi::Value name);

  std::shared_ptr<ContextCore> core_;
  Napi::Reference<Napi::Value> timingTarget_;  // setTiming's Float64Array, if given
};

}  // namespace trtnode
