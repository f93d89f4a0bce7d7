// A CUDA stream with its watcher: one thread per stream (not per call) launches submitted work,
// so that TensorRT's enqueue does not hold up the JS thread. On a 'wake' stream the watcher also
// waits for recorded events in stream order and resolves the JS Promises through one thread-safe
// function. On a 'poll' stream (jsCompletion) it does neither: the JS thread detects completions
// (Poll) and resolves them (Deliver), and launches work inline when the launch is cheap
// (Launcher::CheapLaunch) and nothing is queued for the watcher.
//
// Waiting is adaptive: the watcher learns how long work on this stream takes (EMA), sleeps
// until shortly before the expected completion, spins on cudaEventQuery for a bounded window,
// then falls back to a blocking-sync wait. 'spin' never blocks (lowest latency, one busy core
// while work is pending); 'block' always blocks (least CPU).
#pragma once

#include <napi.h>

#include <cuda_runtime_api.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trtnode {

enum class WaitMode { kAdaptive, kSpin, kBlock };

// Optional timing of one tracked piece of work: four events around H2D, compute, D2H.
struct TimingEvents {
  cudaEvent_t ev[4] = {nullptr, nullptr, nullptr, nullptr};
};

struct Completion;

// Work whose enqueue runs on the stream's watcher thread instead of the JS thread (TensorRT's
// enqueueV3 costs up to a millisecond of host time for large networks).
struct Launcher {
  virtual ~Launcher() = default;
  // Enqueues c's work on the stream (watcher thread, in submission order). Throws CodedError.
  virtual void Launch(Completion* c) = 0;
  // JS thread, with no launch pending: whether Launch would cost the JS thread only a few tens of
  // µs (for a context: a replay of the CUDA graph the IO set used last time, or an enqueue
  // measured under 30 µs), so that a stream completed by the JS thread may launch it inline.
  virtual bool CheapLaunch(const Completion* c) { return false; }
  // c will not be launched (the stream stopped first).
  virtual void Discard(Completion* c) {}
};

struct Completion {
  cudaEvent_t event = nullptr;
  Launcher* launcher = nullptr;  // set: the watcher launches it first (kept alive by keepAlive)
  void* launchData = nullptr;    // what the launcher needs for this piece of work
  std::string errorCode;         // a launch that failed
  std::string errorMessage;
  std::chrono::steady_clock::time_point submitted;
  cudaError_t status = cudaSuccess;
  std::unique_ptr<Napi::Promise::Deferred> deferred;
  std::vector<std::shared_ptr<void>> keepAlive;  // native objects the work uses
  std::vector<Napi::Reference<Napi::Value>> jsRefs;  // JS memory the work reads or writes
  TimingEvents* timing = nullptr;                    // owned by the stream's timing pool
  Napi::Reference<Napi::Value> timingOut;            // Float64Array(3) the timing goes into, if set
  std::function<void()> onSettled;                   // JS thread, before resolving (also when Submit fails)
};

class StreamCore : public std::enable_shared_from_this<StreamCore> {
 public:
  // jsCompletion: the JS thread detects completions itself (Poll), and launches cheap work
  // inline; the watcher only launches the rest. For 'poll' streams, whose JS poller runs
  // whenever work is in flight; dispose hands completion back to the watcher.
  static std::shared_ptr<StreamCore> Create(Napi::Env env, int device, int priority, WaitMode mode, double spinMicros, bool jsCompletion = false);
  ~StreamCore();

  cudaStream_t stream() const { return stream_; }
  int device() const { return device_; }
  WaitMode mode() const { return mode_; }
  size_t inflight() const { return inflight_; }

  // JS thread. Records an event after the work already enqueued on the stream and returns a
  // Promise that resolves when it completes (or rejects with the CUDA error). Work enqueued on
  // the JS thread must call WaitLaunches() first, to keep stream order.
  Napi::Promise Track(Napi::Env env, Completion* c);
  // JS thread. Hands c (with its launcher) to the watcher, which launches, then tracks it.
  Napi::Promise Submit(Napi::Env env, Completion* c);
  // Any thread but the watcher: returns once every submitted launch has been enqueued.
  void WaitLaunches();
  Completion* NewCompletion();  // JS thread; pooled
  void ReturnUnused(Completion* c);  // JS thread: a completion never submitted
  TimingEvents* NewTiming();    // JS thread; pooled
  void ReleaseTiming(TimingEvents* t) { timingPool_.push_back(t); }

  // Stops the watcher after the work in flight has finished. Safe to call twice.
  void Shutdown();
  // JS thread: no new work; shuts down once the work in flight has been delivered.
  void RequestDispose();
  bool disposed() const { return disposeRequested_; }
  // The JS thread completes this stream's work (poll()); false once it is disposed.
  bool jsDriven() const { return jsDriven_.load(std::memory_order_acquire); }

