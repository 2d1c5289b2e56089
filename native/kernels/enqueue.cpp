#include "kernels/enqueue.h"
#include "kernels/device_dispatch.h"

#include <algorithm>

namespace hexa::kernels {

int64_t enqueue(const at::Tensor& queue, const at::Tensor& keys, int64_t ptr) {
  HEXA_RECORD_KERNEL("hexa::enqueue");
  TORCH_CHECK(queue.dim() == 2 && keys.dim() == 2, "enqueue: queue and keys must be 2-D");
  const int64_t k = queue.size(0), n = keys.size(0);
  TORCH_CHECK(keys.size(1) == queue.size(1), "enqueue: keys must have ", queue.size(1), " columns, got ", keys.size(1));
  TORCH_CHECK(n <= k, "enqueue: keys has ", n, " rows but the queue only ", k);
  TORCH_CHECK(k > 0 && ptr >= 0 && ptr < k, "enqueue: ptr must be in [0, ", k, "), got ", ptr);
  TORCH_CHECK(keys.scalar_type() == queue.scalar_type() && keys.device() == queue.device(),
              "enqueue: keys must match the queue's dtype and device");
  const int64_t first = std::min(n, k - ptr);
  auto q = queue;  // a handle to the same storage: copy_ writes through it
  q.narrow(0, ptr, first).copy_(keys.narrow(0, 0, first));
  if (first < n) q.narrow(0, 0, n - first).copy_(keys.narrow(0, first, n - first));
  return (ptr + n) % k;
}

void enqueueAt(const at::Tensor& queue, const at::Tensor& keys, const at::Tensor& ptr) {
  HEXA_RECORD_KERNEL("hexa::enqueueAt");
  TORCH_CHECK(queue.dim() == 2 && keys.dim() == 2, "enqueueAt: queue and keys must be 2-D");
  const int64_t k = queue.size(0), n = keys.size(0);
  TORCH_CHECK(keys.size(1) == queue.size(1), "enqueueAt: keys must have ", queue.size(1), " columns, got ", keys.size(1));
  TORCH_CHECK(n <= k, "enqueueAt: keys has ", n, " rows but the queue only ", k);
  TORCH_CHECK(keys.scalar_type() == queue.scalar_type() && keys.device() == queue.device(),
              "enqueueAt: keys must match the queue's dtype and device");
  TORCH_CHECK(ptr.dim() == 0 && ptr.scalar_type() == at::kLong && ptr.device() == queue.device(),
              "enqueueAt: ptr must be a 0-dim int64 tensor on the queue's device");
  auto q = queue;  // a handle to the same storage: index_copy_ writes through it
  auto p = ptr;
  q.index_copy_(0, at::arange(n, ptr.options()).add_(p).remainder_(k), keys);
  p.add_(n).remainder_(k);
}

}  // namespace hexa::kernels
