// The fused row pass shared by every softmax cross-entropy loss here (InfoNCE, DeepCluster's
// cluster CE): one kernel per row over a logits buffer the caller's GEMM filled.
//
// For each row i of `buffer` [N, M] (rows may be a view with a row stride > M, e.g. a slice
// of a wider buffer; the last dim must be contiguous):
//   z = scale * buffer[i]                          (scale = 1/temperature)
//   row_loss[i]    = -sum_j t_ij * log_softmax(z)_j
//   row_correct[i] = argmax_j z_j == target class  (ties: the lowest index wins)
//   buffer[i]      = (sum_j t_ij) softmax(z) - t_i (in place: d row_loss / d z)
// so the backward of a loss that is the mean over rows is one GEMM with the buffer.
// The targets t are one of: a fixed class for every row (InfoNCE's positive column), an
// int64 class per row, or a dense soft matrix [N, M] (rows need not sum to 1; for them the
// "target class" of row_correct is the row's first largest entry).
#pragma once
#include <ATen/ATen.h>

#include <optional>

namespace hexa::kernels {

struct RowTargets {
  int64_t fixed_class = 0;              // used when neither tensor is given
  std::optional<at::Tensor> classes;    // int64 [N], values in [0, M)
  std::optional<at::Tensor> soft;       // [N, M], the buffer's dtype and device, last dim contiguous
};

struct RowPassResult {
  at::Tensor row_loss;     // [N], buffer's dtype
  at::Tensor row_correct;  // [N], uint8 (0/1)
};

// Checks shapes, then runs the pass on the buffer's device (current CUDA stream there).
RowPassResult softmax_ce_rows_(at::Tensor& buffer, double scale, const RowTargets& targets);

// Device implementations (called only by softmax_ce_rows_, arguments already checked).
void softmax_ce_rows_cpu(at::Tensor& buffer, double scale, const RowTargets& targets, RowPassResult& out);
#ifdef HEXA_WITH_CUDA
void softmax_ce_rows_cuda(at::Tensor& buffer, double scale, const RowTargets& targets, RowPassResult& out);
#endif

}  // namespace hexa::kernels
