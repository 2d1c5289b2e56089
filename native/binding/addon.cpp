// The addon's init file: every function and class the JS side can reach is listed here,
// each registered through Guarded<> (errors.h), the one C++ -> JS error boundary.
#include <ATen/Parallel.h>
#include <napi.h>

#include "binding/async_work.h"
#include "binding/clustering_ops.h"
#include "binding/dist_ops.h"
#include "binding/errors.h"
#include "binding/eval_ops.h"
#include "binding/handles.h"
#include "binding/kernel_ops.h"
#include "binding/runtime.h"
#include "binding/tensor_ops.h"
#include "binding/trainer_ops.h"
#include "runtime/cpu_caching_allocator.h"
#include "runtime/crash_trace.h"

namespace hexa::binding {
namespace {

template <Callback fn>
void Export(Napi::Env env, Napi::Object target, const char* name) {
  // The name doubles as the function's data: Guarded<> prefixes errors with it.
  target.Set(name, Napi::Function::New(env, Guarded<fn>, name, const_cast<char*>(name)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // The compute thread runs ops with the main thread's intra-op thread count (async_work.h).
  SetIntraOpThreads(at::get_num_threads());
  auto* data = new AddonData();
  env.SetInstanceData(data);
  data->compute = std::make_unique<ComputeQueue>(env);
  runtime::InstallCpuCachingAllocator();
  runtime::InstallCrashTraceIfRequested();
  Napi::Function tensorCtor = TensorHandle::Define(env);
  Napi::Function generatorCtor = GeneratorHandle::Define(env);
  data->tensorCtor = Napi::Persistent(tensorCtor);
  data->generatorCtor = Napi::Persistent(generatorCtor);
  Napi::Function trainerCtor = TrainerHandle::Define(env);
  data->trainerCtor = Napi::Persistent(trainerCtor);
  exports.Set("TensorHandle", tensorCtor);
  exports.Set("Generator", generatorCtor);
  exports.Set("TrainerHandle", trainerCtor);

  // runtime
  Export<Info>(env, exports, "info");
  Export<ManualSeed>(env, exports, "manualSeed");
  Export<SetNumThreads>(env, exports, "setNumThreads");
  Export<LiveTensorCount>(env, exports, "liveTensorCount");
  Export<CudaIsBuilt>(env, exports, "cudaIsBuilt");
  Export<CudaIsAvailable>(env, exports, "cudaIsAvailable");
  Export<CudaDeviceCount>(env, exports, "cudaDeviceCount");
  Export<CudaSynchronize>(env, exports, "cudaSynchronize");
  Export<CpuCacheStats>(env, exports, "cpuCacheStats");
  Export<CpuEmptyCache>(env, exports, "cpuEmptyCache");
  Export<CpuSetCacheLimit>(env, exports, "cpuSetCacheLimit");
  Export<ProfilerStart>(env, exports, "profilerStart");
  Export<ProfilerStop>(env, exports, "profilerStop");
  Export<AllowTF32>(env, exports, "allowTF32");
  Export<SetAllowTF32>(env, exports, "setAllowTF32");
  Export<CudnnDeterministic>(env, exports, "cudnnDeterministic");
  Export<SetCudnnDeterministic>(env, exports, "setCudnnDeterministic");

  // tensors
  Export<FromTypedArray>(env, exports, "tensor");
  Export<Zeros>(env, exports, "zeros");
  Export<Rand>(env, exports, "rand");
  Export<Randn>(env, exports, "randn");
  Export<Data>(env, exports, "data");
  Export<To>(env, exports, "to");
  Export<Matmul>(env, exports, "matmul");
  Export<Add>(env, exports, "add");
  Export<Sub>(env, exports, "sub");
  Export<Mul>(env, exports, "mul");
  Export<Sum>(env, exports, "sum");
  Export<Mean>(env, exports, "mean");
  Export<Argmax>(env, exports, "argmax");
  Export<Cat>(env, exports, "cat");
  Export<IndexSelect>(env, exports, "index");
  Export<Reshape>(env, exports, "reshape");
  Export<Clone>(env, exports, "clone");
  Export<Sign>(env, exports, "sign");
  Export<Clamp>(env, exports, "clamp");
  Export<Normalize>(env, exports, "normalize");

  // augmentations and the trainers of every method (trainer_ops.cpp)
  Export<SampleAugment>(env, exports, "sampleAugment");
  Export<ApplyAugment>(env, exports, "applyAugment");
  Export<CreateTrainer>(env, exports, "createTrainer");

  // evaluation (eval_ops.cpp) and DeepCluster's clustering (clustering_ops.cpp)
  Export<KnnPredict>(env, exports, "knnPredict");
  Export<TrainLinearClassifier>(env, exports, "trainLinearClassifier");
  Export<ClassifierAccuracy>(env, exports, "classifierAccuracy");
  Export<BackboneFeatures>(env, exports, "backboneFeatures");
  Export<FineTune>(env, exports, "fineTune");
  Export<SphericalKmeans>(env, exports, "sphericalKmeans");
  Export<NormalizedMutualInformation>(env, exports, "normalizedMutualInformation");

  // data-parallel training's communicator (dist_ops.cpp, native/dist/)
  Export<DistBackends>(env, exports, "distBackends");
  Export<ConnectProcessGroup>(env, exports, "connectProcessGroup");
  Export<CommunicatorAllReduce>(env, exports, "communicatorAllReduce");
  Export<CommunicatorBroadcast>(env, exports, "communicatorBroadcast");
  Export<CommunicatorBarrier>(env, exports, "communicatorBarrier");
  Export<CommunicatorClose>(env, exports, "communicatorClose");

  // fused HEXA kernels (native/kernels/), wrapped in kernels_hard_views.cpp and kernels_losses.cpp (kernel_ops.h)
  // hard views and the momentum encoder (kernels_hard_views.cpp)
  Export<PgdStep>(env, exports, "pgdStep");
  Export<PgdInit>(env, exports, "pgdInit");
  Export<SampleCutmix>(env, exports, "sampleCutmix");
  Export<Cutmix>(env, exports, "cutmix");
  Export<CutmixTargets>(env, exports, "cutmixTargets");
  Export<Enqueue>(env, exports, "enqueue");
  Export<MomentumUpdate>(env, exports, "momentumUpdate");
  Export<CopyBuffers>(env, exports, "copyBuffers");
  // losses and clustering (kernels_losses.cpp)
  Export<InfoNCE>(env, exports, "infoNCE");
  Export<ClusterCE>(env, exports, "clusterCE");
  Export<KmeansAssign>(env, exports, "kmeansAssign");
  Export<KmeansUpdateCentroids>(env, exports, "kmeansUpdateCentroids");
  return exports;
}

}  // namespace
}  // namespace hexa::binding

static Napi::Object InitHexaTorch(Napi::Env env, Napi::Object exports) { return hexa::binding::Init(env, exports); }
NODE_API_MODULE(hexa_torch, InitHexaTorch)
