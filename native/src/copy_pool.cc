#include "copy_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace trtnode {
namespace {

constexpr size_t kChunkBytes = 256 * 1024;
constexpr size_t kParallelFromBytes = 1024 * 1024;

struct CopyJob {
  std::vector<CopyPiece> chunks;
  std::atomic<size_t> next{0};
  std::atomic<size_t> left{0};
  std::mutex mutex;
  std::condition_variable done;

  // Copies chunks until none is left to take (by anyone).
  void Work() {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < chunks.size();) {
      const CopyPiece& c = chunks[i];
      std::memcpy(c.dst, c.src, c.bytes);
      if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex);
        done.notify_all();
      }
    }
  }
};

// Never destroyed: its threads are detached and simply end with the process, so no exit-time
// destructor can race a copy still running on a watcher thread.
class CopyPool {
 public:
  CopyPool() {
    size_t n = std::min<size_t>(8, std::max(1u, std::thread::hardware_concurrency()) / 2);
    if (const char* e = std::getenv("TRTNODE_COPY_THREADS")) n = static_cast<size_t>(std::max(0L, std::strtol(e, nullptr, 10)));
    threads_ = n;
    for (size_t i = 0; i < n; ++i) std::thread([this] { Loop(); }).detach();
  }
  size_t threads() const { return threads_; }

  void Run(const std::shared_ptr<CopyJob>& job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(job);
    }
    cv_.notify_all();
    job->Work();
    {
      std::unique_lock<std::mutex> lock(job->mutex);
      job->done.wait(lock, [&] { return job->left.load(std::memory_order_acquire) == 0; });
    }
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.erase(std::remove(jobs_.begin(), jobs_.end(), job), jobs_.end());
  }

 private:
  void Loop() {
    for (;;) {
      std::shared_ptr<CopyJob> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !jobs_.empty(); });
        job = jobs_.front();
        if (job->next.load(std::memory_order_relaxed) >= job->chunks.size()) {
          jobs_.pop_front();  // all taken: the caller waits for the last ones
          continue;
        }
      }
      job->Work();
    }
  }

  size_t threads_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<CopyJob>> jobs_;
};

CopyPool& Pool() {
  static CopyPool* pool = new CopyPool();
  return *pool;
}

}  // namespace

void ParallelCopy(const std::vector<CopyPiece>& pieces) {
  size_t total = 0;
  for (const auto& p : pieces) total += p.bytes;
  if (total < kParallelFromBytes || Pool().threads() == 0) {
    for (const auto& p : pieces) std::memcpy(p.dst, p.src, p.bytes);
    return;
  }
  auto job = std::make_shared<CopyJob>();
  for (const auto& p : pieces) {
    for (size_t off = 0; off < p.bytes; off += kChunkBytes)
      job->chunks.push_back({static_cast<uint8_t*>(p.dst) + off, static_cast<const uint8_t*>(p.src) + off, std::min(kChunkBytes, p.bytes - off)});
  }
  job->left.store(job->chunks.size());
  Pool().Run(job);
}

}  // namespace trtnode
