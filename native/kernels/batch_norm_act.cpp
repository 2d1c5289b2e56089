// The fused BatchNorm + add + ReLU: checks, the per-channel arithmetic between the CPU passes
// (batch_norm_act_cpu.cpp), and the running statistics.
#include "kernels/batch_norm_act.h"
#include "kernels/device_dispatch.h"

#include <c10/util/BFloat16.h>

#include <cmath>
#include <vector>

namespace hexa::kernels {

namespace {

int64_t Rows(const at::Tensor& x) { return x.numel() / x.size(1); }

void CheckChannelVector(const at::Tensor& t, int64_t channels, const char* name) {
  TORCH_CHECK(t.defined() && t.is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 1 && t.size(0) == channels &&
                  t.is_contiguous(),
              "batchNormAct: ", name, " must be a contiguous float32 CPU tensor of ", channels, " values");
}

bool ActivationType(at::ScalarType t) { return t == at::kFloat || t == at::kBFloat16; }

// A tensor with x's shape, dtype and layout (same strides), copied only when it is not.
at::Tensor LikeX(const at::Tensor& t, const at::Tensor& x, const char* name) {
  TORCH_CHECK(t.sizes() == x.sizes() && ActivationType(t.scalar_type()) && t.is_cpu(), "batchNormAct: ", name,
              " must be a float32 or bfloat16 CPU tensor of x's shape ", x.sizes(), ", got ", t.sizes(), " ",
              t.scalar_type());
  const at::Tensor typed = t.to(x.scalar_type());
  if (typed.strides() == x.strides()) return typed;
  return x.dim() == 4 ? typed.contiguous(at::MemoryFormat::ChannelsLast) : typed.contiguous();
}

// Calls body(T{}) with T the C++ type of x's activations (float or c10::BFloat16).
template <class Body>
auto WithActivationType(const at::Tensor& x, Body body) {
  if (x.scalar_type() == at::kBFloat16) return body(c10::BFloat16{});
  return body(float{});
}

at::Tensor FloatVector(const std::vector<float>& v) {
  return at::tensor(at::ArrayRef<float>(v), at::TensorOptions().dtype(at::kFloat));
}

}  // namespace

bool batchNormActSupported(const at::Tensor& x, const std::optional<at::Tensor>& residual) {
  if (!x.defined() || !x.is_cpu() || !ActivationType(x.scalar_type())) return false;
  if (x.dim() == 4 && !x.is_contiguous(at::MemoryFormat::ChannelsLast)) return false;
  if (x.dim() == 2 && !x.is_contiguous()) return false;
  if (x.dim() != 4 && x.dim() != 2) return false;
  if (residual && !(residual->is_cpu() && residual->scalar_type() == x.scalar_type() && residual->sizes() == x.sizes()))
    return false;
  return x.size(1) > 0 && Rows(x) > 1;
}

BatchNormActForward batchNormActForward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                        const std::optional<at::Tensor>& residual, bool relu, double eps,
                                        const at::Tensor& runningMean, const at::Tensor& runningVar, double momentum) {
  HEXA_RECORD_KERNEL("hexa::batchNormActForward");
  TORCH_CHECK(batchNormActSupported(x),
              "batchNormAct: x must be a float32 or bfloat16 CPU tensor, channels-last 4-D or contiguous 2-D, with more "
              "than one value per channel");
  TORCH_CHECK(eps > 0 && momentum >= 0 && momentum <= 1, "batchNormAct: eps must be > 0 and momentum in [0, 1]");
  const int64_t channels = x.size(1), rows = Rows(x);
  CheckChannelVector(weight, channels, "weight");
  CheckChannelVector(bias, channels, "bias");
  const bool updateRunning = momentum > 0 && runningMean.defined();
  if (updateRunning) {
    CheckChannelVector(runningMean, channels, "runningMean");
    CheckChannelVector(runningVar, channels, "runningVar");
  }
  at::Tensor r;
  if (residual) r = LikeX(*residual, x, "residual");

  std::vector<float> shift(channels);  // row 0: close to the mean, so no cancellation
  std::vector<double> s1(channels), s2(channels);
  WithActivationType(x, [&](auto type) {
    using T = decltype(type);
    const T* xp = x.const_data_ptr<T>();
    for (int64_t c = 0; c < channels; ++c) shift[c] = static_cast<float>(xp[c]);
    detail::batchNormActStatsCpu(xp, rows, channels, s1.data(), s2.data(), shift.data());
  });

  const float* w = weight.const_data_ptr<float>();
  const float* b = bias.const_data_ptr<float>();
  std::vector<float> mean(channels), invstd(channels), scale(channels), offset(channels);
  std::vector<double> var(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const double d = s1[c] / static_cast<double>(rows);
    var[c] = std::max(0.0, s2[c] / static_cast<double>(rows) - d * d);
    mean[c] = static_cast<float>(static_cast<double>(shift[c]) + d);
    invstd[c] = static_cast<float>(1.0 / std::sqrt(var[c] + eps));
    // As ATen's transform: y = x·(w·invstd) + (b − mean·w·invstd).
    scale[c] = w[c] * invstd[c];
    offset[c] = b[c] - mean[c] * scale[c];
  }
  if (updateRunning) {
    // torch.nn.BatchNorm2d: the running variance takes the unbiased batch variance.
    float* rm = runningMean.mutable_data_ptr<float>();
    float* rv = runningVar.mutable_data_ptr<float>();
    const double unbias = static_cast<double>(rows) / static_cast<double>(rows - 1);
    for (int64_t c = 0; c < channels; ++c) {
      rm[c] = static_cast<float>((1 - momentum) * rm[c] + momentum * mean[c]);
      rv[c] = static_cast<float>((1 - momentum) * rv[c] + momentum * var[c] * unbias);
    }
  }
  BatchNormActForward out{at::empty_like(x), FloatVector(mean), FloatVector(invstd)};
  WithActivationType(x, [&](auto type) {
    using T = decltype(type);
    detail::batchNormActApplyCpu(x.const_data_ptr<T>(), r.defined() ? r.const_data_ptr<T>() : nullptr,
                                 out.out.mutable_data_ptr<T>(), rows, channels, scale.data(), offset.data(), relu);
  });
  return out;
}

