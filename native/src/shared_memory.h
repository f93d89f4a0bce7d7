// POSIX shared memory for the server's system shared-memory extension (Triton's protocol): a
// client on the same host puts tensors in a shm object and sends only its key, offset and size.
#pragma once

#include <napi.h>

namespace trtnode {

// mapSharedMemory(key, offset, byteSize, pin = false) → { buffer, pinned }: an ArrayBuffer over
// [offset, offset + byteSize) of the POSIX shm object `key`, mapped read-write and shared: the
// client's writes are seen, and ours (outputs) reach the client. With `pin`, the mapping is also
// page-locked for the GPU when CUDA allows (`pinned` says whether it was). Unmapped (and
// unlocked) when the ArrayBuffer is garbage-collected, so a view still in use by a request in
// flight stays valid after the region is unregistered.
// ERR_INVALID_ARGUMENT: bad arguments, no such object, or a range beyond its size.
Napi::Value MapSharedMemory(const Napi::CallbackInfo& info);

}  // namespace trtnode
