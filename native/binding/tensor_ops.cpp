#include "binding/tensor_ops.h"

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/errors.h"
#include "binding/handles.h"

#include <ATen/ExpandUtils.h>

#include <cstring>
#include <sstream>
#include <variant>

namespace hexa::binding {

namespace {

Napi::Value WrapTensor(Napi::Env env, at::Tensor& t) { return TensorHandle::Wrap(env, std::move(t)); }

// Runs `op` off the event loop and resolves with a new Tensor handle.
template <class Op>
Napi::Promise AsyncTensor(const Args& a, Op op) {
  return RunAsync(a.env(), a.fn(), std::move(op), WrapTensor);
}

// A second operand that is a Tensor or a finite number.
using Operand = std::variant<at::Tensor, double>;
Operand TensorOrNumber(const Args& a, size_t i, const char* name) {
  if (a.at(i).IsNumber()) return a.number(i, name);
  if (!TensorHandle::From(a.at(i))) a.typeError(name, "a Tensor or a finite number", a.at(i));
  return a.tensor(i, name);
}

// dims: undefined (all), an integer, or an array of integers; each checked against x.dim().
std::vector<int64_t> Dims(const Args& a, size_t i, const char* name, const at::Tensor& x) {
  const int64_t d = std::max<int64_t>(x.dim(), 1);
  std::vector<int64_t> out;
  if (!a.has(i)) return out;
  if (a.at(i).IsArray()) {
    Napi::Array arr = a.at(i).As<Napi::Array>();
    for (uint32_t k = 0; k < arr.Length(); ++k) {
      Napi::Value v = arr.Get(k);
      if (!v.IsNumber()) a.typeError(std::string(name) + "[" + std::to_string(k) + "]", "an integer", v);
      double dv = v.As<Napi::Number>().DoubleValue();
      if (dv != std::floor(dv) || dv < -d || dv >= d)
        a.rangeError(std::string(name) + "[" + std::to_string(k) + "]",
                     "an integer in [" + std::to_string(-d) + ", " + std::to_string(d - 1) + "]", v);
      out.push_back(static_cast<int64_t>(dv));
    }
    return out;
  }
  out.push_back(a.integer(i, name, -d, d - 1));
  return out;
}

double Numel(at::IntArrayRef shape) {
  double n = 1;
  for (int64_t d : shape) n *= static_cast<double>(d);
  return n;
}

// A result of `shape` and `dtype` on `device` must fit in memory (args.h).
void CheckResultFits(const Args& a, const std::string& what, at::IntArrayRef shape, at::ScalarType dtype,
                     const at::Device& device) {
  CheckFitsInMemory(a.fn(), what, Numel(shape) * static_cast<double>(c10::elementSize(dtype)), device);
}

bool KeepDim(const Args& a, size_t i) {
  if (!a.has(i)) return false;
  if (!a.at(i).IsBoolean()) a.typeError("keepdim", "a boolean", a.at(i));
  return a.at(i).As<Napi::Boolean>().Value();
}

template <class Random>
Napi::Value RandomTensor(const Napi::CallbackInfo& info, const char* fn, Random draw) {
  Args a(info, fn);
  auto shape = a.shape(0, "shape");
  Options o(a, 1, "options");
  auto dtype = o.dtype("dtype", at::kFloat);
  if (!at::isFloatingType(dtype)) a.rangeError("options.dtype", "a floating dtype", o.has("dtype") ? info[1].As<Napi::Object>().Get("dtype") : info.Env().Undefined());
  auto device = o.device("device", at::Device(at::kCPU));
  auto gen = o.generator("generator");
  // Drawn in float64 on the CPU, then cast (and moved) to the result.
  CheckFitsInMemory(a.fn(), "shape " + ShapeText(shape) + " (drawn in float64 on the cpu)",
                    Numel(shape) * (8.0 + (device.is_cpu() ? static_cast<double>(c10::elementSize(dtype)) : 0.0)));
  return AsyncTensor(a, [=]() mutable {
    // Drawn on the CPU in float64 then cast: a seed gives the same numbers on every device.
    at::Tensor t = draw(shape, gen, at::TensorOptions().dtype(at::kDouble));
    return t.to(device, dtype);
  });
}

}  // namespace

// fromTypedArray(array, shape, dtype?): always copies (the tensor owns its memory, so async
// ops never race the JS heap and JS may reuse the array at once).
Napi::Value FromTypedArray(const Napi::CallbackInfo& info) {
  Args a(info, "tensor");
  Napi::Value v = a.at(0);
  if (!v.IsTypedArray()) a.typeError("data", "a typed array (Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array, Uint16Array)", v);
  auto ta = v.As<Napi::TypedArray>();
  auto shape = a.shape(1, "shape");
  at::ScalarType source;
  switch (ta.TypedArrayType()) {
    case napi_float32_array: source = at::kFloat; break;
    case napi_float64_array: source = at::kDouble; break;
    case napi_int32_array: source = at::kInt; break;
    case napi_bigint64_array: source = at::kLong; break;
    case napi_uint8_array: source = at::kByte; break;
    case napi_uint16_array: source = at::kHalf; break;  // raw float16/bfloat16 bits
    default:
      a.typeError("data", "a Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array or Uint16Array", v);
  }
  at::ScalarType dtype = a.has(2) ? a.dtype(2, "dtype") : source;
  if (source == at::kHalf) {
    if (!a.has(2) || (dtype != at::kHalf && dtype != at::kBFloat16))
      a.typeError("dtype", "'float16' or 'bfloat16' for a Uint16Array (raw bits)", a.has(2) ? a.at(2) : info.Env().Undefined());
    source = dtype;
  }
  int64_t numel = 1;
  for (auto s : shape) numel *= s;
  if (numel != static_cast<int64_t>(ta.ElementLength())) {
    ThrowRangeError(std::string("tensor: shape has ") + std::to_string(numel) + " elements but data has " +
                    std::to_string(ta.ElementLength()));
  }
  // The data pointer from napi_get_typedarray_info, which also serves arrays over a
  // SharedArrayBuffer (ta.ArrayBuffer().Data() fails for those with a bare "Invalid argument").
  void* data = nullptr;
  if (napi_get_typedarray_info(info.Env(), v, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok ||
      (data == nullptr && numel > 0))
    a.typeError("data", "a typed array whose memory can be read", v);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(source));
  const auto* bytes = static_cast<const uint8_t*>(data);
  if (numel > 0) std::memcpy(t.data_ptr(), bytes, numel * at::elementSize(source));
  if (dtype == at::kBool) t = t.ne(0);
  else if (dtype != source) t = t.to(dtype);
  return TensorHandle::Wrap(info.Env(), std::move(t));
}

Napi::Value Zeros(const Napi::CallbackInfo& info) {
  Args a(info, "zeros");
  auto shape = a.shape(0, "shape");
  Options o(a, 1, "options");
  auto dtype = o.dtype("dtype", at::kFloat);
  auto device = o.device("device", at::Device(at::kCPU));
  CheckResultFits(a, "shape " + ShapeText(shape) + " (" + DtypeName(dtype) + ")", shape, dtype, device);
  return AsyncTensor(a, [=] { return at::zeros(shape, at::TensorOptions().dtype(dtype).device(device)); });
}

Napi::Value Rand(const Napi::CallbackInfo& info) {
  return RandomTensor(info, "rand", [](const std::vector<int64_t>& s, std::optional<at::Generator> g, at::TensorOptions o) {
    return at::rand(s, g, o);
  });
}

Napi::Value Randn(const Napi::CallbackInfo& info) {
  return RandomTensor(info, "randn", [](const std::vector<int64_t>& s, std::optional<at::Generator> g, at::TensorOptions o) {
    return at::randn(s, g, o);
  });
}

// data(t): a private CPU copy handed to JS without a second copy: the ArrayBuffer owns the
// copied tensor's memory. float16/bfloat16 come back as Float32Array, bool as Uint8Array.
Napi::Value Data(const Napi::CallbackInfo& info) {
  Args a(info, "data");
  at::Tensor t = a.tensor(0, "tensor");
  return RunAsync(
      a.env(), "data",
      [t] {
        at::ScalarType out = t.scalar_type();
        if (out == at::kHalf || out == at::kBFloat16) out = at::kFloat;
        if (out == at::kBool) out = at::kByte;
        return t.to(at::kCPU, out, /*non_blocking=*/false, /*copy=*/true).contiguous();
      },
      [](Napi::Env env, at::Tensor& r) -> Napi::Value {
        const size_t n = static_cast<size_t>(r.numel());
        const size_t bytes = n * r.element_size();
        auto* owner = new at::Tensor(r);
        Napi::ArrayBuffer buf;
        if (bytes == 0) {
          delete owner;
          buf = Napi::ArrayBuffer::New(env, 0);
        } else {
          buf = Napi::ArrayBuffer::New(env, owner->data_ptr(), bytes, [](Napi::Env, void*, at::Tensor* o) { delete o; }, owner);
        }
        switch (r.scalar_type()) {
          case at::kFloat: return Napi::Float32Array::New(env, n, buf, 0);
          case at::kDouble: return Napi::Float64Array::New(env, n, buf, 0);
          case at::kInt: return Napi::Int32Array::New(env, n, buf, 0);
          case at::kLong: return Napi::BigInt64Array::New(env, n, buf, 0);
          case at::kByte: return Napi::Uint8Array::New(env, n, buf, 0);
          default: ThrowTypeError(std::string("data: unsupported dtype ") + c10::toString(r.scalar_type()));
        }
      });
}

// to(t, { device?, dtype? }): always a new tensor (a copy even when nothing changes), so
// disposing one never frees the other's memory.
Napi::Value To(const Napi::CallbackInfo& info) {
  Args a(info, "to");
  at::Tensor t = a.tensor(0, "tensor");
  Options o(a, 1, "options");
  auto device = o.device("device", t.device());
  auto dtype = o.dtype("dtype", t.scalar_type());
  CheckResultFits(a, "the copy of tensor (" + ShapeText(t.sizes()) + ", " + DtypeName(dtype) + ")", t.sizes(), dtype, device);
  return AsyncTensor(a, [=] { return t.to(device, dtype, false, /*copy=*/true); });
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Args a(info, "matmul");
  at::Tensor x = a.tensor(0, "a"), y = a.tensor(1, "b");
  // The result's shape from the same op on meta tensors (no data); shapes that don't match
  // are left to the op itself, which says so.
  try {
    const auto meta = [](const at::Tensor& t) { return at::empty(t.sizes(), t.options().device(at::kMeta)); };
    const at::Tensor r = at::matmul(meta(x), meta(y));
    CheckResultFits(a, "the product of a " + ShapeText(x.sizes()) + " and b " + ShapeText(y.sizes()) + " (" + ShapeText(r.sizes()) + ")",
                    r.sizes(), r.scalar_type(), x.device());
  } catch (const c10::Error&) {
  }
  return AsyncTensor(a, [=] { return at::matmul(x, y); });
}

namespace {
// a op b broadcasts: its result may be far larger than either (a [N, 1] + b [1, M]).
void CheckBroadcastFits(const Args& a, const at::Tensor& x, const at::Tensor& y) {
  try {
    const auto shape = at::infer_size(x.sizes(), y.sizes());
    CheckResultFits(a, "the broadcast of a " + ShapeText(x.sizes()) + " and b " + ShapeText(y.sizes()) + " (" + ShapeText(shape) + ")",
                    shape, at::result_type(x, y), x.device());
  } catch (const c10::Error&) {
    // shapes that don't broadcast: the op itself says so
  }
}
}  // namespace

#define HEXA_BINARY_OP(Name, js, expr)                                                        \
  Napi::Value Name(const Napi::CallbackInfo& info) {                                          \
    Args a(info, js);                                                                         \
    at::Tensor x = a.tensor(0, "a");                                                          \
    Operand y = TensorOrNumber(a, 1, "b");                                                    \
    if (const auto* t = std::get_if<at::Tensor>(&y)) CheckBroadcastFits(a, x, *t);            \
    return AsyncTensor(a, [=] {                                                               \
      return std::visit([&](const auto& b) -> at::Tensor { return expr; }, y);                \
    });                                                                                       \
  }
HEXA_BINARY_OP(Add, "add", x + b)
HEXA_BINARY_OP(Sub, "sub", x - b)
HEXA_BINARY_OP(Mul, "mul", x * b)
#undef HEXA_BINARY_OP

Napi::Value Sum(const Napi::CallbackInfo& info) {
  Args a(info, "sum");
  at::Tensor x = a.tensor(0, "tensor");
  auto dims = Dims(a, 1, "dim", x);
  bool keep = KeepDim(a, 2);
  return AsyncTensor(a, [=] { return dims.empty() ? x.sum() : x.sum(dims, keep); });
}

Napi::Value Mean(const Napi::CallbackInfo& info) {
  Args a(info, "mean");
  at::Tensor x = a.tensor(0, "tensor");
  auto dims = Dims(a, 1, "dim", x);
  bool keep = KeepDim(a, 2);
  TensorArg(a.fn(), "tensor", x).floating(/*allowHalf=*/true);
  return AsyncTensor(a, [=] { return dims.empty() ? x.mean() : x.mean(dims, keep); });
}

Napi::Value Argmax(const Napi::CallbackInfo& info) {
  Args a(info, "argmax");
  at::Tensor x = a.tensor(0, "tensor");
  auto dims = Dims(a, 1, "dim", x);
  if (dims.size() > 1) a.typeError("dim", "one integer", a.at(1));
  bool keep = KeepDim(a, 2);
  std::optional<int64_t> dim = dims.empty() ? std::nullopt : std::optional<int64_t>(dims[0]);
  return AsyncTensor(a, [=] { return at::argmax(x, dim, keep); });
}

Napi::Value Cat(const Napi::CallbackInfo& info) {
  Args a(info, "cat");
  auto xs = a.tensorList(0, "tensors");
  if (xs.empty()) a.rangeError("tensors", "a non-empty array of Tensors", a.at(0));
  int64_t d = std::max<int64_t>(xs[0].dim(), 1);
  int64_t dim = a.has(1) ? a.integer(1, "dim", -d, d - 1) : 0;
  return AsyncTensor(a, [=] { return at::cat(xs, dim); });
}

Napi::Value IndexSelect(const Napi::CallbackInfo& info) {
  Args a(info, "index");
  at::Tensor x = a.tensor(0, "tensor");
  int64_t d = std::max<int64_t>(x.dim(), 1);
  int64_t dim = a.integer(1, "dim", -d, d - 1);
  at::Tensor idx = a.tensor(2, "indices");
  if (idx.scalar_type() != at::kLong && idx.scalar_type() != at::kInt)
    a.typeError("indices", "an int64 or int32 Tensor", a.at(2));
  if (x.dim() > 0 && x.size(dim) > 0) {
    const double rows = static_cast<double>(idx.numel()), rowNumel = static_cast<double>(x.numel()) / static_cast<double>(x.size(dim));
    CheckFitsInMemory(a.fn(), "indices (" + std::to_string(idx.numel()) + " of them, each selecting " + std::to_string(x.numel() / x.size(dim)) + " elements)",
                      rows * rowNumel * static_cast<double>(x.element_size()), x.device());
  }
  return AsyncTensor(a, [=] { return at::index_select(x, dim, idx); });
}

Napi::Value Reshape(const Napi::CallbackInfo& info) {
  Args a(info, "reshape");
  at::Tensor x = a.tensor(0, "tensor");
  Napi::Value sv = a.at(1);
  if (!sv.IsArray()) a.typeError("shape", "an array of integers (one may be -1)", sv);
  std::vector<int64_t> shape;
  Napi::Array arr = sv.As<Napi::Array>();
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value v = arr.Get(k);
    if (!v.IsNumber()) a.typeError("shape[" + std::to_string(k) + "]", "an integer >= -1", v);
    double dv = v.As<Napi::Number>().DoubleValue();
    if (dv != std::floor(dv) || dv < -1 || dv > 1e12) a.rangeError("shape[" + std::to_string(k) + "]", "an integer >= -1", v);
    shape.push_back(static_cast<int64_t>(dv));
  }
  // Always a copy so the result owns its memory (see to()).
  return AsyncTensor(a, [=] { return x.reshape(shape).clone(); });
}

