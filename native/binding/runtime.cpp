#include "binding/runtime.h"

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/handles.h"
#include "runtime/cpu_caching_allocator.h"
#include "runtime/cpu_features.h"
#include "runtime/profiler.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/core/Generator.h>
#include <ATen/detail/CUDAHooksInterface.h>

#ifdef HEXA_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace hexa::binding {

namespace {
std::atomic<int> intraOpThreads{0};
}  // namespace

void SetIntraOpThreads(int threads) {
  intraOpThreads.store(threads);
  at::set_num_threads(threads);
}

int IntraOpThreads() {
  int n = intraOpThreads.load();
  return n > 0 ? n : at::get_num_threads();
}

void ApplyIntraOpThreads() {
  const int want = intraOpThreads.load();
  if (want > 0 && at::get_num_threads() != want) at::set_num_threads(want);
}

namespace {
int64_t DeviceCount() { return at::globalContext().hasCUDA() ? at::detail::getCUDAHooks().deviceCount() : 0; }
}  // namespace

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("builtAgainst", HEXA_TORCH_BUILT_AGAINST);
  out.Set("variant", HEXA_TORCH_VARIANT);
  out.Set("threads", static_cast<double>(IntraOpThreads()));
  out.Set("interopThreads", static_cast<double>(at::get_num_interop_threads()));
  Napi::Array devices = Napi::Array::New(env);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("device", "cpu");
  devices.Set(0u, cpu);
#ifdef HEXA_WITH_CUDA
  for (int64_t i = 0; i < DeviceCount(); ++i) {
    const cudaDeviceProp* p = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(i));
    Napi::Object d = Napi::Object::New(env);
    d.Set("device", "cuda:" + std::to_string(i));
    d.Set("name", p->name);
    d.Set("memoryBytes", static_cast<double>(p->totalGlobalMem));
    d.Set("capability", std::to_string(p->major) + "." + std::to_string(p->minor));
    devices.Set(static_cast<uint32_t>(i + 1), d);
  }
#endif
  out.Set("devices", devices);
  const runtime::CpuFeatures f = runtime::DetectCpuFeatures();
  Napi::Object features = Napi::Object::New(env);
  features.Set("arch", f.arch);
  features.Set("avx2", f.avx2);
  features.Set("avx512f", f.avx512f);
  features.Set("avx512bf16", f.avx512bf16);
  features.Set("amxBf16", f.amxBf16);
  features.Set("nativeBf16", f.nativeBf16 ? Napi::Value(Napi::Boolean::New(env, *f.nativeBf16)) : env.Null());
  out.Set("cpu", features);
  return out;
}

Napi::Value CudaIsBuilt(const Napi::CallbackInfo& info) {
#ifdef HEXA_WITH_CUDA
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), DeviceCount() > 0); }

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(DeviceCount()));
}

// cudaSynchronize() -> Promise<void>: waits (off the event loop) until every CUDA kernel queued
// so far has finished, as torch.cuda.synchronize(). Our ops resolve once their work is queued,
// like PyTorch's, so timing GPU work needs this. Resolves at once without CUDA devices.
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  return Protect(info, "cuda.synchronize", [&]() -> Napi::Value {
    Args a(info, "cuda.synchronize");
    return RunAsyncVoid(a.env(), "cuda.synchronize", [] {
#ifdef HEXA_WITH_CUDA
      for (int64_t i = 0; i < DeviceCount(); ++i) {
        c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(i));
        c10::cuda::device_synchronize();
      }
#endif
    });
  });
}

// allowTF32() -> { matmul, cudnn } and setAllowTF32(allow): whether float32 matrix products
// (cuBLAS) and convolutions (cuDNN) may use TF32 tensor cores, as
// torch.backends.cuda.matmul.allow_tf32 / torch.backends.cudnn.allow_tf32. LibTorch's
// defaults: matmul off, cuDNN on. No effect on the CPU.
Napi::Value AllowTF32(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("matmul", at::globalContext().allowTF32CuBLAS());
  out.Set("cudnn", at::globalContext().allowTF32CuDNN());
  return out;
}

Napi::Value SetAllowTF32(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.setAllowTF32");
  if (info.Length() >= 1 && info[0].IsBoolean()) {
    const bool allow = info[0].As<Napi::Boolean>().Value();
    at::globalContext().setAllowTF32CuBLAS(allow);
    at::globalContext().setAllowTF32CuDNN(allow);
    return info.Env().Undefined();
  }
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray()) a.typeError("allow", "a boolean or { matmul?, cudnn? }", a.at(0));
  Napi::Object o = info[0].As<Napi::Object>();
  for (const char* key : {"matmul", "cudnn"}) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) continue;
    if (!v.IsBoolean()) a.typeError(std::string("allow.") + key, "a boolean", v);
    if (std::string(key) == "matmul") at::globalContext().setAllowTF32CuBLAS(v.As<Napi::Boolean>().Value());
    else at::globalContext().setAllowTF32CuDNN(v.As<Napi::Boolean>().Value());
  }
  return info.Env().Undefined();
}

