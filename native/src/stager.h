// The staging thread (issue 4): issues the host-to-device copies that stageInput queues, off the
// JS thread. A cudaMemcpyAsync costs the JS thread a few µs, more when the launch and completion
// threads hold the driver's locks; the batcher makes one per request, 32 per batch, in the very
// stretch of JS time (the callers' next requests) that decides when the batch can start. Here the
// JS thread queues the piece and wakes this thread when it sleeps; this thread issues what is
// queued, spinning a short while after each round (TRTNODE_STAGER_SPIN_US, default 100) so that
// the next piece of a burst finds it awake.
#pragma once

#include <memory>

namespace trtnode {

struct ContextCore;

// JS thread: c has pieces queued; the staging thread will issue them (ContextCore::IssueStaged).
void StagerNotify(const std::shared_ptr<ContextCore>& c);

}  // namespace trtnode
