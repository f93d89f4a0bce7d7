// Finds and loads a TensorRT runtime library at run time (dlopen), so that the addon loads
// without TensorRT and one binary serves the full, lean and dispatch runtimes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trtnode {

struct TrtLibrary {
  void* handle = nullptr;
  std::string path;     // what dlopen was given
  std::string flavor;   // "full" | "lean" | "dispatch"
  int32_t version = 0;  // getInferLibVersion(): major*10000 + minor*100 + patch
  void* (*createInferRuntime)(void* logger, int32_t version) = nullptr;
};

// flavor: "auto" (full, then lean, then dispatch), "full", "lean" or "dispatch".
// libraryPath: an explicit file to load instead of searching.
// Throws CodedError (ERR_TRT_NOT_FOUND / ERR_TRT_VERSION) naming every place it tried.
// Libraries stay loaded for the life of the process (TensorRT does not support unloading).
std::shared_ptr<TrtLibrary> LoadTrtLibrary(const std::string& flavor, const std::string& libraryPath);

// Why dlopen must not be given `file`, or "" when it may: a 64-bit ELF shorter than its program
// headers or its loadable segments say. glibc's dlopen maps such segments past the end of the
// file and the process dies of SIGBUS on the first touch (a truncated copy or an interrupted
// download of a library). Files that are not 64-bit ELF are left to dlopen, which refuses them
// with a message. Only paths with a '/' are checked (a bare soname is the dynamic linker's search).
std::string UnloadableElfReason(const std::string& file);

// The TensorRT version whose headers this addon was compiled with.
int32_t HeaderVersion();
std::string VersionString(int32_t v);

}  // namespace trtnode
