// The training core without Node: strict checkpoint loads (state_dict.h), the optimizer
// against torch.optim's SGD update written out, and one step of each method's trainer on a
// tiny model (finite, and a saved state resumes to the same bits).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "harness/harness.h"
#include "runtime/cpu_caching_allocator.h"
#include "train/dcluster_trainer.h"
#include "train/moco_trainer.h"
#include "train/optimizer.h"
#include "train/state_dict.h"

using namespace hexa;
using train::StateDict;

namespace {

at::Generator Gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

double Metric(const train::Metrics& metrics, const std::string& name) {
  for (const auto& [key, value] : metrics)
    if (key == name) return value;
  throw std::runtime_error("no metric " + name);
}

bool AllFinite(const train::Metrics& metrics) {
  for (const auto& [key, value] : metrics)
    if (!std::isfinite(value)) return false;
  return true;
}

models::EncoderOptions TinyEncoder() {
  models::EncoderOptions e;
  e.backbone.width = 2;  // resnet18 with 2, 4, 8, 16 channels
  e.backbone.cifarStem = true;
  e.outDim = 8;
  return e;
}

train::HardViewOptions BothHardViews() {
  train::HardViewOptions hv;
  hv.adversarial.steps = 1;
  return hv;
}

at::Tensor Images(int64_t n, uint64_t seed) { return at::rand({n, 3, 8, 8}, Gen(seed), at::kFloat); }

}  // namespace

HEXA_TEST(state_dict, loads_are_strict_about_names_shapes_and_dtypes) {
  torch::nn::Linear linear(3, 4);
  StateDict good;
  train::SaveModule(*linear, "m.", good);
  EXPECT(good.size() == 2 && good.count("m.weight") && good.count("m.bias"));
  StateDict copy;
  for (auto& [name, t] : good) copy[name] = t.clone() + 1;
  train::LoadModule(*linear, "m.", copy);
  EXPECT_EQUAL_TENSORS(linear->bias, copy["m.bias"]);

  StateDict wrongShape = copy;
  wrongShape["m.bias"] = at::zeros({1});  // would broadcast in copy_: refused instead
  EXPECT_THROWS_WITH(train::LoadModule(*linear, "m.", wrongShape), "checkpoint tensor 'm.bias' has shape [1], the model's is [4]");
  StateDict wrongDtype = copy;
  wrongDtype["m.weight"] = copy["m.weight"].to(at::kDouble);
  EXPECT_THROWS_WITH(train::LoadModule(*linear, "m.", wrongDtype), "checkpoint tensor 'm.weight' is Double, the model's is Float");
  StateDict missing = copy;
  missing.erase("m.weight");
  EXPECT_THROWS_WITH(train::LoadModule(*linear, "m.", missing), "checkpoint has no tensor 'm.weight'");
  StateDict undefinedTensor = copy;
  undefinedTensor["m.bias"] = at::Tensor();
  EXPECT_THROWS_WITH(train::LoadModule(*linear, "m.", undefinedTensor), "checkpoint tensor 'm.bias' is undefined");
}

HEXA_TEST(state_dict, generator_state_is_checked_before_libtorch_reads_it) {
  at::Generator gen = Gen(5);
  StateDict saved;
  train::SaveGenerator(gen, "g", saved);
  const at::Tensor first = at::rand({4}, gen, at::kDouble);
  train::LoadGenerator(gen, "g", saved);
  EXPECT_EQUAL_TENSORS(at::rand({4}, gen, at::kDouble), first);

  const int64_t size = saved["g"].numel();
  for (const at::Tensor& bad : {at::zeros({size - 1}, at::kByte), at::zeros({size + 1}, at::kByte), at::zeros({0}, at::kByte),
                                at::zeros({size}, at::kFloat), at::zeros({1, size}, at::kByte)}) {
    StateDict crafted{{"g", bad}};
    EXPECT_THROWS_WITH(train::LoadGenerator(gen, "g", crafted), "must be a uint8 vector of " + std::to_string(size) + " bytes");
  }
  StateDict none;
  EXPECT_THROWS_WITH(train::LoadGenerator(gen, "g", none), "checkpoint has no tensor 'g'");
}