  // JS thread: settles what has completed now, without waiting for the thread-safe function's
  // wake-up (an event-loop poller calls it while work is in flight); first spins up to
  // spinMicros for a completion. Returns the work still in flight.
  size_t Poll(Napi::Env env, double spinMicros);

  // Estimated duration of one piece of work on this stream (µs), as the watcher learned it.
  double EstimatedMicros() const { return emaMicros_.load(); }

 private:
  StreamCore() = default;
  Napi::Promise Enqueue(Napi::Env env, Completion* c, bool launch);  // Track and Submit
  void WatchLoop();
  void LaunchQueued();           // watcher: launches what was submitted, in order
  bool WaitFor(Completion* c, std::chrono::steady_clock::time_point start);  // false: new work to launch first
  void Finish(Completion* c, cudaError_t status, bool fromJs = false);
  void LaunchOne(Completion* c);  // launches c (watcher, or JS thread inline) and queues it as pending
  cudaEvent_t DoneEvent(const Completion* c) const;  // the event whose completion ends c
  void WakeLoop();  // asks the event loop to deliver what is done (thread-safe function)
  void Deliver(Napi::Env env);  // JS thread: settles completed work
  void Recycle(Completion* c);
  cudaEvent_t TakeEvent();      // JS thread

  cudaStream_t stream_ = nullptr;
  int device_ = 0;
  WaitMode mode_ = WaitMode::kAdaptive;
  double spinMicros_ = 200;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Completion*> toLaunch_;  // submitted, not launched yet
  std::deque<Completion*> pending_;   // enqueued on the GPU, in stream order
  std::atomic<uint64_t> submissions_{0};
  std::atomic<int> launchesPending_{0};
  std::condition_variable launchedCv_;
  std::atomic<bool> stopFlag_{false};
  std::vector<Completion*> done_;
  std::atomic<bool> hasDone_{false};  // done_ is not empty: lets Poll skip the lock
  // The JS thread completes this stream's work (jsCompletion), until dispose hands it back.
  std::atomic<bool> jsDriven_{false};
  std::vector<Completion*> delivering_;
  std::vector<cudaEvent_t> eventPool_;
  std::vector<Completion*> completionPool_;  // JS thread only
  std::vector<TimingEvents*> timingPool_;      // JS thread only
  bool stop_ = false;
  bool joined_ = false;

  std::thread watcher_;
  Napi::ThreadSafeFunction tsfn_;
  // Work in flight keeps the stream alive (its Promises are resolved even after every handle
  // went away); with nothing in flight, the last handle's release destroys it and its thread.
  std::shared_ptr<StreamCore> selfWhileRunning_;
  size_t inflight_ = 0;  // JS thread only
  bool disposeRequested_ = false;  // JS thread only
  std::atomic<double> emaMicros_{0};
  double oversleepMicros_ = 20;  // watcher thread only
  // The turnaround: how long after this stream's last work finished the next launch came (JS
  // thread; a caller awaiting one run and starting the next, the batcher's next batch). The
  // idle watcher stays awake that long after a completion instead of sleeping on cv_, since
  // waking a sleeping thread costs tens to a hundred µs in a VM.
  std::atomic<int64_t> lastFinishNanos_{0};  // steady_clock, when the last piece finished
  std::atomic<double> turnaroundMicros_{0};
  // The last launch ran inline on the JS thread (a cheap one): the watcher is not needed.
  std::atomic<bool> lastLaunchInline_{false};
  // Watcher, idle: waits for a submission after `seen` while awake (see turnaroundMicros_).
  // true: one came; false: go to sleep on cv_.
  bool AwaitSubmission(uint64_t seen, bool jsDriven);
  bool SleepUntilNear(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::time_point start, double wakeMicros);
};

// The JS-facing Stream class.
class Stream : public Napi::ObjectWrap<Stream> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Stream(const Napi::CallbackInfo& info);
  ~Stream() override;

  std::shared_ptr<StreamCore> core(Napi::Env env);  // throws ERR_DISPOSED
  static Stream* FromJs(Napi::Env env, Napi::Value v);  // throws ERR_INVALID_ARGUMENT
  // Hides ObjectWrap's: no method or accessor of Stream runs on another object (common.h).
  static Stream* Unwrap(const Napi::Object& o);

 private:
  Napi::Value Synchronize(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetPending(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetEstimate(const Napi::CallbackInfo& info);
  Napi::Value GetJsCompletion(const Napi::CallbackInfo& info);
  Napi::Value GetHandle(const Napi::CallbackInfo& info);
  Napi::Value Poll(const Napi::CallbackInfo& info);

  std::shared_ptr<StreamCore> core_;
};

// Streams alive in an environment (main thread or Worker), so that its cleanup hook stops their
// watchers, and only theirs.
void RegisterStream(Napi::Env env, const std::shared_ptr<StreamCore>& s);
void ShutdownStreams(Napi::Env env);

}  // namespace trtnode
