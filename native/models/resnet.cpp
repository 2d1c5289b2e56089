#include "models/resnet.h"

#include <ATen/autocast_mode.h>

#include <optional>

#include <torch/torch.h>

namespace hexa::models {

namespace {

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

// A block's shortcut convolution (1x1, stride s, no padding). With fewer than 16 input channels,
// channels-last input and s > 1, on the CPU it runs as the same sums spelled another way: a 1x1
// convolution with stride 1 of x[:, :, ::s, ::s] (the only pixels a strided 1x1 reads). Why:
// the backward-weights primitive oneDNN picks for the strided form on AVX-512 CPUs
// (jit_1x1:avx512_core; LibTorch 2.13 and 2.14 here, very likely 2.11 on a Xeon) writes past
// its workspace (oneDNN issue #6035: booked for the real channel count per pixel, addressed with
// the 16-channel block; 8 for the AVX2 kernel) and corrupts the heap at most intra-op thread
// counts: 3, 5, 7, 12, 16 and 24 aborted in free() or crashed, 1, 2, 4, 6 and 8 did not, in
// plain PyTorch too, at 2 to 15 input channels (16 and more were clean; stride 1 and 3x3
// filters too). A width-8 ResNet-18 has such a shortcut (8 -> 16 channels);
// width 16 and up have none. scripts/repro/onednn_strided_1x1.py shows it in plain PyTorch;
// test/cpp/models_test.cpp runs this path at 5 threads against the float64 network
// (docs/troubleshooting.md).
torch::Tensor ShortcutConv(torch::nn::Conv2d& conv, const torch::Tensor& x) {
  const auto& o = conv->options;
  const int64_t stride = o.stride()->at(0);
  const bool oneDnnFaults = x.device().is_cpu() && stride > 1 && o.in_channels() < 16 &&
                            x.is_contiguous(at::MemoryFormat::ChannelsLast);
  if (!oneDnnFaults) return conv->forward(x);
  const at::Tensor picked = x.slice(2, 0, std::nullopt, stride).slice(3, 0, std::nullopt, stride);
  return torch::conv2d(picked.contiguous(at::MemoryFormat::ChannelsLast), conv->weight);
}

// torchvision BasicBlock (expansion 1) and Bottleneck (expansion 4, stride on conv2 = v1.5).
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t in, int64_t planes, int64_t stride, bool bottleneck, bool aux) : bottleneck_(bottleneck) {
    const int64_t out = planes * (bottleneck ? 4 : 1);
    if (bottleneck) {
      conv1 = register_module("conv1", Conv(in, planes, 1, 1));
      bn1 = register_module("bn1", BatchNorm2d(planes, aux));
      conv2 = register_module("conv2", Conv(planes, planes, 3, stride));
      bn2 = register_module("bn2", BatchNorm2d(planes, aux));
      conv3 = register_module("conv3", Conv(planes, out, 1, 1));
      bn3 = register_module("bn3", BatchNorm2d(out, aux));
    } else {
      conv1 = register_module("conv1", Conv(in, planes, 3, stride));
      bn1 = register_module("bn1", BatchNorm2d(planes, aux));
      conv2 = register_module("conv2", Conv(planes, planes, 3, 1));
      bn2 = register_module("bn2", BatchNorm2d(planes, aux));
    }
    if (stride != 1 || in != out) {
      downConv = Conv(in, out, 1, stride);
      downBN = BatchNorm2d(out, aux);
      // Registered as torchvision names them (downsample.0 / downsample.1), run by forward below.
      downsample = register_module("downsample", torch::nn::Sequential(downConv, downBN));
    }
  }

  // Each BatchNorm takes the ReLU (and the last one the residual add) that follows it, so the
  // fused kernel can run them in one pass (BatchNorm2dImpl::forwardAct).
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = bn1->forwardAct(conv1(x), std::nullopt, true);
    const torch::Tensor identity = downsample ? downBN->forward(ShortcutConv(downConv, x)) : x;
    if (!bottleneck_) return bn2->forwardAct(conv2(y), identity, true);
    y = bn2->forwardAct(conv2(y), std::nullopt, true);
    return bn3->forwardAct(conv3(y), identity, true);
  }

 private:
  bool bottleneck_;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
  torch::nn::Conv2d downConv{nullptr};
  BatchNorm2d downBN{nullptr};
};
TORCH_MODULE(Block);

}  // namespace

