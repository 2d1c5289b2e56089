// Training-mode BatchNorm fused with what follows it in a ResNet block: the residual add and
// the ReLU, y = relu(γ·(x − μ_B)·σ_B⁻¹ + β + r), on channels-last (NHWC) float32 or bfloat16
// activations (the parameters, statistics and running statistics float32 either way, as ATen's
// mixed-type BatchNorm under bf16 autocast; bfloat16 values are computed in float32 and
// rounded once, where ATen's composition rounds after the BatchNorm and again after the add).
//
// Why: the profile of a HEXA_MoCo step (docs/performance.md) puts BatchNorm, ReLU and the add
// at ~20% of its time and ~half of its ~2,100 OpenMP parallel regions: ATen's channels-last
// BatchNorm forks 6 regions per forward (statistics in 4, running statistics, transform) and 3
// per backward, then the add, the ReLU and its backward one each, and with one compute thread
// every region after a pause wakes a sleeping OpenMP thread. Fused, a forward is 2 regions
// (statistics, transform) and a backward 2 (sums, input gradient), each one pass over memory.
//
// Statistics are sums in float64 per thread of x − x[row 0] (shifted, so a large mean does not
// cancel the variance), merged in thread order: deterministic for a thread count, as ATen's.
// The running statistics follow torch.nn.BatchNorm2d (unbiased variance, momentum). CUDA and
// other layouts or dtypes are not served here: the model uses ATen's ops for them
// (batchNormActSupported).
#pragma once
#include <ATen/ATen.h>

#include <array>
#include <optional>

namespace hexa::kernels {

// Whether x (the BatchNorm input) and the residual can take the fused path: x CPU float32 or
// bfloat16 with channels-last memory (4-D) or a contiguous [N, C], more than one value per
// channel; the residual a CPU tensor of x's dtype and shape (laid out otherwise than x, it is
// copied once).
bool batchNormActSupported(const at::Tensor& x, const std::optional<at::Tensor>& residual = std::nullopt);

struct BatchNormActForward {
  at::Tensor out;     // y, the shape, dtype and memory format of x
  at::Tensor mean;    // float32 [C]: the batch mean
  at::Tensor invstd;  // float32 [C]: 1 / sqrt(biased batch variance + eps)
};

// y = act(weight·(x − mean)·invstd + bias + residual); residual (optional) has x's shape and
// memory format. With runningMean/runningVar defined and momentum > 0 they are updated in place
// as torch.nn.BatchNorm2d does (momentum 0 leaves them exactly as they were, unread).
BatchNormActForward batchNormActForward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                        const std::optional<at::Tensor>& residual, bool relu, double eps,
                                        const at::Tensor& runningMean, const at::Tensor& runningVar, double momentum);

struct BatchNormActGrads {
  at::Tensor input, weight, bias, residual;  // residual: the gradient reaching r (undefined without one)
};

// The gradients of batchNormActForward from its saved x, y (for the ReLU's mask), mean and
// invstd. mask: which of input / weight / bias are wanted (the input's costs a second pass).
BatchNormActGrads batchNormActBackward(const at::Tensor& gradOut, const at::Tensor& x, const at::Tensor& y,
                                       const at::Tensor& weight, const at::Tensor& mean, const at::Tensor& invstd,
                                       bool relu, bool residual, std::array<bool, 3> mask);

namespace detail {
// The CPU kernels over rows of C channels (x viewed as [rows, C], contiguous), for T float or
// c10::BFloat16 (instantiated in batch_norm_act_cpu.cpp).
template <class T>
void batchNormActStatsCpu(const T* x, int64_t rows, int64_t channels, double* sum, double* sumSquares,
                          const float* shift);
template <class T>
void batchNormActApplyCpu(const T* x, const T* residual, T* out, int64_t rows, int64_t channels, const float* scale,
                          const float* offset, bool relu);
template <class T>
void batchNormActGradSumsCpu(const T* gradOut, const T* x, const T* y, int64_t rows, int64_t channels,
                             const float* mean, bool relu, double* sumGrad, double* sumGradCentered);
template <class T>
void batchNormActGradInputCpu(const T* gradOut, const T* x, const T* y, T* gradInput, T* gradResidual, int64_t rows,
                              int64_t channels, const float* mean, const float* k1, const float* k2, const float* k3,
                              bool relu);
}  // namespace detail

}  // namespace hexa::kernels
