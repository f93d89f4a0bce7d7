// Parallel memcpy for gathering a batch into pinned staging on a launch thread. One 224×224
// FP32 image is 600 KB; a batch of 32 is 19 MB, which one core of the test VM copies in about
// 3 ms: longer than the H100 needs to run the batch. Copies of a megabyte or more are split
// into chunks that a few helper threads copy together with the caller.
#pragma once

#include <cstddef>
#include <vector>

namespace trtnode {

struct CopyPiece {
  void* dst;
  const void* src;
  size_t bytes;
};

// Copies every piece and returns when all are done. Any thread; small totals stay on the caller.
// Helper threads: TRTNODE_COPY_THREADS, default min(8, cores / 2).
void ParallelCopy(const std::vector<CopyPiece>& pieces);

}  // namespace trtnode
