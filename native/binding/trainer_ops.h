// Trainers as one type-tagged ObjectWrap (TrainerHandle) made by createTrainer(method,
// options) for every method (native/train/trainer.h), and the batched augmentation functions
// that feed them.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>

#include "train/trainer.h"

namespace hexa::binding {

// The trainer plus the lock that serialises its work: async work holds a shared_ptr, so
// dispose() while a step runs frees it only after the step.
struct SharedTrainer {
  std::mutex mutex;
  std::unique_ptr<train::Trainer> trainer;
};

class TrainerHandle : public Napi::ObjectWrap<TrainerHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<SharedTrainer> t);
  explicit TrainerHandle(const Napi::CallbackInfo& info);

 private:
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Observe(const Napi::CallbackInfo& info);
  Napi::Value BeginEpoch(const Napi::CallbackInfo& info);
  Napi::Value Embed(const Napi::CallbackInfo& info);
  Napi::Value BackboneState(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);
  Napi::Value LoadState(const Napi::CallbackInfo& info);
  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value AugmentGenerator(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<SharedTrainer> get(const char* fn) const;
  std::shared_ptr<SharedTrainer> shared_;
};

Napi::Value CreateTrainer(const Napi::CallbackInfo& info);
Napi::Value SampleAugment(const Napi::CallbackInfo& info);
Napi::Value ApplyAugment(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
