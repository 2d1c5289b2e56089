// CPU row pass: rows in parallel (at::parallel_for), each row by one thread in three sweeps
// that stay in its L2-resident row (max & targets; exp & sum; normalise & subtract targets).
#include <ATen/Parallel.h>

#include <limits>
#include <mutex>

#include "kernels/cpu_simd.h"
#include "kernels/softmax_ce_rows.h"

namespace hexa::kernels {
namespace {

// The first row whose class was out of range, and that class (as read, once).
struct BadClass {
  std::mutex mutex;
  int64_t row = -1, value = 0;
  void note(int64_t i, int64_t v) {
    std::lock_guard<std::mutex> lock(mutex);
    if (row < 0 || i < row) row = i, value = v;
  }
};

template <class T>
struct RowArgs {
  T* logits;
  int64_t logits_stride;
  int64_t m;
  T scale;
  const T* soft;  // null unless soft targets
  int64_t soft_stride;
  const int64_t* classes;  // null unless a class per row
  int64_t fixed_class;
  T* row_loss;
  uint8_t* row_correct;
  BadClass* bad;
};

template <class T>
HEXA_ALWAYS_INLINE void OneRow(const RowArgs<T>& a, int64_t i) {
  using namespace simd;
  T* x = a.logits + i * a.logits_stride;
  const T* t = a.soft ? a.soft + i * a.soft_stride : nullptr;
  const int64_t m = a.m;
  const T xmax = Max(x, m);
  int64_t target;
  T target_mass, target_dot;  // sum_j t_j and sum_j t_j x_j (raw logits)
  if (t) {
    target = FirstEqual(t, m, Max(t, m));
    if (target == m) target = 0;  // NaN targets: no index equals their max
    target_mass = Sum(t, m);
    target_dot = Dot(t, x, m);
  } else {
    // Read once (a volatile load: the compiler may not load it again), checked, then used: a
    // class another op changes meanwhile can never index out of the row; the row is marked
    // and the call fails after the pass.
    target = a.classes ? static_cast<const volatile int64_t*>(a.classes)[i] : a.fixed_class;
    if (target < 0 || target >= m) {
      a.bad->note(i, target);
      a.row_loss[i] = std::numeric_limits<T>::quiet_NaN();
      a.row_correct[i] = 0;
      return;
    }
    target_mass = 1;
    target_dot = x[target];
  }
  // argmax (lowest index among ties) == target, without a separate argmax sweep.
  a.row_correct[i] = x[target] == xmax && FirstEqual(x, target, xmax) == target;
  const T shift = a.scale * xmax;  // scale > 0, so this is max_j z_j
  const T sum = ExpInPlaceSum(x, m, a.scale, shift);
  a.row_loss[i] = (shift + std::log(sum)) * target_mass - a.scale * target_dot;
  ScaleSub(x, m, target_mass / sum, t);  // d/dz of lse * mass - t.z
  if (!t) x[target] -= T(1);
}

template <class T>
HEXA_ALWAYS_INLINE void RowRange(const RowArgs<T>& a, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) OneRow(a, i);
}

HEXA_CPU_CLONES void RowRangeFloat(const RowArgs<float>& a, int64_t begin, int64_t end) { RowRange(a, begin, end); }
HEXA_CPU_CLONES void RowRangeDouble(const RowArgs<double>& a, int64_t begin, int64_t end) { RowRange(a, begin, end); }
void RunRows(const RowArgs<float>& a, int64_t b, int64_t e) { RowRangeFloat(a, b, e); }
void RunRows(const RowArgs<double>& a, int64_t b, int64_t e) { RowRangeDouble(a, b, e); }

}  // namespace

void softmax_ce_rows_cpu(at::Tensor& buffer, double scale, const RowTargets& targets, RowPassResult& out) {
  BadClass bad;
  const int64_t m_cols = buffer.size(1);
  AT_DISPATCH_FLOATING_TYPES(buffer.scalar_type(), "softmax_ce_rows_cpu", [&] {
    const int64_t n = buffer.size(0), m = buffer.size(1);
    at::Tensor classes = targets.classes ? targets.classes->contiguous() : at::Tensor();
    RowArgs<scalar_t> a{buffer.data_ptr<scalar_t>(),
                        buffer.stride(0),
                        m,
                        static_cast<scalar_t>(scale),
                        targets.soft ? targets.soft->const_data_ptr<scalar_t>() : nullptr,
                        targets.soft ? targets.soft->stride(0) : 0,
                        classes.defined() ? classes.const_data_ptr<int64_t>() : nullptr,
                        targets.fixed_class,
                        out.row_loss.data_ptr<scalar_t>(),
                        out.row_correct.data_ptr<uint8_t>(),
                        &bad};
    // A grain of ~32K elements: one long row per task, many short rows per task.
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(m, 1));
    at::parallel_for(0, n, grain, [&](int64_t b, int64_t e) { RunRows(a, b, e); });
  });
  TORCH_CHECK_VALUE(bad.row < 0, "targets must be in [0, ", m_cols, "), got targets[", bad.row, "] = ", bad.value);
}

}  // namespace hexa::kernels
