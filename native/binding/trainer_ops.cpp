#include "binding/trainer_ops.h"

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/errors.h"
#include "binding/handles.h"
#include "kernels/augment.h"

namespace hexa::binding {

namespace {
constexpr napi_type_tag kTrainerTag = {0x6865786174726169ULL, 0x6e65720000000001ULL};
int trainerToken;

double Num(const Options& o, const char* key, double dflt, double lo, double hi) { return o.number(key, dflt, lo, hi); }

// A nested options object ({} when absent); `holder` keeps the value alive.
Options Nested(const Args& a, const Napi::Object& parent, const char* key, const char* where, Napi::Value& holder) {
  holder = parent.Get(key);
  return Options(a, holder, where);
}

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

train::MocoOptions ParseMocoOptions(const Args& a) {
  Napi::Object obj = a.object(0, "options");
  Options o(a, 0, "options");
  train::MocoOptions m;
  auto& bb = m.encoder.backbone;
  bb.arch = o.choice("arch", {"resnet18", "resnet50"}, "resnet18");
  bb.width = o.integer("width", 64, 1, 1024);
  bb.cifarStem = o.boolean("cifarStem", true);
  m.encoder.outDim = o.integer("outDim", 128, 1, 65536);
  m.encoder.mean = Triple(a, obj, "mean", m.encoder.mean);
  m.encoder.std = Triple(a, obj, "std", m.encoder.std);
  for (double s : m.encoder.std)
    if (s <= 0) a.rangeError("options.std", "3 numbers > 0", obj.Get("std"));
  m.queueSize = o.integer("queueSize", 4096, 1, int64_t{1} << 24);
  m.temperature = Num(o, "temperature", 0.2, 1e-6, 1e6);
  m.keyMomentum = Num(o, "keyMomentum", 0.99, 0, 1);
  m.sgdMomentum = Num(o, "sgdMomentum", 0.9, 0, 1);
  m.weightDecay = Num(o, "weightDecay", 1e-4, 0, 1);
  m.seed = static_cast<uint64_t>(o.integer("seed", 0, 0, (int64_t{1} << 53) - 1));
  m.device = o.device("device", at::Device(at::kCPU));
  Napi::Value advHolder, mixHolder;
  Napi::Value advV = obj.Get("adversarial");
  if (advV.IsBoolean() && !advV.As<Napi::Boolean>().Value()) {
    m.adversarial.enabled = false;
  } else {
    Options adv = Nested(a, obj, "adversarial", "options.adversarial", advHolder);
    m.adversarial.enabled = adv.boolean("enabled", true);
    m.adversarial.eps = adv.number("eps", 8.0 / 255, 0, 1);
    m.adversarial.stepSize = adv.number("stepSize", 2.0 / 255, 0, 1);
    m.adversarial.steps = adv.integer("steps", 2, 0, 100);
    m.adversarial.randomStart = adv.boolean("randomStart", true);
    m.adversarial.weight = adv.number("weight", 1.0, 0, 1e6);
    bb.auxBN = adv.boolean("auxBN", false);
  }
  Napi::Value mixV = obj.Get("cutmix");
  if (mixV.IsBoolean() && !mixV.As<Napi::Boolean>().Value()) {
    m.cutmix.enabled = false;
  } else {
    Options mix = Nested(a, obj, "cutmix", "options.cutmix", mixHolder);
    m.cutmix.enabled = mix.boolean("enabled", true);
    m.cutmix.alpha = mix.number("alpha", 1.0, 1e-6, 1e6);
    m.cutmix.weight = mix.number("weight", 1.0, 0, 1e6);
  }
  return m;
}

Napi::Object MetricsToJs(Napi::Env env, const train::StepMetrics& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", m.loss);
  o.Set("lossClean", m.lossClean);
  o.Set("lossAdv", m.lossAdv);
  o.Set("lossMix", m.lossMix);
  o.Set("accuracy", m.accuracy);
  o.Set("lr", m.lr);
  return o;
}

void CheckImages(const Args& a, const at::Tensor& t, const char* name, const at::Device& device) {
  if (t.dim() != 4 || t.size(1) != 3) a.rangeError(name, "a [N, 3, H, W] Tensor", a.at(0));
  if (!at::isFloatingType(t.scalar_type())) a.typeError(name, "a float32 or float64 Tensor with values in [0, 1]", a.at(0));
  if (t.device() != device) ThrowError(std::string(a.fn()) + ": " + name + " is on " + DeviceName(t.device()) + ", the trainer on " + DeviceName(device));
}
}  // namespace

// ---- handle ------------------------------------------------------------------------------

Napi::Function MocoTrainerHandle::Define(Napi::Env env) {
  return DefineClass(env, "MocoTrainerHandle",
                     {InstanceMethod<&MocoTrainerHandle::Step>("step"), InstanceMethod<&MocoTrainerHandle::Embed>("embed"),
                      InstanceMethod<&MocoTrainerHandle::State>("state"),
                      InstanceMethod<&MocoTrainerHandle::LoadState>("loadState"),
                      InstanceMethod<&MocoTrainerHandle::Dispose>("dispose")});
}

MocoTrainerHandle::MocoTrainerHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MocoTrainerHandle>(info) {
  if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<void>>().Data() != &trainerToken) {
    Napi::TypeError::New(info.Env(), "MocoTrainerHandle: made by createMocoTrainer(), not with new").ThrowAsJavaScriptException();
    return;
  }
  info.This().As<Napi::Object>().TypeTag(&kTrainerTag);
}

