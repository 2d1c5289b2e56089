#include "binding/handles.h"

#include "binding/args.h"
#include "binding/errors.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>
#include <unordered_set>

namespace hexa::binding {

namespace {
// Distinct 128-bit tags: Unwrap checks them before any cast. (Tensors: the registry below.)
constexpr napi_type_tag kGeneratorTag = {0x6865786167656e65ULL, 0x7261746f72000001ULL};

// A handle is only made from C++ (Wrap) with this token as its argument; `new Tensor()` from
// JS gets a TypeError instead of an empty handle.
int constructToken;
Napi::External<void> ConstructToken(Napi::Env env) { return Napi::External<void>::New(env, &constructToken); }
bool IsConstructToken(const Napi::Value& v) {
  return v.IsExternal() && v.As<Napi::External<void>>().Data() == &constructToken;
}
// Every TensorHandle object alive in this process (disposed or not), for From(): napi_unwrap plus a set lookup costs
// one V8 private-property lookup per tensor instead of two (type tag, then unwrap); lists of
// hundreds of parameters are unwrapped on every call (62 pairs: 41 -> 23 µs per call, with
// names built only for errors). Any pointer that napi_unwrap returns and is not in the set
// (another class's or another addon's wrap) is refused before any cast. Process-wide, with a
// lock (uncontended: no measurable cost), so it holds whichever thread a finalizer runs on;
// never destroyed, so a finalizer running late in teardown still finds it.
struct TensorRegistry {
  std::mutex mutex;
  std::unordered_set<const void*> handles;
};
TensorRegistry& Registry() {
  static auto* registry = new TensorRegistry();
  return *registry;
}
}  // namespace

Napi::Function TensorHandle::Define(Napi::Env env) {
  return DefineClass(env, "TensorHandle",
                     {
                         InstanceMethod<&TensorHandle::Dispose>("dispose"),
                         InstanceAccessor<&TensorHandle::IsDisposed>("isDisposed"),
                         InstanceAccessor<&TensorHandle::Shape>("shape"),
                         InstanceAccessor<&TensorHandle::Dtype>("dtype"),
                         InstanceAccessor<&TensorHandle::Device>("device"),
                     });
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  if (info.Length() != 1 || !IsConstructToken(info[0])) {
    Napi::TypeError::New(info.Env(), "TensorHandle: handles are made by hexa-torch functions, not with new")
        .ThrowAsJavaScriptException();
    return;
  }
  const std::lock_guard<std::mutex> lock(Registry().mutex);
  Registry().handles.insert(this);
}

TensorHandle::~TensorHandle() {
  Release();
  const std::lock_guard<std::mutex> lock(Registry().mutex);
  Registry().handles.erase(this);
}

void TensorHandle::Release() {
  if (tensor_.has_value()) {
    tensor_.reset();
    --*liveCount_;
  }
}

Napi::Object TensorHandle::Wrap(Napi::Env env, at::Tensor t) {
  auto* data = env.GetInstanceData<AddonData>();
  Napi::Object obj = data->tensorCtor.New({ConstructToken(env)});
  TensorHandle* h = Napi::ObjectWrap<TensorHandle>::Unwrap(obj);
  h->tensor_ = std::move(t);
  h->liveCount_ = data->liveTensors;
  ++*h->liveCount_;
  return obj;
}

int64_t TensorHandle::LiveCount(Napi::Env env) { return *env.GetInstanceData<AddonData>()->liveTensors; }

TensorHandle* TensorHandle::From(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  Napi::Object obj = v.As<Napi::Object>();
  void* wrapped = nullptr;
  if (napi_unwrap(v.Env(), obj, &wrapped) != napi_ok) return nullptr;
  const std::lock_guard<std::mutex> lock(Registry().mutex);
  return Registry().handles.count(wrapped) ? static_cast<TensorHandle*>(wrapped) : nullptr;
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value TensorHandle::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed());
}

Napi::Value TensorHandle::Shape(const Napi::CallbackInfo& info) {
  return Protect(info, "Tensor.shape", [&]() -> Napi::Value {
    if (disposed()) ThrowError("Tensor.shape: the tensor was disposed");
    auto sizes = tensor_->sizes();
    Napi::Array out = Napi::Array::New(info.Env(), sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) out.Set(i, Napi::Number::New(info.Env(), static_cast<double>(sizes[i])));
    return out;
  });
}

