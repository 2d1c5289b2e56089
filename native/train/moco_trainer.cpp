#include "train/moco_trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "train/moco_ops.h"
#include "models/batch_norm.h"

namespace hexa::train {

using models::BatchNormMode;
using models::BatchNormModeGuard;

namespace {
std::vector<at::Tensor> Parameters(models::Encoder& e) {
  std::vector<at::Tensor> out;
  for (auto& p : e->parameters()) out.push_back(p);
  return out;
}
}  // namespace

MocoTrainer::MocoTrainer(const MocoOptions& o)
    : options_(o), generator_(at::make_generator<at::CPUGeneratorImpl>(o.seed + 1)) {
  TORCH_CHECK(o.queueSize >= 1, "queueSize must be >= 1, got ", o.queueSize);
  TORCH_CHECK(o.temperature > 0, "temperature must be > 0, got ", o.temperature);
  // Weight initialisation draws from LibTorch's default generator: seed it for reproducible runs.
  torch::manual_seed(o.seed);
  query_ = models::Encoder(o.encoder);
  key_ = models::Encoder(o.encoder);
  models::CopyWeights(*key_, *query_);
  query_->to(o.device);
  key_->to(o.device);
  for (auto& p : key_->parameters()) p.set_requires_grad(false);
  queryParams_ = Parameters(query_);
  keyParams_ = Parameters(key_);
  optimizer_ = std::make_unique<torch::optim::SGD>(
      query_->parameters(), torch::optim::SGDOptions(0.0).momentum(o.sgdMomentum).weight_decay(o.weightDecay));
  // MoCo starts from a random, normalised queue.
  queue_ = at::randn({o.queueSize, o.encoder.outDim}, generator_, at::TensorOptions().dtype(at::kFloat));
  queue_ = (queue_ / queue_.norm(2, {1}, true)).to(o.device);
}

at::Tensor MocoTrainer::info_nce(const at::Tensor& q, const at::Tensor& k, at::Tensor* accuracy) {
  return ops::InfoNCELoss(q, k, queue_, options_.temperature, std::nullopt, accuracy);
}

at::Tensor MocoTrainer::adversarial_view(const at::Tensor& viewQ, const at::Tensor& k, const std::optional<at::Tensor>& noise) {
  const auto& a = options_.adversarial;
  const at::Tensor x0 = viewQ.detach();
  at::Tensor x = a.randomStart ? ops::PgdStart(x0, a.eps, noise, generator_) : x0.clone();
  // The attack must not touch BN running statistics: batch statistics, nothing recorded.
  BatchNormModeGuard frozen(options_.encoder.backbone.auxBN ? BatchNormMode::AuxiliaryFrozen : BatchNormMode::FrozenStats);
  for (int64_t t = 0; t < a.steps; ++t) {
    x = x.detach().requires_grad_(true);
    at::Tensor loss = info_nce(query_->forward(x), k);
    // Gradient w.r.t. the input only: the model's .grad fields stay untouched.
    at::Tensor grad = torch::autograd::grad({loss}, {x})[0];
    x = x.detach();
    ops::PgdStepLinf(x, x0, grad, a.eps, a.stepSize);
  }
  return x.detach();
}

StepMetrics MocoTrainer::step(const StepInputs& in, double lr) {
  const int64_t n = in.viewQ.size(0);
  const bool adversarialOn = options_.adversarial.enabled && in.hardViewScale > 0;
  const bool cutmixOn = options_.cutmix.enabled && in.hardViewScale > 0;
  const double advWeight = options_.adversarial.weight * in.hardViewScale;
  const double mixWeight = options_.cutmix.weight * in.hardViewScale;
  TORCH_CHECK(n >= 2 || !cutmixOn, "a CutMix step needs a batch of at least 2");
  StepMetrics m;
  m.lr = lr;
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
  query_->train();
  key_->train();
  at::Tensor k;
  {
    torch::NoGradGuard no_grad;
    k = key_->forward(in.viewK);
  }
  optimizer_->zero_grad();
  // Each term is backpropagated on its own: the gradients add up to those of the summed
  // loss, and only one term's graph is alive at a time.
  // Metrics stay on the device until one copy at the end of the step (one sync, not four).
  at::Tensor accuracy;
  at::Tensor clean = info_nce(query_->forward(in.viewQ), k, &accuracy);
  clean.backward();
  at::Tensor zero = at::zeros({}, clean.options());
  at::Tensor adv = zero, mix = zero;
  if (adversarialOn) {
    at::Tensor xAdv = adversarial_view(in.viewQ, k, in.pgdNoise);
    // The adversarial view's own forward: auxiliary BN (AdvProp) if built, else batch
    // statistics without recording them, so running statistics describe clean images only.
    BatchNormModeGuard mode(options_.encoder.backbone.auxBN ? BatchNormMode::Auxiliary : BatchNormMode::FrozenStats);
    adv = info_nce(query_->forward(xAdv), k);
    (adv * advWeight).backward();
  }
  if (cutmixOn) {
    ops::CutmixSample sample = in.perm && in.boxes
        ? ops::CutmixSample{in.perm->to(at::kLong), in.boxes->to(at::kLong), ops::CutmixLambda(*in.boxes, in.viewQ.size(2), in.viewQ.size(3))}
        : ops::SampleCutmixBoxes(n, in.viewQ.size(2), in.viewQ.size(3), options_.cutmix.alpha, generator_);
    at::Tensor xMix = ops::ApplyCutmix(in.viewQ, sample.perm, sample.boxes);
    at::Tensor targets = ops::CutmixTargets(sample.lambda, sample.perm, n + options_.queueSize).to(k.options());
    // Logits against every in-batch key plus the queue; soft target λ on i, 1-λ on perm[i].
    mix = ops::InfoNCELoss(query_->forward(xMix), k, queue_, options_.temperature, targets, nullptr);
    (mix * mixWeight).backward();
  }
  optimizer_->step();
  {
    torch::NoGradGuard no_grad;
    ops::MomentumUpdate(keyParams_, queryParams_, options_.keyMomentum);
    queuePtr_ = ops::Enqueue(queue_, k, queuePtr_);
  }
  at::Tensor metrics = at::stack({clean.detach(), adv.detach(), mix.detach(), accuracy.to(clean.scalar_type())}).to(at::kCPU, at::kDouble);
  auto v = metrics.accessor<double, 1>();
  m.lossClean = v[0];
  m.lossAdv = v[1];
  m.lossMix = v[2];
  m.accuracy = v[3];
  m.loss = m.lossClean + (adversarialOn ? advWeight * m.lossAdv : 0) + (cutmixOn ? mixWeight * m.lossMix : 0);
  return m;
}

at::Tensor MocoTrainer::embed(const at::Tensor& images, bool keyEncoder) {
  torch::NoGradGuard no_grad;
  models::Encoder& e = keyEncoder ? key_ : query_;
  const bool wasTraining = e->is_training();
  e->eval();
  at::Tensor f = e->features(images.to(options_.device));
  if (wasTraining) e->train();
  return f;
}

std::map<std::string, at::Tensor> MocoTrainer::state() {
  std::map<std::string, at::Tensor> out;
  for (auto& p : query_->named_parameters()) out["query." + p.key()] = p.value().detach();
  for (auto& b : query_->named_buffers()) out["query." + b.key()] = b.value();
  for (auto& p : key_->named_parameters()) out["key." + p.key()] = p.value().detach();
  for (auto& b : key_->named_buffers()) out["key." + b.key()] = b.value();
  auto& st = optimizer_->state();
  for (auto& p : query_->named_parameters()) {
    auto it = st.find(p.value().unsafeGetTensorImpl());
    if (it == st.end()) continue;
    auto& sgd = static_cast<torch::optim::SGDParamState&>(*it->second);
    if (sgd.momentum_buffer().defined()) out["optimizer." + p.key() + ".momentum_buffer"] = sgd.momentum_buffer();
  }
  out["queue"] = queue_;
  out["queue_ptr"] = at::tensor({queuePtr_}, at::kLong);
  out["generator_state"] = generator_.get_state();
  return out;
}

void MocoTrainer::loadState(const std::map<std::string, at::Tensor>& s) {
  auto take = [&](const std::string& name) -> const at::Tensor& {
    auto it = s.find(name);
    TORCH_CHECK(it != s.end(), "checkpoint has no tensor '", name, "'");
    return it->second;
  };
  torch::NoGradGuard no_grad;
  auto load = [&](models::Encoder& e, const std::string& prefix) {
    for (auto& p : e->named_parameters()) {
      const at::Tensor& v = take(prefix + p.key());
      TORCH_CHECK(v.sizes() == p.value().sizes(), "checkpoint tensor '", prefix, p.key(), "' has shape ", v.sizes(),
                  ", the model's is ", p.value().sizes());
      p.value().copy_(v);
    }
    for (auto& b : e->named_buffers()) b.value().copy_(take(prefix + b.key()));
  };
  load(query_, "query.");
  load(key_, "key.");
  auto& st = optimizer_->state();
  for (auto& p : query_->named_parameters()) {
    auto it = s.find("optimizer." + p.key() + ".momentum_buffer");
    if (it == s.end()) continue;
    auto state = std::make_unique<torch::optim::SGDParamState>();
    state->momentum_buffer(it->second.to(p.value().options()).clone());
    st[p.value().unsafeGetTensorImpl()] = std::move(state);
  }
  const at::Tensor& q = take("queue");
  TORCH_CHECK(q.sizes() == queue_.sizes(), "checkpoint queue has shape ", q.sizes(), ", this trainer's is ", queue_.sizes());
  queue_.copy_(q);
  queuePtr_ = take("queue_ptr").item<int64_t>();
  generator_.set_state(take("generator_state").cpu());
}

}  // namespace hexa::train