Napi::Object MocoTrainerHandle::Wrap(Napi::Env env, std::shared_ptr<SharedTrainer> t) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->trainerCtor.New({Napi::External<void>::New(env, &trainerToken)});
  Napi::ObjectWrap<MocoTrainerHandle>::Unwrap(obj)->shared_ = std::move(t);
  return obj;
}

std::shared_ptr<SharedTrainer> MocoTrainerHandle::get(const char* fn) const {
  if (!shared_) ThrowError(std::string(fn) + ": the trainer was disposed");
  return shared_;
}

// step(viewQ, viewK, lr, options?: { hardViewScale?, pgdNoise?, perm?, boxes? }) -> Promise<metrics>
// (pgdNoise, perm and boxes inject the step's randomness, for tests)
Napi::Value MocoTrainerHandle::Step(const Napi::CallbackInfo& info) {
  return Protect(info, "MocoTrainer.step", [&]() -> Napi::Value {
    Args a(info, "MocoTrainer.step");
    auto shared = get(a.fn());
    const auto& opts = shared->trainer->options();
    train::StepInputs in;
    in.viewQ = a.tensor(0, "viewQ");
    in.viewK = a.tensor(1, "viewK");
    CheckImages(a, in.viewQ, "viewQ", opts.device);
    CheckImages(a, in.viewK, "viewK", opts.device);
    if (in.viewQ.sizes() != in.viewK.sizes()) ThrowRangeError("MocoTrainer.step: viewQ and viewK must have the same shape");
    double lr = a.number(2, "lr");
    if (lr < 0) a.rangeError("lr", "a finite number >= 0", a.at(2));
    Options options(a, 3, "options");
    in.hardViewScale = options.number("hardViewScale", 1.0, 0, 1e6);
    in.pgdNoise = options.tensor("pgdNoise");
    in.perm = options.tensor("perm");
    in.boxes = options.tensor("boxes");
    const int64_t n = in.viewQ.size(0);
    if (in.pgdNoise && in.pgdNoise->sizes() != in.viewQ.sizes()) ThrowRangeError("MocoTrainer.step: options.pgdNoise must have viewQ's shape");
    if (in.perm.has_value() != in.boxes.has_value()) ThrowTypeError("MocoTrainer.step: options.perm and options.boxes go together");
    if (in.perm && (in.perm->dim() != 1 || in.perm->size(0) != n)) ThrowRangeError("MocoTrainer.step: options.perm must be [N]");
    if (in.boxes && (in.boxes->dim() != 2 || in.boxes->size(0) != n || in.boxes->size(1) != 4))
      ThrowRangeError("MocoTrainer.step: options.boxes must be [N, 4]");
    if (opts.cutmix.enabled && in.hardViewScale > 0 && n < 2) ThrowRangeError("MocoTrainer.step: a CutMix step needs a batch of at least 2, got 1");
    return RunAsync(
        a.env(), "MocoTrainer.step",
        [shared, in, lr] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          return shared->trainer->step(in, lr);
        },
        [](Napi::Env env, train::StepMetrics& m) -> Napi::Value { return MetricsToJs(env, m); });
  });
}

