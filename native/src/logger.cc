#include "logger.h"

namespace trtnode {

namespace {
thread_local std::string tErrors;

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
  const int sev = static_cast<int>(severity);
  if (severity <= Severity::kERROR) {
    if (!tErrors.empty()) tErrors += "; ";
    tErrors += msg;
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
  if (st != napi_ok) delete line;
}

void Logger::SetCallback(Napi::Env env, Napi::Value fn) {
  Release();
  if (!fn.IsFunction()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  tsfn_ = Napi::ThreadSafeFunction::New(env, fn.As<Napi::Function>(), "tensorrt-node-log", 0, 1);
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