Napi::Value TensorHandle::Dtype(const Napi::CallbackInfo& info) {
  return Protect(info, "Tensor.dtype", [&]() -> Napi::Value {
    if (disposed()) ThrowError("Tensor.dtype: the tensor was disposed");
    return Napi::String::New(info.Env(), DtypeName(tensor_->scalar_type()));
  });
}

Napi::Value TensorHandle::Device(const Napi::CallbackInfo& info) {
  return Protect(info, "Tensor.device", [&]() -> Napi::Value {
    if (disposed()) ThrowError("Tensor.device: the tensor was disposed");
    return Napi::String::New(info.Env(), DeviceName(tensor_->device()));
  });
}

// ---- Generator ---------------------------------------------------------------------------

Napi::Function GeneratorHandle::Define(Napi::Env env) {
  return DefineClass(env, "Generator",
                     {
                         InstanceMethod<&GeneratorHandle::Seed>("seed"),
                         InstanceMethod<&GeneratorHandle::GetState>("getState"),
                         InstanceMethod<&GeneratorHandle::SetState>("setState"),
                     });
}

// new Generator(seed): a CPU Philox/MT generator of its own. Random numbers for tensors on
// any device are drawn on the CPU from it, so a seed gives the same numbers on CPU and CUDA.
GeneratorHandle::GeneratorHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<GeneratorHandle>(info), gen_(at::make_generator<at::CPUGeneratorImpl>()) {
  if (info.Length() == 1 && IsConstructToken(info[0])) {  // Wrap(): the generator is set right after
    info.This().As<Napi::Object>().TypeTag(&kGeneratorTag);
    return;
  }
  Protect(info, "Generator", [&]() -> Napi::Value {
    Args args(info, "Generator");
    int64_t seed = args.integer(0, "seed", 0, (int64_t{1} << 53) - 1);
    gen_.set_current_seed(static_cast<uint64_t>(seed));
    info.This().As<Napi::Object>().TypeTag(&kGeneratorTag);
    return info.Env().Undefined();
  });
}

Napi::Object GeneratorHandle::Wrap(Napi::Env env, at::Generator gen) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->generatorCtor.New({ConstructToken(env)});
  Napi::ObjectWrap<GeneratorHandle>::Unwrap(obj)->gen_ = std::move(gen);
  return obj;
}

GeneratorHandle* GeneratorHandle::From(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  Napi::Object obj = v.As<Napi::Object>();
  if (!obj.CheckTypeTag(&kGeneratorTag)) return nullptr;
  return Napi::ObjectWrap<GeneratorHandle>::Unwrap(obj);
}

Napi::Value GeneratorHandle::Seed(const Napi::CallbackInfo& info) {
  return Protect(info, "Generator.seed", [&]() -> Napi::Value {
    Args args(info, "Generator.seed");
    int64_t seed = args.integer(0, "seed", 0, (int64_t{1} << 53) - 1);
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_current_seed(static_cast<uint64_t>(seed));
    return info.Env().Undefined();
  });
}

// The full state as bytes, for checkpoints: setState(getState()) resumes the exact stream.
Napi::Value GeneratorHandle::GetState(const Napi::CallbackInfo& info) {
  return Protect(info, "Generator.getState", [&]() -> Napi::Value {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    at::Tensor state = gen_.get_state();
    auto out = Napi::Uint8Array::New(info.Env(), state.numel());
    std::memcpy(out.Data(), state.data_ptr<uint8_t>(), state.numel());
    return out;
  });
}

Napi::Value GeneratorHandle::SetState(const Napi::CallbackInfo& info) {
  return Protect(info, "Generator.setState", [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowTypeError("Generator.setState: state must be a Uint8Array from getState(), got " + Describe(info[0]));
    }
    auto bytes = info[0].As<Napi::Uint8Array>();
    at::Tensor state = at::empty({static_cast<int64_t>(bytes.ElementLength())}, at::kByte);
    std::memcpy(state.data_ptr<uint8_t>(), bytes.Data(), bytes.ElementLength());
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_state(state);  // throws c10::Error on a wrong size: reported by Protect
    return info.Env().Undefined();
  });
}

}  // namespace hexa::binding
