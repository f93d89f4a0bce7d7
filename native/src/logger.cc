#include "logger.h"

#include <algorithm>
#include <cstring>

namespace trtnode {

namespace {
thread_local std::string tErrors;
constexpr size_t kMaxErrorBytes = 16 * 1024;
// Lines waiting for the JS callback: a bound, so that a flood of verbose messages with a slow
// callback cannot grow memory without end.
constexpr size_t kMaxQueuedLines = 4096;

struct LogLine {
  int severity;
  std::string message;
};
}  // namespace

Logger::~Logger() { Release(); }

void Logger::ClearErrors() { tErrors.clear(); }

std::string Logger::TakeErrors() {
  std::string s;
  s.swap(tErrors);
  return s;
}

void Logger::log(Severity severity, const char* msg) noexcept {
  if (msg == nullptr) msg = "";
  const int sev = static_cast<int>(severity);
  try {
    if (severity <= Severity::kERROR && tErrors.size() < kMaxErrorBytes) {
      // A thread whose errors nobody takes keeps the first ones only.
      if (!tErrors.empty()) tErrors += "; ";
      tErrors.append(msg, std::min(std::strlen(msg), kMaxErrorBytes));
    }
    if (sev > threshold_.load()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (!hasCallback_) return;
    auto* line = new LogLine{sev, msg};
    napi_status st = tsfn_.NonBlockingCall(line, [](Napi::Env env, Napi::Function fn, LogLine* l) {
      if (env != nullptr && fn != nullptr) {
        try {
          fn.Call({Napi::Number::New(env, l->severity), Napi::String::New(env, l->message)});
        } catch (...) {
          // A throwing log callback must not take inference down with it.
        }
      }
      delete l;
    });
    // Full (a callback slower than TensorRT's logging) or closing: the line is dropped.
    if (st != napi_ok) delete line;
  } catch (...) {
    // Out of memory for a log line: logging must not end the process (log is noexcept).
  }
}

void Logger::SetCallback(Napi::Env env, Napi::Value fn) {
  Release();
  if (!fn.IsFunction()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  tsfn_ = Napi::ThreadSafeFunction::New(env, fn.As<Napi::Function>(), "tensorrt-node-log", kMaxQueuedLines, 1);
  tsfn_.Unref(env);  // logging alone never keeps the process alive
  hasCallback_ = true;
}

void Logger::Release() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (hasCallback_) {
    tsfn_.Abort();
    hasCallback_ = false;
  }
}

}  // namespace trtnode