// cudnnDeterministic() and setCudnnDeterministic(on): whether cuDNN may only pick algorithms
// that give the same bits on every run (torch.backends.cudnn.deterministic; LibTorch's default
// off: some backward convolutions add with atomics, in whatever order the GPU schedules). For
// comparing two GPU runs bit for bit; slower. No effect on the CPU.
Napi::Value CudnnDeterministic(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::globalContext().deterministicCuDNN());
}

Napi::Value SetCudnnDeterministic(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.setCudnnDeterministic");
  if (info.Length() < 1 || !info[0].IsBoolean()) a.typeError("on", "a boolean", a.at(0));
  at::globalContext().setDeterministicCuDNN(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

// manualSeed(n): seeds LibTorch's default generators (CPU and every CUDA device), as torch.manual_seed.
Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Args a(info, "manualSeed");
  auto seed = static_cast<uint64_t>(a.integer(0, "seed", 0, (int64_t{1} << 53) - 1));
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  for (int64_t i = 0; i < DeviceCount(); ++i) {
    auto gen = at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args a(info, "setNumThreads");
  SetIntraOpThreads(static_cast<int>(a.integer(0, "threads", 1, 1024)));
  return info.Env().Undefined();
}

Napi::Value LiveTensorCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(TensorHandle::LiveCount(info.Env())));
}

// cpuCacheStats() -> { enabled, cachedBytes, inUseBytes, limitBytes, hits, misses } of the CPU caching
// allocator (native/runtime/cpu_caching_allocator.h), like torch.cuda.memory_stats for the CPU.
Napi::Value CpuCacheStats(const Napi::CallbackInfo& info) {
  const runtime::CpuCacheStats s = runtime::GetCpuCacheStats();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("enabled", s.enabled);
  out.Set("cachedBytes", static_cast<double>(s.cachedBytes));
  out.Set("inUseBytes", static_cast<double>(s.inUseBytes));
  out.Set("limitBytes", static_cast<double>(s.limitBytes));
  out.Set("hits", static_cast<double>(s.hits));
  out.Set("misses", static_cast<double>(s.misses));
  return out;
}

// cpuEmptyCache() -> Promise<void>: frees the idle cached blocks after every op queued before it.
Napi::Value CpuEmptyCache(const Napi::CallbackInfo& info) {
  Args a(info, "cpu.emptyCache");
  return RunAsyncVoid(a.env(), "cpu.emptyCache", [] { runtime::EmptyCpuCache(); });
}

// cpuSetCacheLimit(bytes): the most idle bytes the CPU cache keeps (0 keeps none).
Napi::Value CpuSetCacheLimit(const Napi::CallbackInfo& info) {
  Args a(info, "cpu.setCacheLimit");
  runtime::SetCpuCacheLimit(static_cast<uint64_t>(a.integer(0, "bytes", 0, (int64_t{1} << 53) - 1)));
  return info.Env().Undefined();
}

// profilerStart() -> Promise<void>: LibTorch's profiler records the ops queued after it.
Napi::Value ProfilerStart(const Napi::CallbackInfo& info) {
  Args a(info, "profiler.start");
  return RunAsyncVoid(a.env(), "profiler.start", [] { runtime::StartProfiler(); });
}

// profilerStop() -> Promise<Array<{ name, startUs, endUs, thread }>>: the ops recorded since start.
Napi::Value ProfilerStop(const Napi::CallbackInfo& info) {
  Args a(info, "profiler.stop");
  return RunAsync(a.env(), "profiler.stop", [] { return runtime::StopProfiler(); },
                  [](Napi::Env env, std::vector<runtime::ProfiledOp>& ops) -> Napi::Value {
                    Napi::Array out = Napi::Array::New(env, ops.size());
                    for (size_t i = 0; i < ops.size(); ++i) {
                      Napi::Object o = Napi::Object::New(env);
                      o.Set("name", ops[i].name);
                      // Microseconds as doubles: exact to well below a nanosecond for a day.
                      o.Set("startUs", static_cast<double>(ops[i].startNs) / 1e3);
                      o.Set("endUs", static_cast<double>(ops[i].endNs) / 1e3);
                      o.Set("thread", static_cast<double>(ops[i].threadId));
                      out.Set(static_cast<uint32_t>(i), o);
                    }
                    return out;
                  });
}

}  // namespace hexa::binding
