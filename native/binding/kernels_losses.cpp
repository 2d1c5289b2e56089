// Node-API wrappers of the loss and clustering kernels: InfoNCE, DeepCluster's cluster CE,
// spherical k-means (native/kernels/{info_nce,cluster_ce,kmeans}.h). Every argument is
// checked here, before any work is queued, in the vocabulary of args.h (TensorArg): a bad
// one is a TypeError (kind: not a Tensor, wrong dtype, wrong device) or a RangeError
// (shape, layout, value) naming it. Checks on tensor values (class indices in range) run in
// the async work, on the data the kernel reads, and reject the Promise.
#include <c10/core/DeviceGuard.h>

#include <cmath>
#include <sstream>

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/errors.h"
#include "binding/handles.h"
#include "binding/kernel_ops.h"
#include "kernels/cluster_ce.h"
#include "kernels/info_nce.h"
#include "kernels/kmeans.h"

namespace hexa::binding {
namespace {

std::string Num(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

// options.temperature: finite and > 0 (NaN, Infinity, 0 and negatives are RangeErrors).
double Temperature(const Args& a, const Options& o, double dflt) {
  double t = o.number("temperature", dflt, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
  if (!(t > 0)) ThrowRangeError(std::string(a.fn()) + ": options.temperature must be a finite number > 0, got " + Num(t));
  return t;
}

std::string Dims(const char* names, std::initializer_list<int64_t> values) {
  std::ostringstream o;
  o << names << " = [";
  bool first = true;
  for (int64_t v : values) {
    o << (first ? "" : ", ") << v;
    first = false;
  }
  o << "]";
  return o.str();
}

// What a loss call resolves with.
struct LossResult {
  at::Tensor loss;
  double accuracy;
  std::optional<at::Tensor> grad;
};

Napi::Value LossToJs(Napi::Env env, LossResult& r, const char* gradName) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", TensorHandle::Wrap(env, r.loss));
  o.Set("accuracy", Napi::Number::New(env, r.accuracy));
  if (r.grad) o.Set(gradName, TensorHandle::Wrap(env, *r.grad));
  return o;
}

// options.out for a gradient: [N, C], the input's dtype and device, contiguous.
std::optional<at::Tensor> GradOut(const Args& a, const Options& o, const at::Tensor& like, const char* likeName) {
  auto out = o.tensor("out");
  if (out) {
    TensorArg(a.fn(), "options.out", *out)
        .like(like, likeName)
        .shape({like.size(0), like.size(1)}, ShapeText(like.sizes()))
        .contiguous();
  }
  return out;
}

}  // namespace

// infoNCE(q, k, queue, { temperature = 0.2, targets?, grad = false, out? })
//   -> Promise<{ loss, accuracy, gradQ? }>
Napi::Value InfoNCE(const Napi::CallbackInfo& info) {
  Args a(info, "infoNCE");
  at::Tensor q = a.tensor(0, "q"), k = a.tensor(1, "k"), queue = a.tensor(2, "queue");
  TensorArg(a.fn(), "q", q).floating().shape({-1, -1}, "[N, C]").minSize(0, 1, "N").minSize(1, 1, "C");
  const int64_t n = q.size(0), c = q.size(1);
  TensorArg(a.fn(), "k", k).like(q, "q").shape({n, c}, Dims("[N, C]", {n, c}));
  TensorArg(a.fn(), "queue", queue).like(q, "q").shape({-1, c}, "[K, C], C = " + std::to_string(c));
  Options o(a, 3, "options");
  kernels::InfoNCEOptions opts;
  opts.temperature = Temperature(a, o, 0.2);
  const int64_t kk = queue.size(0);
  if (auto targets = o.tensor("targets")) {
    TensorArg(a.fn(), "options.targets", *targets).like(q, "q").shape({n, n + kk}, Dims("[N, N+K]", {n, n + kk}));
    opts.targets = *targets;
  }
  const bool grad = o.boolean("grad", false);
  auto out = GradOut(a, o, q, "q");
  const double columns = static_cast<double>(opts.targets ? n + kk : kk + 1);
  CheckFitsInMemory(a.fn(), "q and queue (a logits buffer of [N, " + std::string(opts.targets ? "N+K" : "K+1") + "] = [" +
                                std::to_string(n) + ", " + std::to_string(static_cast<int64_t>(columns)) + "])",
                    static_cast<double>(n) * columns * static_cast<double>(q.element_size()), q.device());
  return RunAsync(
      a.env(), a.fn(),
      [=]() -> LossResult {
        c10::DeviceGuard guard(q.device());
        kernels::InfoNCEForward fwd = kernels::info_nce_forward(q, k, queue, opts);
        LossResult r{fwd.loss, fwd.accuracy.item<double>(), std::nullopt};
        if (grad) {
          r.grad = kernels::info_nce_backward(fwd.grad_logits, k, queue, opts.temperature, opts.targets.has_value(),
                                              at::ones({}, q.options()), out);
        }
        return r;
      },
      [](Napi::Env env, LossResult& r) { return LossToJs(env, r, "gradQ"); });
}

// clusterCE(z, prototypes, targets, { temperature = 0.1, grad = false, out? })
//   -> Promise<{ loss, accuracy, gradZ? }>; targets int64 [N] or soft [N, K]
Napi::Value ClusterCE(const Napi::CallbackInfo& info) {
  Args a(info, "clusterCE");
  at::Tensor z = a.tensor(0, "z"), prototypes = a.tensor(1, "prototypes"), targets = a.tensor(2, "targets");
  TensorArg(a.fn(), "z", z).floating().shape({-1, -1}, "[N, C]").minSize(0, 1, "N").minSize(1, 1, "C");
  const int64_t n = z.size(0), c = z.size(1);
  TensorArg(a.fn(), "prototypes", prototypes).like(z, "z").shape({-1, c}, "[K, C], C = " + std::to_string(c)).minSize(0, 1, "K");
  const int64_t k = prototypes.size(0);
  TensorArg t(a.fn(), "targets", targets);
  t.onDevice(z, "z");
  if (targets.scalar_type() == at::kLong) {
    t.shape({n}, Dims("[N]", {n}));
  } else if (targets.scalar_type() == z.scalar_type()) {
    t.shape({n, k}, Dims("[N, K]", {n, k}));
  } else {
    ThrowTypeError("clusterCE: targets must be an int64 Tensor [N] or a " + DtypeName(z.scalar_type()) +
                   " Tensor [N, K] (z's dtype), got " + TensorText(targets));
  }
  Options o(a, 3, "options");
  kernels::ClusterCEOptions opts;
  opts.temperature = Temperature(a, o, 0.1);
  const bool grad = o.boolean("grad", false);
  auto out = GradOut(a, o, z, "z");
  CheckFitsInMemory(a.fn(), "z and prototypes (a logits buffer of [N, K] = " + Dims("", {n, k}).substr(3) + ")",
                    static_cast<double>(n) * static_cast<double>(k) * static_cast<double>(z.element_size()), z.device());
  return RunAsync(
      a.env(), a.fn(),
      [=]() -> LossResult {
        c10::DeviceGuard guard(z.device());
        kernels::ClusterCEForward fwd = kernels::cluster_ce_forward(z, prototypes, targets, opts);
        LossResult r{fwd.loss, fwd.accuracy.item<double>(), std::nullopt};
        if (grad) r.grad = kernels::cluster_ce_backward(fwd.grad_logits, prototypes, opts.temperature, at::ones({}, z.options()), out);
        return r;
      },
      [](Napi::Env env, LossResult& r) { return LossToJs(env, r, "gradZ"); });
}

// kmeansAssign(x, centroids, { chunkSize?, out?: { index, score } }) -> Promise<{ index, score }>
Napi::Value KmeansAssign(const Napi::CallbackInfo& info) {
  Args a(info, "kmeansAssign");
  at::Tensor x = a.tensor(0, "x"), centroids = a.tensor(1, "centroids");
  TensorArg(a.fn(), "x", x).floating().shape({-1, -1}, "[N, C]").minSize(1, 1, "C");
  const int64_t n = x.size(0), c = x.size(1);
  TensorArg(a.fn(), "centroids", centroids).like(x, "x").shape({-1, c}, "[K, C], C = " + std::to_string(c)).minSize(0, 1, "K");
  Options o(a, 2, "options");
  const int64_t chunk = o.integer("chunkSize", int64_t{0}, 1, int64_t{1} << 40);
  at::Tensor index, score;
  if (o.has("out")) {
    Napi::Value ov = info[2].As<Napi::Object>().Get("out");
    if (!ov.IsObject()) a.typeError("options.out", "an object { index, score }", ov);
    Napi::Object obj = ov.As<Napi::Object>();
    auto read = [&](const char* key, at::ScalarType dt) {
      TensorHandle* h = TensorHandle::From(obj.Get(key));
      if (!h || h->disposed()) a.typeError(std::string("options.out.") + key, "a Tensor", obj.Get(key));
      TensorArg(a.fn(), std::string("options.out.") + key, h->tensor()).dtype(dt).onDevice(x, "x").shape({n}, Dims("[N]", {n})).contiguous();
      return h->tensor();
    };
    index = read("index", at::kLong);
    score = read("score", x.scalar_type());
  }
  {
    const int64_t k = centroids.size(0);
    const int64_t rows = std::min(chunk > 0 ? chunk : kernels::kmeans_default_chunk_rows(k, x.scalar_type()), std::max<int64_t>(n, 1));
    CheckFitsInMemory(a.fn(), "options.chunkSize = " + std::to_string(rows) + " (a [chunkSize, K] = " + Dims("", {rows, k}).substr(3) +
                                  " buffer)",
                      static_cast<double>(rows) * static_cast<double>(k) * static_cast<double>(x.element_size()), x.device());
  }
  return RunAsync(
      a.env(), a.fn(),
      [=]() mutable {
        c10::DeviceGuard guard(x.device());
        if (!index.defined()) {
          index = at::empty({n}, x.options().dtype(at::kLong));
          score = at::empty({n}, x.options());
        }
        kernels::kmeans_assign_out(x, centroids, chunk, index, score);
        return std::make_pair(index, score);
      },
      [](Napi::Env env, std::pair<at::Tensor, at::Tensor>& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("index", TensorHandle::Wrap(env, r.first));
        o.Set("score", TensorHandle::Wrap(env, r.second));
        return o;
      });
}

// kmeansUpdateCentroids(x, assignment, k, { previous, out? }) -> Promise<{ centroids, counts }>
Napi::Value KmeansUpdateCentroids(const Napi::CallbackInfo& info) {
  Args a(info, "kmeansUpdateCentroids");
  at::Tensor x = a.tensor(0, "x"), assignment = a.tensor(1, "assignment");
  TensorArg(a.fn(), "x", x).floating().shape({-1, -1}, "[N, C]").minSize(1, 1, "C");
  const int64_t n = x.size(0), c = x.size(1);
  TensorArg(a.fn(), "assignment", assignment).dtype(at::kLong).onDevice(x, "x").shape({n}, Dims("[N]", {n}));
  const int64_t k = a.integer(2, "k", 1, int64_t{1} << 40);
  Options o(a, 3, "options");
  auto previous = o.tensor("previous");
  if (!previous) a.typeError("options.previous", "a Tensor [k, C] (the centroids empty clusters keep)", a.has(3) ? info[3].As<Napi::Object>().Get("previous") : info.Env().Undefined());
  TensorArg(a.fn(), "options.previous", *previous).like(x, "x").shape({k, c}, Dims("[k, C]", {k, c}));
  auto out = o.tensor("out");
  if (out) TensorArg(a.fn(), "options.out", *out).like(x, "x").shape({k, c}, Dims("[k, C]", {k, c})).contiguous();
  at::Tensor prev = *previous;
  return RunAsync(
      a.env(), a.fn(),
      [=]() {
        c10::DeviceGuard guard(x.device());
        at::Tensor centroids = out ? *out : at::empty({k, c}, x.options());
        at::Tensor counts = at::empty({k}, x.options().dtype(at::kLong));
        kernels::kmeans_update_centroids_out(x, assignment, k, prev, centroids, counts);
        return std::make_pair(centroids, counts);
      },
      [](Napi::Env env, std::pair<at::Tensor, at::Tensor>& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("centroids", TensorHandle::Wrap(env, r.first));
        o.Set("counts", TensorHandle::Wrap(env, r.second));
        return o;
      });
}

}  // namespace hexa::binding
