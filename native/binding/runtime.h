// Exported functions about the runtime: versions, variant, threads, CUDA, seeds, leak counts.
#pragma once
#include <napi.h>

namespace hexa::binding {

Napi::Value Info(const Napi::CallbackInfo& info);
Napi::Value CudaIsBuilt(const Napi::CallbackInfo& info);
Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info);
Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info);
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info);
Napi::Value AllowTF32(const Napi::CallbackInfo& info);
Napi::Value SetAllowTF32(const Napi::CallbackInfo& info);
Napi::Value CudnnDeterministic(const Napi::CallbackInfo& info);
Napi::Value SetCudnnDeterministic(const Napi::CallbackInfo& info);
Napi::Value ManualSeed(const Napi::CallbackInfo& info);
Napi::Value SetNumThreads(const Napi::CallbackInfo& info);
Napi::Value LiveTensorCount(const Napi::CallbackInfo& info);
Napi::Value CpuCacheStats(const Napi::CallbackInfo& info);
Napi::Value CpuEmptyCache(const Napi::CallbackInfo& info);
Napi::Value CpuSetCacheLimit(const Napi::CallbackInfo& info);
Napi::Value ProfilerStart(const Napi::CallbackInfo& info);
Napi::Value ProfilerStop(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
