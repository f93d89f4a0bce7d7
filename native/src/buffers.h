// Device memory (cudaMalloc) and pinned host memory (cudaHostAlloc, exposed to JS as an
// external ArrayBuffer: zero-copy DMA from JS-visible memory). The memory itself lives in a
// shared "Mem" object: work in flight holds it, so dispose() during a copy or an inference
// frees it only after the GPU is done with it.
#pragma once

#include <napi.h>

#include <cstddef>
#include <functional>
#include <memory>

namespace trtnode {

struct DeviceMem {
  void* ptr = nullptr;
  size_t bytes = 0;
  int device = 0;
  ~DeviceMem();
};

// Pinned host memory: cudaHostAlloc'd (HostBuffer), or memory of someone else's that was
// page-locked with cudaHostRegister (a shared-memory mapping), which `release` undoes.
struct HostMem {
  void* ptr = nullptr;
  size_t bytes = 0;
  std::function<void()> release;  // empty: cudaFreeHost(ptr)
  ~HostMem();
};

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DeviceBuffer(const Napi::CallbackInfo& info);
  ~DeviceBuffer() override;

  std::shared_ptr<DeviceMem> mem(Napi::Env env);  // throws ERR_DISPOSED
  static DeviceBuffer* FromJs(Napi::Env env, Napi::Value v);
  static bool Is(Napi::Env env, Napi::Value v);
  // Hides ObjectWrap's: every method and accessor checks that `this` is a DeviceBuffer (common.h).
  static DeviceBuffer* Unwrap(const Napi::Object& o);

 private:
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);
  Napi::Value CopyTo(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetByteLength(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetAddress(const Napi::CallbackInfo& info);
  void Release(Napi::Env env);

  std::shared_ptr<DeviceMem> mem_;
  int64_t reported_ = 0;  // bytes reported to V8 as external memory
};

class HostBuffer : public Napi::ObjectWrap<HostBuffer> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit HostBuffer(const Napi::CallbackInfo& info);
  ~HostBuffer() override;

  std::shared_ptr<HostMem> mem(Napi::Env env);  // throws ERR_DISPOSED
  static HostBuffer* FromJs(Napi::Env env, Napi::Value v);
  static bool Is(Napi::Env env, Napi::Value v);
  static HostBuffer* Unwrap(const Napi::Object& o);  // as DeviceBuffer::Unwrap

 private:
  Napi::Value GetBuffer(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetByteLength(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);

  std::shared_ptr<HostMem> mem_;
  Napi::Reference<Napi::ArrayBuffer> arrayBuffer_;
  std::shared_ptr<void>* hold_ = nullptr;  // holds mem_ for the ArrayBuffer; owned by its finalizer
};

// The live HostBuffer memory holding all of [p, p + bytes), or nullptr. A TypedArray over a
// HostBuffer's ArrayBuffer is pinned memory too: found here, it can be copied by DMA directly,
// and holding the result keeps the memory alive while the copy is in flight.
std::shared_ptr<HostMem> FindPinned(const void* p, size_t bytes);
// Makes views of m's memory recognised as pinned (FindPinned) while m lives.
void RegisterPinned(const std::shared_ptr<HostMem>& m);

// A host region given by JS: a HostBuffer or a view of one (pinned), or an ArrayBuffer /
// TypedArray / DataView (pageable; a view may be of a SharedArrayBuffer). jsValue must stay
// referenced while a copy is in flight. Runs no JS: call it after every getter of the call's
// arguments has run, since a getter may detach a buffer whose region was taken before it.
struct HostRegion {
  void* ptr = nullptr;
  size_t bytes = 0;
  std::shared_ptr<HostMem> pinnedMem;  // set when the region is pinned (a HostBuffer or a view of one)
  Napi::Value jsValue;
};
HostRegion GetHostRegion(Napi::Env env, Napi::Value v);  // throws ERR_INVALID_ARGUMENT / ERR_DETACHED_BUFFER

}  // namespace trtnode
