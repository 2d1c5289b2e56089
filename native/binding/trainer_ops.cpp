#include "binding/trainer_ops.h"

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/dist_ops.h"
#include "binding/errors.h"
#include "binding/handles.h"
#include "kernels/augment.h"
#include "train/dcluster_trainer.h"
#include "train/moco_trainer.h"

#include <cmath>
#include <functional>

namespace hexa::binding {

namespace {
constexpr napi_type_tag kTrainerTag = {0x6865786174726169ULL, 0x6e65720000000001ULL};
int trainerToken;

std::vector<double> Triple(const Args& a, const Napi::Object& o, const char* key, std::vector<double> dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  std::string where = std::string("options.") + key;
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) a.typeError(where, "an array of 3 finite numbers", v);
  std::vector<double> out;
  for (uint32_t i = 0; i < 3; ++i) {
    Napi::Value x = v.As<Napi::Array>().Get(i);
    if (!x.IsNumber() || !std::isfinite(x.As<Napi::Number>().DoubleValue())) a.typeError(where, "an array of 3 finite numbers", v);
    out.push_back(x.As<Napi::Number>().DoubleValue());
  }
  return out;
}

// A non-empty array of integers in [lo, hi] (e.g. the prototype heads' sizes).
std::vector<int64_t> IntegerList(const Args& a, const Napi::Object& o, const char* key, std::vector<int64_t> dflt,
                                 int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  std::string where = std::string("options.") + key;
  std::string expected = "a non-empty array of integers in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!v.IsArray() || v.As<Napi::Array>().Length() == 0 || v.As<Napi::Array>().Length() > 64) a.typeError(where, expected, v);
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < v.As<Napi::Array>().Length(); ++i) {
    Napi::Value x = v.As<Napi::Array>().Get(i);
    const std::string item = where + "[" + std::to_string(i) + "]";
    const std::string range = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    const double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || std::floor(d) != d) a.typeError(item, range, x);
    if (d < lo || d > hi) a.rangeError(item, range, x);
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

// What every method shares: the encoder, the optimizer, the hard views, seed and device.
struct CommonOptions {
  models::EncoderOptions encoder;
  train::OptimizerOptions optimizer;
  train::HardViewOptions hardViews;
  at::Device device = at::kCPU;
  uint64_t seed = 0;
};

CommonOptions ParseCommon(const Args& a, const Napi::Object& obj, const Options& o) {
  CommonOptions c;
  auto& bb = c.encoder.backbone;
  bb.arch = o.choice("arch", {"resnet18", "resnet50"}, "resnet18");
  bb.width = o.integer("width", 64, 1, 1024);
  bb.cifarStem = o.boolean("cifarStem", true);
  bb.channelsLast = o.boolean("channelsLast", false);
  const std::string precision = o.choice("precision", {"fp32", "bf16", "fp16"}, "fp32");
  bb.computeDtype = precision == "bf16" ? at::kBFloat16 : precision == "fp16" ? at::kHalf : at::kFloat;
  c.encoder.outDim = o.integer("outDim", 128, 1, 65536);
  c.encoder.headHidden = o.integer("headHidden", 0, 0, 65536);
  c.encoder.mean = Triple(a, obj, "mean", c.encoder.mean);
  c.encoder.std = Triple(a, obj, "std", c.encoder.std);
  for (double s : c.encoder.std)
    if (s <= 0) a.rangeError("options.std", "3 numbers > 0", obj.Get("std"));
  auto& opt = c.optimizer;
  opt.kind = o.choice("optimizer", {"sgd", "lars"}, "sgd") == "lars" ? train::OptimizerOptions::Kind::LARS
                                                                      : train::OptimizerOptions::Kind::SGD;
  opt.momentum = o.number("sgdMomentum", 0.9, 0, 1);
  opt.weightDecay = o.number("weightDecay", 1e-4, 0, 1);
  opt.trustCoefficient = o.number("trustCoefficient", 0.001, 1e-9, 1e3);
  opt.clip = o.boolean("larsClip", false);
  opt.excludeBiasAndNorm = o.boolean("larsExcludeBiasAndNorm", true);
  c.seed = static_cast<uint64_t>(o.integer("seed", 0, 0, (int64_t{1} << 53) - 1));
  c.device = o.device("device", at::Device(at::kCPU));
  Napi::Value advV = obj.Get("adversarial"), mixV = obj.Get("cutmix");
  auto& adv = c.hardViews.adversarial;
  if (advV.IsBoolean() && !advV.As<Napi::Boolean>().Value()) {
    adv.enabled = false;
  } else {
    Options ao(a, advV, "options.adversarial");
    adv.enabled = ao.boolean("enabled", true);
    adv.norm = ao.choice("norm", {"linf", "l2"}, "linf") == "l2" ? kernels::PgdNorm::L2 : kernels::PgdNorm::Linf;
    adv.eps = ao.number("eps", 8.0 / 255, 0, adv.norm == kernels::PgdNorm::L2 ? 1e6 : 1);
    adv.stepSize = ao.number("stepSize", 2.0 / 255, 0, 1e6);
    adv.steps = ao.integer("steps", 2, 0, 100);
    adv.randomStart = ao.boolean("randomStart", true);
    adv.weight = ao.number("weight", 1.0, 0, 1e6);
    adv.auxBN = ao.boolean("auxBN", false);
    bb.auxBN = adv.auxBN;
  }
  auto& mix = c.hardViews.cutmix;
  if (mixV.IsBoolean() && !mixV.As<Napi::Boolean>().Value()) {
    mix.enabled = false;
  } else {
    Options mo(a, mixV, "options.cutmix");
    mix.enabled = mo.boolean("enabled", true);
    mix.alpha = mo.number("alpha", 1.0, 1e-6, 1e6);
    mix.weight = mo.number("weight", 1.0, 0, 1e6);
  }
  return c;
}

// One factory per method: parse its own options on top of the common ones. The options are
// parsed on the main thread; the returned closure builds the trainer on a worker.
using Factory = std::function<std::unique_ptr<train::Trainer>()>;

Factory MocoFactory(const Args& a, const Napi::Object& obj, const Options& o) {
  CommonOptions c = ParseCommon(a, obj, o);
  train::MocoOptions m;
  m.encoder = c.encoder;
  m.optimizer = c.optimizer;
  m.hardViews = c.hardViews;
  m.device = c.device;
  m.seed = c.seed;
  m.queueSize = o.integer("queueSize", 4096, 1, int64_t{1} << 24);
  m.temperature = o.number("temperature", 0.2, 1e-6, 1e6);
  m.keyMomentum = o.number("keyMomentum", 0.99, 0, 1);
  m.shuffleBN = o.boolean("shuffleBN", true);
  m.staticStep = o.boolean("staticStep", false);
  m.cudaGraph = o.boolean("cudaGraph", false);
  // Refused here, by name, before any trainer is built (the trainer checks again).
  if (m.cudaGraph && !m.device.is_cuda())
    ThrowRangeError(std::string(a.fn()) + ": options.cudaGraph needs a CUDA device, options.device is " + DeviceName(m.device));
  if (m.cudaGraph && obj.Has("communicator") && !obj.Get("communicator").IsUndefined())
    ThrowRangeError(std::string(a.fn()) + ": options.cudaGraph runs in one process only (no communicator)");
  // fp16's loss scale decides on the host whether a step updates anything: not capturable.
  if ((m.cudaGraph || m.staticStep) && m.encoder.backbone.computeDtype == at::kHalf)
    ThrowRangeError(std::string(a.fn()) + ": options." + (m.cudaGraph ? "cudaGraph" : "staticStep") +
                    " does not run with options.precision 'fp16' (its loss scale skips steps from the host); use 'bf16'");
  return [m] { return std::make_unique<train::MocoTrainer>(m); };
}

Factory DClusterFactory(const Args& a, const Napi::Object& obj, const Options& o) {
  CommonOptions c = ParseCommon(a, obj, o);
  train::DClusterOptions d;
  d.encoder = c.encoder;
  d.encoder.headBN = true;
  d.optimizer = c.optimizer;
  d.hardViews = c.hardViews;
  d.device = c.device;
  d.seed = c.seed;
  d.datasetSize = o.integer("datasetSize", std::nullopt, 1, int64_t{1} << 31);
  d.prototypes = IntegerList(a, obj, "prototypes", d.prototypes, 1, d.datasetSize);
  d.temperature = o.number("temperature", 0.1, 1e-6, 1e6);
  d.kmeansIterations = o.integer("kmeansIterations", 10, 0, 1000);
  d.smallCrops = o.integer("smallCrops", 0, 0, 64);
  d.initPass = o.boolean("initPass", true);
  return [d] { return std::make_unique<train::DClusterTrainer>(d); };
}

// The methods createTrainer knows: adding one is a factory here and a trainer file.
const std::vector<std::pair<std::string, Factory (*)(const Args&, const Napi::Object&, const Options&)>> kMethods = {
    {"moco", MocoFactory},
    {"dcluster", DClusterFactory},
};

Napi::Object MetricsToJs(Napi::Env env, const train::Metrics& m) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [k, v] : m) o.Set(k, v);
  return o;
}

