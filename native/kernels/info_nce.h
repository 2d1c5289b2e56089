// InfoNCE (MoCo v2) with one logits buffer: GEMMs into it (MKL/cuBLAS via at::mm_out),
// then the shared fused row pass (softmax_ce_rows.h), then the backward GEMMs from it.
//
// q [N, C], k [N, C], queue [K, C] (rows are keys), all L2-normalised by the caller.
//   default: logits = [q.k+ (row-wise, N x 1) | q.queue^T (N x K)] / tau, target column 0
//   soft:    logits = [q.k^T (N x N) | q.queue^T (N x K)] / tau, targets [N, N+K]
// loss = mean over rows of -sum_j t_ij log softmax(logits)_ij. Gradient w.r.t. q only.
#pragma once
#include <ATen/ATen.h>

#include <optional>

namespace hexa::kernels {

struct InfoNCEOptions {
  double temperature = 0.2;
  std::optional<at::Tensor> targets;    // soft targets [N, N+K]; absent: the default form
  std::optional<at::Tensor> workspace;  // reused for the logits buffer when big enough (same dtype/device)
};

struct InfoNCEForward {
  at::Tensor loss;         // 0-dim
  at::Tensor accuracy;     // 0-dim float64: fraction of rows whose argmax is the target (column 0 / targets' argmax)
  at::Tensor grad_logits;  // [N, K+1] or [N, N+K]: softmax - targets, all the backward needs
};

// Checks every argument (shapes, dtypes, devices, temperature) and computes the loss.
InfoNCEForward info_nce_forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& queue,
                                const InfoNCEOptions& options);

// d loss / d q = grad_loss / (tau N) * (grad_logits . [k+ | queue]) (default form: the
// positive column scales k row-wise; soft form: grad_logits . [k ; queue]). Writes `out`
// when given ([N, C], q's dtype/device), else a new tensor. grad_loss: 0-dim (autograd's).
at::Tensor info_nce_backward(const at::Tensor& grad_logits, const at::Tensor& k, const at::Tensor& queue,
                             double temperature, bool soft, const at::Tensor& grad_loss,
                             std::optional<at::Tensor> out = std::nullopt);

// out[i] = q[i] . k[i] for a column view `out` [N] (any stride): the positive logits.
void rowwise_dot_cpu(at::Tensor& out, const at::Tensor& q, const at::Tensor& k);
#ifdef HEXA_WITH_CUDA
void rowwise_dot_cuda(at::Tensor& out, const at::Tensor& q, const at::Tensor& k);
#endif

// Shared by the losses: a [rows, cols] buffer carved from `workspace` when it is big enough
// and matches `like`'s dtype/device, else a new one.
at::Tensor LogitsBuffer(const std::optional<at::Tensor>& workspace, int64_t rows, int64_t cols, const at::Tensor& like);
// grad_loss / denom as a 0-dim tensor on `like`'s device (no host sync).
at::Tensor LossGradScale(const at::Tensor& grad_loss, double denom, const at::Tensor& like);

}  // namespace hexa::kernels
