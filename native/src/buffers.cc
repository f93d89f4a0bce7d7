#include "buffers.h"

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>

#include "addon_data.h"
#include "common.h"
#include "stream.h"

namespace trtnode {

DeviceMem::~DeviceMem() {
  if (ptr == nullptr) return;
  // The last holder may be any thread (JS finalizer, a stream's watcher): free on the buffer's
  // device, and leave that thread's device as it was.
  try {
    DeviceGuard guard(device);
    WarnCuda(cudaFree(ptr), "cudaFree");
  } catch (const CodedError& e) {
    Warn("device memory not freed: " + e.message);
  }
}

namespace {
// Live pinned allocations by start address, so that views of them are recognised as pinned.
std::mutex gPinnedMutex;
std::map<uintptr_t, std::weak_ptr<HostMem>> gPinned;
}  // namespace

void RegisterPinned(const std::shared_ptr<HostMem>& m) {
  std::lock_guard<std::mutex> lock(gPinnedMutex);
  gPinned[reinterpret_cast<uintptr_t>(m->ptr)] = m;
}

std::shared_ptr<HostMem> FindPinned(const void* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(gPinnedMutex);
  auto it = gPinned.upper_bound(a);
  if (it == gPinned.begin()) return nullptr;
  --it;
  std::shared_ptr<HostMem> m = it->second.lock();
  if (!m || a + bytes > it->first + m->bytes) return nullptr;
  return m;
}

HostMem::~HostMem() {
  if (ptr == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(gPinnedMutex);
    gPinned.erase(reinterpret_cast<uintptr_t>(ptr));
  }
  if (release) release();
  else WarnCuda(cudaFreeHost(ptr), "cudaFreeHost");
}

namespace {

// A byte count for an allocation: an integer from 1 to 2^53 - 1.
size_t ByteCount(Napi::Env env, const Napi::Value& v, const char* what) {
  return static_cast<size_t>(IntegerArg(env, v, what, 1, static_cast<int64_t>(kMaxSafeInteger)));
}

// Throws ERR_INVALID_ARGUMENT for a napi call that failed (a value of an unexpected kind).
void CheckNapi(Napi::Env env, napi_status status, const char* what) {
  if (status == napi_ok) return;
  if (env.IsExceptionPending()) env.GetAndClearPendingException();
  Throw(env, "ERR_INVALID_ARGUMENT", std::string(what) + ": not a usable buffer");
}

bool IsDetached(Napi::Env env, napi_value arrayBuffer) {
  bool detached = false;  // a SharedArrayBuffer is never detached (and napi says false)
  CheckNapi(env, napi_is_detached_arraybuffer(env, arrayBuffer, &detached), "napi_is_detached_arraybuffer");
  return detached;
}

}  // namespace

// The data pointers come from napi_get_typedarray_info / napi_get_dataview_info, which serve
// views of SharedArrayBuffers too (napi_get_arraybuffer_info refuses those).
HostRegion GetHostRegion(Napi::Env env, Napi::Value v) {
  HostRegion r;
  r.jsValue = v;
  if (HostBuffer::Is(env, v)) {
    r.pinnedMem = HostBuffer::FromJs(env, v)->mem(env);
    r.ptr = r.pinnedMem->ptr;
    r.bytes = r.pinnedMem->bytes;
    return r;
  }
  if (v.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_value arrayBuffer = nullptr;
    size_t byteOffset = 0;
    CheckNapi(env, napi_get_typedarray_info(env, v, &type, &length, &data, &arrayBuffer, &byteOffset), "napi_get_typedarray_info");
    if (IsDetached(env, arrayBuffer)) Throw(env, "ERR_DETACHED_BUFFER", "the TypedArray's ArrayBuffer is detached");
    r.ptr = data;
    r.bytes = v.As<Napi::TypedArray>().ByteLength();
    r.pinnedMem = FindPinned(r.ptr, r.bytes);
  } else if (v.IsDataView()) {
    size_t length = 0;
    void* data = nullptr;
    napi_value arrayBuffer = nullptr;
    size_t byteOffset = 0;
    CheckNapi(env, napi_get_dataview_info(env, v, &length, &data, &arrayBuffer, &byteOffset), "napi_get_dataview_info");
    if (IsDetached(env, arrayBuffer)) Throw(env, "ERR_DETACHED_BUFFER", "the DataView's ArrayBuffer is detached");
    r.ptr = data;
    r.bytes = length;
  } else if (v.IsArrayBuffer()) {
    if (IsDetached(env, v)) Throw(env, "ERR_DETACHED_BUFFER", "the ArrayBuffer is detached");
    void* data = nullptr;
    size_t length = 0;
    CheckNapi(env, napi_get_arraybuffer_info(env, v, &data, &length), "napi_get_arraybuffer_info");
    r.ptr = data;
    r.bytes = length;
  } else {
    Throw(env, "ERR_INVALID_ARGUMENT",
          std::string("expected a HostBuffer, an ArrayBuffer, a TypedArray or a DataView (a SharedArrayBuffer through a view of it), got a value of type ") + TypeName(v));
  }
  return r;
}

// ----------------------------------------------------------------------------- DeviceBuffer

Napi::Function DeviceBuffer::Init(Napi::Env env) {
  return DefineClass(env, "DeviceBuffer",
                     {
                         InstanceMethod("copyFrom", &DeviceBuffer::CopyFrom),
                         InstanceMethod("copyTo", &DeviceBuffer::CopyTo),
                         InstanceMethod("fill", &DeviceBuffer::Fill),
                         InstanceMethod("dispose", &DeviceBuffer::Dispose),
                         InstanceAccessor("byteLength", &DeviceBuffer::GetByteLength, nullptr),
                         InstanceAccessor("device", &DeviceBuffer::GetDevice, nullptr),
                         InstanceAccessor("disposed", &DeviceBuffer::GetDisposed, nullptr),
                         InstanceAccessor("address", &DeviceBuffer::GetAddress, nullptr),
                     });
}

// new DeviceBuffer(byteLength, { device = 0 })
DeviceBuffer::DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
  Napi::Env env = info.Env();
  const size_t bytes = ByteCount(env, info[0], "byteLength");
  const int device = [&] {
    Napi::Value v = OptionsArg(env, info[1], "DeviceBuffer options").Get("device");
    return v.IsUndefined() ? 0 : DeviceArg(env, v, "device");
  }();
  RequireDevice(env, device);
  auto mem = std::make_shared<DeviceMem>();
  mem->bytes = bytes;
  mem->device = device;
  cudaError_t e;
  try {
    DeviceGuard guard(device);
    e = cudaMalloc(&mem->ptr, bytes);
  } catch (const CodedError& err) {
    Throw(env, err.code.c_str(), err.message);
  }
  if (e != cudaSuccess) {
    mem->ptr = nullptr;
    cudaGetLastError();  // clear the (non-sticky) allocation error
    if (e == cudaErrorMemoryAllocation)
      Throw(env, "ERR_OUT_OF_MEMORY", "out of device memory: cudaMalloc of " + std::to_string(bytes) + " bytes on device " + std::to_string(device) + " failed");
    CheckCudaJs(env, e, "cudaMalloc");
  }
  mem_ = mem;
  info.This().As<Napi::Object>().TypeTag(&kDeviceBufferTag);
  reported_ = static_cast<int64_t>(bytes);
  Napi::MemoryManagement::AdjustExternalMemory(env, reported_);
}

