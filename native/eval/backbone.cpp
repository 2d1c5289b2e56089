#include "eval/backbone.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <map>

#include "kernels/augment.h"
#include "train/optimizer.h"

namespace hexa::eval {

namespace {

// uint8 or float images [n, 1|3, H, W] -> float [n, 3, H, W] in [0, 1], normalised.
at::Tensor Normalised(const BackboneSpec& spec, const at::Tensor& images) {
  at::Tensor x = images.scalar_type() == at::kByte ? images.to(at::kFloat).div_(255.0) : images.to(at::kFloat);
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
  const at::Tensor mean = at::tensor(spec.mean, at::kFloat).view({1, 3, 1, 1});
  const at::Tensor std = at::tensor(spec.std, at::kFloat).view({1, 3, 1, 1});
  return (x - mean) / std;
}

void CheckImages(const char* fn, const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), fn, ": images must be [N, 1 or 3, H, W], got ",
              images.sizes());
}

}  // namespace

models::ResNet LoadBackbone(const BackboneSpec& spec, const train::StateDict& state) {
  models::ResNetOptions o = spec.resnet;
  o.auxBN = false;
  models::ResNet net(o);
  std::map<std::string, at::Tensor> own;
  for (auto& p : net->named_parameters()) own[p.key()] = p.value();
  for (auto& b : net->named_buffers()) own[b.key()] = b.value();
  train::StateDict loaded;
  for (const auto& [k, v] : state) {
    if (k.rfind("fc.", 0) == 0) continue;
    auto it = own.find(k);
    TORCH_CHECK(it != own.end(), "the weights have a tensor '", k, "' that a ", o.arch, " of width ", o.width, (o.cifarStem ? " (CIFAR stem)" : ""),
                " does not have: not a torchvision ", o.arch, " backbone");
    // Half- or double-precision files (common exports) load into the float32 network.
    const bool bothFloating = at::isFloatingType(v.scalar_type()) && at::isFloatingType(it->second.scalar_type());
    loaded[k] = bothFloating ? v.to(it->second.scalar_type()) : v;
  }
  // torchvision files saved before PyTorch 0.4.1 have no num_batches_tracked (BatchNorm
  // loads them anyway); it only counts batches, so such a network starts it at 0.
  for (const auto& [k, t] : own) {
    const std::string suffix = "num_batches_tracked";
    if (!loaded.count(k) && k.size() >= suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0) loaded[k] = at::zeros_like(t);
  }
  train::LoadModule(*net, "", loaded);
  return net;
}

at::Tensor BackboneFeatures(const BackboneSpec& spec, const train::StateDict& state, const at::Tensor& images, int64_t batchSize) {
  CheckImages("backboneFeatures", images);
  models::ResNet net = LoadBackbone(spec, state);
  net->eval();
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < images.size(0); start += batchSize) {
    parts.push_back(net->forward(Normalised(spec, images.narrow(0, start, std::min(batchSize, images.size(0) - start)))));
  }
  if (parts.empty()) return at::zeros({0, net->featureDim()});
  return at::cat(parts);
}

FineTuneResult FineTune(const BackboneSpec& spec, const train::StateDict& state, const at::Tensor& images, const at::Tensor& labelsIn,
                        const FineTuneOptions& o) {
  CheckImages("fineTune", images);
  const int64_t n = images.size(0);
  TORCH_CHECK(n >= 1, "fineTune: no labelled images");
  const at::Tensor labels = labelsIn.to(at::kCPU, at::kLong, false, /*copy=*/true);
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == n, "fineTune: labels must be [N] with N = ", n);
  TORCH_CHECK(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < o.classes, "fineTune: labels must lie in [0, ",
              o.classes, ")");
  // The state may carry the head and momentum buffers of an earlier call: the backbone's own.
  train::StateDict backbone;
  for (const auto& [k, v] : state)
    if (k.rfind("optimizer.", 0) != 0) backbone[k] = v;
  models::ResNet net = LoadBackbone(spec, backbone);
  net->train();
  // Every call draws from its own stream: (seed, firstStep) decides the batches and views.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed * 1000003ULL + static_cast<uint64_t>(o.firstStep));
  torch::nn::Linear head(net->featureDim(), o.classes);
  {
    torch::NoGradGuard no_grad;
    auto w = state.find("fc.weight");
    if (w == state.end()) {
      head->weight.normal_(0.0, 0.01, gen);
      head->bias.zero_();
    } else {
      head->weight.copy_(train::TakeLike(state, "fc.weight", head->weight));
      head->bias.copy_(train::TakeLike(state, "fc.bias", head->bias));
    }
  }
  std::vector<std::pair<std::string, at::Tensor>> trunkParams, headParams = {{"fc.weight", head->weight}, {"fc.bias", head->bias}};
  for (auto& p : net->named_parameters()) trunkParams.emplace_back(p.key(), p.value());
  train::OptimizerOptions opt;
  opt.momentum = o.momentum;
  opt.weightDecay = o.weightDecay;
  train::Optimizer trunk(trunkParams, opt), headOpt(headParams, opt);
  trunk.load(state);
  headOpt.load(state);

  kernels::AugmentOptions aug;
  aug.scaleMin = o.scaleMin;
  aug.jitterP = 0;
  aug.grayscaleP = 0;
  aug.blurP = 0;
  const int64_t h = images.size(2), w = images.size(3), batch = std::min(o.batchSize, n);
  double lossSum = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    const at::Tensor idx = at::randperm(n, gen, at::kLong).narrow(0, 0, batch);
    at::Tensor x = images.index_select(0, idx);
    if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1}).contiguous();
    x = kernels::ApplyAugment(x, kernels::SampleAugment(batch, h, w, aug, gen), h, w);
    const at::Tensor loss = torch::nn::functional::cross_entropy(head->forward(net->forward(Normalised(spec, x))), labels.index_select(0, idx));
    trunk.zeroGrad();
    headOpt.zeroGrad();
    loss.backward();
    trunk.step(o.lrTrunk);
    headOpt.step(o.lrHead);
    lossSum += loss.item<double>();
  }
  FineTuneResult r;
  r.meanLoss = o.steps > 0 ? lossSum / static_cast<double>(o.steps) : 0.0;
  for (auto& p : net->named_parameters()) r.state[p.key()] = p.value().detach().clone();
  for (auto& b : net->named_buffers()) r.state[b.key()] = b.value().clone();
  r.state["fc.weight"] = head->weight.detach().clone();
  r.state["fc.bias"] = head->bias.detach().clone();
  trunk.save(r.state);
  headOpt.save(r.state);
  return r;
}

}  // namespace hexa::eval
