// Exported evaluation functions (native/eval/): kNN, the linear probe, backbone features and
// few-label fine-tuning of torchvision-named backbones.
#pragma once
#include <napi.h>

namespace hexa::binding {

Napi::Value KnnPredict(const Napi::CallbackInfo& info);
Napi::Value TrainLinearClassifier(const Napi::CallbackInfo& info);
Napi::Value ClassifierAccuracy(const Napi::CallbackInfo& info);
Napi::Value BackboneFeatures(const Napi::CallbackInfo& info);
Napi::Value FineTune(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
