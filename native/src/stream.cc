#include "stream.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "addon_data.h"
#include "common.h"

namespace trtnode {

using Clock = std::chrono::steady_clock;

namespace {
double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
}  // namespace

void RegisterStream(Napi::Env env, const std::shared_ptr<StreamCore>& s) {
  AddonData* d = Data(env);
  d->streams.erase(std::remove_if(d->streams.begin(), d->streams.end(), [](auto& w) { return w.expired(); }), d->streams.end());
  d->streams.push_back(s);
}

void ShutdownStreams(Napi::Env env) {
  AddonData* d = Data(env);
  std::vector<std::shared_ptr<StreamCore>> alive;
  for (auto& w : d->streams)
    if (auto s = w.lock()) alive.push_back(s);
  d->streams.clear();
  for (auto& s : alive) s->Shutdown();
}

std::shared_ptr<StreamCore> StreamCore::Create(Napi::Env env, int device, int priority, WaitMode mode, double spinMicros, bool jsCompletion) {
  std::shared_ptr<StreamCore> s(new StreamCore());
  s->device_ = device;
  s->mode_ = mode;
  s->spinMicros_ = spinMicros;
  s->jsDriven_.store(jsCompletion);
  UseDevice(device);
  CheckCuda(cudaStreamCreateWithPriority(&s->stream_, cudaStreamNonBlocking, priority), "cudaStreamCreateWithPriority");
  // The thread-safe function only carries "something completed"; Deliver drains the list.
  StreamCore* raw = s.get();
  s->tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "tensorrt-node-stream", 0, 1);
  s->tsfn_.Unref(env);  // only pending work keeps the event loop alive (see Track)
  s->watcher_ = std::thread([raw] { raw->WatchLoop(); });
  RegisterStream(env, s);
  return s;
}

StreamCore::~StreamCore() {
  Shutdown();
  // the events and the stream belong to device_; the thread's own context is put back after
  DeviceGuard guard(device_, std::nothrow);
  for (auto* c : completionPool_) delete c;
  for (auto* t : timingPool_) {
    for (auto e : t->ev) cudaEventDestroy(e);
    delete t;
  }
  for (auto e : eventPool_) cudaEventDestroy(e);
  if (stream_ != nullptr) WarnCuda(cudaStreamDestroy(stream_), "cudaStreamDestroy");
}

Completion* StreamCore::NewCompletion() {
  if (!completionPool_.empty()) {
    Completion* c = completionPool_.back();
    completionPool_.pop_back();
    return c;
  }
  return new Completion();
}

TimingEvents* StreamCore::NewTiming() {
  if (!timingPool_.empty()) {
    TimingEvents* t = timingPool_.back();
    timingPool_.pop_back();
    return t;
  }
  auto* t = new TimingEvents();
  for (auto& e : t->ev) CheckCuda(cudaEventCreate(&e), "cudaEventCreate");
  return t;
}

void StreamCore::ReturnUnused(Completion* c) { Recycle(c); }

void StreamCore::Recycle(Completion* c) {
  c->launcher = nullptr;
  c->launchData = nullptr;
  c->errorCode.clear();
  c->errorMessage.clear();
  c->keepAlive.clear();
  c->jsRefs.clear();
  c->timingOut.Reset();
  c->deferred.reset();
  c->onSettled = nullptr;
  if (c->timing != nullptr) timingPool_.push_back(c->timing);
  c->timing = nullptr;
  c->status = cudaSuccess;
  if (completionPool_.size() < 64) completionPool_.push_back(c);
  else delete c;
}

cudaEvent_t StreamCore::TakeEvent() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!eventPool_.empty()) {
      cudaEvent_t ev = eventPool_.back();
      eventPool_.pop_back();
      return ev;
    }
  }
  cudaEvent_t ev = nullptr;
  CheckCuda(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming | cudaEventBlockingSync), "cudaEventCreateWithFlags");
  return ev;
}

void StreamCore::WaitLaunches() {
  if (launchesPending_.load(std::memory_order_acquire) == 0) return;
  // Launches take microseconds to a millisecond: spin briefly, then sleep on the condition.
  const Clock::time_point t0 = Clock::now();
  while (launchesPending_.load(std::memory_order_acquire) != 0) {
    if (Micros(Clock::now() - t0) > 50) {
      std::unique_lock<std::mutex> lock(mutex_);
      launchedCv_.wait(lock, [&] { return launchesPending_.load() == 0 || stop_; });
      return;
    }
    CpuRelax();
  }
}

