#include "binding/eval_ops.h"

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/handles.h"
#include "eval/knn.h"

namespace hexa::binding {

// knnPredict(bank, bankLabels, queries, { k = 200, temperature = 0.1, classes, chunk = 256 }) -> Promise<Tensor int64 [N]>
Napi::Value KnnPredict(const Napi::CallbackInfo& info) {
  Args a(info, "knnPredict");
  at::Tensor bank = a.tensor(0, "bank"), labels = a.tensor(1, "bankLabels"), queries = a.tensor(2, "queries");
  // The vocabulary of args.h: kind (dtype) is a TypeError, shape a RangeError.
  TensorArg(a.fn(), "bank", bank).floating(/*allowHalf=*/true).shape({-1, -1}, "[M, D]");
  const int64_t m = bank.size(0), d = bank.size(1);
  TensorArg(a.fn(), "queries", queries).floating(/*allowHalf=*/true).shape({-1, d}, "[N, D], D = " + std::to_string(d) + " (the bank's)");
  const TensorArg labelsArg(a.fn(), "bankLabels", labels);
  if (labels.scalar_type() != at::kLong && labels.scalar_type() != at::kInt) labelsArg.typeFail("an int64 or int32 Tensor");
  labelsArg.shape({m}, "[M] = [" + std::to_string(m) + "] (the bank's rows)");
  Options o(a, 3, "options");
  eval::KnnOptions k;
  k.k = o.integer("k", 200, 1, int64_t{1} << 30);
  k.temperature = o.number("temperature", 0.1, 1e-6, 1e6);
  k.classes = o.integer("classes", std::nullopt, 1, int64_t{1} << 20);
  k.chunk = o.integer("chunk", 256, 1, int64_t{1} << 20);
  {
    // Per chunk of queries: similarities [chunk, M] and votes [chunk, classes], float32.
    const double rows = static_cast<double>(std::min<int64_t>(k.chunk, std::max<int64_t>(queries.size(0), 1)));
    CheckFitsInMemory(a.fn(), "options.chunk = " + std::to_string(k.chunk) + " and options.classes = " + std::to_string(k.classes) +
                                  " (with a bank of " + std::to_string(bank.size(0)) + ")",
                      rows * (static_cast<double>(bank.size(0)) + static_cast<double>(k.classes)) * 4.0, bank.device());
  }
  return RunAsync(
      a.env(), "knnPredict", [=] { return eval::KnnPredict(bank, labels, queries, k); },
      [](Napi::Env env, at::Tensor& t) -> Napi::Value { return TensorHandle::Wrap(env, std::move(t)); });
}

}  // namespace hexa::binding
