#include "trt_library.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#include "common.h"
#include "trt_compat.h"

namespace trtnode {

namespace {

std::mutex gMutex;
std::map<std::string, std::shared_ptr<TrtLibrary>> gLoaded;  // by resolved key (flavor|path)

const char* SonameFor(const std::string& flavor) {
  if (flavor == "lean") return "libnvinfer_lean.so." TRTNODE_STR(NV_TENSORRT_MAJOR);
  if (flavor == "dispatch") return "libnvinfer_dispatch.so." TRTNODE_STR(NV_TENSORRT_MAJOR);
  return "libnvinfer.so." TRTNODE_STR(NV_TENSORRT_MAJOR);
}

std::vector<std::string> SplitPath(const char* s) {
  std::vector<std::string> out;
  if (s == nullptr) return out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ':'))
    if (!item.empty()) out.push_back(item);
  return out;
}

// Tries one file; on success fills lib, else appends "path: reason" to tried.
bool TryOpen(const std::string& file, const std::string& flavor, TrtLibrary& lib, std::vector<std::string>& tried) {
  const std::string unloadable = UnloadableElfReason(file);
  if (!unloadable.empty()) {
    tried.push_back(file + ": " + unloadable);
    return false;
  }
  void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* err = dlerror();
    tried.push_back(file + ": " + (err ? err : "not loadable"));
    return false;
  }
  using VersionFn = int32_t (*)();
  auto version = reinterpret_cast<VersionFn>(dlsym(h, "getInferLibVersion"));
  auto create = reinterpret_cast<void* (*)(void*, int32_t)>(dlsym(h, "createInferRuntime_INTERNAL"));
  if (version == nullptr || create == nullptr) {
    tried.push_back(file + ": loaded, but it does not export getInferLibVersion/createInferRuntime_INTERNAL (not a TensorRT runtime)");
    dlclose(h);
    return false;
  }
  lib.handle = h;
  lib.path = file;
  lib.flavor = flavor;
  lib.version = version();
  lib.createInferRuntime = create;
  return true;
}

}  // namespace

std::string UnloadableElfReason(const std::string& file) {
  if (file.find('/') == std::string::npos) return "";
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";  // missing or unreadable: dlopen says which
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return "";
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  Elf64_Ehdr eh{};
  if (pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh)) return "";
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) return "";
  // the program headers, then each loadable segment, must lie inside the file (overflow-safe)
  const uint64_t phBytes = static_cast<uint64_t>(eh.e_phnum) * eh.e_phentsize;
  if (eh.e_phentsize < sizeof(Elf64_Phdr) || eh.e_phoff > size || phBytes > size - eh.e_phoff)
    return "a truncated ELF file (its program headers end past its " + std::to_string(size) + " bytes): not loaded";
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    if (pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + static_cast<uint64_t>(i) * eh.e_phentsize)) != static_cast<ssize_t>(sizeof ph)) return "";
    if (ph.p_type != PT_LOAD) continue;
    if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
      return "a truncated ELF file (a loadable segment ends at byte " + std::to_string(ph.p_offset + ph.p_filesz) + ", past its " + std::to_string(size) +
             " bytes): not loaded";
  }
  return "";
}

int32_t HeaderVersion() { return TRTNODE_TRT_HEADER_VERSION; }

std::string VersionString(int32_t v) {
  std::ostringstream s;
  s << v / 10000 << '.' << (v / 100) % 100 << '.' << v % 100;
  return s.str();
}

