#include "dist/communicator.h"

#include <c10/core/GradMode.h>

namespace hexa::dist {

namespace {
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int worldSize() const override { return 1; }
  void allReduceSum(std::vector<at::Tensor>&) override {}
  void broadcast(std::vector<at::Tensor>&, int) override {}
  at::Tensor allGather(const at::Tensor& t) override { return t; }
  void barrier() override {}
  std::string backend() const override { return "single"; }
};

// Consecutive runs of tensors with one dtype and device, each run at most `bucketBytes`
// (a tensor larger than that is a bucket of its own).
std::vector<std::vector<at::Tensor>> Buckets(const std::vector<at::Tensor>& tensors, int64_t bucketBytes) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (const at::Tensor& t : tensors) {
    const int64_t b = t.numel() * t.element_size();
    const bool fits = !out.empty() && out.back().front().scalar_type() == t.scalar_type() &&
                      out.back().front().device() == t.device() && bytes + b <= bucketBytes;
    if (!fits) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += b;
  }
  return out;
}

// Runs `collective` on one flat tensor per bucket and copies the result back into the bucket.
template <class Collective>
void OverBuckets(const std::vector<at::Tensor>& tensors, int64_t bucketBytes, Collective collective) {
  for (auto& bucket : Buckets(tensors, bucketBytes)) {
    std::vector<at::Tensor> pieces;
    for (const at::Tensor& t : bucket) pieces.push_back(t.reshape({-1}));
    std::vector<at::Tensor> flat = {at::cat(pieces)};
    collective(flat);
    int64_t offset = 0;
    for (at::Tensor& t : bucket) {
      t.copy_(flat[0].slice(0, offset, offset + t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}
}  // namespace

std::shared_ptr<Communicator> Single() {
  static const std::shared_ptr<Communicator> single = std::make_shared<SingleProcess>();
  return single;
}

void AverageGradients(Communicator& comm, const std::vector<at::Tensor>& params, int64_t bucketBytes) {
  if (!comm.distributed()) return;
  c10::AutoGradMode no_grad(false);
  std::vector<at::Tensor> grads;
  grads.reserve(params.size());
  for (const at::Tensor& p : params) {
    // Which parameters have a gradient depends only on the step's plan (the same on every
    // rank); those without one (e.g. the auxiliary BN in a step without the adversarial
    // view) stay without, as single-process.
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  }
  const double scale = 1.0 / comm.worldSize();
  OverBuckets(grads, bucketBytes, [&](std::vector<at::Tensor>& flat) {
    comm.allReduceSum(flat);
    flat[0].mul_(scale);
  });
}

void BroadcastFromRankZero(Communicator& comm, const std::vector<at::Tensor>& tensors, int64_t bucketBytes) {
  if (!comm.distributed()) return;
  c10::AutoGradMode no_grad(false);
  OverBuckets(tensors, bucketBytes, [&](std::vector<at::Tensor>& flat) { comm.broadcast(flat, 0); });
}

}  // namespace hexa::dist
