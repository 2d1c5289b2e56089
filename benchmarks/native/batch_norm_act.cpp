// The fused BatchNorm + add + ReLU (native/kernels/batch_norm_act.h) beside ATen's composition
// of the same thing (what PyTorch runs for relu(bn(x) + r) on channels-last CPU tensors), in one
// process, at the activation shapes of a ResNet-18 (width 16 and 64, batch 64, 32x32 images),
// float32 and bfloat16 (ATen's mixed-type BatchNorm, as under bf16 autocast).
//   cmake --build --preset tests && build-tests/bench_batch_norm_act
// Medians of 31 calls after 5 warm-up calls, LibTorch's default thread count, our caching CPU
// allocator installed as the addon does. GB/s counts the bytes each side must move at least
// (forward: x read twice, r once, y written; backward: dy, x, y read twice, dx and dr written),
// against a measured copy_ of 256 MB.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "kernels/batch_norm_act.h"
#include "kernels/batch_norm_act_autograd.h"
#include "runtime/cpu_caching_allocator.h"

namespace {

double MedianMs(const std::function<void()>& f) {
  for (int i = 0; i < 5; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < 31; ++i) {
    const auto t = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
  }
  std::nth_element(ms.begin(), ms.begin() + 15, ms.end());
  return ms[15];
}

at::Tensor ChannelsLast(const std::vector<int64_t>& shape, at::ScalarType dtype, uint64_t seed) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, g, at::kFloat).contiguous(at::MemoryFormat::ChannelsLast).to(dtype);
}

}  // namespace

int main() {
  hexa::runtime::InstallCpuCachingAllocator();
  const at::Tensor big = at::empty({64 << 20}, at::kFloat).fill_(1), copy = at::empty_like(big);
  const double copyGBs = 2.0 * big.nbytes() / 1e9 / (MedianMs([&] { copy.copy_(big); }) / 1e3);
  std::printf("%d threads, copy_ bandwidth %.1f GB/s (256 MB, read + write)\n\n", at::get_num_threads(), copyGBs);
  std::printf("%-22s %-5s | %-26s | %-24s | %-8s | %-26s | %-24s | %s\n", "shape", "dtype", "fused forward ms (GB/s)",
              "ATen forward ms", "speed-up", "fused backward ms (GB/s)", "ATen backward ms", "speed-up");
  const std::vector<std::vector<int64_t>> shapes = {{64, 16, 32, 32}, {64, 32, 16, 16}, {64, 64, 8, 8}, {64, 128, 4, 4},
                                                    {64, 64, 32, 32}, {64, 512, 4, 4}};
  for (const auto& shape : shapes) {
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const int64_t C = shape[1];
      const at::Tensor x = ChannelsLast(shape, dtype, 1), r = ChannelsLast(shape, dtype, 2);
      const at::Tensor dy = ChannelsLast(shape, dtype, 3);
      const at::Tensor w = at::ones({C}), b = at::zeros({C});
      const double bytes = static_cast<double>(x.nbytes());

      hexa::kernels::BatchNormActForward f;
      const double oursFwd = MedianMs([&] {
        f = hexa::kernels::batchNormActForward(x, w, b, r, true, 1e-5, at::Tensor(), at::Tensor(), 0.0);
      });
      const double oursBwd = MedianMs([&] {
        hexa::kernels::batchNormActBackward(dy, x, f.out, w, f.mean, f.invstd, true, true, {true, true, true});
      });
      // ATen: the same forward as PyTorch composes it, and its backward by autograd (timed as
      // forward + backward, less the forward).
      const double atenFwd = MedianMs([&] { at::relu(at::batch_norm(x, w, b, {}, {}, true, 0.0, 1e-5, false) + r); });
      const at::Tensor xg = x.detach().requires_grad_(true), rg = r.detach().requires_grad_(true);
      const at::Tensor wg = w.detach().requires_grad_(true), bg = b.detach().requires_grad_(true);
      const double atenBoth = MedianMs([&] {
        at::Tensor y = at::relu(at::batch_norm(xg, wg, bg, {}, {}, true, 0.0, 1e-5, false) + rg);
        y.backward(dy);
      });
      const double atenBwd = std::max(atenBoth - atenFwd, 1e-6);
      char name[64];
      std::snprintf(name, sizeof name, "[%ld,%ld,%ld,%ld]", shape[0], shape[1], shape[2], shape[3]);
      std::printf("%-22s %-5s | %8.3f (%6.1f, %3.0f%%)     | %8.3f                 | %6.2fx  | %8.3f (%6.1f, %3.0f%%)     | %8.3f                 | %.2fx\n",
                  name, dtype == at::kFloat ? "fp32" : "bf16", oursFwd, 4 * bytes / 1e6 / oursFwd,
                  100 * (4 * bytes / 1e6 / oursFwd) / copyGBs, atenFwd, atenFwd / oursFwd, oursBwd,
                  8 * bytes / 1e6 / oursBwd, 100 * (8 * bytes / 1e6 / oursBwd) / copyGBs, atenBwd, atenBwd / oursBwd);
    }
  }
  return 0;
}