Napi::Object StateToJs(Napi::Env env, train::StateDict& s) {
  Napi::Object o = Napi::Object::New(env);
  for (auto& [k, v] : s) o.Set(k, TensorHandle::Wrap(env, std::move(v)));
  return o;
}

void CheckImages(const Args& a, const at::Tensor& t, const std::string& name, const at::Device& device) {
  if (t.dim() != 4 || t.size(1) != 3) a.rangeError(name, "a [N, 3, H, W] Tensor", a.at(0));
  if (!at::isFloatingType(t.scalar_type())) a.typeError(name, "a float32 or float64 Tensor with values in [0, 1]", a.at(0));
  if (t.device() != device) ThrowError(std::string(a.fn()) + ": " + name + " is on " + DeviceName(t.device()) + ", the trainer on " + DeviceName(device));
}

// views: the method's views, all [N, 3, H, W] with one N, on the trainer's device; large
// crops (the first spec.large) share one size.
std::vector<at::Tensor> ReadViews(const Args& a, size_t i, const train::ViewSpec& spec, const at::Device& device,
                                  int64_t expected) {
  std::vector<at::Tensor> views = a.tensorList(i, "views");
  if (static_cast<int64_t>(views.size()) != expected)
    ThrowRangeError(std::string(a.fn()) + ": views must hold " + std::to_string(expected) + " Tensors, got " + std::to_string(views.size()));
  for (size_t v = 0; v < views.size(); ++v) {
    CheckImages(a, views[v], "views[" + std::to_string(v) + "]", device);
    if (views[v].size(0) != views[0].size(0)) ThrowRangeError(std::string(a.fn()) + ": every view must have the batch size of views[0]");
    if (static_cast<int64_t>(v) < spec.large && views[v].sizes() != views[0].sizes())
      ThrowRangeError(std::string(a.fn()) + ": the " + std::to_string(spec.large) + " large views must have one shape");
  }
  return views;
}