BatchNormActGrads batchNormActBackward(const at::Tensor& gradOut, const at::Tensor& x, const at::Tensor& y,
                                       const at::Tensor& weight, const at::Tensor& mean, const at::Tensor& invstd,
                                       bool relu, bool residual, std::array<bool, 3> mask) {
  HEXA_RECORD_KERNEL("hexa::batchNormActBackward");
  TORCH_CHECK(batchNormActSupported(x), "batchNormActBackward: x must be what batchNormActForward took");
  const int64_t channels = x.size(1), rows = Rows(x);
  const at::Tensor dy = LikeX(gradOut, x, "gradOut");
  TORCH_CHECK(y.strides() == x.strides() && y.sizes() == x.sizes() && y.scalar_type() == x.scalar_type(),
              "batchNormActBackward: y must be the forward's output");
  CheckChannelVector(weight, channels, "weight");
  CheckChannelVector(mean, channels, "mean");
  CheckChannelVector(invstd, channels, "invstd");
  const float* m = mean.const_data_ptr<float>();
  const float* is = invstd.const_data_ptr<float>();
  const float* w = weight.const_data_ptr<float>();

  std::vector<double> sg(channels), sgx(channels);
  WithActivationType(x, [&](auto type) {
    using T = decltype(type);
    detail::batchNormActGradSumsCpu(dy.const_data_ptr<T>(), x.const_data_ptr<T>(), y.const_data_ptr<T>(), rows,
                                    channels, m, relu, sg.data(), sgx.data());
  });
  BatchNormActGrads grads;
  if (mask[1]) {
    std::vector<float> dw(channels);
    for (int64_t c = 0; c < channels; ++c) dw[c] = static_cast<float>(sgx[c] * is[c]);
    grads.weight = FloatVector(dw);
  }
  if (mask[2]) {
    std::vector<float> db(sg.begin(), sg.end());
    grads.bias = FloatVector(db);
  }
  if (mask[0] || residual) {
    // dx = (g − mean(g) − (x − μ)·invstd²·mean(g·(x − μ)))·w·invstd, as ATen's training backward.
    std::vector<float> k1(channels), k2(channels), k3(channels);
    for (int64_t c = 0; c < channels; ++c) {
      k1[c] = w[c] * is[c];
      k2[c] = static_cast<float>(sg[c] / static_cast<double>(rows));
      k3[c] = static_cast<float>(sgx[c] / static_cast<double>(rows) * is[c] * is[c]);
    }
    at::Tensor dx = at::empty_like(x);
    if (residual) grads.residual = at::empty_like(x);
    WithActivationType(x, [&](auto type) {
      using T = decltype(type);
      detail::batchNormActGradInputCpu(dy.const_data_ptr<T>(), x.const_data_ptr<T>(), y.const_data_ptr<T>(),
                                       dx.mutable_data_ptr<T>(),
                                       residual ? grads.residual.mutable_data_ptr<T>() : nullptr, rows, channels, m,
                                       k1.data(), k2.data(), k3.data(), relu);
    });
    if (mask[0]) grads.input = dx;
  }
  return grads;
}

}  // namespace hexa::kernels