Napi::Promise StreamCore::Track(Napi::Env env, Completion* c) { return Enqueue(env, c, false); }

Napi::Promise StreamCore::Submit(Napi::Env env, Completion* c) { return Enqueue(env, c, true); }

// launch: the watcher launches c, then records its event; else the work is already enqueued
// and its event is recorded here.
Napi::Promise StreamCore::Enqueue(Napi::Env env, Completion* c, bool launch) {
  if (disposeRequested_ || stopFlag_.load()) {
    if (c->onSettled) c->onSettled();
    Recycle(c);
    Throw(env, "ERR_DISPOSED", "the stream was disposed");
  }
  try {
    c->event = TakeEvent();
    if (!launch) {
      CheckCuda(cudaEventRecord(c->event, stream_), "cudaEventRecord");
      c->submitted = Clock::now();
    }
  } catch (const CodedError& err) {
    if (c->event != nullptr) {
      std::lock_guard<std::mutex> lock(mutex_);
      eventPool_.push_back(c->event);
      c->event = nullptr;
    }
    if (c->onSettled) c->onSettled();
    Recycle(c);
    Throw(env, err.code.c_str(), err.message);
  }
  c->deferred = std::make_unique<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(env));
  Napi::Promise promise = c->deferred->Promise();
  if (inflight_ == 0 && launch) {
    // Submitted with nothing in flight: learn how long after the last finish work comes back
    // (longer gaps are not a loop waiting on this stream's results)
    const int64_t last = lastFinishNanos_.load(std::memory_order_relaxed);
    const double gap = last == 0 ? -1 : Micros(Clock::now() - Clock::time_point(std::chrono::nanoseconds(last)));
    if (gap >= 0 && gap < 5000) turnaroundMicros_.store(MovingAverage(turnaroundMicros_.load(std::memory_order_relaxed), gap), std::memory_order_relaxed);
  }
  if (inflight_++ == 0) {
    tsfn_.Ref(env);
    selfWhileRunning_ = shared_from_this();
  }
  // A stream the JS thread completes launches cheap work right here when nothing is queued for
  // the watcher (stream order): no hand-off to another thread and back.
  if (launch && jsDriven_.load(std::memory_order_relaxed) && launchesPending_.load(std::memory_order_acquire) == 0 && c->launcher->CheapLaunch(c)) {
    lastLaunchInline_.store(true, std::memory_order_relaxed);
    LaunchOne(c);
    return promise;
  }
  if (launch) {
    lastLaunchInline_.store(false, std::memory_order_relaxed);
    launchesPending_.fetch_add(1, std::memory_order_acq_rel);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    (launch ? toLaunch_ : pending_).push_back(c);
  }
  submissions_.fetch_add(1, std::memory_order_release);
  cv_.notify_one();
  return promise;
}

void StreamCore::LaunchQueued() {
  for (;;) {
    Completion* c = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (toLaunch_.empty()) return;
      c = toLaunch_.front();
      toLaunch_.pop_front();
    }
    LaunchOne(c);
    launchesPending_.fetch_sub(1, std::memory_order_acq_rel);
    {
      std::lock_guard<std::mutex> lock(mutex_);  // pairs with WaitLaunches' wait
    }
    launchedCv_.notify_all();
  }
}

void StreamCore::LaunchOne(Completion* c) {
  if (stopFlag_.load()) {
    c->errorCode = "ERR_DISPOSED";
    c->errorMessage = "the stream was disposed before the work was launched";
    c->launcher->Discard(c);
  } else {
    try {
      c->launcher->Launch(c);
      // With timing on, the last timing event marks the end already; no extra record.
      if (c->timing == nullptr) CheckCuda(cudaEventRecord(c->event, stream_), "cudaEventRecord");
    } catch (const CodedError& e) {
      c->errorCode = e.code;
      c->errorMessage = e.message;
    } catch (const std::exception& e) {
      c->errorCode = "ERR_TRT";
      c->errorMessage = e.what();
    }
  }
  c->submitted = Clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.push_back(c);
}

cudaEvent_t StreamCore::DoneEvent(const Completion* c) const {
  return c->launcher != nullptr && c->timing != nullptr ? c->timing->ev[3] : c->event;
}

