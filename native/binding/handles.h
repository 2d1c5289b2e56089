// ObjectWraps for the native resources JS holds: Tensor and Generator. From() refuses any
// other object, even one whose prototype was borrowed, so a forged handle is a TypeError,
// never a bad cast: a Generator (like the trainer and communicator handles) carries a
// Node-API type tag checked before the cast; a Tensor is looked up in a registry of live
// TensorHandles (one V8 lookup per tensor instead of two: tensors come in lists of hundreds).
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include "binding/compute_queue.h"

#include <memory>
#include <optional>

namespace hexa::binding {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps a tensor into a new JS handle (main thread only).
  static Napi::Object Wrap(Napi::Env env, at::Tensor t);
  // The handle behind v, or nullptr when v is not one.
  static TensorHandle* From(const Napi::Value& v);
  // Tensors held by live handles of this environment (not disposed, not yet collected): for
  // leak checks. Per environment: a worker thread counts its own.
  static int64_t LiveCount(Napi::Env env);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  bool disposed() const { return !tensor_.has_value(); }
  const at::Tensor& tensor() const { return *tensor_; }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  void Release();

  std::optional<at::Tensor> tensor_;
  // This environment's live count, shared: a handle finalized in the environment's teardown
  // may outlive the environment's instance data.
  std::shared_ptr<int64_t> liveCount_;
};

class GeneratorHandle : public Napi::ObjectWrap<GeneratorHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static GeneratorHandle* From(const Napi::Value& v);
  // A JS handle sharing an existing generator (a trainer's): both draw from one stream.
  static Napi::Object Wrap(Napi::Env env, at::Generator gen);
  explicit GeneratorHandle(const Napi::CallbackInfo& info);
  at::Generator& generator() { return gen_; }

 private:
  Napi::Value Seed(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value SetState(const Napi::CallbackInfo& info);
  at::Generator gen_;
};

// Per-environment data: the constructors, kept alive for Wrap(), and the compute thread.
struct AddonData {
  std::unique_ptr<ComputeQueue> compute;
  Napi::FunctionReference tensorCtor;
  Napi::FunctionReference generatorCtor;
  Napi::FunctionReference trainerCtor;
  std::shared_ptr<int64_t> liveTensors = std::make_shared<int64_t>(0);  // TensorHandle::LiveCount (JS thread only)
};

}  // namespace hexa::binding