HEXA_TEST(optimizer, sgd_is_torch_optim_sgd_with_momentum_and_weight_decay) {
  const double lr = 0.1, momentum = 0.9, wd = 1e-2;
  at::Tensor p = at::randn({3, 2}, Gen(1), at::kDouble).requires_grad_(true);
  at::Tensor expected = p.detach().clone(), buf;
  train::OptimizerOptions o;
  o.momentum = momentum;
  o.weightDecay = wd;
  train::Optimizer opt({{"w", p}}, o);
  for (int step = 0; step < 3; ++step) {
    const at::Tensor g = at::randn({3, 2}, Gen(10 + step), at::kDouble);
    p.mutable_grad() = g.clone();
    opt.step(lr);
    // torch.optim.SGD: d = g + wd·p; buf = d at the first step, else momentum·buf + d; p -= lr·buf
    const at::Tensor d = g + wd * expected;
    buf = step == 0 ? d.clone() : momentum * buf + d;
    expected = expected - lr * buf;
    EXPECT_CLOSE(p.detach(), expected, 1e-15, 1e-15);
  }
  opt.zeroGrad();
  EXPECT(!p.grad().defined());
  StateDict saved;
  opt.save(saved);
  EXPECT_CLOSE(saved.at("optimizer.w.momentum_buffer"), buf, 1e-15, 1e-15);
  saved["optimizer.w.momentum_buffer"] = at::zeros({2, 3}, at::kDouble);
  EXPECT_THROWS_WITH(opt.load(saved), "checkpoint tensor 'optimizer.w.momentum_buffer' has shape [2, 3]");
}

HEXA_TEST(optimizer, lars_scales_by_the_trust_ratio_and_excludes_biases) {
  const double lr = 0.5, wd = 1e-3, eta = 0.02;
  at::Tensor w = at::randn({4, 3}, Gen(2), at::kDouble).requires_grad_(true);
  at::Tensor b = at::randn({4}, Gen(3), at::kDouble).requires_grad_(true);
  train::OptimizerOptions o;
  o.kind = train::OptimizerOptions::Kind::LARS;
  o.momentum = 0;
  o.weightDecay = wd;
  o.trustCoefficient = eta;
  train::Optimizer opt({{"w", w}, {"b", b}}, o);
  const at::Tensor gw = at::randn({4, 3}, Gen(4), at::kDouble), gb = at::randn({4}, Gen(5), at::kDouble);
  const at::Tensor w0 = w.detach().clone(), b0 = b.detach().clone();
  w.mutable_grad() = gw.clone();
  b.mutable_grad() = gb.clone();
  opt.step(lr);
  const double pn = w0.norm().item<double>(), gn = gw.norm().item<double>();
  EXPECT_CLOSE(w.detach(), w0 - lr * (gw + wd * w0) * (eta * pn / (gn + wd * pn)), 1e-14, 1e-14);
  EXPECT_CLOSE(b.detach(), b0 - lr * gb, 1e-15, 1e-15);  // 1-d: no weight decay, no adaptation
}

HEXA_TEST(trainer, moco_with_both_hard_views_steps_finite_and_resumes_to_the_same_bits) {
  train::MocoOptions o;
  o.encoder = TinyEncoder();
  o.queueSize = 8;
  o.hardViews = BothHardViews();
  o.seed = 3;
  train::MocoTrainer trainer(o);
  const std::vector<at::Tensor> views = {Images(4, 1), Images(4, 2)};
  const train::Metrics first = trainer.step({views}, 0.05);
  EXPECT(AllFinite(first));
  EXPECT(Metric(first, "lossAdv") > 0 && Metric(first, "lossMix") > 0);
  EXPECT(std::abs(Metric(first, "loss") - (Metric(first, "lossClean") + Metric(first, "lossAdv") + Metric(first, "lossMix"))) < 1e-5);

  StateDict saved;
  for (auto& [name, t] : trainer.state()) saved[name] = t.clone();
  train::MocoTrainer resumed(o);
  resumed.loadState(saved);
  // Each trainer gets its own copy of the views (a step may write into them).
  const train::Metrics a = trainer.step({{Images(4, 3), Images(4, 4)}}, 0.05);
  const train::Metrics b = resumed.step({{Images(4, 3), Images(4, 4)}}, 0.05);
  EXPECT(a == b);
  const StateDict sa = trainer.state(), sb = resumed.state();
  EXPECT(sa.size() == sb.size());
  for (const auto& [name, t] : sa) EXPECT(sb.count(name) && t.equal(sb.at(name)));

  StateDict corrupt = saved;
  corrupt["queue_ptr"] = at::tensor({int64_t{8}}, at::kLong);
  EXPECT_THROWS_WITH(resumed.loadState(corrupt), "checkpoint queue_ptr 8 is outside the queue of 8");
  corrupt = saved;
  corrupt["queue"] = at::zeros({8, 7});
  EXPECT_THROWS_WITH(resumed.loadState(corrupt), "checkpoint tensor 'queue' has shape [8, 7]");
}

