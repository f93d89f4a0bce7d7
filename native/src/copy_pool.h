// Parallel memcpy for gathering a batch into pinned staging on a launch thread. One 224×224
// FP32 image is 600 KB; a batch of 32 is 19 MB, which one core of the test VM copies in about
// 3 ms: longer than the H100 needs to run the batch. Copies of a megabyte or more are split
// into chunks that a few helper threads copy together with the caller.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

namespace trtnode {

struct CopyPiece {
  void* dst;
  const void* src;
  size_t bytes;
};

// Copies every piece and returns when all are done. Any thread; small totals stay on the caller.
// Helper threads: TRTNODE_COPY_THREADS (at most 64), default min(8, cores / 2).
// A piece whose source is its destination is left as it is; a source that overlaps the
// destinations otherwise (a request's view of the very staging it is gathered into) would be
// read while it is overwritten: CodedError ERR_INVALID_ARGUMENT, before anything is copied.
void ParallelCopy(const std::vector<CopyPiece>& pieces);

// The same, for pieces that fill one destination range back to back, handed over in segments
// of about segmentBytes (each ends at the first chunk end past a multiple of it): onSegment(begin, end) (byte offsets into that range) is called on the
// calling thread, in order, as soon as every byte of a segment is copied, while the rest is
// still being copied. Lets the caller start a DMA of the first megabytes of a batch before the
// last ones are gathered.
void ParallelCopySegments(const std::vector<CopyPiece>& pieces, size_t segmentBytes, const std::function<void(size_t begin, size_t end)>& onSegment);

}  // namespace trtnode