DeviceBuffer::~DeviceBuffer() {
  if (reported_ != 0) Napi::MemoryManagement::AdjustExternalMemory(Env(), -reported_);
}

void DeviceBuffer::Release(Napi::Env env) {
  mem_.reset();  // freed now, or when the last piece of work using it completes
  if (reported_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -reported_);
  reported_ = 0;
}

std::shared_ptr<DeviceMem> DeviceBuffer::mem(Napi::Env env) {
  if (!mem_) Throw(env, "ERR_DISPOSED", "the DeviceBuffer was disposed");
  return mem_;
}

bool DeviceBuffer::Is(Napi::Env env, Napi::Value v) { return HasTag(v, &kDeviceBufferTag); }

DeviceBuffer* DeviceBuffer::Unwrap(const Napi::Object& o) { return CheckedUnwrap<DeviceBuffer>(o, &kDeviceBufferTag, "DeviceBuffer"); }

DeviceBuffer* DeviceBuffer::FromJs(Napi::Env env, Napi::Value v) {
  if (!Is(env, v)) Throw(env, "ERR_INVALID_ARGUMENT", "expected a DeviceBuffer");
  return Napi::ObjectWrap<DeviceBuffer>::Unwrap(v.As<Napi::Object>());
}

// Copies between this buffer and host memory or another DeviceBuffer, asynchronously on
// `stream`: copyFrom(src, { stream, offset = 0, srcOffset = 0, byteLength }) → Promise.
static Napi::Value DeviceCopy(const Napi::CallbackInfo& info, DeviceBuffer* self, bool toDevice) {
  Napi::Env env = info.Env();
  // Every option is read first: a getter runs JS, which may dispose or detach what the copy
  // uses. Then nothing below runs JS until the copy is enqueued.
  Napi::Object o = OptionsArg(env, info[1], toDevice ? "copyFrom options" : "copyTo options");
  Napi::Value streamValue = o.Get("stream");
  const size_t offset = static_cast<size_t>(GetInteger(env, o, "offset", 0, 0, static_cast<int64_t>(kMaxSafeInteger)));
  const char* otherKey = toDevice ? "srcOffset" : "dstOffset";
  const size_t otherOffset = static_cast<size_t>(GetInteger(env, o, otherKey, 0, 0, static_cast<int64_t>(kMaxSafeInteger)));
  const int64_t length = GetInteger(env, o, "byteLength", -1, 0, static_cast<int64_t>(kMaxSafeInteger));  // -1: as much as fits
  auto mem = self->mem(env);
  auto core = Stream::FromJs(env, streamValue)->core(env);
  if (core->disposed()) Throw(env, "ERR_DISPOSED", "the stream was disposed");
  void* other = nullptr;
  size_t otherBytes = 0;
  std::shared_ptr<void> otherKeep;
  const bool otherIsDevice = DeviceBuffer::Is(env, info[0]);
  Napi::Value js;
  if (otherIsDevice) {
    auto om = DeviceBuffer::FromJs(env, info[0])->mem(env);
    other = om->ptr;
    otherBytes = om->bytes;
    otherKeep = om;
  } else {
    HostRegion r = GetHostRegion(env, info[0]);
    other = r.ptr;
    otherBytes = r.bytes;
    if (r.pinnedMem) otherKeep = r.pinnedMem;
    else js = r.jsValue;
  }
  if (offset > mem->bytes) Throw(env, "ERR_INVALID_ARGUMENT", "offset " + std::to_string(offset) + " is beyond the end of the DeviceBuffer (" + std::to_string(mem->bytes) + " bytes)");
  if (otherOffset > otherBytes)
    Throw(env, "ERR_INVALID_ARGUMENT", std::string(otherKey) + " " + std::to_string(otherOffset) + " is beyond the end of the " + (toDevice ? "source" : "destination") + " (" +
                                           std::to_string(otherBytes) + " bytes)");
  size_t n = std::min(otherBytes - otherOffset, mem->bytes - offset);
  if (length >= 0) {
    n = static_cast<size_t>(length);
    if (!RangeFits(otherOffset, n, otherBytes) || !RangeFits(offset, n, mem->bytes))
      Throw(env, "ERR_BUFFER_TOO_SMALL", "byteLength " + std::to_string(n) + " exceeds one of the buffers");
  }
  uint8_t* dev = static_cast<uint8_t*>(mem->ptr) + offset;
  uint8_t* oth = static_cast<uint8_t*>(other) + otherOffset;
  cudaMemcpyKind kind = otherIsDevice ? cudaMemcpyDeviceToDevice : (toDevice ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost);
  try {
    DeviceGuard guard(mem->device);
    core->WaitLaunches();  // stream order: launches submitted earlier go first
    CheckCuda(toDevice ? cudaMemcpyAsync(dev, oth, n, kind, core->stream()) : cudaMemcpyAsync(oth, dev, n, kind, core->stream()), "cudaMemcpyAsync");
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  Completion* c = core->NewCompletion();
  c->keepAlive.push_back(mem);
  if (otherKeep) c->keepAlive.push_back(otherKeep);
  if (!js.IsEmpty() && !js.IsUndefined()) c->jsRefs.push_back(Napi::Persistent(js));
  return core->Track(env, c);
}

Napi::Value DeviceBuffer::CopyFrom(const Napi::CallbackInfo& info) {
  try {
    return DeviceCopy(info, this, true);
  } catch (const CodedError& e) {
    Throw(info.Env(), e.code.c_str(), e.message);
  }
}

Napi::Value DeviceBuffer::CopyTo(const Napi::CallbackInfo& info) {
  try {
    return DeviceCopy(info, this, false);
  } catch (const CodedError& e) {
    Throw(info.Env(), e.code.c_str(), e.message);
  }
}

// fill(byteValue, { stream }) → Promise: cudaMemsetAsync of the whole buffer.
Napi::Value DeviceBuffer::Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int value = static_cast<int>(IntegerArg(env, info[0], "fill's byte value", 0, 255));
  Napi::Value streamValue = OptionsArg(env, info[1], "fill options").Get("stream");
  auto mem = this->mem(env);
  auto core = Stream::FromJs(env, streamValue)->core(env);
  if (core->disposed()) Throw(env, "ERR_DISPOSED", "the stream was disposed");
  try {
    DeviceGuard guard(mem->device);
    core->WaitLaunches();
    CheckCuda(cudaMemsetAsync(mem->ptr, value, mem->bytes, core->stream()), "cudaMemsetAsync");
  } catch (const CodedError& e) {
    Throw(env, e.code.c_str(), e.message);
  }
  Completion* c = core->NewCompletion();
  c->keepAlive.push_back(mem);
  return core->Track(env, c);
}