// Watcher, holding `lock`: sleeps until about `wakeMicros` after `start`, or until new work or
// a stop (then true). The OS wakes sleepers late (tens of µs in a VM): learn by how much, and
// wake that much earlier. Short sleeps (under 50 µs) are not worth it: returns false at once.
bool StreamCore::SleepUntilNear(std::unique_lock<std::mutex>& lock, Clock::time_point start, double wakeMicros) {
  const double sleepUs = wakeMicros - 30.0 - 2.0 * oversleepMicros_ - Micros(Clock::now() - start);
  if (sleepUs <= 50) return false;
  const Clock::time_point target = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(sleepUs));
  if (cv_.wait_until(lock, target, [&] { return stop_ || !toLaunch_.empty(); })) return true;
  oversleepMicros_ = oversleepMicros_ * 0.9 + std::max(0.0, Micros(Clock::now() - target)) * 0.1;
  return false;
}

// Waits for c. Returns false, without waiting longer, when new work was submitted that should be
// launched first (so a second run on this stream overlaps the first).
bool StreamCore::WaitFor(Completion* c, Clock::time_point start) {
  cudaEvent_t ev = DoneEvent(c);
  cudaError_t r = cudaEventQuery(ev);
  if (r == cudaErrorNotReady && mode_ == WaitMode::kBlock) {
    r = cudaEventSynchronize(ev);
  } else if (r == cudaErrorNotReady) {
    const double ema = emaMicros_.load();
    if (mode_ == WaitMode::kAdaptive && ema > 3 * spinMicros_) {
      // Sleep through most of the expected duration, waking early for new work.
      std::unique_lock<std::mutex> lock(mutex_);
      if (SleepUntilNear(lock, start, ema * 0.85) && !toLaunch_.empty()) return false;
    }
    const double budget = mode_ == WaitMode::kSpin ? 1e18 : std::max(spinMicros_, ema * 0.3 + 100.0);
    const uint64_t seen = submissions_.load(std::memory_order_acquire);
    const Clock::time_point spinStart = Clock::now();
    for (unsigned n = 1;; ++n) {
      // Query about once a microsecond: each query takes the driver's lock, which the JS
      // thread needs for its own launches.
      for (int k = 0; k < 16; ++k) CpuRelax();
      if ((r = cudaEventQuery(ev)) != cudaErrorNotReady) break;
      if (submissions_.load(std::memory_order_acquire) != seen && launchesPending_.load() > 0) return false;
      if ((n & 15) == 0 && Micros(Clock::now() - spinStart) > budget) {
        r = cudaEventSynchronize(ev);
        break;
      }
    }
  }
  const Clock::time_point now = Clock::now();
  if (r == cudaSuccess) emaMicros_.store(MovingAverage(emaMicros_.load(), Micros(now - start)));
  Finish(c, r);
  return true;
}

void StreamCore::Finish(Completion* c, cudaError_t status, bool fromJs) {
  lastFinishNanos_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(), std::memory_order_relaxed);
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.pop_front();
    c->status = status;
    eventPool_.push_back(c->event);
    c->event = nullptr;
    notify = done_.empty();
    done_.push_back(c);
    // seq_cst, paired with RequestDispose: one of the two sees the other's store
    hasDone_.store(true, std::memory_order_seq_cst);
  }
  // One outstanding call drains everything completed meanwhile.
  if (notify && !fromJs) WakeLoop();
}

void StreamCore::WakeLoop() {
  tsfn_.NonBlockingCall([this](Napi::Env env, Napi::Function) {
    if (env != nullptr) Deliver(env);
  });
}

void StreamCore::WatchLoop() {
  cudaSetDevice(device_);
  Clock::time_point lastDone = Clock::now();
  for (;;) {
    LaunchQueued();
    Completion* c = nullptr;
    const bool jsDriven = jsDriven_.load(std::memory_order_acquire);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!pending_.empty() && !jsDriven) c = pending_.front();
    }
    if (c == nullptr) {
      // Idle: stay awake for the next launch where one is expected soon (AwaitSubmission).
      const uint64_t seen = submissions_.load(std::memory_order_acquire);
      const bool fresh = mode_ != WaitMode::kBlock && AwaitSubmission(seen, jsDriven);
      if (!fresh) {
        std::unique_lock<std::mutex> lock(mutex_);
        // While the JS thread completes the work, pending work is not the watcher's to wait for.
        cv_.wait(lock, [&] { return stop_ || (!pending_.empty() && !jsDriven_.load()) || !toLaunch_.empty(); });
        if (stop_ && (pending_.empty() || jsDriven_.load()) && toLaunch_.empty()) return;
      }
      continue;
    }
    if (!c->errorCode.empty()) {
      Finish(c, cudaSuccess);  // Deliver rejects it with its launch error
      continue;
    }
    const Clock::time_point start = std::max(c->submitted, lastDone);
    if (WaitFor(c, start)) lastDone = Clock::now();
  }
}