std::shared_ptr<TrtLibrary> LoadTrtLibrary(const std::string& flavor, const std::string& libraryPath) {
  std::lock_guard<std::mutex> lock(gMutex);
  const std::string key = flavor + "|" + libraryPath;
  auto it = gLoaded.find(key);
  if (it != gLoaded.end()) return it->second;

  std::vector<std::string> flavors;
  if (flavor == "auto") flavors = {"full", "lean", "dispatch"};
  else if (flavor == "full" || flavor == "lean" || flavor == "dispatch") flavors = {flavor};
  else throw CodedError{"ERR_INVALID_ARGUMENT", "runtime flavor must be 'auto', 'full', 'lean' or 'dispatch', got '" + flavor + "'"};

  std::vector<std::string> tried;
  auto lib = std::make_shared<TrtLibrary>();
  bool ok = false;
  if (!libraryPath.empty()) {
    // An explicit file: its flavor is what the caller said, or guessed from the name.
    std::string f = flavor != "auto" ? flavor
                    : libraryPath.find("nvinfer_lean") != std::string::npos     ? "lean"
                    : libraryPath.find("nvinfer_dispatch") != std::string::npos ? "dispatch"
                                                                                 : "full";
    ok = TryOpen(libraryPath, f, *lib, tried);
  } else {
    // Used when no libraryPath is given (the TypeScript loader, lib/native/loader.ts, searches
    // more places and passes the file it found): TENSORRT_LIB_DIR first, then the dynamic
    // loader's own search (LD_LIBRARY_PATH, ld.so.cache, system directories), then the usual
    // install folders of NVIDIA's archives, packages and containers. Each folder is tried once.
    std::vector<std::string> dirs;
    auto add = [&dirs](std::string d) {
      while (d.size() > 1 && d.back() == '/') d.pop_back();
      if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
    };
    for (const auto& d : SplitPath(std::getenv("TENSORRT_LIB_DIR"))) add(d);
    const size_t nExplicit = dirs.size();
    for (const char* d : {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/local/tensorrt/lib", "/opt/tensorrt/lib"}) add(d);
    for (const auto& f : flavors) {
      const std::string soname = SonameFor(f);
      for (size_t i = 0; !ok && i < nExplicit; ++i) ok = TryOpen(dirs[i] + "/" + soname, f, *lib, tried);
      if (!ok) ok = TryOpen(soname, f, *lib, tried);
      for (size_t i = nExplicit; !ok && i < dirs.size(); ++i) ok = TryOpen(dirs[i] + "/" + soname, f, *lib, tried);
      if (ok) break;
    }
  }
  if (!ok) {
    std::string msg = "TensorRT runtime not found (flavor '" + flavor + "'). Tried:";
    for (const auto& t : tried) msg += "\n  - " + t;
    msg += "\nInstall TensorRT " TRTNODE_STR(NV_TENSORRT_MAJOR) ".x and set TENSORRT_LIB_DIR (or LD_LIBRARY_PATH) to the folder holding " +
           std::string(SonameFor(flavors.front())) + ", or pass { libraryPath }.";
    throw CodedError{"ERR_TRT_NOT_FOUND", msg};
  }
  // What the ABI allows (trt_compat.h): the headers' major, and a minor at least the headers'.
  // Within a major, TensorRT appends virtual functions at the ends of its interfaces in each
  // minor release: a newer runtime has every function the headers declare, an older one may not.
  const int32_t hv = HeaderVersion();
  const int32_t libMajor = lib->version / 10000, hMajor = hv / 10000;
  std::string refusal;
  if (libMajor != hMajor) {
    refusal = "TensorRT runtime " + VersionString(lib->version) + " at " + lib->path + " is TensorRT " + std::to_string(libMajor) +
              ", and this tensorrt-node binary was built for TensorRT " + std::to_string(hMajor) + " (headers " + VersionString(hv) +
              "): each TensorRT major has its own ABI (and soname, libnvinfer.so." + std::to_string(hMajor) +
              "). tensorrt-node ships one binary per major and loads the one matching the first TensorRT it finds; "
              "point TENSORRT_LIB_DIR at the TensorRT you want before the first use, or build from source against its headers.";
  } else if ((lib->version / 100) % 100 < (hv / 100) % 100) {
    refusal = "TensorRT runtime " + VersionString(lib->version) + " at " + lib->path + " is older than the TensorRT " + VersionString(hv) +
              " headers this tensorrt-node binary was built against: TensorRT only appends to its interfaces from one minor release "
              "to the next, so a runtime older than the headers may lack functions they declare. It needs a TensorRT " +
              std::to_string(hMajor) + ".x runtime of version " + VersionString(hv - hv % 100) + " or newer.";
  }
  if (!refusal.empty()) {
    dlclose(lib->handle);
    throw CodedError{"ERR_TRT_VERSION", refusal};
  }
  gLoaded[key] = lib;
  return lib;
}

}  // namespace trtnode
