// Runs native work off the event loop and settles a Promise with its result.
//
//   return RunAsync(env, "matmul", [a, b] { return at::matmul(a, b); },
//                   [](Napi::Env env, at::Tensor& r) { return TensorHandle::Wrap(env, r); });
//
// `work` runs on the environment's compute thread (compute_queue.h), after every op called
// before it, and must not touch Napi values: capture tensors and plain options by value (a
// captured at::Tensor keeps its storage alive even if JS disposes the handle meanwhile).
// `done` runs on the main thread and turns the result into a JS value. Any exception from
// either becomes a rejection through the error boundary (errors.h).
#pragma once
#include <napi.h>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "binding/compute_queue.h"
#include "binding/errors.h"

namespace hexa::binding {

// LibTorch's intra-op thread count is per OS thread (OpenMP ICVs). The process-wide setting
// (hexa.setNumThreads, default: the main thread's count at load) is applied on the compute
// thread before each op; a change costs one at::set_num_threads there, no change nothing.
void SetIntraOpThreads(int threads);
int IntraOpThreads();
void ApplyIntraOpThreads();

template <class Work, class Done>
class AsyncOp final : public ComputeJob {
  using Result = std::invoke_result_t<Work&>;

 public:
  AsyncOp(Napi::Env env, const char* name, Work work, Done done)
      : name_(name), work_(std::move(work)), done_(std::move(done)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_.emplace(work_());
    } catch (...) {
      error_.emplace(Classify(name_, std::current_exception()));
    }
  }

  void Settle(Napi::Env env) override {
    if (error_) {
      deferred_.Reject(ToJsError(env, *error_).Value());
      return;
    }
    try {
      deferred_.Resolve(done_(env, *result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(ToJsError(env, Classify(name_, std::current_exception())).Value());
    }
  }

 private:
  const char* name_;
  Work work_;
  Done done_;
  Napi::Promise::Deferred deferred_;
  std::optional<Result> result_;
  std::optional<JsError> error_;
};

template <class Work, class Done>
Napi::Promise RunAsync(Napi::Env env, const char* name, Work work, Done done) {
  auto op = std::make_unique<AsyncOp<Work, Done>>(env, name, std::move(work), std::move(done));
  Napi::Promise p = op->promise();
  ComputeQueue::Of(env).Post(std::move(op));
  return p;
}

// For work without a result: the Promise resolves to undefined once `work` has run.
template <class Work>
Napi::Promise RunAsyncVoid(Napi::Env env, const char* name, Work work) {
  return RunAsync(
      env, name,
      [work = std::move(work)]() mutable {
        work();
        return true;
      },
      [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
}

}  // namespace hexa::binding
