// TensorRT's ILogger: keeps the last error per thread (so failures carry TensorRT's own
// words) and forwards messages at or above a severity threshold to a JS callback.
#pragma once

#include <NvInferRuntime.h>
#include <napi.h>

#include <atomic>
#include <mutex>
#include <string>

namespace trtnode {

class Logger : public nvinfer1::ILogger {
 public:
  Logger() = default;
  ~Logger() override;

  void log(Severity severity, const char* msg) noexcept override;

  // Messages with severity <= threshold (0 internal error .. 4 verbose) reach the callback.
  void SetThreshold(int severity) { threshold_.store(severity); }
  int Threshold() const { return threshold_.load(); }
  // Installs (or with an undefined fn, removes) the JS callback (severity, message).
  void SetCallback(Napi::Env env, Napi::Value fn);
  void Release();

  // Errors logged on the calling thread since the last ClearErrors().
  static void ClearErrors();
  static std::string TakeErrors();

 private:
  std::atomic<int> threshold_{static_cast<int>(Severity::kWARNING)};
  std::mutex mutex_;
  Napi::ThreadSafeFunction tsfn_;
  bool hasCallback_ = false;
};

}  // namespace trtnode
