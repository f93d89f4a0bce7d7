// POSIX shared memory for the server's system shared-memory extension (Triton's protocol): a
// client on the same host puts tensors in a shm object and sends only its key, offset and size.
#pragma once

#include <napi.h>

namespace trtnode {

// mapSharedMemory(key, offset, byteSize, pin = false) → { buffer, pinned, size, close }: an ArrayBuffer
// over [offset, offset + byteSize) of the POSIX shm object `key` (a regular file), mapped
// read-write and shared: the client's writes are seen, and ours (outputs) reach the client. With
// `pin`, the mapping is also page-locked for the GPU when CUDA allows (`pinned` says whether it
// was). `size()` is the object's size now (fstat of the descriptor kept open for the purpose), or
// -1 once an access to the mapping has faulted or `close()` closed the descriptor (when the
// region is unregistered: a client that registers and unregisters in a loop then holds no
// descriptors, only mappings until collected): the client can truncate the object at any time,
// and an access past its end raises SIGBUS. A process-wide SIGBUS handler turns such a fault in
// a mapping made here into private zero pages over that mapping (the access completes, reading
// zeros or writing nowhere) and marks it faulted, so that the server answers the request with an
// error instead of dying; a SIGBUS anywhere else keeps its previous handling. Unmapped (and
// unlocked, and the descriptor closed) once the ArrayBuffer and both functions are garbage-collected,
// so a view still in use by a request in flight stays valid after the region is unregistered.
// ERR_INVALID_ARGUMENT: bad arguments, no such object, not a regular file, a range beyond its
// size, or too many mappings alive (4096).
Napi::Value MapSharedMemory(const Napi::CallbackInfo& info);

}  // namespace trtnode
