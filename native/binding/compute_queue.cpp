#include "binding/compute_queue.h"

#include "binding/async_work.h"
#include "binding/handles.h"
#include "runtime/profiler.h"

#include <chrono>
#include <stdexcept>
#include <utility>

namespace hexa::binding {

ComputeQueue::ComputeQueue(Napi::Env env) : env_(env), shared_(std::make_shared<Shared>()) {
  napi_value name;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_string_utf8(env, "hexa-torch.compute", NAPI_AUTO_LENGTH, &name));
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr,
                                                                  nullptr, &ComputeQueue::SettleOnMain, &shared_->tsfn));
  // Idle, the queue must not keep the process alive; Post() refs it while jobs are pending.
  napi_unref_threadsafe_function(env, shared_->tsfn);
  thread_ = std::thread(&ComputeQueue::Loop, shared_);
}

ComputeQueue::~ComputeQueue() {
  napi_threadsafe_function tsfn;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->closed = true;
    tsfn = shared_->tsfn;
    // Jobs never started are dropped unsettled: their environment is gone. They are leaked,
    // not destroyed, since a job's Promise belongs to that environment.
    for (auto& job : shared_->jobs) job.release();
    shared_->jobs.clear();
  }
  shared_->wake.notify_one();
  if (tsfn != nullptr) napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
  thread_.detach();
}

ComputeQueue& ComputeQueue::Of(Napi::Env env) { return *env.GetInstanceData<AddonData>()->compute; }

void ComputeQueue::Post(std::unique_ptr<ComputeJob> job) {
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    if (shared_->closed) throw std::runtime_error("the addon's environment is shutting down");
    shared_->jobs.push_back(std::move(job));
    shared_->queued.fetch_add(1, std::memory_order_release);
  }
  shared_->wake.notify_one();
  if (pending_++ == 0) napi_ref_threadsafe_function(env_, shared_->tsfn);
}

// How long the compute thread polls for the next job before it sleeps on the condition
// variable. A JS loop that awaits each op posts the next one microseconds after the last one
// settles; a sleeping thread then costs a futex wake per op (tens of µs on a VM). Awaited
// one at a time, `x.add(x)` on 64x64 took a median 75 µs per call, `enqueue` 63-73 µs;
// polling 50 µs first: 8-20 µs and 19-27 µs (200 µs buys nothing more). At most 50 µs of one
// core per idle period, and none while work is queued (a training step is one job).
constexpr auto kIdlePoll = std::chrono::microseconds(50);

void ComputeQueue::PollWhileIdle(Shared& shared) {
  if (shared.queued.load(std::memory_order_acquire) != 0) return;
  const auto until = std::chrono::steady_clock::now() + kIdlePoll;
  while (shared.queued.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < until) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
}

void ComputeQueue::Loop(std::shared_ptr<Shared> shared) {
  // The thread's LibTorch state dies with it: a profiler left running goes first, quietly.
  struct OnExit {
    ~OnExit() { runtime::DiscardProfiler(); }
  } onExit;
  for (;;) {
    std::unique_ptr<ComputeJob> job;
    PollWhileIdle(*shared);
    {
      std::unique_lock<std::mutex> lock(shared->mutex);
      shared->wake.wait(lock, [&] { return shared->closed || !shared->jobs.empty(); });
      if (shared->closed) return;
      job = std::move(shared->jobs.front());
      shared->jobs.pop_front();
      shared->queued.fetch_sub(1, std::memory_order_relaxed);
    }
    ApplyIntraOpThreads();
    job->Execute();
    std::lock_guard<std::mutex> lock(shared->mutex);
    if (shared->closed) {
      job.release();  // its environment is gone (see ~ComputeQueue)
      return;
    }
    // Unbounded queue (max size 0): never blocks, never fails while not closed.
    napi_call_threadsafe_function(shared->tsfn, job.release(), napi_tsfn_nonblocking);
  }
}

void ComputeQueue::SettleOnMain(napi_env env, napi_value, void*, void* data) {
  std::unique_ptr<ComputeJob> job(static_cast<ComputeJob*>(data));
  if (env == nullptr) {  // the function is being torn down
    job.release();
    return;
  }
  Napi::Env e(env);
  Napi::HandleScope scope(e);
  ComputeQueue& queue = Of(e);
  if (--queue.pending_ == 0) napi_unref_threadsafe_function(env, queue.shared_->tsfn);
  job->Settle(e);
}

}  // namespace hexa::binding
