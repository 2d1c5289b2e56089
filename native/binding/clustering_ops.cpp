#include "binding/clustering_ops.h"

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/errors.h"
#include "binding/handles.h"
#include "train/clustering.h"

namespace hexa::binding {

namespace {
struct KmeansOut {
  train::KmeansResult result;
};
}  // namespace

// sphericalKmeans(x, { k, iterations = 10, splitDelta = 1e-4, initial?, generator? })
//   -> Promise<{ centroids, assignment, counts, reseeded }>
Napi::Value SphericalKmeans(const Napi::CallbackInfo& info) {
  Args a(info, "sphericalKmeans");
  at::Tensor x = a.tensor(0, "x");
  if (x.dim() != 2 || x.size(0) < 1 || x.size(1) < 1) a.rangeError("x", "a [N, C] Tensor with N, C >= 1", a.at(0));
  if (x.scalar_type() != at::kFloat && x.scalar_type() != at::kDouble) a.typeError("x", "a float32 or float64 Tensor", a.at(0));
  Options o(a, 1, "options");
  train::KmeansOptions k;
  k.k = o.integer("k", std::nullopt, 1, x.size(0));
  k.iterations = o.integer("iterations", 10, 0, 1000);
  k.splitDelta = o.number("splitDelta", 1e-4, 0, 1);
  std::optional<at::Tensor> initial = o.tensor("initial");
  if (initial) {
    if (initial->dim() != 2 || initial->size(0) != k.k || initial->size(1) != x.size(1))
      ThrowRangeError("sphericalKmeans: options.initial must be [k, C] = [" + std::to_string(k.k) + ", " + std::to_string(x.size(1)) + "]");
    if (initial->scalar_type() != x.scalar_type() || initial->device() != x.device())
      ThrowTypeError("sphericalKmeans: options.initial must have x's dtype and device");
    initial = initial->clone();
  }
  std::optional<at::Generator> gen = o.generator("generator");
  at::Generator g = gen ? *gen : at::detail::getDefaultCPUGenerator();
  return RunAsync(
      a.env(), "sphericalKmeans",
      [x, k, initial, g]() mutable {  // LibTorch's samplers lock the generator themselves
        return KmeansOut{train::SphericalKmeans(x, k, initial, g)};
      },
      [](Napi::Env env, KmeansOut& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("centroids", TensorHandle::Wrap(env, r.result.centroids));
        o.Set("assignment", TensorHandle::Wrap(env, r.result.assignment));
        o.Set("counts", TensorHandle::Wrap(env, r.result.counts));
        o.Set("reseeded", static_cast<double>(r.result.reseeded));
        return o;
      });
}

// normalizedMutualInformation(a, b) -> Promise<number>
Napi::Value NormalizedMutualInformation(const Napi::CallbackInfo& info) {
  Args args(info, "normalizedMutualInformation");
  at::Tensor a = args.tensor(0, "a"), b = args.tensor(1, "b");
  for (auto [t, name, i] : {std::tuple{a, "a", 0}, std::tuple{b, "b", 1}}) {
    if (t.dim() != 1) args.rangeError(name, "a [N] Tensor", args.at(i));
    if (t.scalar_type() != at::kLong && t.scalar_type() != at::kInt) args.typeError(name, "an int64 or int32 Tensor", args.at(i));
  }
  if (a.size(0) != b.size(0)) ThrowRangeError("normalizedMutualInformation: a and b must have the same length");
  a = a.to(at::kCPU, at::kLong, false, true);
  b = b.to(at::kCPU, at::kLong, false, true);
  return RunAsync(
      args.env(), "normalizedMutualInformation", [a, b] { return train::NormalizedMutualInformation(a, b); },
      [](Napi::Env env, double& v) -> Napi::Value { return Napi::Number::New(env, v); });
}

}  // namespace hexa::binding
