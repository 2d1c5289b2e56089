// Warp and block reductions shared by the CUDA kernels here: sums, and (value, index)
// maxima whose ties go to the lowest index (the rule every argmax of this library uses).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace hexa::kernels::cuda {

template <class T>
struct ValueIndex {
  T value;
  int64_t index;
};

// The larger value; on equal values the lower index. NaN never wins (it compares false).
template <class T>
__device__ __forceinline__ ValueIndex<T> BetterOf(ValueIndex<T> a, ValueIndex<T> b) {
  if (b.value > a.value || (b.value == a.value && b.index < a.index)) return b;
  return a;
}

template <class T>
__device__ __forceinline__ T WarpSum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

template <class T>
__device__ __forceinline__ ValueIndex<T> WarpArgMax(ValueIndex<T> v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    ValueIndex<T> o{__shfl_down_sync(0xffffffffu, v.value, offset),
                    static_cast<int64_t>(__shfl_down_sync(0xffffffffu, static_cast<long long>(v.index), offset))};
    v = BetterOf(v, o);
  }
  return v;
}

// Block-wide reductions for blockDim.x a multiple of 32 (<= 1024); every thread gets the
// result. `scratch` holds 32 entries; the trailing __syncthreads lets callers reuse it.
template <class T>
__device__ T BlockSum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = WarpSum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? scratch[lane] : T(0);
    v = WarpSum(v);
    if (lane == 0) scratch[0] = v;
  }
  __syncthreads();
  v = scratch[0];
  __syncthreads();
  return v;
}

template <class T>
__device__ ValueIndex<T> BlockArgMax(ValueIndex<T> v, ValueIndex<T>* scratch, T lowest) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = WarpArgMax(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? scratch[lane] : ValueIndex<T>{lowest, INT64_MAX};
    v = WarpArgMax(v);
    if (lane == 0) scratch[0] = v;
  }
  __syncthreads();
  v = scratch[0];
  __syncthreads();
  return v;
}

}  // namespace hexa::kernels::cuda
