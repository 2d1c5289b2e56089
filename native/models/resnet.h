// ResNet-18/50 with torchvision's layout and parameter names (conv1, bn1, layer1.0.conv1, ...,
// downsample.0/1), so a backbone's weights load into torchvision.models.resnet* (minus fc).
// Options: a CIFAR stem (3x3 conv, stride 1, no max-pool), a base width for small CPU runs,
// and auxiliary BN (AdvProp) for adversarial views.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <map>
#include <string>

#include "models/batch_norm.h"

namespace hexa::models {

struct ResNetOptions {
  std::string arch = "resnet18";  // resnet18 | resnet50
  int64_t width = 64;             // channels of the first stage (torchvision: 64)
  bool cifarStem = false;
  bool auxBN = false;
  // Activations and convolution filters in NHWC (channels_last), as PyTorch's
  // model.to(memory_format=torch.channels_last): oneDNN's and cuDNN's convolutions run faster on
  // NHWC input (measured on this 2-core CPU: ~25% less CPU time for a ResNet-18 w16 forward +
  // backward), and NHWC filters spare each convolution a filter copy. Only the memory order
  // differs: values, state dicts and checkpoints (written contiguous) are the same.
  bool channelsLast = false;
  // The dtype convolutions and matrix products run in: float32, or bfloat16 / float16 through
  // LibTorch's autocast (as torch.autocast), on CPU (bf16 with AVX512-BF16/AMX: ~40% less CPU
  // time for ResNet-18 w16 here) and CUDA. float16 needs the trainer's loss scale (GradScaler). Parameters, BN statistics, the pooled features (cast back to float32) and
  // everything after them (head, losses, PGD updates, optimizer) stay float32.
  at::ScalarType computeDtype = at::kFloat;
};

class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  // Globally average-pooled features [N, featureDim()].
  torch::Tensor forward(torch::Tensor x);
  int64_t featureDim() const { return featureDim_; }

 private:
  ResNetOptions options_;
  int64_t featureDim_ = 0;
  torch::nn::Conv2d conv1{nullptr};
  BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
};
TORCH_MODULE(ResNet);

// Backbone + projection head + L2 normalisation; input normalisation (x - mean) / std is the
// first layer, so attacks and clamps work in [0, 1] pixel space. The head is MoCo-v2's
// (Linear, ReLU, Linear) or, with headBN, DeepCluster-v2's (Linear, BN, ReLU, Linear).
struct EncoderOptions {
  ResNetOptions backbone;
  int64_t outDim = 128;
  int64_t headHidden = 0;  // hidden width of the head; 0 = the backbone's feature width
  bool headBN = false;
  std::vector<double> mean = {0.4914, 0.4822, 0.4465};  // CIFAR-10
  std::vector<double> std = {0.2470, 0.2435, 0.2616};
};

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const EncoderOptions& options);
  // L2-normalised embeddings [N, outDim].
  torch::Tensor forward(const torch::Tensor& images);
  // Backbone features (pooled, not normalised) [N, featureDim]: what evaluation uses.
  torch::Tensor features(const torch::Tensor& images);
  // The head and L2 normalisation on features (multi-crop runs the head once on all crops).
  torch::Tensor project(const torch::Tensor& features);
  const EncoderOptions& options() const { return options_; }

  ResNet backbone{nullptr};
  torch::nn::Sequential head{nullptr};
  torch::Tensor input_mean, input_std;

 private:
  EncoderOptions options_;
};
TORCH_MODULE(Encoder);

// Copies every parameter and buffer of `source` into `target` (same architecture).
void CopyWeights(torch::nn::Module& target, const torch::nn::Module& source);

// Backbone features of images in eval mode, no grad, on the encoder's `device`; the encoder's
// train/eval mode is restored after.
torch::Tensor EvalFeatures(EncoderImpl& encoder, const torch::Tensor& images, const torch::Device& device);

// The backbone's parameters and buffers with torchvision's names (auxiliary BN left out).
std::map<std::string, torch::Tensor> BackboneState(EncoderImpl& encoder);

}  // namespace hexa::models
