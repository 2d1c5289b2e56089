#include "binding/eval_ops.h"

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/handles.h"
#include "eval/backbone.h"
#include "eval/knn.h"
#include "eval/linear_probe.h"

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

namespace {

// Class labels: int64 or int32 [rows].
const at::Tensor& LabelsArg(const Args& a, size_t i, const char* name, int64_t rows, const std::string& rowsText) {
  const at::Tensor& labels = a.tensor(i, name);
  const TensorArg arg(a.fn(), name, labels);
  if (labels.scalar_type() != at::kLong && labels.scalar_type() != at::kInt) arg.typeFail("an int64 or int32 Tensor");
  arg.shape({rows}, "[N] = [" + std::to_string(rows) + "] (" + rowsText + ")");
  return labels;
}

// Images: uint8 or float [N, 1 or 3, H, W].
const at::Tensor& ImagesArg(const Args& a, size_t i, const char* name) {
  const at::Tensor& images = a.tensor(i, name);
  const TensorArg arg(a.fn(), name, images);
  if (images.scalar_type() != at::kByte && images.scalar_type() != at::kFloat && images.scalar_type() != at::kDouble)
    arg.typeFail("a uint8, float32 or float64 Tensor");
  if (images.device() != at::kCPU) arg.typeFail("a CPU Tensor");
  arg.shape({-1, -1, -1, -1}, "[N, C, H, W]");
  if (images.size(1) != 1 && images.size(1) != 3) arg.rangeFail("[N, 1 or 3, H, W]");
  return images;
}

// { [torchvision name]: Tensor }, each a private copy (a later write to the inputs changes nothing).
train::StateDict StateArg(const Args& a, size_t i, const char* name) {
  Napi::Object obj = a.object(i, name);
  train::StateDict state;
  Napi::Array keys = obj.GetPropertyNames();
  for (uint32_t k = 0; k < keys.Length(); ++k) {
    const std::string key = keys.Get(k).As<Napi::String>().Utf8Value();
    TensorHandle* h = TensorHandle::From(obj.Get(key));
    if (!h || h->disposed()) a.typeError(std::string(name) + "." + key, "a Tensor", obj.Get(key));
    state[key] = h->tensor();
  }
  return state;
}

// arch, width, cifarStem, mean, std (float Tensors [3]).
eval::BackboneSpec SpecArg(const Options& o) {
  eval::BackboneSpec spec;
  spec.resnet.arch = o.choice("arch", {"resnet18", "resnet50"}, "resnet18");
  spec.resnet.width = o.integer("width", 64, 1, 1024);
  spec.resnet.cifarStem = o.boolean("cifarStem", false);
  auto triple = [&](const char* key, std::vector<double>& out) {
    std::optional<at::Tensor> t = o.tensor(key);
    if (!t) return;
    if (t->numel() != 3 || !at::isFloatingType(t->scalar_type()) || !t->isfinite().all().item<bool>())
      ThrowTypeError(std::string("options.") + key + " must be a float Tensor of 3 finite numbers, got " + TensorText(*t));
    const at::Tensor v = t->to(at::kCPU, at::kDouble).contiguous();
    out.assign(v.data_ptr<double>(), v.data_ptr<double>() + 3);
  };
  triple("mean", spec.mean);
  triple("std", spec.std);
  for (double s : spec.std)
    if (!(s > 0)) ThrowRangeError("options.std must be 3 numbers > 0");
  return spec;
}

Napi::Value StateToJs(Napi::Env env, train::StateDict& s) {
  Napi::Object o = Napi::Object::New(env);
  for (auto& [k, v] : s) o.Set(k, TensorHandle::Wrap(env, std::move(v)));
  return o;
}

}  // namespace

// trainLinearClassifier(features, labels, { classes, epochs = 100, batchSize = 256, lr = 0.1,
//   weightDecay = 0, momentum = 0.9, seed = 0 }) -> Promise<{ weight [C, D], bias [C] }>
Napi::Value TrainLinearClassifier(const Napi::CallbackInfo& info) {
  Args a(info, "trainLinearClassifier");
  const at::Tensor& features = a.tensor(0, "features");
  TensorArg(a.fn(), "features", features).floating(/*allowHalf=*/true).shape({-1, -1}, "[N, D]").minSize(0, 1, "at least 1 row");
  const at::Tensor& labels = LabelsArg(a, 1, "labels", features.size(0), "the features' rows");
  Options o(a, 2, "options");
  eval::LinearProbeOptions p;
  p.classes = o.integer("classes", std::nullopt, 1, int64_t{1} << 20);
  p.epochs = o.integer("epochs", 100, 0, 100000);
  p.batchSize = o.integer("batchSize", 256, 1, int64_t{1} << 24);
  p.lr = o.number("lr", 0.1, 0, 1e4);
  p.weightDecay = o.number("weightDecay", 0, 0, 1);
  p.momentum = o.number("momentum", 0.9, 0, 1);
  p.seed = static_cast<uint64_t>(o.integer("seed", 0, 0, (int64_t{1} << 53) - 1));
  // A float32 copy and its standardised copy of the features, and the classifier.
  CheckFitsInMemory(a.fn(), "features of shape " + ShapeText(features.sizes()),
                    2.0 * 4.0 * static_cast<double>(features.numel()) + 4.0 * static_cast<double>(p.classes) * static_cast<double>(features.size(1)));
  return RunAsync(
      a.env(), "trainLinearClassifier", [features, labels, p] { return eval::TrainLinearClassifier(features, labels, p); },
      [](Napi::Env env, eval::LinearClassifier& c) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("weight", TensorHandle::Wrap(env, std::move(c.weight)));
        o.Set("bias", TensorHandle::Wrap(env, std::move(c.bias)));
        return o;
      });
}