// embed(images, { key = false }) -> Promise<Tensor [N, featureDim]>
Napi::Value MocoTrainerHandle::Embed(const Napi::CallbackInfo& info) {
  return Protect(info, "MocoTrainer.embed", [&]() -> Napi::Value {
    Args a(info, "MocoTrainer.embed");
    auto shared = get(a.fn());
    at::Tensor images = a.tensor(0, "images");
    CheckImages(a, images, "images", shared->trainer->options().device);
    bool key = Options(a, 1, "options").boolean("key", false);
    return RunAsync(
        a.env(), "MocoTrainer.embed",
        [shared, images, key] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          return shared->trainer->embed(images, key);
        },
        [](Napi::Env env, at::Tensor& t) -> Napi::Value { return TensorHandle::Wrap(env, std::move(t)); });
  });
}

// state() -> Promise<{ [name]: Tensor }> (copies, so later steps don't change them)
Napi::Value MocoTrainerHandle::State(const Napi::CallbackInfo& info) {
  return Protect(info, "MocoTrainer.state", [&]() -> Napi::Value {
    auto shared = get("MocoTrainer.state");
    using State = std::vector<std::pair<std::string, at::Tensor>>;
    return RunAsync(
        info.Env(), "MocoTrainer.state",
        [shared] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          State out;
          for (auto& [k, v] : shared->trainer->state()) out.emplace_back(k, v.detach().clone());
          return out;
        },
        [](Napi::Env env, State& s) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          for (auto& [k, v] : s) o.Set(k, TensorHandle::Wrap(env, std::move(v)));
          return o;
        });
  });
}

// loadState({ [name]: Tensor }) -> Promise<void>
Napi::Value MocoTrainerHandle::LoadState(const Napi::CallbackInfo& info) {
  return Protect(info, "MocoTrainer.loadState", [&]() -> Napi::Value {
    Args a(info, "MocoTrainer.loadState");
    auto shared = get(a.fn());
    Napi::Object obj = a.object(0, "state");
    std::map<std::string, at::Tensor> state;
    Napi::Array keys = obj.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
      TensorHandle* h = TensorHandle::From(obj.Get(k));
      if (!h) a.typeError("state." + k, "a Tensor", obj.Get(k));
      if (h->disposed()) ThrowError("MocoTrainer.loadState: state." + k + " was disposed");
      state[k] = h->tensor();
    }
    return RunAsync(
        a.env(), "MocoTrainer.loadState",
        [shared, state] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          shared->trainer->loadState(state);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

Napi::Value MocoTrainerHandle::Dispose(const Napi::CallbackInfo& info) {
  shared_.reset();
  return info.Env().Undefined();
}

Napi::Value CreateMocoTrainer(const Napi::CallbackInfo& info) {
  Args a(info, "createMocoTrainer");
  train::MocoOptions options = ParseMocoOptions(a);
  return RunAsync(
      a.env(), "createMocoTrainer",
      [options] {
        auto shared = std::make_shared<SharedTrainer>();
        shared->trainer = std::make_unique<train::MocoTrainer>(options);
        return shared;
      },
      [](Napi::Env env, std::shared_ptr<SharedTrainer>& s) -> Napi::Value { return MocoTrainerHandle::Wrap(env, s); });
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