std::optional<at::Tensor> ReadIndices(const Args& a, const Options& o, int64_t n) {
  std::optional<at::Tensor> idx = o.tensor("indices");
  if (idx && (idx->dim() != 1 || idx->size(0) != n || (idx->scalar_type() != at::kLong && idx->scalar_type() != at::kInt)))
    ThrowRangeError(std::string(a.fn()) + ": options.indices must be an int64 or int32 [N] Tensor");
  // A private copy: the trainer checks and uses the same values, whatever JS does meanwhile.
  if (idx) idx = idx->to(at::kCPU, at::kLong, false, true);
  return idx;
}
}  // namespace

// ---- handle ------------------------------------------------------------------------------

Napi::Function TrainerHandle::Define(Napi::Env env) {
  return DefineClass(env, "TrainerHandle",
                     {InstanceMethod<&TrainerHandle::Step>("step"), InstanceMethod<&TrainerHandle::Observe>("observe"),
                      InstanceMethod<&TrainerHandle::BeginEpoch>("beginEpoch"),
                      InstanceMethod<&TrainerHandle::Embed>("embed"),
                      InstanceMethod<&TrainerHandle::BackboneState>("backboneState"),
                      InstanceMethod<&TrainerHandle::State>("state"),
                      InstanceMethod<&TrainerHandle::LoadState>("loadState"),
                      InstanceMethod<&TrainerHandle::Describe>("describe"),
                      InstanceMethod<&TrainerHandle::AugmentGenerator>("augmentGenerator"),
                      InstanceMethod<&TrainerHandle::Dispose>("dispose")});
}

