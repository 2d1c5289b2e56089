#include "train/moco_ops.h"

#include <cmath>

#include "kernels/cutmix.h"
#include "kernels/enqueue.h"
#include "kernels/info_nce_autograd.h"
#include "kernels/momentum.h"

namespace hexa::train::ops {

at::Tensor InfoNCELoss(const at::Tensor& q, const at::Tensor& k, const at::Tensor& queue, double temperature,
                       const std::optional<at::Tensor>& targets, at::Tensor* accuracy) {
  if (accuracy && !targets) {
    // The positive's rank among [k+, queue]: one extra N x K product, outside the graph.
    at::NoGradGuard no_grad;
    at::Tensor positive = (q * k).sum(1);
    at::Tensor hardest = std::get<0>(at::mm(q, queue.t()).max(1));
    *accuracy = (positive >= hardest).to(at::kDouble).mean();
  }
  return kernels::InfoNCEFunction::apply(q, k.detach(), queue.detach(), temperature, targets);
}

at::Tensor CutmixTargets(const at::Tensor& lambda, const at::Tensor& perm, int64_t columns) {
  return kernels::cutmixTargets(lambda, perm, columns, std::nullopt);
}

void MomentumUpdate(std::vector<at::Tensor>& target, const std::vector<at::Tensor>& source, double m) {
  kernels::momentumUpdate(target, source, m);
}

int64_t Enqueue(at::Tensor& queue, const at::Tensor& keys, int64_t ptr) { return kernels::enqueue(queue, keys.detach(), ptr); }

}  // namespace hexa::train::ops
