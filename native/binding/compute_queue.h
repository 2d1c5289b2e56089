// The compute thread: every LibTorch op of the addon runs, in the order it was called, on one
// long-lived thread per JS environment, and its Promise settles back on the event loop.
//
// Why one thread, not libuv's pool: OpenMP keeps a thread team (and LibTorch its intra-op
// setting) per OS thread, so ops hopping between pool threads each spun up and warmed their own
// team (cutmix 256x3x32x32: 1.99 ms from the pool vs 0.42 ms from one thread), and a training
// loop's ops ran wherever a pool thread was free. One ordered queue gives every op the same warm
// team, keeps program order (like PyTorch eager), and leaves libuv's pool to file I/O and image
// decoding. CUDA ops are asynchronous launches on the device's stream, so one host thread per
// process is also what a GPU needs (multi-GPU runs one process per device).
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace hexa::binding {

class ComputeJob {
 public:
  virtual ~ComputeJob() = default;
  // On the compute thread. Must not touch Napi values; must not throw (catch into the job).
  virtual void Execute() = 0;
  // On the main thread, inside a callback scope: settle the Promise.
  virtual void Settle(Napi::Env env) = 0;
};

class ComputeQueue {
 public:
  explicit ComputeQueue(Napi::Env env);
  ~ComputeQueue();
  ComputeQueue(const ComputeQueue&) = delete;
  ComputeQueue& operator=(const ComputeQueue&) = delete;

  // The queue of this environment (created with the addon's instance data).
  static ComputeQueue& Of(Napi::Env env);

  // Main thread only: runs job->Execute() after every job posted before it, then
  // job->Settle() on the main thread. The event loop stays alive while jobs are pending.
  void Post(std::unique_ptr<ComputeJob> job);

 private:
  // State the compute thread shares; outlives this object if the thread is still busy with a
  // job when the environment goes away (the thread is detached then, never joined: a training
  // step may take seconds and process exit must not wait for it).
  struct Shared {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::unique_ptr<ComputeJob>> jobs;
    std::atomic<size_t> queued{0};  // jobs.size(), readable without the lock (PollWhileIdle)
    bool closed = false;  // set on teardown: no more settling through tsfn
    napi_threadsafe_function tsfn = nullptr;
  };
  static void Loop(std::shared_ptr<Shared> shared);
  // Polls `queued` briefly before the thread sleeps (see kIdlePoll).
  static void PollWhileIdle(Shared& shared);
  static void SettleOnMain(napi_env env, napi_value, void*, void* data);

  napi_env env_;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
  size_t pending_ = 0;  // main thread only: posted, not yet settled
};

}  // namespace hexa::binding
