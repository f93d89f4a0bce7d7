#include "buffers.h"

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>

#include "addon_data.h"
#include "common.h"
#include "stream.h"

namespace trtnode {

DeviceMem::~DeviceMem() {
  if (ptr != nullptr) {
    cudaSetDevice(device);
    cudaFree(ptr);
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
  else cudaFreeHost(ptr);
}

namespace {

size_t ByteCount(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsNumber()) Throw(env, "ERR_INVALID_ARGUMENT", std::string(what) + " must be a number of bytes");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d > 0) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 9.007199254740991e15)
    Throw(env, "ERR_INVALID_ARGUMENT", std::string(what) + " must be a positive integer, got " + std::to_string(d));
  return static_cast<size_t>(d);
}

size_t OptionalOffset(Napi::Env env, const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return 0;
  if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0) Throw(env, "ERR_INVALID_ARGUMENT", std::string(key) + " must be a non-negative integer");
  return static_cast<size_t>(v.As<Napi::Number>().Int64Value());
}

}  // namespace

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
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = t.ArrayBuffer();
    if (ab.IsDetached()) Throw(env, "ERR_DETACHED_BUFFER", "the TypedArray's ArrayBuffer is detached");
    r.ptr = static_cast<uint8_t*>(ab.Data()) + t.ByteOffset();
    r.bytes = t.ByteLength();
    r.pinnedMem = FindPinned(r.ptr, r.bytes);
  } else if (v.IsDataView()) {
    Napi::DataView d = v.As<Napi::DataView>();
    Napi::ArrayBuffer ab = d.ArrayBuffer();
    if (ab.IsDetached()) Throw(env, "ERR_DETACHED_BUFFER", "the DataView's ArrayBuffer is detached");
    r.ptr = static_cast<uint8_t*>(ab.Data()) + d.ByteOffset();
    r.bytes = d.ByteLength();
  } else if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    if (ab.IsDetached()) Throw(env, "ERR_DETACHED_BUFFER", "the ArrayBuffer is detached");
    r.ptr = ab.Data();
    r.bytes = ab.ByteLength();
  } else {
    Throw(env, "ERR_INVALID_ARGUMENT", "expected a HostBuffer, an ArrayBuffer, a TypedArray or a DataView");
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
  const int device = info.Length() > 1 && info[1].IsObject() ? static_cast<int>(GetNumber(info[1].As<Napi::Object>(), "device", 0)) : 0;
  auto mem = std::make_shared<DeviceMem>();
  mem->bytes = bytes;
  mem->device = device;
  CheckCudaJs(env, cudaSetDevice(device), "cudaSetDevice");
  cudaError_t e = cudaMalloc(&mem->ptr, bytes);
  if (e != cudaSuccess) {
    mem->ptr = nullptr;
    cudaGetLastError();  // clear the (non-sticky) allocation error
    if (e == cudaErrorMemoryAllocation)
      Throw(env, "ERR_OUT_OF_MEMORY", "out of device memory: cudaMalloc of " + std::to_string(bytes) + " bytes on device " + std::to_string(device) + " failed");
    CheckCudaJs(env, e, "cudaMalloc");
  }
  mem_ = mem;
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

bool DeviceBuffer::Is(Napi::Env env, Napi::Value v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(Data(env)->deviceBufferCtor.Value());
}

DeviceBuffer* DeviceBuffer::FromJs(Napi::Env env, Napi::Value v) {
  if (!Is(env, v)) Throw(env, "ERR_INVALID_ARGUMENT", "expected a DeviceBuffer");
  return Napi::ObjectWrap<DeviceBuffer>::Unwrap(v.As<Napi::Object>());
}

// Copies between this buffer and host memory or another DeviceBuffer, asynchronously on
// `stream`: copyFrom(src, { stream, offset = 0, srcOffset = 0, byteLength }) → Promise.
static Napi::Value DeviceCopy(const Napi::CallbackInfo& info, DeviceBuffer* self, bool toDevice) {
  Napi::Env env = info.Env();
  auto mem = self->mem(env);
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  Stream* stream = Stream::FromJs(env, o.Get("stream"));
  auto core = stream->core(env);
  const size_t offset = OptionalOffset(env, o, "offset");
  const size_t otherOffset = OptionalOffset(env, o, toDevice ? "srcOffset" : "dstOffset");
  Completion* c = nullptr;
  void* other = nullptr;
  size_t otherBytes = 0;
  std::shared_ptr<void> otherKeep;
  bool otherIsDevice = DeviceBuffer::Is(env, info[0]);
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
  if (otherOffset > otherBytes || offset > mem->bytes) Throw(env, "ERR_INVALID_ARGUMENT", "offset beyond the end of the buffer");
  size_t n = std::min(otherBytes - otherOffset, mem->bytes - offset);
  if (!o.Get("byteLength").IsUndefined()) {
    n = static_cast<size_t>(GetNumber(o, "byteLength", 0));
    if (n > otherBytes - otherOffset || n > mem->bytes - offset)
      Throw(env, "ERR_BUFFER_TOO_SMALL", "byteLength " + std::to_string(n) + " exceeds one of the buffers");
  }
  uint8_t* dev = static_cast<uint8_t*>(mem->ptr) + offset;
  core->WaitLaunches();  // stream order: launches submitted earlier go first
  uint8_t* oth = static_cast<uint8_t*>(other) + otherOffset;
  UseDevice(mem->device);
  cudaMemcpyKind kind = otherIsDevice ? cudaMemcpyDeviceToDevice : (toDevice ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost);
  cudaError_t e = toDevice ? cudaMemcpyAsync(dev, oth, n, kind, core->stream()) : cudaMemcpyAsync(oth, dev, n, kind, core->stream());
  CheckCudaJs(env, e, "cudaMemcpyAsync");
  c = core->NewCompletion();
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
  auto mem = this->mem(env);
  if (!info[0].IsNumber()) Throw(env, "ERR_INVALID_ARGUMENT", "fill(value, { stream }) needs a byte value");
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  auto core = Stream::FromJs(env, o.Get("stream"))->core(env);
  UseDevice(mem->device);
  core->WaitLaunches();
  CheckCudaJs(env, cudaMemsetAsync(mem->ptr, info[0].As<Napi::Number>().Int32Value() & 0xff, mem->bytes, core->stream()), "cudaMemsetAsync");
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
  auto mem = std::make_shared<HostMem>();
  mem->bytes = bytes;
  cudaError_t e = cudaHostAlloc(&mem->ptr, bytes, cudaHostAllocPortable);
  if (e != cudaSuccess) {
    mem->ptr = nullptr;
    cudaGetLastError();
    if (e == cudaErrorMemoryAllocation) Throw(env, "ERR_OUT_OF_MEMORY", "out of pinned host memory: cudaHostAlloc of " + std::to_string(bytes) + " bytes failed");
    CheckCudaJs(env, e, "cudaHostAlloc");
  }
  mem_ = mem;
  RegisterPinned(mem);
  // The ArrayBuffer's finalizer holds its own reference: JS views never outlive the memory.
  auto* hold = new std::shared_ptr<HostMem>(mem);
  hold_ = hold;
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, mem->ptr, bytes, [](Napi::Env, void*, std::shared_ptr<HostMem>* h) { delete h; }, hold);
  arrayBuffer_ = Napi::Persistent(ab);
}

HostBuffer::~HostBuffer() = default;

std::shared_ptr<HostMem> HostBuffer::mem(Napi::Env env) {
  if (!mem_) Throw(env, "ERR_DISPOSED", "the HostBuffer was disposed");
  return mem_;
}

bool HostBuffer::Is(Napi::Env env, Napi::Value v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(Data(env)->hostBufferCtor.Value());
}

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
