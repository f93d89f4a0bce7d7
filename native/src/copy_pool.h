// Copy threads: host memcpy off the JS thread. A request's input (one 224×224 FP32 image is
// 600 KB) is copied into an execution context's pinned staging while the rest of its batch is
// still arriving, so that no thread has to copy a whole 19 MB batch when it is formed. Large
// copies are split into chunks that several threads copy at once.
#pragma once

#include <atomic>
#include <cstddef>

namespace trtnode {

struct CopyPiece {
  void* dst;
  const void* src;
  size_t bytes;
};

// One asynchronous copy. The submitter owns it and keeps it (and both memory ranges) alive until
// onDone has been called; it may reuse it afterwards.
struct CopyTask {
  CopyPiece piece{};
  // Called once, on the copy thread that finished the last chunk (or on the submitting thread
  // when the copy was small enough to do inline).
  void (*onDone)(CopyTask* task) = nullptr;
  void* owner = nullptr;  // for onDone
  size_t tag = 0;         // for onDone

  // The pool's bookkeeping.
  std::atomic<size_t> nextChunk{0};
  std::atomic<size_t> chunksLeft{0};
  size_t chunks = 0;
};

// Queues the copy for the copy threads; copies inline when there are none or it is small.
void SubmitCopy(CopyTask* task);

// Number of copy threads (TRTNODE_COPY_THREADS, default min(8, cores / 2)).
size_t CopyThreadCount();

}  // namespace trtnode