// The CPU bfloat16 step as precision.test.ts runs it (HEXA_MoCo, channels-last activations
// and filters, bf16 autocast, the caching CPU allocator installed as the addon does), several
// steps. A Node test worker running this step aborted in free() inside LibTorch 2.11's CPU
// convolution backward on an H200 machine's Xeon; under scripts/sanitize.sh this test is the
// ASan/UBSan check that our side of that step (kernels, trainer, allocator) is clean.
HEXA_TEST(trainer, moco_cpu_bfloat16_channels_last_steps_finite) {
  runtime::InstallCpuCachingAllocator();
  train::MocoOptions o;
  o.encoder = TinyEncoder();
  o.encoder.backbone.width = 8;
  o.encoder.outDim = 16;
  o.encoder.backbone.channelsLast = true;
  o.encoder.backbone.computeDtype = at::kBFloat16;
  o.queueSize = 64;
  o.hardViews = BothHardViews();
  o.hardViews.adversarial.steps = 2;
  o.seed = 3;
  train::MocoTrainer trainer(o);
  for (uint64_t s = 0; s < 4; ++s) {
    const std::vector<at::Tensor> views = {at::rand({8, 3, 16, 16}, Gen(10 + 2 * s), at::kFloat),
                                           at::rand({8, 3, 16, 16}, Gen(11 + 2 * s), at::kFloat)};
    const train::Metrics m = trainer.step({views}, 0.1);
    EXPECT(AllFinite(m));
    EXPECT(Metric(m, "lossAdv") > 0 && Metric(m, "lossMix") > 0);
  }
}

HEXA_TEST(trainer, dcluster_with_both_hard_views_clusters_and_steps_finite) {
  train::DClusterOptions o;
  o.encoder = TinyEncoder();
  o.encoder.headBN = true;
  o.prototypes = {3, 4};
  o.datasetSize = 8;
  o.kmeansIterations = 2;
  o.optimizer.kind = train::OptimizerOptions::Kind::LARS;
  o.hardViews = BothHardViews();
  o.seed = 4;
  train::DClusterTrainer trainer(o);
  EXPECT(trainer.wantsInitPass());
  for (int64_t start : {0, 4}) {
    train::StepInputs in{{Images(4, 10 + start), Images(4, 20 + start)}};
    in.indices = at::arange(start, start + 4, at::kLong);
    trainer.observe(in);
  }
  const train::Metrics clustering = trainer.beginEpoch({0, std::nullopt});
  EXPECT(AllFinite(clustering));
  EXPECT(Metric(clustering, "kmeans0.nonEmpty") >= 1 && Metric(clustering, "kmeans1.nonEmpty") >= 1);
  train::StepInputs in{{Images(4, 30), Images(4, 31)}};
  in.indices = at::tensor({1, 6, 2, 5}, at::kLong);
  const train::Metrics m = trainer.step(in, 0.1);
  EXPECT(AllFinite(m));
  EXPECT(Metric(m, "assigned") == 1.0);
  EXPECT(Metric(m, "lossClean") > 0 && Metric(m, "lossAdv") > 0 && Metric(m, "lossMix") > 0);

  in.indices = at::tensor({1, 8, 2, 5}, at::kLong);
  EXPECT_THROWS_WITH(trainer.step(in, 0.1), "indices must be in [0, 8");
  StateDict corrupt = trainer.state();
  corrupt["assignments"] = corrupt["assignments"].clone().fill_(4);
  EXPECT_THROWS_WITH(trainer.loadState(corrupt), "checkpoint assignments of head 0 must be in [0, 3)");
}
