#include "shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>

#include <cuda_runtime_api.h>

#include "buffers.h"
#include "common.h"

namespace trtnode {
namespace {

struct Mapping {
  void* base;
  size_t length;
};

double NonNegativeInteger(Napi::Env env, const Napi::Value& v, const char* what) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0) || std::floor(d) != d || d > 9007199254740991.0) Throw(env, "ERR_INVALID_ARGUMENT", std::string("mapSharedMemory: ") + what + " must be a non-negative integer");
  return d;
}

}  // namespace

Napi::Value MapSharedMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString()) Throw(env, "ERR_INVALID_ARGUMENT", "mapSharedMemory(key, offset, byteSize): key must be a string");
  const std::string key = info[0].As<Napi::String>().Utf8Value();
  const size_t offset = static_cast<size_t>(NonNegativeInteger(env, info[1], "offset"));
  const size_t bytes = static_cast<size_t>(NonNegativeInteger(env, info[2], "byteSize"));
  const bool pin = info.Length() > 3 && info[3].ToBoolean().Value();
  if (key.empty() || key.size() > 255 || key.find('/', 1) != std::string::npos)
    Throw(env, "ERR_INVALID_ARGUMENT", "shared memory key '" + key + "' is not a valid POSIX shm name (one path component, at most 255 bytes)");
  if (bytes == 0) Throw(env, "ERR_INVALID_ARGUMENT", "shared memory region of key '" + key + "': byte_size must be at least 1");
  const int fd = shm_open(key.c_str(), O_RDWR, 0);
  if (fd < 0) Throw(env, "ERR_INVALID_ARGUMENT", "unable to open shared memory key '" + key + "': " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    Throw(env, "ERR_INVALID_ARGUMENT", "unable to stat shared memory key '" + key + "': " + std::strerror(e));
  }
  if (offset > static_cast<size_t>(st.st_size) || bytes > static_cast<size_t>(st.st_size) - offset) {
    close(fd);
    Throw(env, "ERR_INVALID_ARGUMENT", "shared memory key '" + key + "' holds " + std::to_string(st.st_size) + " bytes; offset " + std::to_string(offset) + " + byte_size " +
                                           std::to_string(bytes) + " is beyond it");
  }
  // mmap wants a page-aligned file offset: map from the page that holds `offset`
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t lead = offset % page;
  void* base = mmap(nullptr, bytes + lead, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset - lead));
  const int mapErrno = errno;
  close(fd);  // the mapping keeps the object
  if (base == MAP_FAILED) Throw(env, "ERR_INVALID_ARGUMENT", "unable to map shared memory key '" + key + "': " + std::strerror(mapErrno));
  const size_t length = bytes + lead;
  uint8_t* data = static_cast<uint8_t*>(base) + lead;
  Napi::Object result = Napi::Object::New(env);
  // Page-locked, the region is recognised as pinned (FindPinned): a batch gathered from such
  // requests is DMA'd to the GPU with no CPU copy. Without a usable GPU it stays a plain mapping.
  if (pin && cudaHostRegister(base, length, cudaHostRegisterPortable) == cudaSuccess) {
    auto mem = std::make_shared<HostMem>();
    mem->ptr = base;
    mem->bytes = length;
    mem->release = [base, length] {
      cudaHostUnregister(base);
      munmap(base, length);
    };
    RegisterPinned(mem);
    auto* hold = new std::shared_ptr<HostMem>(mem);
    result.Set("buffer", Napi::ArrayBuffer::New(env, data, bytes, [](Napi::Env, void*, std::shared_ptr<HostMem>* h) { delete h; }, hold));
    result.Set("pinned", true);
    return result;
  }
  if (pin) cudaGetLastError();  // clear the failed registration
  auto* m = new Mapping{base, length};
  result.Set("buffer", Napi::ArrayBuffer::New(
                           env, data, bytes,
                           [](Napi::Env, void*, Mapping* m) {
                             munmap(m->base, m->length);
                             delete m;
                           },
                           m));
  result.Set("pinned", false);
  return result;
}

}  // namespace trtnode