// The next launch tends to come a turnaround after the work in flight has finished: at once for
// a JS caller that awaits one run and starts the next, a few hundred µs later for the batcher's
// next batch (callers answered, their next requests gathered). A sleeping watcher takes tens to
// a hundred µs to wake (more in a VM), which the next batch's start would wait for: so sleep
// through most of the expected duration of work the JS thread completes, then spin until the
// turnaround (twice its average, within 1 ms) has passed since the last finish.
bool StreamCore::AwaitSubmission(uint64_t seen, bool jsDriven) {
  // Launched inline by the JS thread last time (cheap launches): nothing for the watcher to do.
  if (lastLaunchInline_.load(std::memory_order_relaxed)) return false;
  const auto submitted = [&] { return submissions_.load(std::memory_order_acquire) != seen; };
  const auto inFlight = [&] {
    std::lock_guard<std::mutex> lock(mutex_);
    return jsDriven && !pending_.empty();
  };
  if (jsDriven) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!pending_.empty()) {
      // (spinning through at most the last ~200 µs of long work, not its last 15 %)
      const double ema = emaMicros_.load();
      if (SleepUntilNear(lock, pending_.back()->submitted, std::max(ema * 0.85, ema - 200.0))) return !toLaunch_.empty();
    }
  }
  const double budget = std::max(spinMicros_, std::min(2.0 * turnaroundMicros_.load(std::memory_order_relaxed) + 50.0, 1000.0));
  const Clock::time_point t0 = Clock::now();
  for (unsigned n = 1; !stopFlag_.load(std::memory_order_relaxed); ++n) {
    if (submitted()) return true;
    CpuRelax();
    if ((n & 63) != 0) continue;
    const Clock::time_point now = Clock::now();
    if (inFlight()) {
      if (Micros(now - t0) > 20000) return false;  // far longer than expected: sleep
      continue;
    }
    const Clock::time_point last(std::chrono::nanoseconds(lastFinishNanos_.load(std::memory_order_relaxed)));
    if (Micros(now - std::max(t0, last)) > budget) return false;
  }
  return false;
}

void StreamCore::Deliver(Napi::Env env) {
  std::shared_ptr<StreamCore> keep = shared_from_this();  // a dispose below may drop the last reference
  {
    std::lock_guard<std::mutex> lock(mutex_);
    delivering_.swap(done_);
    hasDone_.store(false, std::memory_order_relaxed);
  }
  Napi::HandleScope scope(env);
  for (Completion* c : delivering_) {
    if (c->onSettled) c->onSettled();
    if (!c->errorCode.empty()) {
      c->deferred->Reject(MakeError(env, c->errorCode.c_str(), c->errorMessage).Value());
    } else if (c->status == cudaSuccess) {
      Napi::Value value = env.Undefined();
      if (c->timing != nullptr) {
        // [h2d, compute, d2h] in ms, from the four timing events; into the caller's array if it
        // gave one (no allocation per run), else a new one. With a timeline epoch marked
        // (markTimingEpoch), and room for them, also [start, end]: ms from the mark.
        const double start = EpochOffsetMs(device_, c->timing->ev[0]);
        Napi::Float64Array t = c->timingOut.IsEmpty() ? Napi::Float64Array::New(env, std::isnan(start) ? 3 : 5) : c->timingOut.Value().As<Napi::Float64Array>();
        for (int i = 0; i < 3; ++i) {
          float ms = 0;
          // A failed measurement reads as NaN, never as 0 ms.
          if (cudaEventElapsedTime(&ms, c->timing->ev[i], c->timing->ev[i + 1]) != cudaSuccess) {
            cudaGetLastError();
            ms = std::nanf("");
          }
          t[i] = ms;
        }
        if (t.ElementLength() >= 5) {
          t[3] = start;
          t[4] = EpochOffsetMs(device_, c->timing->ev[3]);
        }
        value = t;
      }
      c->deferred->Resolve(value);
    } else {
      c->deferred->Reject(MakeError(env, CudaErrorCode(c->status), CudaMessage(c->status, "GPU work")).Value());
    }
    Recycle(c);
    if (--inflight_ == 0) tsfn_.Unref(env);
  }
  delivering_.clear();
  if (inflight_ == 0) {
    if (disposeRequested_) Shutdown();
    selfWhileRunning_.reset();  // (keep holds this until the end of Deliver)
  }
}

