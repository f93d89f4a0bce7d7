// Per-environment data (the main thread and each Worker have their own): constructors for
// instanceof checks of native classes, the error factory, and the environment's streams.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

namespace trtnode {

class StreamCore;

struct AddonData {
  Napi::FunctionReference streamCtor;
  Napi::FunctionReference deviceBufferCtor;
  Napi::FunctionReference hostBufferCtor;
  Napi::FunctionReference runtimeCtor;
  Napi::FunctionReference engineCtor;
  Napi::FunctionReference contextCtor;
  // (code, message) => Error: set by the JS layer so native errors are its TensorRtError.
  Napi::FunctionReference errorFactory;
  bool makingError = false;  // the error factory is running (MakeError does not call it again)
  // Streams created in this environment (JS thread only): stopped by its cleanup hook.
  std::vector<std::weak_ptr<StreamCore>> streams;
};

inline AddonData* Data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace trtnode