TrainerHandle::TrainerHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerHandle>(info) {
  if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<void>>().Data() != &trainerToken) {
    Napi::TypeError::New(info.Env(), "TrainerHandle: made by createTrainer(), not with new").ThrowAsJavaScriptException();
    return;
  }
  info.This().As<Napi::Object>().TypeTag(&kTrainerTag);
}

Napi::Object TrainerHandle::Wrap(Napi::Env env, std::shared_ptr<SharedTrainer> t) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->trainerCtor.New({Napi::External<void>::New(env, &trainerToken)});
  Napi::ObjectWrap<TrainerHandle>::Unwrap(obj)->shared_ = std::move(t);
  return obj;
}

std::shared_ptr<SharedTrainer> TrainerHandle::get(const char* fn) const {
  if (!shared_) ThrowError(std::string(fn) + ": the trainer was disposed");
  return shared_;
}

// step(views, lr, options?: { indices?, hardViewScale?, pgdNoise?, perm?, boxes? }) -> Promise<metrics>
// (pgdNoise, perm and boxes inject the step's randomness, for tests)
Napi::Value TrainerHandle::Step(const Napi::CallbackInfo& info) {
  return Protect(info, "Trainer.step", [&]() -> Napi::Value {
    Args a(info, "Trainer.step");
    auto shared = get(a.fn());
    const train::Trainer& t = *shared->trainer;
    const train::ViewSpec spec = t.viewSpec();
    train::StepInputs in;
    in.views = ReadViews(a, 0, spec, t.device(), spec.large + spec.small);
    double lr = a.number(1, "lr");
    if (lr < 0) a.rangeError("lr", "a finite number >= 0", a.at(1));
    Options options(a, 2, "options");
    const int64_t n = in.views[0].size(0);
    in.indices = ReadIndices(a, options, n);
    in.hardViewScale = options.number("hardViewScale", 1.0, 0, 1e6);
    in.pgdNoise = options.tensor("pgdNoise");
    in.perm = options.tensor("perm");
    in.boxes = options.tensor("boxes");
    in.keyShuffle = options.tensor("keyShuffle");
    if (in.keyShuffle) in.keyShuffle = in.keyShuffle->to(at::kCPU, at::kLong, false, true);
    if (in.pgdNoise && in.pgdNoise->sizes() != in.views[0].sizes()) ThrowRangeError("Trainer.step: options.pgdNoise must have views[0]'s shape");
    if (in.perm.has_value() != in.boxes.has_value()) ThrowTypeError("Trainer.step: options.perm and options.boxes go together");
    if (in.perm && (in.perm->dim() != 1 || in.perm->size(0) != n)) ThrowRangeError("Trainer.step: options.perm must be [N]");
    if (in.boxes && (in.boxes->dim() != 2 || in.boxes->size(0) != n || in.boxes->size(1) != 4))
      ThrowRangeError("Trainer.step: options.boxes must be [N, 4]");
    // Private copies of injected indices: validated and used as the same values.
    if (in.perm) in.perm = in.perm->to(at::kCPU, at::kLong, false, true);
    if (in.boxes) in.boxes = in.boxes->to(at::kCPU, at::kLong, false, true);
    return RunAsync(
        a.env(), "Trainer.step",
        [shared, in, lr] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          return shared->trainer->step(in, lr);
        },
        [](Napi::Env env, train::Metrics& m) -> Napi::Value { return MetricsToJs(env, m); });
  });
}

