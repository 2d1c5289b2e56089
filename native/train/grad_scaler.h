// fp16 training's dynamic loss scale, as torch.amp.GradScaler with its defaults: every loss is
// multiplied by the scale before its backward (float16 gradients below 2^-24 would otherwise
// flush to zero), the gradients are divided by it before the optimizer, and a step whose
// gradients (or checked outputs) are not finite on some rank updates nothing and halves the
// scale; 2000 finite steps in a row double it. bf16 and fp32 keep float32's exponent range and
// need none: a default-constructed scaler is disabled and every call is the identity (no sync).
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "dist/communicator.h"
#include "train/state_dict.h"

namespace hexa::train {

class GradScaler {
 public:
  GradScaler() = default;  // disabled
  explicit GradScaler(const at::Device& device);

  bool enabled() const { return enabled_; }
  // loss · scale (the loss itself when disabled).
  at::Tensor scale(const at::Tensor& loss) const;
  // Divides the gradients of `params` by the scale, in place, and says whether the step may
  // update anything: every gradient and every tensor of `alsoFinite` finite, on every rank
  // (one sum over ranks, one host sync). Call after the gradients are averaged over ranks.
  bool unscale(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& alsoFinite,
               dist::Communicator& comm);
  // After the step: the scale for the next one, from this step's outcome.
  void update();
  // The scale this step's losses were multiplied by (read by unscale's sync).
  double lastScale() const { return lastScale_; }

  // "grad_scaler.scale" (float [1]) and "grad_scaler.growth_tracker" (int32 [1]), only when
  // enabled; a checkpoint without them (a float32 or bf16 run) starts from the initial scale.
  void save(StateDict& out) const;
  void load(const StateDict& state);

 private:
  bool enabled_ = false;
  at::Tensor scale_, growthTracker_, foundInf_;
  double lastScale_ = 1.0;
};

// fp16 only: "lossScale" (the scale of this step's losses) and "skipped" (1 when an overflow
// kept the step from updating anything) appended to a step's metrics.
void AddLossScaleMetrics(const GradScaler& scaler, bool finite, std::vector<std::pair<std::string, double>>& out);

}  // namespace hexa::train