ResNetImpl::ResNetImpl(const ResNetOptions& o) : options_(o) {
  TORCH_CHECK(o.arch == "resnet18" || o.arch == "resnet50", "arch must be 'resnet18' or 'resnet50', got '", o.arch, "'");
  TORCH_CHECK(o.width >= 1 && o.width <= 1024, "width must be in [1, 1024], got ", o.width);
  const bool bottleneck = o.arch == "resnet50";
  const std::vector<int64_t> depth = bottleneck ? std::vector<int64_t>{3, 4, 6, 3} : std::vector<int64_t>{2, 2, 2, 2};
  conv1 = register_module("conv1", o.cifarStem ? Conv(3, o.width, 3, 1)
                                               : torch::nn::Conv2d(torch::nn::Conv2dOptions(3, o.width, 7).stride(2).padding(3).bias(false)));
  bn1 = register_module("bn1", BatchNorm2d(o.width, o.auxBN));
  int64_t in = o.width;
  torch::nn::Sequential* layers[] = {&layer1, &layer2, &layer3, &layer4};
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t planes = o.width << stage;
    torch::nn::Sequential seq;
    for (int64_t b = 0; b < depth[stage]; ++b) {
      const int64_t stride = (b == 0 && stage > 0) ? 2 : 1;
      seq->push_back(Block(in, planes, stride, bottleneck, o.auxBN));
      in = planes * (bottleneck ? 4 : 1);
    }
    *layers[stage] = register_module("layer" + std::to_string(stage + 1), seq);
  }
  featureDim_ = in;
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    auto* c = m->as<torch::nn::Conv2d>();
    if (c == nullptr) continue;
    // torchvision's initialisation: Kaiming normal (fan_out, relu) for convolutions.
    torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    // NHWC activations with NCHW filters made every convolution copy its filter to NHWC,
    // forward and backward (ATen's mkldnn_convolution), 187 copies per HEXA_MoCo step at batch
    // 64; filters kept channels-last skip them (3% per step here, docs/performance.md). Values,
    // state dicts and checkpoints are the same: only the memory order differs.
    if (o.channelsLast) c->weight.set_data(c->weight.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

namespace {
// torch.autocast(device, dtype) for the current thread, restoring what was set before.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, at::ScalarType dtype)
      : device_(device),
        wasEnabled_(at::autocast::is_autocast_enabled(device)),
        wasDtype_(at::autocast::get_autocast_dtype(device)) {
    at::autocast::set_autocast_enabled(device, true);
    at::autocast::set_autocast_dtype(device, dtype);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    // The cast weights are cached while any autocast scope is open; the outermost one drops them.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(device_, wasEnabled_);
    at::autocast::set_autocast_dtype(device_, wasDtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool wasEnabled_;
  at::ScalarType wasDtype_;
};
}  // namespace

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  if (options_.channelsLast) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  std::optional<AutocastScope> autocast;
  if (options_.computeDtype != at::kFloat) autocast.emplace(x.device().type(), options_.computeDtype);
  x = bn1->forwardAct(conv1(x), std::nullopt, true);
  if (!options_.cifarStem) x = torch::max_pool2d(x, 3, 2, 1);
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  return x.mean({2, 3}).to(at::kFloat);
}

EncoderImpl::EncoderImpl(const EncoderOptions& o) : options_(o) {
  TORCH_CHECK(o.mean.size() == 3 && o.std.size() == 3, "mean and std need 3 values");
  backbone = register_module("backbone", ResNet(o.backbone));
  const int64_t f = backbone->featureDim();
  const int64_t hidden = o.headHidden > 0 ? o.headHidden : f;
  // torch.nn.Linear's default initialisation (kaiming_uniform a=sqrt(5)). The DeepCluster
  // head's BN follows the same BatchNormMode rules as the backbone's (attacks record nothing).
  head = o.headBN ? register_module("head", torch::nn::Sequential(torch::nn::Linear(f, hidden), BatchNorm2d(hidden, false),
                                                                  torch::nn::ReLU(), torch::nn::Linear(hidden, o.outDim)))
                  : register_module("head", torch::nn::Sequential(torch::nn::Linear(f, hidden), torch::nn::ReLU(),
                                                                  torch::nn::Linear(hidden, o.outDim)));
  input_mean = register_buffer("input_mean", torch::tensor(o.mean, torch::kFloat).view({1, 3, 1, 1}));
  input_std = register_buffer("input_std", torch::tensor(o.std, torch::kFloat).view({1, 3, 1, 1}));
}

torch::Tensor EncoderImpl::features(const torch::Tensor& images) {
  return backbone->forward((images - input_mean) / input_std);
}

torch::Tensor EncoderImpl::project(const torch::Tensor& f) {
  return torch::nn::functional::normalize(head->forward(f), torch::nn::functional::NormalizeFuncOptions().dim(1));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& images) { return project(features(images)); }

torch::Tensor EvalFeatures(EncoderImpl& encoder, const torch::Tensor& images, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const bool wasTraining = encoder.is_training();
  encoder.eval();
  torch::Tensor f = encoder.features(images.to(device));
  if (wasTraining) encoder.train();
  return f;
}

std::map<std::string, torch::Tensor> BackboneState(EncoderImpl& encoder) {
  std::map<std::string, torch::Tensor> out;
  for (auto& p : encoder.backbone->named_parameters())
    if (p.key().find("aux_") == std::string::npos) out[p.key()] = p.value().detach();
  for (auto& b : encoder.backbone->named_buffers())
    if (b.key().find("aux_") == std::string::npos) out[b.key()] = b.value();
  return out;
}

void CopyWeights(torch::nn::Module& target, const torch::nn::Module& source) {
  torch::NoGradGuard no_grad;
  auto src = source.named_parameters();
  for (auto& p : target.named_parameters()) p.value().copy_(src[p.key()]);
  auto srcBuffers = source.named_buffers();
  for (auto& b : target.named_buffers()) b.value().copy_(srcBuffers[b.key()]);
}

}  // namespace hexa::models
