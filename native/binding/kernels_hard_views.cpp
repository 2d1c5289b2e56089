// Node-API wrappers of the hard-view and momentum-encoder kernels (native/kernels/pgd,
// cutmix, enqueue, momentum). Everything a user can get wrong is checked here, before any
// work is queued, and named in the error (the vocabulary of args.h); only checks on tensor
// values (perm is a permutation, boxes inside the image) run in the async work, on the
// private copies the kernels then read, and reject the Promise. Each op's work runs under a
// device guard for its data's device (momentumUpdate's kernels set their own per group).
#include <c10/core/DeviceGuard.h>

#include <limits>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/errors.h"
#include "binding/handles.h"
#include "binding/kernel_ops.h"
#include "kernels/cutmix.h"
#include "kernels/enqueue.h"
#include "kernels/momentum.h"
#include "kernels/pgd.h"

namespace hexa::binding {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Checks in the one vocabulary of args.h (TensorArg): kind (dtype, device) is a TypeError,
// size and layout (shape, dimensions, contiguity) a RangeError.

// `t` (named `name`) must have ref's shape, dtype and device.
void checkLike(const Args& a, const at::Tensor& ref, const std::string& refName, const at::Tensor& t,
               const std::string& name) {
  TensorArg(a.fn(), name, t).sameShape(ref, refName).like(ref, refName);
}

void checkFloating(const Args& a, const at::Tensor& t, const std::string& name, bool allowHalf = false) {
  TensorArg(a.fn(), name, t).floating(allowHalf);
}

// An index tensor: int64, on the CPU or on the data's device, of the given shape.
void checkIndex(const Args& a, const at::Tensor& t, const std::string& name, at::IntArrayRef shape, const at::Device& data) {
  TensorArg(a.fn(), name, t).dtype(at::kLong).onCpuOr(data).shape(shape);
}

// Where a kernel writes: options.out, the first input itself (inplace: true), or a new tensor.
struct Destination {
  std::optional<at::Tensor> given;  // out or the in-place input; empty: allocate
  bool fresh() const { return !given.has_value(); }
};

Destination destination(const Args& a, const Options& o, const at::Tensor& input, const std::string& inputName,
                        bool allowInplace) {
  const bool inplace = allowInplace ? o.boolean("inplace", false) : false;
  std::optional<at::Tensor> out = o.tensor("out");
  if (inplace && out) ThrowTypeError(std::string(a.fn()) + ": give options.out or options.inplace, not both");
  if (out) {
    checkLike(a, input, inputName, *out, "options.out");
    TensorArg(a.fn(), "options.out", *out).contiguous();
    return {out};
  }
  if (inplace) {
    if (!input.is_contiguous()) TensorArg(a.fn(), inputName, input).rangeFail("a contiguous Tensor for options.inplace");
    return {input};
  }
  return {std::nullopt};
}

// Resolves with the new tensor, or with undefined when the result went into a given tensor.
auto resolveDestination(bool fresh) {
  return [fresh](Napi::Env env, at::Tensor& t) -> Napi::Value {
    return fresh ? Napi::Value(TensorHandle::Wrap(env, std::move(t))) : env.Undefined();
  };
}

kernels::PgdNorm pgdNorm(const Options& o) {
  return o.choice("norm", {"linf", "l2"}, "linf") == "l2" ? kernels::PgdNorm::L2 : kernels::PgdNorm::Linf;
}

// min/max of the valid pixel range, min <= max.
std::pair<double, double> pixelRange(const Args& a, const Options& o) {
  const double lo = o.number("min", 0.0, -kInf, kInf), hi = o.number("max", 1.0, -kInf, kInf);
  if (lo > hi)
    ThrowRangeError(std::string(a.fn()) + ": options.min must be <= options.max, got min " + std::to_string(lo) +
                    " > max " + std::to_string(hi));
  return {lo, hi};
}

void checkBatched(const Args& a, const at::Tensor& t, const std::string& name, int64_t minDims) {
  TensorArg(a.fn(), name, t).minDims(minDims, "dim 0 = batch");
}

}  // namespace

// pgdStep(xAdv, xClean, grad, { eps, stepSize, norm = 'linf', min = 0, max = 1, out?, inplace? })
Napi::Value PgdStep(const Napi::CallbackInfo& info) {
  Args a(info, "pgdStep");
  const at::Tensor xAdv = a.tensor(0, "xAdv"), xClean = a.tensor(1, "xClean"), grad = a.tensor(2, "grad");
  checkFloating(a, xAdv, "xAdv");
  checkBatched(a, xAdv, "xAdv", 1);
  checkLike(a, xAdv, "xAdv", xClean, "xClean");
  checkLike(a, xAdv, "xAdv", grad, "grad");
  Options o(a, 3, "options");
  kernels::PgdStepOptions opts;
  opts.eps = o.number("eps", std::nullopt, 0, kInf);
  opts.stepSize = o.number("stepSize", std::nullopt, 0, kInf);
  opts.norm = pgdNorm(o);
  std::tie(opts.min, opts.max) = pixelRange(a, o);
  const Destination dst = destination(a, o, xAdv, "xAdv", /*allowInplace=*/true);
  return RunAsync(
      a.env(), a.fn(),
      [=] {
        c10::DeviceGuard guard(xAdv.device());
        at::Tensor out = dst.given ? *dst.given : at::empty_like(xAdv, at::MemoryFormat::Contiguous);
        kernels::pgdStep(xAdv, xClean, grad, out, opts);
        return out;
      },
      resolveDestination(dst.fresh()));
}

