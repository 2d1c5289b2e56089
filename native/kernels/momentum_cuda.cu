// Momentum update on CUDA, multi-tensor style (as PyTorch's multi_tensor_apply): the kernel
// takes a by-value struct of target/source pointers, sizes and cumulative chunk counts for
// up to kMaxTensors pairs; each block blends one chunk of one tensor (found by a binary
// search over the chunk counts) with 16-byte accesses where aligned, kIlp of them in flight
// per thread.
//
// One wave per launch. The chunk length is chosen per launch so that the chunks of all its
// tensors fit in the blocks the device holds at once (SMs x resident blocks of kThreads per
// SM, from the occupancy calculator). Why: with fixed 8Ki-element chunks ResNet-18's 11.7M
// parameters made ~1,400 blocks on an H200 that holds ~1,056 of them: a second wave a third
// full (the update measured 0.41x torch._foreach_lerp_ in single calls, 41% of the copy rate
// back to back). Chunks sized to one wave leave no tail but the few per-tensor remainders.
// One launch per dtype for each kMaxTensors pairs (ResNet-18: 1 launch, ResNet-50: 2).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include <mutex>
#include <utility>
#include <vector>

#include "kernels/cuda_launch.cuh"
#include "kernels/momentum.h"

namespace hexa::kernels::detail {

namespace {

// 120 pairs keep the struct (4 x 8 bytes per pair) under the classic 4 KiB kernel-argument limit.
constexpr int kMaxTensors = 120;
// 16-byte packs each thread loads before it stores any: the loads of one thread overlap
// (a loop of load, blend, store has one pair in flight per thread).
constexpr int kIlp = 4;
// Chunk lengths are multiples of this many elements, so every chunk of an aligned tensor
// starts 16-byte aligned; and no chunk is shorter (a tiny list is a few blocks, not one per SM).
constexpr int64_t kChunkAlign = 1024;

struct TensorBatch {
  void* target[kMaxTensors];
  const void* source[kMaxTensors];
  int64_t size[kMaxTensors];
  int64_t firstChunk[kMaxTensors + 1];  // firstChunk[count] = chunks in all
  int64_t chunk;                        // elements per chunk
  int count;
};

template <class T>
__global__ void __launch_bounds__(kThreads) blendChunks(TensorBatch batch, T m, T oneMinusM) {
  using P = Pack<T>;
  const int64_t chunks = batch.firstChunk[batch.count];
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    int lo = 0, hi = batch.count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (batch.firstChunk[mid] <= chunk) lo = mid;
      else hi = mid - 1;
    }
    const int64_t begin = (chunk - batch.firstChunk[lo]) * batch.chunk;
    const int64_t length = min(batch.chunk, batch.size[lo] - begin);
    T* t = static_cast<T*>(batch.target[lo]) + begin;
    const T* s = static_cast<const T*>(batch.source[lo]) + begin;
    int64_t done = 0;
    if (aligned16(t) && aligned16(s)) {
      const int64_t packs = length / P::kSize;
      P* tp = reinterpret_cast<P*>(t);
      const P* sp = reinterpret_cast<const P*>(s);
      const int64_t stride = blockDim.x;
      for (int64_t base = threadIdx.x; base < packs; base += stride * kIlp) {
        P vt[kIlp], vs[kIlp];
#pragma unroll
        for (int j = 0; j < kIlp; ++j) {
          const int64_t k = base + j * stride;
          if (k < packs) vt[j] = tp[k], vs[j] = sp[k];
        }
#pragma unroll
        for (int j = 0; j < kIlp; ++j) {
          const int64_t k = base + j * stride;
          if (k >= packs) continue;
#pragma unroll
          for (int e = 0; e < P::kSize; ++e) vt[j].v[e] = vt[j].v[e] * m + vs[j].v[e] * oneMinusM;
          tp[k] = vt[j];
        }
      }
      done = packs * P::kSize;
    }
    for (int64_t i = done + threadIdx.x; i < length; i += blockDim.x) t[i] = t[i] * m + s[i] * oneMinusM;
  }
}

// Blocks of blendChunks<T> the current device runs at once (SMs x resident blocks per SM).
template <class T>
int64_t residentBlocks() {
  static std::mutex mutex;
  static std::vector<std::pair<int, int64_t>> known;  // (device, blocks)
  const int device = at::cuda::current_device();
  const std::lock_guard<std::mutex> lock(mutex);
  for (const auto& [d, blocks] : known)
    if (d == device) return blocks;
  int perSm = 0;
  C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, blendChunks<T>, kThreads, 0));
  const int64_t blocks =
      std::max<int64_t>(1, int64_t{perSm} * at::cuda::getCurrentDeviceProperties()->multiProcessorCount);
  known.emplace_back(device, blocks);
  return blocks;
}

// Chunk length for `count` tensors of `elements` in all: their chunks (at most
// elements / chunk + count) fit in one wave of `slots` blocks where the tensors allow it.
int64_t chunkFor(int64_t elements, int count, int64_t slots) {
  const int64_t blocks = std::max<int64_t>(slots - count, std::max<int64_t>(1, slots / 2));
  const int64_t perBlock = (elements + blocks - 1) / blocks;
  return std::max(kChunkAlign, (perBlock + kChunkAlign - 1) / kChunkAlign * kChunkAlign);
}

template <class T>
void launch(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources,
            const std::vector<size_t>& members, double m, cudaStream_t stream) {
  TensorBatch batch{};
  int64_t elements = 0;
  for (size_t i : members) {
    const int c = batch.count++;
    batch.target[c] = targets[i].data_ptr();
    batch.source[c] = sources[i].const_data_ptr();
    batch.size[c] = targets[i].numel();
    elements += batch.size[c];
  }
  batch.chunk = chunkFor(elements, batch.count, residentBlocks<T>());
  for (int c = 0; c < batch.count; ++c)
    batch.firstChunk[c + 1] = batch.firstChunk[c] + (batch.size[c] + batch.chunk - 1) / batch.chunk;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(batch.firstChunk[batch.count], 65535));
  blendChunks<T><<<blocks, kThreads, 0, stream>>>(batch, static_cast<T>(m), static_cast<T>(1 - m));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

void momentumUpdateCuda(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources, double m) {
  const c10::cuda::CUDAGuard guard(targets.front().device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    std::vector<size_t> members;
    auto flush = [&] {
      if (members.empty()) return;
      if (dtype == at::kFloat) launch<float>(targets, sources, members, m, stream);
      else launch<double>(targets, sources, members, m, stream);
      members.clear();
    };
    for (size_t i = 0; i < targets.size(); ++i) {
      if (targets[i].scalar_type() != dtype) continue;
      TORCH_CHECK(targets[i].device() == targets.front().device(),
                  "momentumUpdate: all CUDA tensors must be on one device");
      members.push_back(i);
      if (members.size() == kMaxTensors) flush();
    }
    flush();
  }
}

}  // namespace hexa::kernels::detail
