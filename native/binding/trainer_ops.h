// The MoCo/HEXA_MoCo trainer as a type-tagged ObjectWrap (MocoTrainerHandle) and the batched
// augmentation functions that feed it.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>

#include "train/moco_trainer.h"

namespace hexa::binding {

// The trainer plus the lock that serialises its steps: async work holds a shared_ptr, so
// dispose() while a step runs frees it only after the step.
struct SharedTrainer {
  std::mutex mutex;
  std::unique_ptr<train::MocoTrainer> trainer;
};

class MocoTrainerHandle : public Napi::ObjectWrap<MocoTrainerHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<SharedTrainer> t);
  explicit MocoTrainerHandle(const Napi::CallbackInfo& info);

 private:
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Embed(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);
  Napi::Value LoadState(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<SharedTrainer> get(const char* fn) const;
  std::shared_ptr<SharedTrainer> shared_;
};

Napi::Value CreateMocoTrainer(const Napi::CallbackInfo& info);
Napi::Value SampleAugment(const Napi::CallbackInfo& info);
Napi::Value ApplyAugment(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
