#include "train/moco_trainer.h"

#include <torch/torch.h>

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
}

at::Tensor MocoTrainer::info_nce(const at::Tensor& q, const at::Tensor& k, at::Tensor* accuracy) {
  return ops::InfoNCELoss(q, k, queue_, options_.temperature, std::nullopt, accuracy);
}

std::pair<at::Tensor, at::Tensor> MocoTrainer::keys(const at::Tensor& viewK, const std::optional<at::Tensor>& shuffle) {
  torch::NoGradGuard no_grad;
  dist::Communicator& c = *comm_;
  if (!c.distributed() || !options_.shuffleBN) {
    at::Tensor k = key_->forward(viewK);
    return {k, c.allGather(k)};
  }
  // MoCo's _batch_shuffle_ddp: every rank's key views, a permutation common to all ranks,
  // this rank's slice of the shuffled batch through the key encoder, the keys gathered and
  // put back in image order.
  const int64_t n = viewK.size(0), world = c.worldSize(), rank = c.rank();
  at::Tensor all = c.allGather(viewK);
  at::Tensor perm;
  if (shuffle) {
    perm = shuffle->to(at::kCPU, at::kLong);
    TORCH_CHECK(perm.dim() == 1 && perm.size(0) == world * n && std::get<0>(perm.sort()).equal(at::arange(world * n)),
                "keyShuffle must be a permutation of [0, ", world * n, ")");
  } else {
    perm = c.rank() == 0 ? at::randperm(world * n, generator_, at::TensorOptions().dtype(at::kLong))
                         : at::empty({world * n}, at::TensorOptions().dtype(at::kLong));
    std::vector<at::Tensor> one = {perm};
    c.broadcast(one, 0);
    perm = one[0];
  }
  perm = perm.to(viewK.device());
  at::Tensor shuffled = c.allGather(key_->forward(all.index_select(0, perm.slice(0, rank * n, (rank + 1) * n))));
  at::Tensor kAll = at::empty_like(shuffled).index_copy_(0, perm, shuffled);
  return {kAll.slice(0, rank * n, (rank + 1) * n), kAll};
}

Metrics MocoTrainer::step(const StepInputs& in, double lr) {
  TORCH_CHECK(in.views.size() == 2, "MoCo takes 2 views (query, key), got ", in.views.size());
  const at::Tensor& viewQ = in.views[0];
  const at::Tensor& viewK = in.views[1];
  const auto& hv = options_.hardViews;
  const int64_t n = viewQ.size(0);
  const HardViewPlan plan(hv, in.hardViewScale, n);
  query_->train();
  key_->train();
  auto [k, kAll] = keys(viewK, in.keyShuffle);
  optimizer_->zeroGrad();
  // Each term is backpropagated on its own: the gradients add up to those of the summed
  // loss, and only one term's graph is alive at a time.
  // Metrics stay on the device until one copy at the end of the step (one sync, not four).
  at::Tensor accuracy;
  at::Tensor clean = info_nce(query_->forward(viewQ), k, &accuracy);
  scaler_.scale(clean).backward();
  at::Tensor zero = at::zeros({}, clean.options());
  at::Tensor adv = zero, mix = zero;
  if (plan.adversarial) {
    // The attack maximises the same InfoNCE, with k and the queue fixed (scaled under fp16 like
    // every backward: PGD uses only the gradient's direction).
    at::Tensor xAdv = AdversarialView(
        viewQ, [&](const at::Tensor& x) { return scaler_.scale(info_nce(query_->forward(x), k)); }, hv.adversarial,
        in.pgdNoise, generator_);
    models::BatchNormModeGuard mode(AdversarialTrainingBatchNormMode(hv.adversarial));
    adv = info_nce(query_->forward(xAdv), k);
    scaler_.scale(adv * plan.adversarialWeight).backward();
  }
  if (plan.cutmix) {
    CutmixView view = MakeCutmixView(viewQ, hv.cutmix, in.perm, in.boxes, generator_);
    at::Tensor targets = ops::CutmixTargets(view.lambda, view.perm, n + options_.queueSize).to(k.options());
    // Logits against every in-batch key plus the queue; soft target λ on i, 1-λ on perm[i].
    mix = ops::InfoNCELoss(query_->forward(view.images), k, queue_, options_.temperature, targets, nullptr);
    scaler_.scale(mix * plan.cutmixWeight).backward();
  }
  // Data parallel: each rank's loss is the mean over its rows, so the average of the ranks'
  // gradients is the gradient of the mean over the global batch (DDP).
  dist::AverageGradients(*comm_, queryParams_);
  // fp16: a step with an overflow (in a gradient or in the keys it would enqueue) changes no
  // weight, key or queue row; only the loss scale drops. Always true otherwise.
  const bool finite = scaler_.unscale(queryParams_, {kAll}, *comm_);
  if (finite) {
    optimizer_->step(lr);
    torch::NoGradGuard no_grad;
    ops::MomentumUpdate(keyParams_, queryParams_, options_.keyMomentum);
    queuePtr_ = ops::Enqueue(queue_, kAll, queuePtr_);  // every rank's keys, rank order
  }
  scaler_.update();
  at::Tensor metrics = at::stack({clean.detach(), adv.detach(), mix.detach(), accuracy.to(clean.scalar_type())}).to(at::kCPU, at::kDouble);
  auto v = metrics.accessor<double, 1>();
  Metrics out = {{"loss", plan.total(v[0], v[1], v[2])}, {"lossClean", v[0]}, {"lossAdv", v[1]}, {"lossMix", v[2]}, {"accuracy", v[3]}, {"lr", lr}};
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
}

}  // namespace hexa::train
