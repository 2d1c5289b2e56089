#include "train/dcluster_trainer.h"

#include <torch/torch.h>

#include "kernels/cutmix.h"
#include "kernels/info_nce_autograd.h"

namespace hexa::train {

DClusterTrainer::DClusterTrainer(const DClusterOptions& o) : Trainer(o.seed), options_(o) {
  TORCH_CHECK(!o.prototypes.empty(), "prototypes: at least one head");
  TORCH_CHECK(o.temperature > 0, "temperature must be > 0, got ", o.temperature);
  TORCH_CHECK(o.datasetSize >= 1, "datasetSize must be >= 1, got ", o.datasetSize);
  TORCH_CHECK(o.kmeansIterations >= 0, "kmeansIterations must be >= 0");
  for (int64_t k : o.prototypes)
    TORCH_CHECK(k >= 1 && k <= o.datasetSize, "prototypes: every head needs 1 <= K <= the ", o.datasetSize,
                " images, got ", k);
  TORCH_CHECK(o.encoder.backbone.auxBN == o.hardViews.adversarial.auxBN, "encoder and adversarial auxBN must agree");
  torch::manual_seed(o.seed);
  if (o.encoder.backbone.computeDtype == at::kHalf) scaler_ = GradScaler(o.device);
  model_ = models::Encoder(o.encoder);
  model_->to(o.device);
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (auto& p : model_->named_parameters()) named.emplace_back(p.key(), p.value());
  params_ = model_->parameters();
  optimizer_ = std::make_unique<Optimizer>(std::move(named), o.optimizer);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const int64_t d = o.encoder.outDim, n = o.datasetSize;
  // Until the first clustering the prototypes are random unit vectors (used only by
  // embeddings' accuracy, never as targets: no image has an assignment yet).
  for (int64_t k : o.prototypes) {
    at::Tensor p = at::randn({k, d}, generator_, f32);
    prototypes_.push_back((p / p.norm(2, {1}, true)).to(o.device));
  }
  bank_ = at::zeros({2, n, d}, f32.device(o.device));
  bankFilled_ = at::zeros({n}, at::TensorOptions().dtype(at::kByte).device(o.device));
  assignments_ = at::full({static_cast<int64_t>(o.prototypes.size()), n}, kUnassigned,
                          at::TensorOptions().dtype(at::kLong).device(o.device));
}

at::Tensor DClusterTrainer::embedViews(const std::vector<at::Tensor>& views) {
  // Same-size crops go through the backbone together; the head (and its BN) sees all crops.
  std::vector<at::Tensor> features;
  size_t i = 0;
  while (i < views.size()) {
    size_t j = i + 1;
    while (j < views.size() && views[j].sizes() == views[i].sizes()) ++j;
    std::vector<at::Tensor> group(views.begin() + i, views.begin() + j);
    features.push_back(model_->features(group.size() == 1 ? group[0] : at::cat(group)));
    i = j;
  }
  return model_->project(features.size() == 1 ? features[0] : at::cat(features));
}

namespace {
// The rows where `valid` holds (one host sync: how many there are).
LossRows RowsWhere(const at::Tensor& valid) {
  LossRows r;
  r.count = valid.sum().item<int64_t>();
  if (r.count != valid.size(0)) r.rows = valid.nonzero().squeeze(1);
  return r;
}

// `rows` of n images, for a batch of `repeats` crops of each (crop-major, as embedViews).
LossRows Repeated(const LossRows& rows, int64_t n, int64_t repeats) {
  LossRows r;
  r.count = rows.count * repeats;
  if (rows.rows.defined()) {
    std::vector<at::Tensor> parts;
    for (int64_t c = 0; c < repeats; ++c) parts.push_back(rows.rows + c * n);
    r.rows = at::cat(parts);
  }
  return r;
}
}  // namespace

at::Tensor DClusterTrainer::clusterLoss(const at::Tensor& z, const at::Tensor& targets, const LossRows& rows,
                                        at::Tensor* accuracy) {
  const int64_t heads = static_cast<int64_t>(prototypes_.size());
  if (rows.count == 0) {
    if (accuracy) *accuracy = at::zeros({}, z.options().dtype(at::kDouble));
    return (z * 0).sum();  // loss 0 with a zero gradient, never NaN (pytorch#70348)
  }
  at::Tensor zs = rows.rows.defined() ? z.index_select(0, rows.rows) : z;
  at::Tensor loss, correct;
  for (int64_t h = 0; h < heads; ++h) {
    at::Tensor th = rows.rows.defined() ? targets[h].index_select(0, rows.rows) : targets[h].contiguous();
    at::Tensor lh = kernels::ClusterCEFunction::apply(zs, prototypes_[h], th, options_.temperature);
    loss = h == 0 ? lh : loss + lh;
    if (accuracy) {
      torch::NoGradGuard no_grad;
      at::Tensor top = at::mm(zs.detach(), prototypes_[h].t()).argmax(1);
      at::Tensor c = top.eq(th).to(at::kDouble).mean();
      correct = h == 0 ? c : correct + c;
    }
  }
  if (accuracy) *accuracy = correct / static_cast<double>(heads);
  return loss / static_cast<double>(heads);
}

at::Tensor DClusterTrainer::cutmixLoss(const at::Tensor& z, const at::Tensor& targets, const LossRows& rows,
                                       const CutmixView& view) {
  const int64_t heads = static_cast<int64_t>(prototypes_.size());
  if (rows.count == 0) return (z * 0).sum();
  const at::Tensor perm = view.perm.to(targets.device(), at::kLong);
  at::Tensor zs = rows.rows.defined() ? z.index_select(0, rows.rows) : z;
  const at::Tensor lambda = view.lambda.to(z.options());
  at::Tensor loss;
  for (int64_t h = 0; h < heads; ++h) {
    // λ on the image's own cluster, 1 − λ on its partner's (unassigned columns clamped to 0
    // only in rows that are dropped).
    at::Tensor soft = kernels::cutmixTargets(lambda, perm, prototypes_[h].size(0), targets[h].clamp_min(0));
    if (rows.rows.defined()) soft = soft.index_select(0, rows.rows);
    at::Tensor lh = kernels::ClusterCEFunction::apply(zs, prototypes_[h], soft, options_.temperature);
    loss = h == 0 ? lh : loss + lh;
  }
  return loss / static_cast<double>(heads);
}

void DClusterTrainer::writeBank(const at::Tensor& z, const at::Tensor& indices, int64_t n) {
  torch::NoGradGuard no_grad;
  // Data parallel: every rank's two large crops' embeddings and indices, so each rank's bank
  // holds the whole dataset as a single process's would (rank r's rows are r's slice).
  const at::Tensor zAll = comm_->allGather(z.slice(0, 0, 2 * n).detach());
  const at::Tensor idxAll = comm_->allGather(indices);
  for (int64_t r = 0; r < comm_->worldSize(); ++r) {
    const at::Tensor idx = idxAll.slice(0, r * n, (r + 1) * n);
    for (int64_t c = 0; c < 2; ++c) bank_[c].index_copy_(0, idx, zAll.slice(0, (2 * r + c) * n, (2 * r + c + 1) * n));
    bankFilled_.index_fill_(0, idx, 1);
  }
}

namespace {
at::Tensor BankIndices(const StepInputs& in, int64_t datasetSize, const at::Device& device) {
  TORCH_CHECK(in.indices.has_value(), "DeepCluster needs the dataset indices of the batch");
  at::Tensor idx = in.indices->to(at::kCPU, at::kLong).contiguous();
  TORCH_CHECK(idx.dim() == 1 && idx.size(0) == in.views[0].size(0), "indices must be [N]");
  if (idx.numel() > 0) {
    auto [lo, hi] = at::aminmax(idx);
    TORCH_CHECK(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < datasetSize, "indices must be in [0, ", datasetSize,
                "), got values in [", lo.item<int64_t>(), ", ", hi.item<int64_t>(), "]");
  }
  return idx.to(device);
}
}  // namespace

void DClusterTrainer::observe(const StepInputs& in) {
  TORCH_CHECK(in.views.size() >= 2, "DeepCluster's bank pass takes the 2 large crops, got ", in.views.size(), " views");
  const at::Tensor idx = BankIndices(in, options_.datasetSize, options_.device);
  torch::NoGradGuard no_grad;
  model_->train();  // as swav's init_memory: train-mode BN, batch statistics
  writeBank(embedViews({in.views[0], in.views[1]}), idx, in.views[0].size(0));
}

Metrics DClusterTrainer::step(const StepInputs& in, double lr) {
  const int64_t views = 2 + options_.smallCrops;
  TORCH_CHECK(static_cast<int64_t>(in.views.size()) == views, "DeepCluster takes ", views,
              " views (2 large crops, then ", options_.smallCrops, " small), got ", in.views.size());
  const auto& hv = options_.hardViews;
  const at::Tensor& x0 = in.views[0];
  const int64_t n = x0.size(0);
  const HardViewPlan plan(hv, in.hardViewScale, n);
  const at::Tensor idx = BankIndices(in, options_.datasetSize, options_.device);
  const at::Tensor targets = assignments_.index_select(1, idx);  // [H, n]: this epoch's labels
  // The images with a label this epoch, found once for every term (every head labels the
  // same images: those in the bank at the last clustering).
  const at::Tensor labelled = targets[0].ge(0);
  const LossRows images = RowsWhere(labelled);
  model_->train();
  optimizer_->zeroGrad();
  at::Tensor accuracy;
  at::Tensor z = embedViews(in.views);
  at::Tensor clean = clusterLoss(z, targets.repeat({1, views}), Repeated(images, n, views), &accuracy);
  scaler_.scale(clean).backward();
  at::Tensor zero = at::zeros({}, clean.options());
  at::Tensor adv = zero, mix = zero;
  if (plan.adversarial) {
    // The attack maximises the same loss to the image's own assignments, prototypes fixed.
    at::Tensor xAdv = AdversarialView(
        x0, [&](const at::Tensor& x) { return scaler_.scale(clusterLoss(model_->forward(x), targets, images, nullptr)); },
        hv.adversarial, in.pgdNoise, generator_);
    models::BatchNormModeGuard mode(AdversarialTrainingBatchNormMode(hv.adversarial));
    adv = clusterLoss(model_->forward(xAdv), targets, images, nullptr);
    scaler_.scale(adv * plan.adversarialWeight).backward();
  }
  if (plan.cutmix) {
    CutmixView view = MakeCutmixView(x0, hv.cutmix, in.perm, in.boxes, generator_);
    // A mixed image needs the labels of both its images; pairs with an unassigned one are dropped.
    const LossRows pairs = images.count == n ? images
                                         : RowsWhere(labelled.logical_and(labelled.index_select(0, view.perm.to(labelled.device()))));
    mix = cutmixLoss(model_->forward(view.images), targets, pairs, view);
    scaler_.scale(mix * plan.cutmixWeight).backward();
  }
  // Each rank's loss is the mean over its rows: the ranks' mean gradient is the global batch's.
  dist::AverageGradients(*comm_, params_);
  // fp16: a step with an overflow (in a gradient or in the embeddings it would bank) changes
  // no weight and no bank row; only the loss scale drops. Always true otherwise.
  const bool finite = scaler_.unscale(params_, {z}, *comm_);
  if (finite) {
    optimizer_->step(lr);
    writeBank(z, idx, n);  // clean embeddings only
  }
  scaler_.update();
  at::Tensor metrics = at::stack({clean.detach().to(at::kDouble), adv.detach().to(at::kDouble),
                                  mix.detach().to(at::kDouble), accuracy.to(at::kDouble)})
                           .to(at::kCPU);
  auto v = metrics.accessor<double, 1>();
  Metrics out = {{"loss", plan.total(v[0], v[1], v[2])}, {"lossClean", v[0]}, {"lossAdv", v[1]}, {"lossMix", v[2]},
          {"accuracy", v[3]}, {"assigned", static_cast<double>(images.count) / static_cast<double>(n)}, {"lr", lr}};
  AddLossScaleMetrics(scaler_, finite, out);
  return out;
}

Metrics DClusterTrainer::beginEpoch(const EpochInputs& in) {
  torch::NoGradGuard no_grad;
  const int64_t heads = static_cast<int64_t>(prototypes_.size());
  if (in.initialCentroids)
    TORCH_CHECK(static_cast<int64_t>(in.initialCentroids->size()) == heads, "initialCentroids: one tensor per head (",
                heads, "), got ", in.initialCentroids->size());
  at::Tensor rows = bankFilled_.nonzero().squeeze(1);
  Metrics m;
  m.emplace_back("bankRows", static_cast<double>(rows.size(0)));
  // Too few rows to cluster (no init pass, epoch 0): no image has a label this epoch.
  const int64_t kMax = *std::max_element(options_.prototypes.begin(), options_.prototypes.end());
  if (rows.size(0) < kMax) {
    assignments_.fill_(kUnassigned);
    return m;
  }
  const at::Tensor previous = assignments_.clone();
  assignments_.fill_(kUnassigned);
  for (int64_t h = 0; h < heads; ++h) {
    at::Tensor x = bank_[h % 2].index_select(0, rows);  // heads alternate between the two crops' banks
    KmeansOptions ko;
    ko.k = options_.prototypes[h];
    ko.iterations = options_.kmeansIterations;
    std::optional<at::Tensor> init;
    if (in.initialCentroids) init = (*in.initialCentroids)[h].to(x.device());
    KmeansResult r = SphericalKmeans(x, ko, init, generator_, *comm_);
    prototypes_[h].copy_(r.centroids);
    assignments_[h].index_copy_(0, rows, r.assignment);
    const std::string p = "kmeans" + std::to_string(h) + ".";
    m.emplace_back(p + "nonEmpty", static_cast<double>(r.counts.gt(0).sum().item<int64_t>()));
    m.emplace_back(p + "largestShare", static_cast<double>(r.counts.max().item<int64_t>()) / rows.size(0));
    at::Tensor before = previous[h].index_select(0, rows);
    at::Tensor both = before.ge(0);
    if (both.all().item<bool>()) m.emplace_back(p + "nmi", NormalizedMutualInformation(before, r.assignment));
    m.emplace_back(p + "reseeded", static_cast<double>(r.reseeded));
  }
  return m;
}

at::Tensor DClusterTrainer::embed(const at::Tensor& images) { return models::EvalFeatures(*model_, images, options_.device); }

StateDict DClusterTrainer::backboneState() { return models::BackboneState(*model_); }

void DClusterTrainer::saveMethodState(StateDict& out) {
  SaveModule(*model_, "model.", out);
  optimizer_->save(out);
  for (size_t h = 0; h < prototypes_.size(); ++h) out["prototypes." + std::to_string(h)] = prototypes_[h];
  out["bank"] = bank_;
  out["bank_filled"] = bankFilled_;
  out["assignments"] = assignments_;
}

void DClusterTrainer::loadMethodState(const StateDict& s) {
  LoadModule(*model_, "model.", s);
  optimizer_->load(s);
  torch::NoGradGuard no_grad;
  for (size_t h = 0; h < prototypes_.size(); ++h) {
    const std::string name = "prototypes." + std::to_string(h);
    prototypes_[h].copy_(TakeLike(s, name, prototypes_[h]));
  }
  bank_.copy_(TakeLike(s, "bank", bank_));
  bankFilled_.copy_(TakeLike(s, "bank_filled", bankFilled_));
  const at::Tensor& a = TakeLike(s, "assignments", assignments_);
  for (int64_t h = 0; h < a.size(0); ++h) {
    const bool ok = a[h].eq(kUnassigned).logical_or(a[h].ge(0).logical_and(a[h].lt(options_.prototypes[h]))).all().item<bool>();
    TORCH_CHECK(ok, "checkpoint assignments of head ", h, " must be in [0, ", options_.prototypes[h], ") or ", kUnassigned);
  }
  assignments_.copy_(a);
}

}  // namespace hexa::train