Napi::Value DeviceBuffer::Dispose(const Napi::CallbackInfo& info) {
  Release(info.Env());
  return info.Env().Undefined();
}

Napi::Value DeviceBuffer::GetByteLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), mem_ ? static_cast<double>(mem_->bytes) : 0);
}
Napi::Value DeviceBuffer::GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mem(info.Env())->device); }
Napi::Value DeviceBuffer::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !mem_); }
Napi::Value DeviceBuffer::GetAddress(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(mem(info.Env())->ptr)));
}

// ----------------------------------------------------------------------------- HostBuffer

Napi::Function HostBuffer::Init(Napi::Env env) {
  return DefineClass(env, "HostBuffer",
                     {
                         InstanceMethod("dispose", &HostBuffer::Dispose),
                         InstanceAccessor("buffer", &HostBuffer::GetBuffer, nullptr),
                         InstanceAccessor("byteLength", &HostBuffer::GetByteLength, nullptr),
                         InstanceAccessor("disposed", &HostBuffer::GetDisposed, nullptr),
                     });
}

// new HostBuffer(byteLength): pinned, portable (usable from every device's streams).
HostBuffer::HostBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HostBuffer>(info) {
  Napi::Env env = info.Env();
  const size_t bytes = ByteCount(env, info[0], "byteLength");
  CheckExternalBytes(env, bytes, "HostBuffer byteLength");  // before pinning that much memory
  auto mem = std::make_shared<HostMem>();
  mem->bytes = bytes;
  cudaError_t e = cudaHostAlloc(&mem->ptr, bytes, cudaHostAllocPortable);
  if (e != cudaSuccess) {
    mem->ptr = nullptr;
    cudaGetLastError();
    if (e == cudaErrorMemoryAllocation) Throw(env, "ERR_OUT_OF_MEMORY", "out of pinned host memory: cudaHostAlloc of " + std::to_string(bytes) + " bytes failed");
    CheckCudaJs(env, e, "cudaHostAlloc");
  }
  // The ArrayBuffer's finalizer holds its own reference: JS views never outlive the memory.
  // (Made before the object counts as constructed: a length this Node refuses frees the memory.)
  Napi::ArrayBuffer ab = ExternalArrayBuffer(env, mem->ptr, bytes, mem, "HostBuffer byteLength", &hold_);
  arrayBuffer_ = Napi::Persistent(ab);
  mem_ = mem;
  info.This().As<Napi::Object>().TypeTag(&kHostBufferTag);
  RegisterPinned(mem);
}

