// A ResNet backbone built from a torchvision-named state dict (ours, or any torchvision
// resnet18/50 file), for evaluation: pooled features of frozen weights, and few-label
// fine-tuning of the whole network with a new linear head (swav's eval_semisup.py, scaled).
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "models/resnet.h"
#include "train/state_dict.h"

namespace hexa::eval {

struct BackboneSpec {
  models::ResNetOptions resnet;
  // Input normalisation (x - mean) / std of images in [0, 1].
  std::vector<double> mean = {0.4914, 0.4822, 0.4465};
  std::vector<double> std = {0.2470, 0.2435, 0.2616};
};

// Builds the ResNet of `spec` and copies every parameter and buffer from `state` (strict:
// names, shapes, dtypes). Keys of the classifier (fc.*) are allowed and ignored; any other key
// the network does not have is an error (a resnet34 file must not load as a resnet18).
models::ResNet LoadBackbone(const BackboneSpec& spec, const train::StateDict& state);

// Pooled features [N, D] (float32, CPU) of images uint8 [N, C, H, W] (or float in [0, 1]; one
// channel is repeated to three), the network in eval mode, `batchSize` images at a time.
at::Tensor BackboneFeatures(const BackboneSpec& spec, const train::StateDict& state, const at::Tensor& images, int64_t batchSize);

struct FineTuneOptions {
  int64_t classes = 10;
  int64_t steps = 100;      // optimizer steps of this call
  int64_t firstStep = 0;    // steps already done (with the seed, decides this call's batches)
  int64_t batchSize = 64;
  double lrTrunk = 0.01;    // swav: 10% labels trunk 0.01 / head 0.2; 1%: 0.02 / 5 (batch 256)
  double lrHead = 0.2;
  double weightDecay = 0.0;
  double momentum = 0.9;
  double scaleMin = 0.2;    // RandomResizedCrop area range [scaleMin, 1] and a horizontal flip
  uint64_t seed = 0;
};

struct FineTuneResult {
  // The backbone (torchvision names), the head (fc.weight, fc.bias) and the momentum buffers
  // (optimizer.<name>.momentum_buffer): pass it back in to continue.
  train::StateDict state;
  double meanLoss = 0;
};

// `steps` SGD steps on random batches (drawn without replacement within a batch) of the
// labelled images, each augmented (RandomResizedCrop + flip), the network in train mode.
// `state` holds the backbone and, when continuing, the head and momentum buffers; without
// fc.weight a new head is initialised N(0, 0.01), bias 0.
FineTuneResult FineTune(const BackboneSpec& spec, const train::StateDict& state, const at::Tensor& images, const at::Tensor& labels,
                        const FineTuneOptions& options);

}  // namespace hexa::eval
