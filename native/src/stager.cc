#include "stager.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "context.h"

namespace trtnode {
namespace {

// Never destroyed: its thread is detached and ends with the process, so no exit-time destructor
// races an issue in progress (as CopyPool).
class Stager {
 public:
  Stager() {
    if (const char* e = std::getenv("TRTNODE_STAGER_SPIN_US")) spin_ = std::chrono::microseconds(std::max(0L, std::strtol(e, nullptr, 10)));
    std::thread([this] { Loop(); }).detach();
  }

  void Notify(const std::shared_ptr<ContextCore>& c) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!c->stageScheduled) {
        c->stageScheduled = true;
        list_.push_back(c);
      }
      wake = sleeping_;
    }
    hasWork_.store(true, std::memory_order_release);
    if (wake) cv_.notify_one();
  }

 private:
  void Loop() {
    std::vector<std::shared_ptr<ContextCore>> work;
    for (;;) {
      // A burst's pieces come some µs apart: look for the next one a while before sleeping.
      const auto until = std::chrono::steady_clock::now() + spin_;
      while (!hasWork_.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < until) std::this_thread::yield();
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (list_.empty()) {
          sleeping_ = true;
          cv_.wait(lock, [&] { return !list_.empty(); });
          sleeping_ = false;
        }
        hasWork_.store(false, std::memory_order_relaxed);
        work.swap(list_);
        for (auto& c : work) c->stageScheduled = false;
      }
      for (auto& c : work) {
        // Pieces left queued (waiting for a group to fill): look again on the next round.
        if (c->IssueStaged(false)) Notify(c);
      }
      work.clear();  // may release a context's last reference: its destructor runs here
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<ContextCore>> list_;
  bool sleeping_ = false;
  std::atomic<bool> hasWork_{false};
  std::chrono::microseconds spin_{100};
};

Stager& Get() {
  static Stager* s = new Stager();  // never destroyed (above)
  return *s;
}

}  // namespace

void StagerNotify(const std::shared_ptr<ContextCore>& c) { Get().Notify(c); }

}  // namespace trtnode