Napi::Value Clone(const Napi::CallbackInfo& info) {
  Args a(info, "clone");
  at::Tensor x = a.tensor(0, "tensor");
  return AsyncTensor(a, [=] { return x.clone(); });
}

Napi::Value Sign(const Napi::CallbackInfo& info) {
  Args a(info, "sign");
  at::Tensor x = a.tensor(0, "tensor");
  return AsyncTensor(a, [=] { return x.sign(); });
}

Napi::Value Clamp(const Napi::CallbackInfo& info) {
  Args a(info, "clamp");
  at::Tensor x = a.tensor(0, "tensor");
  double lo = a.number(1, "min"), hi = a.number(2, "max");
  if (lo > hi) ThrowRangeError("clamp: min must be <= max, got min " + std::to_string(lo) + " > max " + std::to_string(hi));
  return AsyncTensor(a, [=] { return x.clamp(lo, hi); });
}

// normalize(t, dim = 1, eps = 1e-12): x / max(||x||_2, eps) along dim, as torch.nn.functional.normalize.
Napi::Value Normalize(const Napi::CallbackInfo& info) {
  Args a(info, "normalize");
  at::Tensor x = a.tensor(0, "tensor");
  TensorArg(a.fn(), "tensor", x).floating(/*allowHalf=*/true);
  int64_t d = std::max<int64_t>(x.dim(), 1);
  int64_t dim = a.has(1) ? a.integer(1, "dim", -d, d - 1) : std::min<int64_t>(1, d - 1);
  double eps = a.has(2) ? a.number(2, "eps") : 1e-12;
  if (eps < 0) a.rangeError("eps", "a finite number >= 0", a.at(2));
  return AsyncTensor(a, [=] { return x / x.norm(2, {dim}, /*keepdim=*/true).clamp_min(eps); });
}

}  // namespace hexa::binding