HostBuffer::~HostBuffer() = default;

std::shared_ptr<HostMem> HostBuffer::mem(Napi::Env env) {
  if (!mem_) Throw(env, "ERR_DISPOSED", "the HostBuffer was disposed");
  return mem_;
}

bool HostBuffer::Is(Napi::Env env, Napi::Value v) { return HasTag(v, &kHostBufferTag); }

HostBuffer* HostBuffer::Unwrap(const Napi::Object& o) { return CheckedUnwrap<HostBuffer>(o, &kHostBufferTag, "HostBuffer"); }

HostBuffer* HostBuffer::FromJs(Napi::Env env, Napi::Value v) {
  if (!Is(env, v)) Throw(env, "ERR_INVALID_ARGUMENT", "expected a HostBuffer");
  return Napi::ObjectWrap<HostBuffer>::Unwrap(v.As<Napi::Object>());
}

Napi::Value HostBuffer::GetBuffer(const Napi::CallbackInfo& info) {
  mem(info.Env());
  return arrayBuffer_.Value();
}

// Detaches the ArrayBuffer (every JS view becomes empty), then frees the pinned memory as
// soon as no copy in flight uses it.
Napi::Value HostBuffer::Dispose(const Napi::CallbackInfo& info) {
  if (mem_) {
    Napi::ArrayBuffer ab = arrayBuffer_.Value();
    if (!ab.IsDetached()) ab.Detach();
    hold_->reset();  // the ArrayBuffer no longer needs the memory; its finalizer frees only the holder
    arrayBuffer_.Reset();
    mem_.reset();
  }
  return info.Env().Undefined();
}

Napi::Value HostBuffer::GetByteLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), mem_ ? static_cast<double>(mem_->bytes) : 0);
}
Napi::Value HostBuffer::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !mem_); }

}  // namespace trtnode
