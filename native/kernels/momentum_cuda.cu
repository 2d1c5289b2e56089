// Momentum update on CUDA, multi-tensor style (as PyTorch's multi_tensor_apply): the kernel
// takes a by-value struct of target/source pointers, sizes and cumulative chunk counts for
// up to kMaxTensors pairs; each block walks 8Ki-element chunks, finds its tensor by a
// binary search over the chunk counts, and blends with 16-byte accesses where aligned.
// Why 8Ki elements and 256 threads (was 64Ki and 512): ResNet-18's 11.7M parameters made only
// ~180 blocks of 512 threads, under half of what an H200's 132 SMs hold at once, and the
// update reached 0.39x torch._foreach_lerp_; 8Ki chunks give ~1,400 blocks (over one full wave).
// One launch per dtype for each kMaxTensors pairs (ResNet-18: 1 launch, ResNet-50: 2).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/cuda_launch.cuh"
#include "kernels/momentum.h"

namespace hexa::kernels::detail {

namespace {

// 120 pairs keep the struct (4 × 8 bytes per pair) under the classic 4 KiB kernel-argument limit.
constexpr int kMaxTensors = 120;
constexpr int64_t kChunk = int64_t{1} << 13;
constexpr int kThreads = 256;

struct TensorBatch {
  void* target[kMaxTensors];
  const void* source[kMaxTensors];
  int64_t size[kMaxTensors];
  int64_t firstChunk[kMaxTensors + 1];  // firstChunk[count] = chunks in all
  int count;
};

template <class T>
__global__ void blendChunks(TensorBatch batch, T m, T oneMinusM) {
  using P = Pack<T>;
  const int64_t chunks = batch.firstChunk[batch.count];
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    int lo = 0, hi = batch.count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (batch.firstChunk[mid] <= chunk) lo = mid;
      else hi = mid - 1;
    }
    const int64_t begin = (chunk - batch.firstChunk[lo]) * kChunk;
    const int64_t length = min(kChunk, batch.size[lo] - begin);
    T* t = static_cast<T*>(batch.target[lo]) + begin;
    const T* s = static_cast<const T*>(batch.source[lo]) + begin;
    int64_t done = 0;
    if (aligned16(t) && aligned16(s)) {
      const int64_t packs = length / P::kSize;
      for (int64_t k = threadIdx.x; k < packs; k += blockDim.x) {
        P vt = reinterpret_cast<P*>(t)[k];
        const P vs = reinterpret_cast<const P*>(s)[k];
#pragma unroll
        for (int j = 0; j < P::kSize; ++j) vt.v[j] = vt.v[j] * m + vs.v[j] * oneMinusM;
        reinterpret_cast<P*>(t)[k] = vt;
      }
      done = packs * P::kSize;
    }
    for (int64_t i = done + threadIdx.x; i < length; i += blockDim.x) t[i] = t[i] * m + s[i] * oneMinusM;
  }
}

template <class T>
void launch(const TensorBatch& batch, double m, cudaStream_t stream) {
  const int64_t chunks = batch.firstChunk[batch.count];
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(chunks, 65535));
  blendChunks<T><<<blocks, kThreads, 0, stream>>>(batch, static_cast<T>(m), static_cast<T>(1 - m));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

void momentumUpdateCuda(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources, double m) {
  const c10::cuda::CUDAGuard guard(targets.front().device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    TensorBatch batch{};
    auto flush = [&] {
      if (batch.count == 0) return;
      if (dtype == at::kFloat) launch<float>(batch, m, stream);
      else launch<double>(batch, m, stream);
      batch.count = 0;
    };
    for (size_t i = 0; i < targets.size(); ++i) {
      if (targets[i].scalar_type() != dtype) continue;
      TORCH_CHECK(targets[i].device() == targets.front().device(),
                  "momentumUpdate: all CUDA tensors must be on one device");
      const int c = batch.count;
      batch.target[c] = targets[i].data_ptr();
      batch.source[c] = sources[i].const_data_ptr();
      batch.size[c] = targets[i].numel();
      batch.firstChunk[c + 1] = batch.firstChunk[c] + (batch.size[c] + kChunk - 1) / kChunk;
      batch.count = c + 1;
      if (batch.count == kMaxTensors) flush();
    }
    flush();
  }
}

}  // namespace hexa::kernels::detail
