#include "train/moco_trainer.h"

#include <torch/torch.h>

#include <sstream>

#include "kernels/cutmix.h"
#include "kernels/pgd.h"
#include "train/moco_ops.h"

namespace hexa::train {

namespace {
std::vector<at::Tensor> Parameters(models::Encoder& e) {
  std::vector<at::Tensor> out;
  for (auto& p : e->parameters()) out.push_back(p);
  return out;
}
}  // namespace

MocoTrainer::MocoTrainer(const MocoOptions& o) : Trainer(o.seed), options_(o) {
  TORCH_CHECK(o.queueSize >= 1, "queueSize must be >= 1, got ", o.queueSize);
  TORCH_CHECK(o.temperature > 0, "temperature must be > 0, got ", o.temperature);
  TORCH_CHECK(o.encoder.backbone.auxBN == o.hardViews.adversarial.auxBN, "encoder and adversarial auxBN must agree");
  // Weight initialisation draws from LibTorch's default generator: seed it for reproducible runs.
  torch::manual_seed(o.seed);
  if (o.encoder.backbone.computeDtype == at::kHalf) scaler_ = GradScaler(o.device);
  query_ = models::Encoder(o.encoder);
  key_ = models::Encoder(o.encoder);
  models::CopyWeights(*key_, *query_);
  query_->to(o.device);
  key_->to(o.device);
  for (auto& p : key_->parameters()) p.set_requires_grad(false);
  queryParams_ = Parameters(query_);
  keyParams_ = Parameters(key_);
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (auto& p : query_->named_parameters()) named.emplace_back(p.key(), p.value());
  optimizer_ = std::make_unique<Optimizer>(std::move(named), o.optimizer);
  // MoCo starts from a random, normalised queue.
  queue_ = at::randn({o.queueSize, o.encoder.outDim}, generator_, at::TensorOptions().dtype(at::kFloat));
  queue_ = (queue_ / queue_.norm(2, {1}, true)).to(o.device);
  if (o.cudaGraph) {
    TORCH_CHECK(o.device.is_cuda(), "cudaGraph needs a CUDA device, the trainer's is ", o.device);
    options_.staticStep = true;
    graph_ = std::make_unique<StepGraph>();
  }
  if (options_.staticStep) queuePtrDevice_ = at::zeros({}, at::TensorOptions().dtype(at::kLong).device(o.device));
}

at::Tensor MocoTrainer::info_nce(const at::Tensor& q, const at::Tensor& k, at::Tensor* accuracy) {
  return ops::InfoNCELoss(q, k, queue_, options_.temperature, std::nullopt, accuracy);
}

std::pair<at::Tensor, at::Tensor> MocoTrainer::keys(const at::Tensor& viewK, const at::Tensor& perm) {
  torch::NoGradGuard no_grad;
  dist::Communicator& c = *comm_;
  if (!perm.defined()) {
    at::Tensor k = key_->forward(viewK);
    return {k, c.allGather(k)};
  }
  // MoCo's _batch_shuffle_ddp: every rank's key views, a permutation common to all ranks,
  // this rank's slice of the shuffled batch through the key encoder, the keys gathered and
  // put back in image order.
  const int64_t n = viewK.size(0), rank = c.rank();
  at::Tensor all = c.allGather(viewK);
  at::Tensor shuffled = c.allGather(key_->forward(all.index_select(0, perm.slice(0, rank * n, (rank + 1) * n))));
  at::Tensor kAll = at::empty_like(shuffled).index_copy_(0, perm, shuffled);
  return {kAll.slice(0, rank * n, (rank + 1) * n), kAll};
}

namespace {
// A host tensor on `options`' device and dtype: converted on the host, then copied from
// pinned memory without a sync when the device is CUDA (the CPU: the tensor itself).
at::Tensor HostToDevice(const at::Tensor& t, const at::TensorOptions& options) {
  if (!t.is_cpu() || options.device().is_cpu()) return t.to(options);
  return t.to(options.dtype()).pin_memory().to(options.device(), /*non_blocking=*/true);
}

// Copies `value` into the fixed buffer `buffer`, (re)allocating it on `device` only when the
// shape or dtype changed (then the graph key changes too: shapes and dtypes are in it).
void Stage(at::Tensor& buffer, const at::Tensor& value, const at::Device& device) {
  if (!buffer.defined() || buffer.sizes() != value.sizes() || buffer.scalar_type() != value.scalar_type())
    buffer = at::empty(value.sizes(), value.options().device(device));
  if (value.is_cpu() && device.is_cuda()) buffer.copy_(value.pin_memory(), /*non_blocking=*/true);
  else buffer.copy_(value);
}

void StageScalar(at::Tensor& buffer, double value, const at::TensorOptions& options) {
  if (!buffer.defined()) buffer = at::empty({}, options);
  buffer.fill_(value);
}
}  // namespace

MocoTrainer::BodyInputs MocoTrainer::draw(const StepInputs& in, const HardViewPlan& plan) {
  BodyInputs b;
  b.viewQ = in.views[0];
  b.viewK = in.views[1];
  const int64_t n = b.viewQ.size(0), h = b.viewQ.size(2), w = b.viewQ.size(3);
  const auto& hv = options_.hardViews;
  const at::Device device = b.viewQ.device();
  dist::Communicator& c = *comm_;
  if (c.distributed() && options_.shuffleBN) {
    const int64_t world = c.worldSize();
    at::Tensor perm;
    if (in.keyShuffle) {
      perm = in.keyShuffle->to(at::kCPU, at::kLong);
      TORCH_CHECK(perm.dim() == 1 && perm.size(0) == world * n && std::get<0>(perm.sort()).equal(at::arange(world * n)),
                  "keyShuffle must be a permutation of [0, ", world * n, ")");
    } else {
      perm = c.rank() == 0 ? at::randperm(world * n, generator_, at::TensorOptions().dtype(at::kLong))
                           : at::empty({world * n}, at::TensorOptions().dtype(at::kLong));
      std::vector<at::Tensor> one = {perm};
      c.broadcast(one, 0);
      perm = one[0];
    }
    b.keyShuffle = perm.to(device);
  }
  if (plan.adversarial && hv.adversarial.randomStart) {
    // PGD's random start, as kernels::pgdInit draws it (float64 on the CPU, then x's dtype).
    const at::Tensor noise = in.pgdNoise ? *in.pgdNoise
                                         : kernels::pgdInitNoise(b.viewQ.sizes(),
                                                                 {hv.adversarial.eps, hv.adversarial.norm, 0, 1},
                                                                 generator_);
    b.pgdNoise = noise.to(noise.device(), b.viewQ.scalar_type());
  }
  if (plan.cutmix) {
    if (in.perm && in.boxes) {
      // Private copies, checked once here; the step's unchecked kernels use exactly these.
      b.perm = in.perm->to(at::kCPU, at::kLong, /*non_blocking=*/false, /*copy=*/true).contiguous();
      b.boxes = in.boxes->to(at::kCPU, at::kLong, /*non_blocking=*/false, /*copy=*/true).contiguous();
      kernels::checkCutmixIndices(b.perm, b.boxes, n, h, w);
    } else {
      kernels::CutmixSample s = kernels::sampleCutmix(n, h, w, hv.cutmix.alpha, generator_);
      b.perm = s.perm;
      b.boxes = s.boxes;
    }
  }
  // float64, converted to the loss's dtype where used (body): the product is then the one a
  // double scalar gives (a 0-dim CPU tensor multiplies a device tensor as a scalar does).
  b.adversarialWeight = at::scalar_tensor(plan.adversarialWeight, at::kDouble);
  b.cutmixWeight = at::scalar_tensor(plan.cutmixWeight, at::kDouble);
  return b;
}

MocoTrainer::BodyInputs MocoTrainer::stage(const BodyInputs& drawn, const HardViewPlan& plan) {
  const at::Device device = options_.device;
  BodyInputs& s = staged_;
  Stage(s.viewQ, drawn.viewQ, device);
  Stage(s.viewK, drawn.viewK, device);
  if (drawn.pgdNoise.defined()) Stage(s.pgdNoise, drawn.pgdNoise, device);
  if (drawn.perm.defined()) {
    Stage(s.perm, drawn.perm, device);
    Stage(s.boxes, drawn.boxes, device);
  }
  // float64 like the default step's host doubles; converted where used (body, optimizer).
  const auto f64 = at::TensorOptions().dtype(at::kDouble).device(device);
  StageScalar(s.adversarialWeight, plan.adversarialWeight, f64);
  StageScalar(s.cutmixWeight, plan.cutmixWeight, f64);
  StageScalar(s.lr, drawn.lrHost, f64);
  BodyInputs view = s;
  // Only what this step's plan uses (the buffers of the other terms stay for a later plan).
  if (!drawn.pgdNoise.defined()) view.pgdNoise = at::Tensor();
  if (!drawn.perm.defined()) view.perm = view.boxes = at::Tensor();
  return view;
}

at::Tensor MocoTrainer::body(const BodyInputs& in, const HardViewPlan& plan, bool zeroGradsInPlace, bool* finite) {
  const at::Tensor& viewQ = in.viewQ;
  const auto& hv = options_.hardViews;
  const int64_t n = viewQ.size(0);
  auto [k, kAll] = keys(in.viewK, in.keyShuffle);
  optimizer_->zeroGrad(zeroGradsInPlace);
  // Each term is backpropagated on its own: the gradients add up to those of the summed
  // loss, and only one term's graph is alive at a time.
  // Metrics stay on the device: one copy after the step (one sync, not four).
  at::Tensor accuracy;
  at::Tensor clean = info_nce(query_->forward(viewQ), k, &accuracy);
  scaler_.scale(clean).backward();
  at::Tensor zero = at::zeros({}, clean.options());
  at::Tensor adv = zero, mix = zero;
  if (plan.adversarial) {
    // The attack maximises the same InfoNCE, with k and the queue fixed (scaled under fp16 like
    // every backward: PGD uses only the gradient's direction). The random start was drawn
    // before the body (draw()): the generator is not used here.
    const std::optional<at::Tensor> noise = in.pgdNoise.defined() ? std::optional<at::Tensor>(in.pgdNoise) : std::nullopt;
    at::Tensor xAdv = AdversarialView(
        viewQ, [&](const at::Tensor& x) { return scaler_.scale(info_nce(query_->forward(x), k)); }, hv.adversarial,
        noise, generator_);
    models::BatchNormModeGuard mode(AdversarialTrainingBatchNormMode(hv.adversarial));
    adv = info_nce(query_->forward(xAdv), k);
    scaler_.scale(adv * in.adversarialWeight.to(adv.scalar_type())).backward();
  }
  if (plan.cutmix) {
    // perm and boxes were sampled or checked in draw(): the unchecked kernels read no value
    // on the host. λ and the soft targets are computed where the boxes are.
    at::Tensor images = at::empty_like(viewQ);
    kernels::detail::cutmixUnchecked(viewQ, in.perm, in.boxes, images);
    const at::Tensor lambda = CutmixLambda(in.boxes, viewQ.size(2), viewQ.size(3));
    // Logits against every in-batch key plus the queue; soft target λ on i, 1-λ on perm[i].
    at::Tensor targets =
        kernels::detail::cutmixTargetsUnchecked(lambda, in.perm, n + options_.queueSize).to(k.options());
    mix = ops::InfoNCELoss(query_->forward(images), k, queue_, options_.temperature, targets, nullptr);
    scaler_.scale(mix * in.cutmixWeight.to(mix.scalar_type())).backward();
  }
  // Data parallel: each rank's loss is the mean over its rows, so the average of the ranks'
  // gradients is the gradient of the mean over the global batch (DDP).
  dist::AverageGradients(*comm_, queryParams_);
  // fp16: a step with an overflow (in a gradient or in the keys it would enqueue) changes no
  // weight, key or queue row; only the loss scale drops. Always true otherwise, without a
  // sync (cudaGraph refuses fp16, so a captured body never has a scale).
  *finite = scaler_.unscale(queryParams_, {kAll}, *comm_);
  if (*finite) {
    if (in.lr.defined()) optimizer_->step(in.lr);
    else optimizer_->step(in.lrHost);
    torch::NoGradGuard no_grad;
    ops::MomentumUpdate(keyParams_, queryParams_, options_.keyMomentum);
    // Every rank's keys, rank order. Static mode advances the device pointer; step() keeps
    // the host mirror (a captured body's host code runs once, at capture).
    if (options_.staticStep) ops::EnqueueAt(queue_, kAll, queuePtrDevice_);
    else queuePtr_ = ops::Enqueue(queue_, kAll, queuePtr_);
  }
  scaler_.update();
  return at::stack({clean.detach(), adv.detach(), mix.detach(), accuracy.to(clean.scalar_type())});
}

Metrics MocoTrainer::step(const StepInputs& in, double lr) {
  TORCH_CHECK(in.views.size() == 2, "MoCo takes 2 views (query, key), got ", in.views.size());
  const int64_t n = in.views[0].size(0);
  const HardViewPlan plan(options_.hardViews, in.hardViewScale, n);
  TORCH_CHECK(!options_.staticStep || !comm_->distributed(),
              "cudaGraph: the captured step runs in one process only (world size 1), this run has ",
              comm_->worldSize());
  query_->train();
  key_->train();
  BodyInputs drawn = draw(in, plan);
  drawn.lrHost = lr;
  at::Tensor metrics;
  bool finite = true;
  if (!options_.staticStep) {
    // The default step: the draws go to the device as they are (nothing on the CPU).
    const at::TensorOptions onDevice = drawn.viewQ.options();
    if (drawn.pgdNoise.defined()) drawn.pgdNoise = HostToDevice(drawn.pgdNoise, onDevice);
    if (drawn.perm.defined()) {
      drawn.perm = HostToDevice(drawn.perm, onDevice.dtype(at::kLong));
      drawn.boxes = HostToDevice(drawn.boxes, onDevice.dtype(at::kLong));
    }
    metrics = body(drawn, plan, /*zeroGradsInPlace=*/false, &finite);
  } else {
    const BodyInputs staged = stage(drawn, plan);
    if (!metrics_.defined()) metrics_ = at::empty({4}, at::TensorOptions().dtype(at::kFloat).device(options_.device));
    // The graph holds this plan's terms and these shapes; another plan or shape recaptures.
    std::ostringstream keyText;
    keyText << plan.adversarial << plan.cutmix << staged.viewQ.sizes() << staged.viewK.sizes()
            << staged.viewQ.scalar_type() << staged.viewK.scalar_type() << staged.pgdNoise.defined();
    const std::string key = keyText.str();
    // Gradients stay allocated (zeroed in place) while the plan stays; the first step of a
    // plan frees them, as the default step does every step, so exactly the parameters this
    // plan trains have one (the optimizer skips the rest: auxiliary BN without the
    // adversarial view). A capture comes only after warm-up steps of the same plan.
    const bool samePlan = key == staticKey_;
    staticKey_ = key;
    const auto run = [&] { metrics_.copy_(body(staged, plan, samePlan, &finite)); };
    if (graph_) graph_->run(key, options_.device, run, [&] { return optimizer_->allocationFree(); });
    else run();
    queuePtr_ = (queuePtr_ + n * comm_->worldSize()) % options_.queueSize;
    metrics = metrics_;
  }
  metrics = metrics.to(at::kCPU, at::kDouble);
  auto v = metrics.accessor<double, 1>();
  Metrics out = {{"loss", plan.total(v[0], v[1], v[2])}, {"lossClean", v[0]}, {"lossAdv", v[1]}, {"lossMix", v[2]}, {"accuracy", v[3]}, {"lr", lr}};
  // With cudaGraph: 1 when this step was a graph replay, 0 for a warm-up step (metrics.jsonl
  // shows where the graph was captured again; the tests check that replays happen).
  if (graph_) out.emplace_back("cudaGraphReplay", graph_->replayed() ? 1.0 : 0.0);
  AddLossScaleMetrics(scaler_, finite, out);
  return out;
}

at::Tensor MocoTrainer::embed(const at::Tensor& images) { return models::EvalFeatures(*query_, images, options_.device); }

StateDict MocoTrainer::backboneState() { return models::BackboneState(*query_); }

void MocoTrainer::saveMethodState(StateDict& out) {
  SaveModule(*query_, "query.", out);
  SaveModule(*key_, "key.", out);
  optimizer_->save(out);
  out["queue"] = queue_;
  out["queue_ptr"] = at::tensor({queuePtr_}, at::kLong);
}

void MocoTrainer::loadMethodState(const StateDict& s) {
  LoadModule(*query_, "query.", s);
  LoadModule(*key_, "key.", s);
  optimizer_->load(s);
  torch::NoGradGuard no_grad;
  queue_.copy_(TakeLike(s, "queue", queue_));
  const at::Tensor& ptr = Take(s, "queue_ptr");
  TORCH_CHECK(ptr.numel() == 1 && ptr.scalar_type() == at::kLong, "checkpoint tensor 'queue_ptr' must be one int64");
  const int64_t p = ptr.item<int64_t>();
  TORCH_CHECK(p >= 0 && p < options_.queueSize, "checkpoint queue_ptr ", p, " is outside the queue of ", options_.queueSize);
  queuePtr_ = p;
  if (options_.staticStep) queuePtrDevice_.fill_(p);
  // The optimizer's momentum buffers are new tensors now: the graph must be captured again.
  if (graph_) graph_->reset();
}

}  // namespace hexa::train
