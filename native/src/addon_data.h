// Per-environment data: constructors for instanceof checks of native classes.
#pragma once

#include <napi.h>

namespace trtnode {

struct AddonData {
  Napi::FunctionReference streamCtor;
  Napi::FunctionReference deviceBufferCtor;
  Napi::FunctionReference hostBufferCtor;
  Napi::FunctionReference runtimeCtor;
  Napi::FunctionReference engineCtor;
  Napi::FunctionReference contextCtor;
  // (code, message) => Error: set by the JS layer so native errors are its TensorRtError.
  Napi::FunctionReference errorFactory;
};

inline AddonData* Data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace trtnode
