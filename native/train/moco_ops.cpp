#include "train/moco_ops.h"

#include <cmath>

#include "kernels/cutmix.h"
#include "kernels/enqueue.h"
#include "kernels/info_nce_autograd.h"
#include "kernels/momentum.h"

namespace hexa::train::ops {

at::Tensor InfoNCELoss(const at::Tensor& q, const at::Tensor& k, const at::Tensor& queue, double temperature,
                       const std::optional<at::Tensor>& targets, at::Tensor* accuracy) {
  // Accuracy (the positive ranks first among [k+, queue]; ties count as correct) comes from the
  // loss's own logits: no second N x K product.
  return kernels::InfoNCEFunction::apply(q, k.detach(), queue.detach(), temperature, targets,
                                         targets ? nullptr : accuracy);
}

at::Tensor CutmixTargets(const at::Tensor& lambda, const at::Tensor& perm, int64_t columns) {
  return kernels::cutmixTargets(lambda, perm, columns, std::nullopt);
}

void MomentumUpdate(std::vector<at::Tensor>& target, const std::vector<at::Tensor>& source, double m) {
  kernels::momentumUpdate(target, source, m);
}

int64_t Enqueue(at::Tensor& queue, const at::Tensor& keys, int64_t ptr) { return kernels::enqueue(queue, keys.detach(), ptr); }

void EnqueueAt(at::Tensor& queue, const at::Tensor& keys, at::Tensor& ptr) { kernels::enqueueAt(queue, keys.detach(), ptr); }

}  // namespace hexa::train::ops
