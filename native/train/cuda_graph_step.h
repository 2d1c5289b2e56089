// CUDA Graph capture of a training step (docs/training.md, `cudaGraph`). The step body must be
// graph-safe (MocoTrainer's static mode: no host sync, every input in a fixed device buffer,
// no allocation that outlives the step). StepGraph runs it eagerly for a few warm-up steps on
// a side stream, as PyTorch's CUDA Graphs notes advise (cuDNN/cuBLAS choose algorithms and
// workspaces, the optimizer and autograd allocate what they keep), then captures it once into
// a graph with its own memory pool and replays that graph for every later step with the same
// key. Another key (the trainer's plan or shapes changed) starts over: warm-up, capture.
// Built in every variant; without HEXA_WITH_CUDA, run() throws (the options never get here).
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>

namespace hexa::train {

class StepGraph {
 public:
  static constexpr int kWarmupSteps = 3;

  StepGraph();
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // One step of `body` on the CUDA `device`: eager while warming up (or while `ready` says a
  // capture would still allocate state), else captured now and replayed. Either way the step
  // has been enqueued on the current stream when this returns.
  void run(const std::string& key, at::Device device, const std::function<void()>& body,
           const std::function<bool()>& ready);
  // Drops the graph: the next run warms up and captures again (after a checkpoint load
  // replaced tensors the graph points into).
  void reset();
  // Whether the last run replayed a captured graph.
  bool replayed() const { return replayed_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool replayed_ = false;
};

}  // namespace hexa::train
