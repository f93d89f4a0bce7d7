// The TensorRT builder and ONNX parser of the loaded TensorRT (libnvinfer + libnvonnxparser, both
// dlopen'ed): builds a plan from an ONNX model on a thread of its own, reporting progress to JS
// and stopping when cancelled. Only this file's .cc includes NvInfer.h and NvOnnxParser.h.
#pragma once

#include <napi.h>

namespace trtnode {

// Adds builderInfo(options) and startBuild(spec, onEvent) to the module's exports.
void RegisterBuilder(Napi::Env env, Napi::Object exports);

}  // namespace trtnode