// observe(views, { indices }) -> Promise<void>: the no-grad pass before training (large crops only)
Napi::Value TrainerHandle::Observe(const Napi::CallbackInfo& info) {
  return Protect(info, "Trainer.observe", [&]() -> Napi::Value {
    Args a(info, "Trainer.observe");
    auto shared = get(a.fn());
    const train::Trainer& t = *shared->trainer;
    train::StepInputs in;
    in.views = ReadViews(a, 0, t.viewSpec(), t.device(), t.viewSpec().large);
    Options options(a, 1, "options");
    in.indices = ReadIndices(a, options, in.views[0].size(0));
    return RunAsync(
        a.env(), "Trainer.observe",
        [shared, in] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          shared->trainer->observe(in);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

// beginEpoch(epoch, { initialCentroids?: Tensor[] }) -> Promise<metrics>
Napi::Value TrainerHandle::BeginEpoch(const Napi::CallbackInfo& info) {
  return Protect(info, "Trainer.beginEpoch", [&]() -> Napi::Value {
    Args a(info, "Trainer.beginEpoch");
    auto shared = get(a.fn());
    train::EpochInputs in;
    in.epoch = a.integer(0, "epoch", 0, int64_t{1} << 40);
    if (a.has(1)) {
      Napi::Object o = a.object(1, "options");
      Napi::Value c = o.Get("initialCentroids");
      if (!c.IsUndefined()) {
        if (!c.IsArray()) a.typeError("options.initialCentroids", "an array of Tensors", c);
        std::vector<at::Tensor> list;
        for (uint32_t k = 0; k < c.As<Napi::Array>().Length(); ++k) {
          TensorHandle* h = TensorHandle::From(c.As<Napi::Array>().Get(k));
          if (!h || h->disposed()) a.typeError("options.initialCentroids[" + std::to_string(k) + "]", "a Tensor", c);
          list.push_back(h->tensor().clone());
        }
        in.initialCentroids = list;
      }
    }
    return RunAsync(
        a.env(), "Trainer.beginEpoch",
        [shared, in] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          return shared->trainer->beginEpoch(in);
        },
        [](Napi::Env env, train::Metrics& m) -> Napi::Value { return MetricsToJs(env, m); });
  });
}

// embed(images) -> Promise<Tensor [N, featureDim]>
Napi::Value TrainerHandle::Embed(const Napi::CallbackInfo& info) {
  return Protect(info, "Trainer.embed", [&]() -> Napi::Value {
    Args a(info, "Trainer.embed");
    auto shared = get(a.fn());
    at::Tensor images = a.tensor(0, "images");
    CheckImages(a, images, "images", shared->trainer->device());
    return RunAsync(
        a.env(), "Trainer.embed",
        [shared, images] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          return shared->trainer->embed(images);
        },
        [](Napi::Env env, at::Tensor& t) -> Napi::Value { return TensorHandle::Wrap(env, std::move(t)); });
  });
}

namespace {
// Copies of a named set of the trainer's tensors, off the loop (later steps don't change them).
Napi::Value CopiedStateAsync(const Napi::CallbackInfo& info, std::shared_ptr<SharedTrainer> shared, const char* fn,
                             train::StateDict (*read)(train::Trainer&)) {
  return RunAsync(
      info.Env(), fn,
      [shared, read] {
        std::lock_guard<std::mutex> lock(shared->mutex);
        train::StateDict out;
        for (auto& [k, v] : read(*shared->trainer)) out[k] = v.detach().clone();
        return out;
      },
      [](Napi::Env env, train::StateDict& s) -> Napi::Value { return StateToJs(env, s); });
}
}  // namespace

// backboneState() -> Promise<{ [torchvision name]: Tensor }>
Napi::Value TrainerHandle::BackboneState(const Napi::CallbackInfo& info) {
  return Protect(info, "Trainer.backboneState", [&]() -> Napi::Value {
    return CopiedStateAsync(info, get("Trainer.backboneState"), "Trainer.backboneState",
                            [](train::Trainer& t) { return t.backboneState(); });
  });
}

// state() -> Promise<{ [name]: Tensor }>
Napi::Value TrainerHandle::State(const Napi::CallbackInfo& info) {
  return Protect(info, "Trainer.state", [&]() -> Napi::Value {
    return CopiedStateAsync(info, get("Trainer.state"), "Trainer.state", [](train::Trainer& t) { return t.state(); });
  });
}

// loadState({ [name]: Tensor }) -> Promise<void>
Napi::Value TrainerHandle::LoadState(const Napi::CallbackInfo& info) {
  return Protect(info, "Trainer.loadState", [&]() -> Napi::Value {
    Args a(info, "Trainer.loadState");
    auto shared = get(a.fn());
    Napi::Object obj = a.object(0, "state");
    train::StateDict state;
    Napi::Array keys = obj.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
      TensorHandle* h = TensorHandle::From(obj.Get(k));
      if (!h) a.typeError("state." + k, "a Tensor", obj.Get(k));
      if (h->disposed()) ThrowError("Trainer.loadState: state." + k + " was disposed");
      state[k] = h->tensor();
    }
    return RunAsync(
        a.env(), "Trainer.loadState",
        [shared, state] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          shared->trainer->loadState(state);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

// describe() -> { largeViews, smallViews, initPass } (sync: fixed at creation)
Napi::Value TrainerHandle::Describe(const Napi::CallbackInfo& info) {
  return Protect(info, "Trainer.describe", [&]() -> Napi::Value {
    auto shared = get("Trainer.describe");
    const train::ViewSpec spec = shared->trainer->viewSpec();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("largeViews", static_cast<double>(spec.large));
    o.Set("smallViews", static_cast<double>(spec.small));
    o.Set("initPass", shared->trainer->wantsInitPass());
    return o;
  });
}

// augmentGenerator() -> Generator: the trainer's own augmentation generator (saved in state()).
Napi::Value TrainerHandle::AugmentGenerator(const Napi::CallbackInfo& info) {
  return Protect(info, "Trainer.augmentGenerator", [&]() -> Napi::Value {
    auto shared = get("Trainer.augmentGenerator");
    return GeneratorHandle::Wrap(info.Env(), shared->trainer->augmentGenerator());
  });
}

Napi::Value TrainerHandle::Dispose(const Napi::CallbackInfo& info) {
  shared_.reset();
  return info.Env().Undefined();
}

// createTrainer(method, options) -> Promise<TrainerHandle>
Napi::Value CreateTrainer(const Napi::CallbackInfo& info) {
  Args a(info, "createTrainer");
  Napi::Value mv = a.at(0);
  std::string method = mv.IsString() ? mv.As<Napi::String>().Utf8Value() : "";
  Factory factory;
  std::string known;
  for (const auto& [name, make] : kMethods) {
    known += (known.empty() ? "'" : ", '") + name + "'";
    if (name == method) {
      Napi::Object obj = a.object(1, "options");
      Options o(a, 1, "options");
      factory = make(a, obj, o);
    }
  }
  if (!factory) a.typeError("method", "one of " + known, mv);
  // A data-parallel trainer (options.communicator from connectProcessGroup): its creation is a
  // collective (rank 0's state is broadcast), as is every step.
  std::shared_ptr<dist::Communicator> comm = dist::Single();
  Napi::Value cv = a.object(1, "options").Get("communicator");
  if (!cv.IsUndefined()) comm = CommunicatorOf(cv, a.fn(), "options.communicator");
  return RunAsync(
      a.env(), "createTrainer",
      [factory, comm] {
        auto shared = std::make_shared<SharedTrainer>();
        shared->trainer = factory();
        shared->trainer->attach(comm);
        return shared;
      },
      [](Napi::Env env, std::shared_ptr<SharedTrainer>& s) -> Napi::Value { return TrainerHandle::Wrap(env, s); });
}

// ---- augmentations -----------------------------------------------------------------------

// sampleAugment(n, height, width, options?, generator?) -> Promise<{ crop, flip, jitter, gray, sigma }>
Napi::Value SampleAugment(const Napi::CallbackInfo& info) {
  Args a(info, "sampleAugment");
  int64_t n = a.integer(0, "n", 0, int64_t{1} << 24);
  int64_t h = a.integer(1, "height", 1, 1 << 16);
  int64_t w = a.integer(2, "width", 1, 1 << 16);
  Options o(a, 3, "options");
  kernels::AugmentOptions k;
  k.scaleMin = o.number("scaleMin", k.scaleMin, 1e-6, 1);
  k.scaleMax = o.number("scaleMax", k.scaleMax, k.scaleMin, 1);
  k.ratioMin = o.number("ratioMin", k.ratioMin, 1e-3, 1e3);
  k.ratioMax = o.number("ratioMax", k.ratioMax, k.ratioMin, 1e3);
  k.flipP = o.number("flipP", k.flipP, 0, 1);
  k.jitterP = o.number("jitterP", k.jitterP, 0, 1);
  k.brightness = o.number("brightness", k.brightness, 0, 1e3);
  k.contrast = o.number("contrast", k.contrast, 0, 1e3);
  k.saturation = o.number("saturation", k.saturation, 0, 1e3);
  k.hue = o.number("hue", k.hue, 0, 0.5);
  k.grayscaleP = o.number("grayscaleP", k.grayscaleP, 0, 1);
  k.blurP = o.number("blurP", k.blurP, 0, 1);
  k.blurSigmaMin = o.number("blurSigmaMin", k.blurSigmaMin, 1e-3, 100);
  k.blurSigmaMax = o.number("blurSigmaMax", k.blurSigmaMax, k.blurSigmaMin, 100);
  std::optional<at::Generator> gen;
  if (a.has(4)) {
    GeneratorHandle* g = GeneratorHandle::From(a.at(4));
    if (!g) a.typeError("generator", "a Generator", a.at(4));
    gen = g->generator();
  }
  using Result = kernels::AugmentParams;
  return RunAsync(
      a.env(), "sampleAugment", [=] { return kernels::SampleAugment(n, h, w, k, gen); },
      [](Napi::Env env, Result& p) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("crop", TensorHandle::Wrap(env, p.crop));
        o.Set("flip", TensorHandle::Wrap(env, p.flip));
        o.Set("jitter", TensorHandle::Wrap(env, p.jitter));
        o.Set("gray", TensorHandle::Wrap(env, p.gray));
        o.Set("sigma", TensorHandle::Wrap(env, p.sigma));
        return o;
      });
}

// applyAugment(images, params, outHeight, outWidth) -> Promise<Tensor>
Napi::Value ApplyAugment(const Napi::CallbackInfo& info) {
  Args a(info, "applyAugment");
  at::Tensor images = a.tensor(0, "images");
  if (images.dim() != 4 || images.size(1) != 3) a.rangeError("images", "a [N, 3, H, W] Tensor", a.at(0));
  if (images.scalar_type() != at::kByte && !at::isFloatingType(images.scalar_type()))
    a.typeError("images", "a uint8 or floating Tensor", a.at(0));
  Napi::Object po = a.object(1, "params");
  auto field = [&](const char* k, std::vector<int64_t> shape) {
    TensorHandle* h = TensorHandle::From(po.Get(k));
    if (!h || h->disposed()) a.typeError(std::string("params.") + k, "a Tensor from sampleAugment()", po.Get(k));
    if (h->tensor().sizes() != at::IntArrayRef(shape))
      ThrowRangeError(std::string("applyAugment: params.") + k + " does not match the batch of " + std::to_string(shape[0]));
    return h->tensor();
  };
  const int64_t n = images.size(0);
  kernels::AugmentParams p{field("crop", {n, 4}), field("flip", {n}), field("jitter", {n, 4}), field("gray", {n}), field("sigma", {n})};
  int64_t oh = a.integer(2, "outHeight", 1, 1 << 16), ow = a.integer(3, "outWidth", 1, 1 << 16);
  return RunAsync(
      a.env(), "applyAugment", [=] { return kernels::ApplyAugment(images, p, oh, ow); },
      [](Napi::Env env, at::Tensor& t) -> Napi::Value { return TensorHandle::Wrap(env, std::move(t)); });
}

}  // namespace hexa::binding