// classifierAccuracy(features, labels, weight, bias) -> Promise<{ top1, top5, rows }> (hit counts)
Napi::Value ClassifierAccuracy(const Napi::CallbackInfo& info) {
  Args a(info, "classifierAccuracy");
  const at::Tensor& features = a.tensor(0, "features");
  TensorArg(a.fn(), "features", features).floating(/*allowHalf=*/true).shape({-1, -1}, "[N, D]");
  const at::Tensor& labels = LabelsArg(a, 1, "labels", features.size(0), "the features' rows");
  const at::Tensor& weight = a.tensor(2, "weight");
  TensorArg(a.fn(), "weight", weight).floating(/*allowHalf=*/true).shape({-1, features.size(1)}, "[C, D], D = " + std::to_string(features.size(1)));
  const at::Tensor& bias = a.tensor(3, "bias");
  TensorArg(a.fn(), "bias", bias).floating(/*allowHalf=*/true).shape({weight.size(0)}, "[C] = [" + std::to_string(weight.size(0)) + "]");
  return RunAsync(
      a.env(), "classifierAccuracy", [features, labels, weight, bias] { return eval::ClassifierHits(features, labels, weight, bias); },
      [](Napi::Env env, eval::TopK& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("top1", static_cast<double>(r.top1));
        o.Set("top5", static_cast<double>(r.top5));
        o.Set("rows", static_cast<double>(r.rows));
        return o;
      });
}

// backboneFeatures(state, images, { arch, width, cifarStem, mean, std, batchSize = 256 }) -> Promise<Tensor [N, D]>
Napi::Value BackboneFeatures(const Napi::CallbackInfo& info) {
  Args a(info, "backboneFeatures");
  train::StateDict state = StateArg(a, 0, "state");
  const at::Tensor& images = ImagesArg(a, 1, "images");
  Options o(a, 2, "options");
  eval::BackboneSpec spec = SpecArg(o);
  const int64_t batchSize = o.integer("batchSize", 256, 1, int64_t{1} << 20);
  return RunAsync(
      a.env(), "backboneFeatures", [state, images, spec, batchSize] { return eval::BackboneFeatures(spec, state, images, batchSize); },
      [](Napi::Env env, at::Tensor& t) -> Napi::Value { return TensorHandle::Wrap(env, std::move(t)); });
}

// fineTune(state, images, labels, { arch, width, cifarStem, mean, std, classes, steps, firstStep = 0,
//   batchSize = 64, lrTrunk, lrHead, weightDecay = 0, momentum = 0.9, scaleMin = 0.2, seed = 0 })
//   -> Promise<{ state, meanLoss }>
Napi::Value FineTune(const Napi::CallbackInfo& info) {
  Args a(info, "fineTune");
  train::StateDict state = StateArg(a, 0, "state");
  const at::Tensor& images = ImagesArg(a, 1, "images");
  const at::Tensor& labels = LabelsArg(a, 2, "labels", images.size(0), "the images'");
  Options o(a, 3, "options");
  eval::BackboneSpec spec = SpecArg(o);
  eval::FineTuneOptions f;
  f.classes = o.integer("classes", std::nullopt, 1, int64_t{1} << 20);
  f.steps = o.integer("steps", std::nullopt, 0, int64_t{1} << 30);
  f.firstStep = o.integer("firstStep", 0, 0, int64_t{1} << 40);
  f.batchSize = o.integer("batchSize", 64, 1, int64_t{1} << 20);
  f.lrTrunk = o.number("lrTrunk", std::nullopt, 0, 1e4);
  f.lrHead = o.number("lrHead", std::nullopt, 0, 1e4);
  f.weightDecay = o.number("weightDecay", 0, 0, 1);
  f.momentum = o.number("momentum", 0.9, 0, 1);
  f.scaleMin = o.number("scaleMin", 0.2, 1e-3, 1);
  f.seed = static_cast<uint64_t>(o.integer("seed", 0, 0, (int64_t{1} << 53) - 1));
  if (images.size(0) < 1) ThrowRangeError("fineTune: images must have at least 1 row");
  return RunAsync(
      a.env(), "fineTune", [state, images, labels, spec, f] { return eval::FineTune(spec, state, images, labels, f); },
      [](Napi::Env env, eval::FineTuneResult& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("state", StateToJs(env, r.state));
        o.Set("meanLoss", r.meanLoss);
        return o;
      });
}

}  // namespace hexa::binding
