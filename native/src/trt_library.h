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

// The TensorRT version whose headers this addon was compiled with.
int32_t HeaderVersion();
std::string VersionString(int32_t v);

}  // namespace trtnode
