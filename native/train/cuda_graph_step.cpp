#include "train/cuda_graph_step.h"

#ifdef HEXA_WITH_CUDA
#include <optional>

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace hexa::train {

struct StepGraph::Impl {
  std::string key;
  int eagerSteps = 0;  // run under `key` without a graph
#ifdef HEXA_WITH_CUDA
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  // The one side stream of this trainer's warm-ups and captures, taken at the first step and
  // kept (also across reset()): what the warm-up makes per stream (cuBLAS's workspace per handle
  // and stream, cached blocks) then exists before the capture, on the stream that captures, as
  // PyTorch's CUDA Graphs notes advise. (Tried against the H200's graph-vs-eager differences:
  // it did not change them; kept as the documented practice.)
  std::optional<at::cuda::CUDAStream> side;
#endif
};

StepGraph::StepGraph() : impl_(std::make_unique<Impl>()) {}
StepGraph::~StepGraph() = default;

void StepGraph::reset() {
  impl_->key.clear();
  impl_->eagerSteps = 0;
#ifdef HEXA_WITH_CUDA
  impl_->graph.reset();  // the side stream stays
#endif
  replayed_ = false;
}

void StepGraph::run(const std::string& key, at::Device device, const std::function<void()>& body,
                    const std::function<bool()>& ready) {
#ifdef HEXA_WITH_CUDA
  TORCH_CHECK(device.is_cuda(), "cudaGraph: the trainer's device is ", device, ", not CUDA");
  if (key != impl_->key) {
    reset();
    impl_->key = key;
  }
  replayed_ = false;
  const c10::cuda::CUDAGuard guard(device);
  const at::cuda::CUDAStream current = at::cuda::getCurrentCUDAStream();
  if (impl_->graph) {
    impl_->graph->replay();  // on the current stream, after this step's staging copies
    replayed_ = true;
    return;
  }
  // Capture must not run on the legacy default stream; warm-up runs on the same side stream
  // so that what it allocates is cached for that stream, as the capture will ask for.
  if (!impl_->side || impl_->side->device() != device)
    impl_->side = at::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
  const at::cuda::CUDAStream side = *impl_->side;
  at::cuda::CUDAEvent staged;
  staged.record(current);
  staged.block(side);  // the side stream sees this step's staged inputs
  const bool capture = impl_->eagerSteps >= kWarmupSteps;
  if (capture) {
    TORCH_CHECK(ready(), "cudaGraph: after ", kWarmupSteps,
                " warm-up steps the step still allocates state (an optimizer momentum buffer): cannot capture it");
  }
  {
    const c10::cuda::CUDAStreamGuard onSide(side);
    if (!capture) {
      body();
      ++impl_->eagerSteps;
    } else {
      auto graph = std::make_unique<at::cuda::CUDAGraph>();
      // Thread-local capture: another thread's CUDA calls (the JS side's tensor work) neither
      // break this capture nor are broken by it.
      graph->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
      try {
        body();
      } catch (...) {
        try {
          graph->capture_end();
        } catch (...) {
          // The body's error is the one to report; the aborted capture is dropped with it.
        }
        throw;
      }
      graph->capture_end();
      impl_->graph = std::move(graph);
    }
  }
  at::cuda::CUDAEvent done;
  done.record(side);
  done.block(current);
  // Capture records kernels without running them: this step runs now, as a replay.
  if (capture) {
    impl_->graph->replay();
    replayed_ = true;
  }
#else
  (void)key, (void)body, (void)ready;
  TORCH_CHECK(false, "cudaGraph: this build of hexa-torch has no CUDA (device ", device, ")");
#endif
}

}  // namespace hexa::train
