// CutMix paste on CUDA. Out of place: one elementwise kernel (each output element reads its
// own or its partner's pixel). In place: the partners' box regions are gathered into a
// scratch buffer, then pasted (two kernels over the box pixels only). The per-sample table
// (partner, box, scratch offset) is built on the host, where perm and boxes were checked,
// and uploaded from pinned memory without a sync.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include <vector>

#include "kernels/cuda_launch.cuh"
#include "kernels/cutmix.h"

namespace hexa::kernels::detail {

namespace {

enum Column { kPartner, kY0, kX0, kY1, kX1, kOffset, kColumns };

template <class T, class Index>
__global__ void pasteAll(const T* x, T* out, const int64_t* table, Index numel, Index channels, Index h, Index w) {
  for (Index idx = blockIdx.x * Index(blockDim.x) + threadIdx.x; idx < numel; idx += Index(gridDim.x) * blockDim.x) {
    const Index col = idx % w, rowIndex = idx / w, row = rowIndex % h, plane = rowIndex / h;
    const Index sample = plane / channels, channel = plane % channels;
    const int64_t* b = table + sample * kColumns;
    const bool inside = row >= b[kY0] && row < b[kY1] && col >= b[kX0] && col < b[kX1];
    const Index from = inside ? ((Index(b[kPartner]) * channels + channel) * h + row) * w + col : idx;
    out[idx] = x[from];
  }
}

// Moves every sample's box between the image and its slot of the packed scratch buffer:
// gather reads the partner's box, scatter writes the sample's own box.
template <class T, bool kGather>
__global__ void moveBoxes(T* x, T* scratch, const int64_t* table, int64_t n, int64_t channels, int64_t h,
                          int64_t w) {
  for (int64_t s = blockIdx.y; s < n; s += gridDim.y) {
    const int64_t* b = table + s * kColumns;
    const int64_t bh = b[kY1] - b[kY0], bw = b[kX1] - b[kX0], area = bh * bw;
    const int64_t image = kGather ? b[kPartner] : s;
    for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < channels * area;
         e += int64_t(gridDim.x) * blockDim.x) {
      const int64_t c = e / area, r = e % area;
      const int64_t pixel = ((image * channels + c) * h + b[kY0] + r / bw) * w + b[kX0] + r % bw;
      if (kGather) scratch[b[kOffset] + e] = x[pixel];
      else x[pixel] = scratch[b[kOffset] + e];
    }
  }
}

// One elementwise kernel over out, the table (rows of kColumns) already on the device.
template <class T>
void pasteOutOfPlace(const at::Tensor& x, const at::Tensor& table, const at::Tensor& out, const CutmixGeometry& g,
                     cudaStream_t stream) {
  const int64_t numel = out.numel();
  const auto* src = x.const_data_ptr<T>();
  auto* dst = out.mutable_data_ptr<T>();
  // 32-bit index math while idx + the grid stride cannot overflow.
  if (numel < (int64_t{1} << 30)) {
    pasteAll<T, int32_t><<<gridFor(numel), kThreads, 0, stream>>>(
        src, dst, table.const_data_ptr<int64_t>(), static_cast<int32_t>(numel), static_cast<int32_t>(g.channels),
        static_cast<int32_t>(g.h), static_cast<int32_t>(g.w));
  } else {
    pasteAll<T, int64_t><<<gridFor(numel), kThreads, 0, stream>>>(src, dst, table.const_data_ptr<int64_t>(), numel,
                                                                   g.channels, g.h, g.w);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

void cutmixCudaDeviceTable(const at::Tensor& x, const at::Tensor& table, const at::Tensor& out,
                           const CutmixGeometry& g) {
  TORCH_CHECK(table.dim() == 2 && table.size(0) == g.n && table.size(1) == kColumns && table.is_contiguous(),
              "cutmixCudaDeviceTable: table must be a contiguous [n, ", int(kColumns), "] tensor");
  const c10::cuda::CUDAGuard guard(out.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "cutmixCuda",
                                  [&] { pasteOutOfPlace<scalar_t>(x, table, out, g, stream); });
}

void cutmixCuda(const at::Tensor& x, const std::vector<CutmixBox>& boxes, const at::Tensor& out,
                const CutmixGeometry& g) {
  const c10::cuda::CUDAGuard guard(out.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const bool inplace = x.data_ptr() == out.data_ptr();
  at::Tensor host = at::empty({g.n, kColumns}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  int64_t* t = host.data_ptr<int64_t>();
  int64_t scratchSize = 0, largestBox = 0;
  for (int64_t i = 0; i < g.n; ++i) {
    const CutmixBox& b = boxes[i];
    // In place, a sample that is its own partner keeps its pixels: an empty box moves nothing.
    const bool moves = !inplace || b.partner != i;
    const int64_t y1 = moves ? b.y1 : b.y0;
    int64_t* row = t + i * kColumns;
    row[kPartner] = b.partner, row[kY0] = b.y0, row[kX0] = b.x0, row[kY1] = y1, row[kX1] = b.x1;
    row[kOffset] = scratchSize;
    const int64_t size = g.channels * (y1 - b.y0) * (b.x1 - b.x0);
    scratchSize += size;
    largestBox = std::max(largestBox, size);
  }
  const at::Tensor table = host.to(out.device(), /*non_blocking=*/true);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "cutmixCuda", [&] {
    auto* dst = out.mutable_data_ptr<scalar_t>();
    if (!inplace) return pasteOutOfPlace<scalar_t>(x, table, out, g, stream);
    if (scratchSize == 0) return;
    at::Tensor scratch = at::empty({scratchSize}, out.options());
    auto* packed = scratch.mutable_data_ptr<scalar_t>();
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>((largestBox + kThreads - 1) / kThreads, 64)),
                    static_cast<unsigned>(std::min<int64_t>(g.n, 65535)));
    moveBoxes<scalar_t, true><<<grid, kThreads, 0, stream>>>(dst, packed, table.const_data_ptr<int64_t>(), g.n,
                                                             g.channels, g.h, g.w);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    moveBoxes<scalar_t, false><<<grid, kThreads, 0, stream>>>(dst, packed, table.const_data_ptr<int64_t>(), g.n,
                                                              g.channels, g.h, g.w);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace hexa::kernels::detail