// pgdInit(xClean, { eps, norm = 'linf', min = 0, max = 1, generator?, out? })
Napi::Value PgdInit(const Napi::CallbackInfo& info) {
  Args a(info, "pgdInit");
  const at::Tensor xClean = a.tensor(0, "xClean");
  checkFloating(a, xClean, "xClean");
  checkBatched(a, xClean, "xClean", 1);
  Options o(a, 1, "options");
  kernels::PgdInitOptions opts;
  opts.eps = o.number("eps", std::nullopt, 0, kInf);
  opts.norm = pgdNorm(o);
  std::tie(opts.min, opts.max) = pixelRange(a, o);
  const auto gen = o.generator("generator");
  const Destination dst = destination(a, o, xClean, "xClean", /*allowInplace=*/false);
  return RunAsync(
      a.env(), a.fn(),
      [=] {
        c10::DeviceGuard guard(xClean.device());
        at::Tensor out = dst.given ? *dst.given : at::empty_like(xClean, at::MemoryFormat::Contiguous);
        kernels::pgdInit(xClean, out, opts, gen);
        return out;
      },
      resolveDestination(dst.fresh()));
}

// sampleCutmix(n, h, w, { alpha = 1, generator? }) -> { boxes, perm, lambda }
Napi::Value SampleCutmix(const Napi::CallbackInfo& info) {
  Args a(info, "sampleCutmix");
  const int64_t limit = int64_t{1} << 31;
  const int64_t n = a.integer(0, "n", 0, limit), h = a.integer(1, "h", 1, limit), w = a.integer(2, "w", 1, limit);
  Options o(a, 3, "options");
  const double alpha = o.number("alpha", 1.0, 0, kInf);
  if (alpha <= 0) ThrowRangeError("sampleCutmix: options.alpha must be > 0, got " + std::to_string(alpha));
  const auto gen = o.generator("generator");
  // Per sample: two Gamma draws and their shape (f64), two centres, a box, a perm entry and
  // lambda (int64/f64), and randperm's scratch: about 96 bytes.
  CheckFitsInMemory(a.fn(), "n = " + std::to_string(n), static_cast<double>(n) * 96.0);
  return RunAsync(
      a.env(), a.fn(), [=] { return kernels::sampleCutmix(n, h, w, alpha, gen); },
      [](Napi::Env env, kernels::CutmixSample& s) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("boxes", TensorHandle::Wrap(env, std::move(s.boxes)));
        r.Set("perm", TensorHandle::Wrap(env, std::move(s.perm)));
        r.Set("lambda", TensorHandle::Wrap(env, std::move(s.lambda)));
        return r;
      });
}

// cutmix(x, { perm, boxes, out?, inplace? })
Napi::Value Cutmix(const Napi::CallbackInfo& info) {
  Args a(info, "cutmix");
  const at::Tensor x = a.tensor(0, "x");
  checkFloating(a, x, "x", /*allowHalf=*/true);
  checkBatched(a, x, "x", 3);
  Options o(a, 1, "options");
  const std::optional<at::Tensor> perm = o.tensor("perm"), boxes = o.tensor("boxes");
  if (!perm) a.typeError("options.perm", "an int64 Tensor", info.Env().Undefined());
  if (!boxes) a.typeError("options.boxes", "an int64 Tensor", info.Env().Undefined());
  checkIndex(a, *perm, "options.perm", {x.size(0)}, x.device());
  checkIndex(a, *boxes, "options.boxes", {x.size(0), 4}, x.device());
  const Destination dst = destination(a, o, x, "x", /*allowInplace=*/true);
  const at::Tensor p = *perm, b = *boxes;
  return RunAsync(
      a.env(), a.fn(),
      [=] {
        c10::DeviceGuard guard(x.device());
        at::Tensor out = dst.given ? *dst.given : at::empty_like(x, at::MemoryFormat::Contiguous);
        kernels::cutmix(x, p, b, out);
        return out;
      },
      resolveDestination(dst.fresh()));
}