size_t StreamCore::Poll(Napi::Env env, double spinMicros) {
  if (jsDriven_.load(std::memory_order_relaxed)) {
    // The JS thread completes the work itself, in stream order: query the oldest launched
    // piece's event (spinning up to spinMicros for it), finish what is done, deliver.
    const Clock::time_point t0 = Clock::now();
    while (inflight_ > 0) {
      Completion* c = nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!pending_.empty()) c = pending_.front();
      }
      if (c != nullptr) {
        cudaError_t r = c->errorCode.empty() ? cudaEventQuery(DoneEvent(c)) : cudaSuccess;
        if (r != cudaErrorNotReady) {
          if (r == cudaSuccess) emaMicros_.store(MovingAverage(emaMicros_.load(), Micros(Clock::now() - c->submitted)));
          Finish(c, r, true);
          continue;  // the next piece may be done too
        }
      }
      if (hasDone_.load(std::memory_order_acquire) || spinMicros <= 0) break;  // deliver what is done first
      const Clock::time_point now = Clock::now();
      if (Micros(now - t0) > spinMicros) break;
      // Each query takes the driver's lock, which other threads' launches need too: query once a
      // microsecond until the work nears its expected end, then after a few spin hints.
      const double ema = emaMicros_.load(std::memory_order_relaxed);
      const bool near = c == nullptr || ema == 0 || Micros(now - c->submitted) > ema * 0.8;
      if (near) {
        for (int k = 0; k < 4; ++k) CpuRelax();
      } else {
        const Clock::time_point next = now + std::chrono::microseconds(1);
        while (Clock::now() < next && !hasDone_.load(std::memory_order_acquire)) CpuRelax();
      }
    }
    if (hasDone_.load(std::memory_order_acquire)) Deliver(env);
    return inflight_;
  }
  if (spinMicros > 0 && inflight_ > 0 && !hasDone_.load(std::memory_order_acquire)) {
    const Clock::time_point t0 = Clock::now();
    for (unsigned n = 1; !hasDone_.load(std::memory_order_acquire); ++n) {
      CpuRelax();
      if ((n & 63) == 0 && Micros(Clock::now() - t0) > spinMicros) break;
    }
  }
  // (The watcher still wakes the event loop for what completes later: a stream the JS poller
  // does not own must not wait for another poll() that may never come. Until 2026-12-07 one
  // poll() of such a stream silenced that wake-up and its next run never settled: the GPU
  // misuse fuzzer's "lost" runs.)
  if (hasDone_.load(std::memory_order_acquire)) Deliver(env);
  return inflight_;
}

void StreamCore::RequestDispose() {
  disposeRequested_ = true;
  // The JS poller drops a disposed stream: the watcher waits for what is still in flight (had
  // the JS thread been completing it) and completions from here on wake the loop. (What the JS
  // thread finished, its poll() delivered in the same call.)
  if (jsDriven_.exchange(false, std::memory_order_seq_cst)) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    cv_.notify_all();
  }
  if (inflight_ == 0) Shutdown();
}

void StreamCore::Shutdown() {
  jsDriven_.store(false);  // the watcher finishes what is still pending before it stops
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (joined_) return;
    stop_ = true;
    joined_ = true;
  }
  stopFlag_.store(true);
  cv_.notify_all();
  launchedCv_.notify_all();
  if (watcher_.joinable()) {
    if (watcher_.get_id() == std::this_thread::get_id()) watcher_.detach();
    else watcher_.join();
  }
  if (static_cast<napi_threadsafe_function>(tsfn_) != nullptr) tsfn_.Abort();  // null if creation failed early
  // Work that completed but was never delivered (environment teardown): drop it quietly.
  for (Completion* c : done_) delete c;
  done_.clear();
  selfWhileRunning_.reset();
}

// ----------------------------------------------------------------------------- Stream (JS)

