#include "shared_memory.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include <cuda_runtime_api.h>

#include "buffers.h"
#include "common.h"

namespace trtnode {
namespace {

// ---------------------------------------------------------------------------------------------
// SIGBUS guard. Signal handlers are process-wide, so the mapped ranges are too: fixed slots that
// the handler reads with atomic loads only (no lock, no allocation). A slot is published after its
// mapping exists and cleared before it is unmapped.

constexpr size_t kGuardSlots = 4096;

struct GuardSlot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<int> faulted{0};
};

GuardSlot gSlots[kGuardSlots];
std::mutex gSlotsMutex;  // claiming and freeing slots (never taken by the handler)
bool gSlotUsed[kGuardSlots];
struct sigaction gPreviousBus;
std::once_flag gInstallOnce;
bool gInstalled = false;

void OnBus(int sig, siginfo_t* info, void* context) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(info->si_addr);
  for (size_t i = 0; i < kGuardSlots; i++) {
    const uintptr_t b = gSlots[i].begin.load(std::memory_order_acquire);
    if (b == 0 || a < b || a >= gSlots[i].end.load(std::memory_order_acquire)) continue;
    // The object was truncated under this mapping: private zero pages over all of it, so that the
    // access retried on return completes (and any later one), and the mapping reports the fault.
    // mmap is a plain system call here; it takes no lock a signalled thread could hold.
    const uintptr_t e = gSlots[i].end.load(std::memory_order_acquire);
    if (mmap(reinterpret_cast<void*>(b), e - b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) break;
    gSlots[i].faulted.store(1, std::memory_order_release);
    return;
  }
  // Not a mapping of ours: what would have happened without this handler.
  if ((gPreviousBus.sa_flags & SA_SIGINFO) != 0 && gPreviousBus.sa_sigaction != nullptr) {
    gPreviousBus.sa_sigaction(sig, info, context);
    return;
  }
  if ((gPreviousBus.sa_flags & SA_SIGINFO) == 0 && gPreviousBus.sa_handler != SIG_DFL && gPreviousBus.sa_handler != SIG_IGN) {
    gPreviousBus.sa_handler(sig);
    return;
  }
  // the default action: the access faults again on return and ends the process as it would have
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
}

void InstallGuard() {
  std::call_once(gInstallOnce, [] {
    struct sigaction sa {};
    sa.sa_sigaction = OnBus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    gInstalled = sigaction(SIGBUS, &sa, &gPreviousBus) == 0;
  });
}

// A slot for [begin, end), or -1 when all are in use.
int ClaimSlot(uintptr_t begin, uintptr_t end) {
  std::lock_guard<std::mutex> lock(gSlotsMutex);
  for (size_t i = 0; i < kGuardSlots; i++) {
    if (gSlotUsed[i]) continue;
    gSlotUsed[i] = true;
    gSlots[i].faulted.store(0, std::memory_order_relaxed);
    gSlots[i].end.store(end, std::memory_order_release);
    gSlots[i].begin.store(begin, std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

void FreeSlot(int slot) {
  if (slot < 0) return;
  std::lock_guard<std::mutex> lock(gSlotsMutex);
  gSlots[slot].begin.store(0, std::memory_order_release);
  gSlots[slot].end.store(0, std::memory_order_release);
  gSlotUsed[slot] = false;
}

// ---------------------------------------------------------------------------------------------

// One mapping with its descriptor and guard slot; unmapped when the last holder lets go.
struct ShmMapping {
  void* base = MAP_FAILED;
  size_t length = 0;
  std::atomic<int> fd{-1};
  int slot = -1;
  bool registered = false;  // cudaHostRegister'ed

  ShmMapping() = default;
  ShmMapping(const ShmMapping&) = delete;
  ShmMapping& operator=(const ShmMapping&) = delete;
  ~ShmMapping() {
    FreeSlot(slot);
    if (base != MAP_FAILED) {
      if (registered) cudaHostUnregister(base);
      munmap(base, length);
    }
    CloseFd();
  }

  void CloseFd() {
    const int f = fd.exchange(-1);
    if (f >= 0) close(f);
  }

  bool Faulted() const { return slot >= 0 && gSlots[slot].faulted.load(std::memory_order_acquire) != 0; }
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
  // a NUL would end the name shm_open sees: another object than the one named
  if (key.empty() || key.size() > 255 || key.find('\0') != std::string::npos || key.find('/', 1) != std::string::npos)
    Throw(env, "ERR_INVALID_ARGUMENT", "shared memory key is not a valid POSIX shm name (one path component, at most 255 bytes, no NUL)");
  if (bytes == 0) Throw(env, "ERR_INVALID_ARGUMENT", "shared memory region of key '" + key + "': byte_size must be at least 1");
  if (offset > SIZE_MAX - bytes) Throw(env, "ERR_INVALID_ARGUMENT", "shared memory region of key '" + key + "': offset + byte_size overflows");
  const std::string region = "shared memory region of key '" + key + "': byte_size";
  CheckExternalBytes(env, bytes, region);  // before mapping (and maybe pinning) that much
  InstallGuard();
  if (!gInstalled) Throw(env, "ERR_INVALID_ARGUMENT", "shared memory cannot be mapped safely: the SIGBUS handler could not be installed");

  auto m = std::make_shared<ShmMapping>();
  m->fd = shm_open(key.c_str(), O_RDWR, 0);
  if (m->fd < 0) Throw(env, "ERR_INVALID_ARGUMENT", "unable to open shared memory key '" + key + "': " + std::strerror(errno));
  struct stat st {};
  if (fstat(m->fd, &st) != 0) Throw(env, "ERR_INVALID_ARGUMENT", "unable to stat shared memory key '" + key + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) Throw(env, "ERR_INVALID_ARGUMENT", "shared memory key '" + key + "' is not a regular shm object");
  if (offset > static_cast<size_t>(st.st_size) || bytes > static_cast<size_t>(st.st_size) - offset) {
    Throw(env, "ERR_INVALID_ARGUMENT", "shared memory key '" + key + "' holds " + std::to_string(st.st_size) + " bytes; offset " + std::to_string(offset) + " + byte_size " +
                                           std::to_string(bytes) + " is beyond it");
  }
  // mmap wants a page-aligned file offset: map from the page that holds `offset`
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t lead = offset % page;
  m->length = bytes + lead;
  m->base = mmap(nullptr, m->length, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, static_cast<off_t>(offset - lead));
  if (m->base == MAP_FAILED) Throw(env, "ERR_INVALID_ARGUMENT", "unable to map shared memory key '" + key + "': " + std::strerror(errno));
  m->slot = ClaimSlot(reinterpret_cast<uintptr_t>(m->base), reinterpret_cast<uintptr_t>(m->base) + m->length);
  if (m->slot < 0) Throw(env, "ERR_INVALID_ARGUMENT", "too many shared memory mappings alive (" + std::to_string(kGuardSlots) + "); unregister regions first");
  uint8_t* data = static_cast<uint8_t*>(m->base) + lead;

  Napi::Object result = Napi::Object::New(env);
  // size(): the object's size now, or -1 once the mapping faulted (the region is then unusable)
  // or the descriptor was closed
  result.Set("size", Napi::Function::New(
                         env,
                         [m](const Napi::CallbackInfo& ci) -> Napi::Value {
                           const int f = m->fd.load();
                           if (m->Faulted() || f < 0) return Napi::Number::New(ci.Env(), -1);
                           struct stat now {};
                           if (fstat(f, &now) != 0) return Napi::Number::New(ci.Env(), -1);
                           return Napi::Number::New(ci.Env(), static_cast<double>(now.st_size));
                         },
                         "size"));
  // close(): the descriptor is not needed once the region is unregistered; the mapping stays
  // until the views of requests in flight are collected
  result.Set("close", Napi::Function::New(
                          env,
                          [m](const Napi::CallbackInfo& ci) -> Napi::Value {
                            m->CloseFd();
                            return ci.Env().Undefined();
                          },
                          "close"));
  // Page-locked, the region is recognised as pinned (FindPinned): a batch gathered from such
  // requests is DMA'd to the GPU with no CPU copy. Without a usable GPU it stays a plain mapping.
  if (pin && cudaHostRegister(m->base, m->length, cudaHostRegisterPortable) == cudaSuccess) {
    m->registered = true;
    auto mem = std::make_shared<HostMem>();
    mem->ptr = m->base;
    mem->bytes = m->length;
    mem->release = [m] {};  // the mapping (unlocked and unmapped by ShmMapping) lives as long as this
    RegisterPinned(mem);
    result.Set("buffer", ExternalArrayBuffer(env, data, bytes, mem, region));
    result.Set("pinned", true);
    return result;
  }
  if (pin) cudaGetLastError();  // clear the failed registration
  result.Set("buffer", ExternalArrayBuffer(env, data, bytes, m, region));
  result.Set("pinned", false);
  return result;
}

}  // namespace trtnode
