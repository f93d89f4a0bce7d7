#include "copy_pool.h"

#include "common.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

namespace trtnode {
namespace {

constexpr size_t kChunkBytes = 256 * 1024;
constexpr size_t kParallelFromBytes = 1024 * 1024;

struct CopyJob {
  std::vector<CopyPiece> chunks;
  // Segments (ParallelCopySegments): chunk i belongs to segment chunkSegment[i]; segmentLeft
  // counts each segment's chunks not copied yet. Empty for a plain ParallelCopy.
  std::vector<uint32_t> chunkSegment;
  std::unique_ptr<std::atomic<size_t>[]> segmentLeft;
  std::atomic<size_t> next{0};
  std::atomic<size_t> left{0};
  std::mutex mutex;
  std::condition_variable done;

  // Copies one chunk if any is left to take (by anyone); false when none was.
  bool CopyOne() {
    const size_t i = next.fetch_add(1, std::memory_order_relaxed);
    if (i >= chunks.size()) return false;
    const CopyPiece& c = chunks[i];
    if (c.dst != c.src) std::memcpy(c.dst, c.src, c.bytes);
    if (segmentLeft) segmentLeft[chunkSegment[i]].fetch_sub(1, std::memory_order_acq_rel);
    if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex);
      done.notify_all();
    }
    return true;
  }
  // Copies chunks until none is left to take.
  void Work() {
    while (CopyOne()) {
    }
  }
};

// Never destroyed: its threads are detached and simply end with the process, so no exit-time
// destructor can race a copy still running on a watcher thread.
class CopyPool {
 public:
  CopyPool() {
    size_t n = std::min<size_t>(8, std::max(1u, std::thread::hardware_concurrency()) / 2);
    if (const char* e = std::getenv("TRTNODE_COPY_THREADS")) n = static_cast<size_t>(std::min(64L, std::max(0L, std::strtol(e, nullptr, 10))));
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

  // Hands the job to the helpers, then `work` copies on the calling thread too; returns once
  // every chunk is copied.
  void Run(const std::shared_ptr<CopyJob>& job, const std::function<void()>& work) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(job);
    }
    cv_.notify_all();
    work();
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

namespace {
size_t TotalBytes(const std::vector<CopyPiece>& pieces) {
  size_t total = 0;
  for (const auto& p : pieces) total += p.bytes;
  return total;
}

// Refuses sources that overlap the destinations (see ParallelCopy); a piece copied onto itself
// is allowed (and skipped). The destinations are taken as one range, from the lowest start to the
// highest end: they are one staging area, gathered back to back.
void CheckNoOverlap(const std::vector<CopyPiece>& pieces) {
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (const auto& p : pieces) {
    if (p.bytes == 0) continue;
    const uintptr_t d = reinterpret_cast<uintptr_t>(p.dst);
    lo = std::min(lo, d);
    hi = std::max(hi, d + p.bytes);
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    const CopyPiece& p = pieces[i];
    if (p.bytes == 0 || p.src == p.dst) continue;
    const uintptr_t s = reinterpret_cast<uintptr_t>(p.src);
    if (s < hi && s + p.bytes > lo)
      throw CodedError{"ERR_INVALID_ARGUMENT", "piece " + std::to_string(i) + " (" + std::to_string(p.bytes) +
                                                   " bytes) overlaps the memory it is copied into: a view of the destination cannot be gathered into it"};
  }
}

void CopySerially(const std::vector<CopyPiece>& pieces) {
  for (const auto& p : pieces)
    if (p.bytes != 0 && p.dst != p.src) std::memcpy(p.dst, p.src, p.bytes);
}

// Splits the pieces into chunks of at most kChunkBytes, in destination order.
std::shared_ptr<CopyJob> MakeJob(const std::vector<CopyPiece>& pieces) {
  auto job = std::make_shared<CopyJob>();
  for (const auto& p : pieces) {
    for (size_t off = 0; off < p.bytes; off += kChunkBytes)
      job->chunks.push_back({static_cast<uint8_t*>(p.dst) + off, static_cast<const uint8_t*>(p.src) + off, std::min(kChunkBytes, p.bytes - off)});
  }
  job->left.store(job->chunks.size());
  return job;
}
}  // namespace

void ParallelCopy(const std::vector<CopyPiece>& pieces) {
  CheckNoOverlap(pieces);
  if (TotalBytes(pieces) < kParallelFromBytes || Pool().threads() == 0) {
    CopySerially(pieces);
    return;
  }
  auto job = MakeJob(pieces);
  Pool().Run(job, [&] { job->Work(); });
}

void ParallelCopySegments(const std::vector<CopyPiece>& pieces, size_t segmentBytes, const std::function<void(size_t, size_t)>& onSegment) {
  CheckNoOverlap(pieces);
  const size_t total = TotalBytes(pieces);
  if (total < kParallelFromBytes || Pool().threads() == 0 || total <= segmentBytes) {
    CopySerially(pieces);
    if (total > 0) onSegment(0, total);
    return;
  }
  auto job = MakeJob(pieces);
  // Segment boundaries fall between chunks: segment k ends at the first chunk end at or past
  // (k + 1) * segmentBytes.
  std::vector<size_t> ends;  // byte offset where each segment ends
  std::vector<size_t> counts;
  size_t at = 0;
  for (const CopyPiece& c : job->chunks) {
    if (ends.empty() || at >= ends.size() * segmentBytes) {
      ends.push_back(0);
      counts.push_back(0);
    }
    job->chunkSegment.push_back(static_cast<uint32_t>(ends.size() - 1));
    at += c.bytes;
    ends.back() = at;
    ++counts.back();
  }
  job->segmentLeft.reset(new std::atomic<size_t>[ends.size()]);
  for (size_t i = 0; i < ends.size(); ++i) job->segmentLeft[i].store(counts[i]);
  // A throwing onSegment must not leave the helpers copying from memory its caller then frees:
  // the copy runs to the end, and the error is rethrown after it.
  std::exception_ptr failed;
  Pool().Run(job, [&] {
    // Copy alongside the helpers; between chunks, hand over every segment finished so far, in
    // order. Once nothing is left to take, wait for the helpers' last chunks segment by segment.
    size_t handed = 0;
    while (handed < ends.size()) {
      const bool copied = job->CopyOne();
      for (; handed < ends.size() && job->segmentLeft[handed].load(std::memory_order_acquire) == 0; ++handed) {
        if (failed) continue;
        try {
          onSegment(handed == 0 ? 0 : ends[handed - 1], ends[handed]);
        } catch (...) {
          failed = std::current_exception();
        }
      }
      if (!copied && handed < ends.size()) CpuRelax();
    }
  });
  if (failed) std::rethrow_exception(failed);
}

}  // namespace trtnode