// cutmixTargets(lambda, perm, numColumns, { columns? })
Napi::Value CutmixTargets(const Napi::CallbackInfo& info) {
  Args a(info, "cutmixTargets");
  const at::Tensor lambda = a.tensor(0, "lambda"), perm = a.tensor(1, "perm");
  TensorArg(a.fn(), "lambda", lambda).floating().shape({-1}, "[n]");
  const int64_t n = lambda.size(0);
  checkIndex(a, perm, "perm", {n}, lambda.device());
  const int64_t numColumns = a.integer(2, "numColumns", 1, int64_t{1} << 40);
  Options o(a, 3, "options");
  const std::optional<at::Tensor> columns = o.tensor("columns");
  if (columns) {
    checkIndex(a, *columns, "options.columns", {n}, lambda.device());
  } else if (n > numColumns) {
    ThrowRangeError("cutmixTargets: numColumns must be >= n = " + std::to_string(n) +
                    " when options.columns is not given, got " + std::to_string(numColumns));
  }
  CheckFitsInMemory(a.fn(), "numColumns = " + std::to_string(numColumns) + " (a [" + std::to_string(n) + ", numColumns] result)",
                    static_cast<double>(n) * static_cast<double>(numColumns) * static_cast<double>(lambda.element_size()),
                    lambda.device());
  return RunAsync(
      a.env(), a.fn(),
      [=] {
        c10::DeviceGuard guard(lambda.device());
        return kernels::cutmixTargets(lambda, perm, numColumns, columns);
      },
      [](Napi::Env env, at::Tensor& t) -> Napi::Value { return TensorHandle::Wrap(env, std::move(t)); });
}

// enqueue(queue, keys, ptr) -> the next pointer
Napi::Value Enqueue(const Napi::CallbackInfo& info) {
  Args a(info, "enqueue");
  const at::Tensor queue = a.tensor(0, "queue"), keys = a.tensor(1, "keys");
  TensorArg(a.fn(), "queue", queue).shape({-1, -1}, "[K, C]").minSize(0, 1, "K (rows)");
  const int64_t k = queue.size(0), c = queue.size(1);
  const TensorArg keysArg(a.fn(), "keys", keys);
  keysArg.like(queue, "queue").shape({-1, c}, "[N, C], C = " + std::to_string(c));
  if (keys.size(0) > k) keysArg.rangeFail("a Tensor of at most K = " + std::to_string(k) + " rows (the queue's)");
  const int64_t ptr = a.integer(2, "ptr", 0, k - 1);
  return RunAsync(
      a.env(), a.fn(),
      [=] {
        c10::DeviceGuard guard(queue.device());
        return kernels::enqueue(queue, keys, ptr);
      },
      [](Napi::Env env, int64_t& next) -> Napi::Value { return Napi::Number::New(env, static_cast<double>(next)); });
}

namespace {
// Two equally long lists of pairwise-matching tensors.
std::pair<std::vector<at::Tensor>, std::vector<at::Tensor>> tensorPairs(const Args& a, bool floatingOnly) {
  std::vector<at::Tensor> targets = a.tensorList(0, "target"), sources = a.tensorList(1, "source");
  if (targets.size() != sources.size())
    ThrowRangeError(std::string(a.fn()) + ": target and source must have the same length, got " +
                    std::to_string(targets.size()) + " and " + std::to_string(sources.size()));
  for (size_t i = 0; i < targets.size(); ++i) {
    const at::Tensor &t = targets[i], &s = sources[i];
    // A pair that passes is not named (no strings per pair per call); one that fails goes
    // through the named checks below, which throw with its name.
    if ((!floatingOnly || TensorArg::IsFloating(t)) && TensorArg::IsLike(s, t)) continue;
    const std::string ti = "target[" + std::to_string(i) + "]", si = "source[" + std::to_string(i) + "]";
    if (floatingOnly) checkFloating(a, t, ti);
    checkLike(a, t, ti, s, si);
  }
  return {std::move(targets), std::move(sources)};
}
}  // namespace

// momentumUpdate(target[], source[], m)
Napi::Value MomentumUpdate(const Napi::CallbackInfo& info) {
  Args a(info, "momentumUpdate");
  auto [targets, sources] = tensorPairs(a, /*floatingOnly=*/true);
  const double m = a.number(2, "m");
  if (m < 0 || m > 1) a.rangeError("m", "a number in [0, 1]", a.at(2));
  return RunAsync(
      a.env(), a.fn(),
      [targets, sources, m] {
        kernels::momentumUpdate(targets, sources, m);
        return true;
      },
      [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
}

// copyBuffers(target[], source[])
Napi::Value CopyBuffers(const Napi::CallbackInfo& info) {
  Args a(info, "copyBuffers");
  auto [targets, sources] = tensorPairs(a, /*floatingOnly=*/false);
  return RunAsync(
      a.env(), a.fn(),
      [targets, sources] {
        kernels::copyBuffers(targets, sources);
        return true;
      },
      [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
}

}  // namespace hexa::binding
