#include "copy_pool.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>

namespace trtnode {
namespace {

constexpr size_t kChunkBytes = 256 * 1024;
// Below this a copy is done by the caller: handing it to a thread costs more than the memcpy.
constexpr size_t kInlineBelowBytes = 64 * 1024;

// Copies chunk i of t; the thread that copies the last outstanding chunk completes the task.
void CopyChunk(CopyTask* t, size_t i) {
  const size_t off = i * kChunkBytes;
  const size_t n = std::min(kChunkBytes, t->piece.bytes - off);
  std::memcpy(static_cast<uint8_t*>(t->piece.dst) + off, static_cast<const uint8_t*>(t->piece.src) + off, n);
  if (t->chunksLeft.fetch_sub(1, std::memory_order_acq_rel) == 1 && t->onDone != nullptr) t->onDone(t);
}

// Never destroyed: its threads are detached and end with the process, so no exit-time
// destructor can race a copy still in progress.
class CopyPool {
 public:
  CopyPool() {
    size_t n = std::min<size_t>(8, std::max(1u, std::thread::hardware_concurrency()) / 2);
    if (const char* e = std::getenv("TRTNODE_COPY_THREADS")) n = static_cast<size_t>(std::clamp(std::strtol(e, nullptr, 10), 0L, 64L));
    // A thread the system refuses leaves fewer helpers (none: every copy stays on its caller).
    for (size_t i = 0; i < n; ++i) {
      try {
        std::thread([this] { Loop(); }).detach();
        ++threads_;
      } catch (const std::system_error&) {
        break;
      }
    }
  }
  size_t threads() const { return threads_; }

  void Submit(CopyTask* t) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(t);
    }
    if (t->chunks > 1) cv_.notify_all();
    else cv_.notify_one();
  }

 private:
  void Loop() {
    for (;;) {
      CopyTask* t = nullptr;
      size_t i = 0;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        t = queue_.front();
        i = t->nextChunk.fetch_add(1, std::memory_order_relaxed);
        // The last chunk taken: nobody else needs to see this task.
        if (i + 1 >= t->chunks) queue_.pop_front();
      }
      CopyChunk(t, i);
    }
  }

  size_t threads_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<CopyTask*> queue_;
};

CopyPool& Pool() {
  static CopyPool* pool = new CopyPool();
  return *pool;
}

}  // namespace

void SubmitCopy(CopyTask* t) {
  const size_t bytes = t->piece.bytes;
  if (bytes < kInlineBelowBytes || Pool().threads() == 0) {
    if (bytes > 0) std::memcpy(t->piece.dst, t->piece.src, bytes);
    t->chunks = 0;
    if (t->onDone != nullptr) t->onDone(t);
    return;
  }
  t->chunks = (bytes + kChunkBytes - 1) / kChunkBytes;
  t->nextChunk.store(0, std::memory_order_relaxed);
  t->chunksLeft.store(t->chunks, std::memory_order_release);
  Pool().Submit(t);
}

size_t CopyThreadCount() { return Pool().threads(); }

}  // namespace trtnode