Napi::Function Stream::Init(Napi::Env env) {
  return DefineClass(env, "Stream",
                     {
                         InstanceMethod("synchronize", &Stream::Synchronize),
                         InstanceMethod("dispose", &Stream::Dispose),
                         InstanceAccessor("device", &Stream::GetDevice, nullptr),
                         InstanceAccessor("pending", &Stream::GetPending, nullptr),
                         InstanceAccessor("disposed", &Stream::GetDisposed, nullptr),
                         InstanceAccessor("estimatedMicroseconds", &Stream::GetEstimate, nullptr),
                         InstanceAccessor("handle", &Stream::GetHandle, nullptr),
                         InstanceAccessor("jsCompletion", &Stream::GetJsCompletion, nullptr),
                         InstanceMethod("poll", &Stream::Poll),
                     });
}

// new Stream({ device = 0, priority = 0, waitMode = 'adaptive', spinMicroseconds = 200 })
Stream::Stream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Stream>(info) {
  Napi::Env env = info.Env();
  Napi::Object o = OptionsArg(env, info.Length() > 0 ? info[0] : env.Undefined(), "Stream options");
  // Every option is read and checked before anything is created (a getter may run for each).
  const int device = static_cast<int>(GetInteger(env, o, "device", 0, 0, INT32_MAX));
  // CUDA clamps a priority to the device's range (a few levels around 0); a wider number is a mistake.
  const int priority = static_cast<int>(GetInteger(env, o, "priority", 0, -1024, 1024));
  const std::string mode = GetStringArg(env, o, "waitMode", "adaptive");
  WaitMode m = WaitMode::kAdaptive;
  if (mode == "spin") m = WaitMode::kSpin;
  else if (mode == "block") m = WaitMode::kBlock;
  else if (mode != "adaptive") Throw(env, "ERR_INVALID_ARGUMENT", "waitMode must be 'adaptive', 'spin' or 'block'");
  // A watcher that spins longer than a second per wait is a misconfiguration, not a tuning.
  const double spin = static_cast<double>(GetInteger(env, o, "spinMicroseconds", 200, 0, 1000000));
  const bool jsCompletion = GetBoolArg(env, o, "jsCompletion", false);
  RequireDevice(env, device);
  try {
    core_ = StreamCore::Create(env, device, priority, m, spin, jsCompletion);
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  info.This().As<Napi::Object>().TypeTag(&kStreamTag);
}

Stream::~Stream() {
  // Collected without dispose(): the core lives on while work is in flight or a context uses
  // it, and goes with its watcher thread when the last of them lets go.
  core_.reset();
}

std::shared_ptr<StreamCore> Stream::core(Napi::Env env) {
  if (!core_) Throw(env, "ERR_DISPOSED", "the stream was disposed");
  return core_;
}

Stream* Stream::FromJs(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) Throw(env, "ERR_INVALID_ARGUMENT", "expected a Stream");
  if (!HasTag(v, &kStreamTag)) Throw(env, "ERR_INVALID_ARGUMENT", "expected a Stream");
  return Napi::ObjectWrap<Stream>::Unwrap(v.As<Napi::Object>());
}

Stream* Stream::Unwrap(const Napi::Object& o) { return CheckedUnwrap<Stream>(o, &kStreamTag, "Stream"); }

Napi::Value Stream::Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = this->core(env);
  core->WaitLaunches();
  Completion* c = core->NewCompletion();
  return core->Track(env, c);
}

Napi::Value Stream::Dispose(const Napi::CallbackInfo& info) {
  // Work in flight still holds the core; the watcher ends once it is delivered and the last
  // reference goes away. A disposed stream accepts no new work.
  if (core_) core_->RequestDispose();
  core_.reset();
  return info.Env().Undefined();
}

Napi::Value Stream::GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), core(info.Env())->device()); }
Napi::Value Stream::GetPending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_ ? static_cast<double>(core_->inflight()) : 0);
}
Napi::Value Stream::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !core_); }
Napi::Value Stream::GetEstimate(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_ ? core_->EstimatedMicros() : 0);
}
Napi::Value Stream::GetJsCompletion(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), core_ && core_->jsDriven()); }
Napi::Value Stream::GetHandle(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(core(info.Env())->stream())));
}

// poll(spinMicroseconds = 0) → work still in flight after settling what has completed (0
// once disposed: the thread-safe function delivers what a disposed stream still has in flight).
Napi::Value Stream::Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!core_) return Napi::Number::New(env, 0);
  const double spin = info.Length() > 0 && info[0].IsNumber() ? std::min(1000.0, info[0].As<Napi::Number>().DoubleValue()) : 0;
  std::shared_ptr<StreamCore> keep = core_;
  return Napi::Number::New(env, static_cast<double>(keep->Poll(env, spin)));
}

}  // namespace trtnode
