#include "binding/args.h"

#include "binding/errors.h"
#include "binding/handles.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <type_traits>

namespace hexa::binding {

std::string Describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: {
      double d = v.As<Napi::Number>().DoubleValue();
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
      std::ostringstream s;
      s.precision(17);
      s << d;
      return s.str();
    }
    case napi_bigint:
      return "a bigint";
    case napi_string: {
      std::string s = v.As<Napi::String>().Utf8Value();
      if (s.size() > 40) s = s.substr(0, 40) + "...";
      return "'" + s + "'";
    }
    case napi_symbol:
      return "a symbol";
    case napi_function:
      return "a function";
    case napi_external:
      return "an external";
    default:
      break;
  }
  if (auto* t = TensorHandle::From(v)) {
    if (t->disposed()) return "a disposed Tensor";
    std::ostringstream s;
    s << "a Tensor of shape " << t->tensor().sizes() << " (" << DtypeName(t->tensor().scalar_type()) << ", "
      << DeviceName(t->tensor().device()) << ")";
    return s.str();
  }
  if (v.IsArray()) return "an array of length " + std::to_string(v.As<Napi::Array>().Length());
  if (v.IsTypedArray()) return "a typed array";
  return "an object";
}

void Args::typeError(const std::string& name, const std::string& expected, const Napi::Value& got) const {
  ThrowTypeError(std::string(fn_) + ": " + name + " must be " + expected + ", got " + Describe(got));
}
void Args::rangeError(const std::string& name, const std::string& expected, const Napi::Value& got) const {
  ThrowRangeError(std::string(fn_) + ": " + name + " must be " + expected + ", got " + Describe(got));
}

namespace {

// `name` is the argument's name or a callable that builds it: names are only built for an
// error, never on the path of a call whose arguments pass (every op's checks run per call).
template <class Name>
std::string NameOf(const Name& name) {
  if constexpr (std::is_invocable_v<Name>) return name();
  else return std::string(name);
}

template <class Name>
const at::Tensor& UnwrapTensor(const Args& a, const Napi::Value& v, const Name& name) {
  TensorHandle* h = TensorHandle::From(v);
  if (!h) a.typeError(NameOf(name), "a Tensor", v);
  if (h->disposed()) ThrowError(std::string(a.fn()) + ": " + NameOf(name) + " was disposed");
  return h->tensor();
}

template <class Name>
double CheckedNumber(const Args& a, const Napi::Value& v, const Name& name) {
  if (!v.IsNumber()) a.typeError(NameOf(name), "a finite number", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) a.rangeError(NameOf(name), "a finite number", v);
  return d;
}

std::string Bound(double lo, double hi) {
  std::ostringstream s;
  s.precision(17);
  const double big = 1e300;
  if (lo > -big && hi < big) s << "in [" << lo << ", " << hi << "]";
  else if (lo > -big) s << ">= " << lo;
  else if (hi < big) s << "<= " << hi;
  return s.str();
}

template <class Name>
int64_t CheckedInteger(const Args& a, const Napi::Value& v, const Name& name, int64_t lo, int64_t hi) {
  if (!v.IsNumber()) a.typeError(NameOf(name), "an integer", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    a.rangeError(NameOf(name), "an integer " + Bound(static_cast<double>(lo), static_cast<double>(hi)), v);
  return static_cast<int64_t>(d);
}
}  // namespace

const at::Tensor& Args::tensor(size_t i, const char* name) const { return UnwrapTensor(*this, at(i), name); }

std::vector<at::Tensor> Args::tensorList(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsArray()) typeError(name, "an array of Tensors", v);
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    out.push_back(UnwrapTensor(*this, arr.Get(k), [&] { return std::string(name) + "[" + std::to_string(k) + "]"; }));
  }
  return out;
}

double Args::number(size_t i, const char* name) const { return CheckedNumber(*this, at(i), name); }

int64_t Args::integer(size_t i, const char* name, int64_t min, int64_t max) const {
  return CheckedInteger(*this, at(i), name, min, max);
}

std::vector<int64_t> Args::shape(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsArray()) typeError(name, "an array of non-negative integers", v);
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() > 16) rangeError(name, "at most 16 dimensions", v);
  std::vector<int64_t> out;
  double total = 1;
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    out.push_back(CheckedInteger(
        *this, arr.Get(k), [&] { return std::string(name) + "[" + std::to_string(k) + "]"; }, 0, int64_t{1} << 40));
    total *= static_cast<double>(out.back());
  }
  if (total > static_cast<double>(int64_t{1} << 40)) rangeError(name, "a shape of at most 2^40 elements", v);
  return out;
}

at::ScalarType Args::dtype(size_t i, const char* name) const {
  Napi::Value v = at(i);
  auto t = v.IsString() ? ParseDtype(v.As<Napi::String>().Utf8Value()) : std::nullopt;
  if (!t) typeError(name, "one of 'float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'", v);
  return *t;
}

at::Device Args::device(size_t i, const char* name) const {
  Napi::Value v = at(i);
  auto d = v.IsString() ? ParseDevice(v.As<Napi::String>().Utf8Value()) : std::nullopt;
  if (!d) typeError(name, "'cpu', 'cuda' or 'cuda:N'", v);
  CheckDeviceUsable(fn_, name, *d);
  return *d;
}

Napi::Object Args::object(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsObject() || v.IsArray() || v.IsFunction()) typeError(name, "an object", v);
  return v.As<Napi::Object>();
}

// ---- TensorArg ---------------------------------------------------------------------------

std::string ShapeText(at::IntArrayRef shape) {
  std::ostringstream o;
  o << shape;
  return o.str();
}

std::string TensorText(const at::Tensor& t) {
  return "a Tensor of shape " + ShapeText(t.sizes()) + " (" + DtypeName(t.scalar_type()) + ", " + DeviceName(t.device()) + ")";
}

void TensorArg::typeFail(const std::string& expected) const {
  ThrowTypeError(std::string(fn_) + ": " + name_ + " must be " + expected + ", got " + TensorText(t_));
}
void TensorArg::rangeFail(const std::string& expected) const {
  ThrowRangeError(std::string(fn_) + ": " + name_ + " must be " + expected + ", got " + TensorText(t_));
}

bool TensorArg::IsFloating(const at::Tensor& t, bool allowHalf) {
  const auto s = t.scalar_type();
  return s == at::kFloat || s == at::kDouble || (allowHalf && (s == at::kHalf || s == at::kBFloat16));
}

bool TensorArg::IsLike(const at::Tensor& t, const at::Tensor& ref) {
  return t.sizes() == ref.sizes() && t.scalar_type() == ref.scalar_type() && t.device() == ref.device();
}

const TensorArg& TensorArg::floating(bool allowHalf) const {
  if (!IsFloating(t_, allowHalf))
    typeFail(allowHalf ? "a float32, float64, float16 or bfloat16 Tensor" : "a float32 or float64 Tensor");
  return *this;
}

const TensorArg& TensorArg::dtype(at::ScalarType d, const std::string& why) const {
  const std::string name = DtypeName(d);
  if (t_.scalar_type() != d) typeFail((name[0] == 'i' || name[0] == 'u' ? "an " : "a ") + name + " Tensor" + why);
  return *this;
}

const TensorArg& TensorArg::sameDtype(const at::Tensor& ref, const std::string& refName) const {
  if (t_.scalar_type() != ref.scalar_type())
    typeFail("a Tensor with " + refName + "'s dtype (" + DtypeName(ref.scalar_type()) + ")");
  return *this;
}

const TensorArg& TensorArg::onDevice(const at::Tensor& ref, const std::string& refName) const {
  if (t_.device() != ref.device()) typeFail("on " + refName + "'s device (" + DeviceName(ref.device()) + ")");
  return *this;
}

const TensorArg& TensorArg::onCpuOr(const at::Device& data) const {
  if (!t_.is_cpu() && t_.device() != data) typeFail("on the cpu or on " + DeviceName(data));
  return *this;
}

const TensorArg& TensorArg::shape(std::initializer_list<int64_t> want, const std::string& text) const {
  bool ok = t_.dim() == static_cast<int64_t>(want.size());
  int64_t d = 0;
  for (int64_t w : want) {
    if (ok && w >= 0 && t_.size(d) != w) ok = false;
    ++d;
  }
  if (!ok) rangeFail("a Tensor of shape " + text);
  return *this;
}

const TensorArg& TensorArg::shape(at::IntArrayRef want) const {
  if (t_.sizes() != want) rangeFail("a Tensor of shape " + ShapeText(want));
  return *this;
}

const TensorArg& TensorArg::sameShape(const at::Tensor& ref, const std::string& refName) const {
  if (t_.sizes() != ref.sizes()) rangeFail("a Tensor with " + refName + "'s shape " + ShapeText(ref.sizes()));
  return *this;
}

const TensorArg& TensorArg::minDims(int64_t dims, const std::string& what) const {
  if (t_.dim() < dims) rangeFail("a Tensor of at least " + std::to_string(dims) + " dimension(s) (" + what + ")");
  return *this;
}

const TensorArg& TensorArg::minSize(int64_t dim, int64_t min, const std::string& what) const {
  if (t_.size(dim) < min) rangeFail("a Tensor with " + what + " >= " + std::to_string(min));
  return *this;
}

const TensorArg& TensorArg::contiguous() const {
  if (!t_.is_contiguous()) rangeFail("a contiguous Tensor");
  return *this;
}

// ---- Options -----------------------------------------------------------------------------

Options::Options(const Args& args, size_t i, const char* name) : args_(args), name_(name) {
  if (args.has(i) && !args.at(i).IsNull()) obj_ = args.object(i, name);
}

Options::Options(const Args& args, const Napi::Value& value, std::string name) : args_(args), name_(std::move(name)) {
  if (value.IsUndefined() || value.IsNull()) return;
  if (!value.IsObject() || value.IsArray() || value.IsFunction()) args.typeError(name_, "an object", value);
  obj_ = value.As<Napi::Object>();
}

Napi::Value Options::get(const char* key) const {
  if (!obj_) return args_.env().Undefined();
  return obj_->Get(key);  // a throwing getter surfaces as Napi::Error and passes through
}

bool Options::has(const char* key) const { return !get(key).IsUndefined(); }

double Options::number(const char* key, std::optional<double> dflt, double min, double max) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) {
    if (dflt) return *dflt;
    args_.typeError(where(key), "a finite number", v);
  }
  double d = CheckedNumber(args_, v, [&] { return where(key); });
  if (d < min || d > max) args_.rangeError(where(key), "a finite number " + Bound(min, max), v);
  return d;
}

int64_t Options::integer(const char* key, std::optional<int64_t> dflt, int64_t min, int64_t max) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) {
    if (dflt) return *dflt;
    args_.typeError(where(key), "an integer", v);
  }
  return CheckedInteger(args_, v, [&] { return where(key); }, min, max);
}

bool Options::boolean(const char* key, bool dflt) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) args_.typeError(where(key), "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

std::string Options::choice(const char* key, const std::vector<std::string>& allowed, const std::string& dflt) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) return dflt;
  const auto list = [&] {
    std::string text;
    for (const auto& a : allowed) text += (text.empty() ? "'" : ", '") + a + "'";
    return "one of " + text;
  };
  if (!v.IsString()) args_.typeError(where(key), list(), v);
  std::string s = v.As<Napi::String>().Utf8Value();
  for (const auto& a : allowed)
    if (a == s) return s;
  args_.rangeError(where(key), list(), v);
}

std::optional<at::Tensor> Options::tensor(const char* key) const {
  Napi::Value v = get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return UnwrapTensor(args_, v, [&] { return where(key); });
}

at::ScalarType Options::dtype(const char* key, at::ScalarType dflt) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) return dflt;
  auto t = v.IsString() ? ParseDtype(v.As<Napi::String>().Utf8Value()) : std::nullopt;
  if (!t) args_.typeError(where(key), "one of 'float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'", v);
  return *t;
}

at::Device Options::device(const char* key, at::Device dflt) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) return dflt;
  auto d = v.IsString() ? ParseDevice(v.As<Napi::String>().Utf8Value()) : std::nullopt;
  if (!d) args_.typeError(where(key), "'cpu', 'cuda' or 'cuda:N'", v);
  CheckDeviceUsable(args_.fn(), where(key).c_str(), *d);
  return *d;
}

std::optional<at::Generator> Options::generator(const char* key) const {
  Napi::Value v = get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  GeneratorHandle* g = GeneratorHandle::From(v);
  if (!g) args_.typeError(where(key), "a Generator", v);
  return g->generator();
}

// ---- names -------------------------------------------------------------------------------

namespace {
struct DtypeEntry {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeEntry kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
    {"int32", at::kInt},     {"int64", at::kLong},     {"uint8", at::kByte},   {"bool", at::kBool},
};
}  // namespace

std::optional<at::ScalarType> ParseDtype(const std::string& s) {
  for (const auto& e : kDtypes)
    if (s == e.name) return e.type;
  return std::nullopt;
}

std::string DtypeName(at::ScalarType t) {
  for (const auto& e : kDtypes)
    if (t == e.type) return e.name;
  return c10::toString(t);
}

std::optional<at::Device> ParseDevice(const std::string& s) {
  if (s == "cpu") return at::Device(at::kCPU);
  if (s == "cuda") return at::Device(at::kCUDA, 0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() <= 8) {
    int idx = 0;
    for (size_t i = 5; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      idx = idx * 10 + (s[i] - '0');
    }
    if (idx > 127) return std::nullopt;
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(idx));
  }
  return std::nullopt;
}

std::string DeviceName(const at::Device& d) {
  if (d.is_cpu()) return "cpu";
  if (d.is_cuda()) return "cuda:" + std::to_string(d.has_index() ? d.index() : 0);
  return d.str();
}

void CheckDeviceUsable(const char* fn, const char* name, const at::Device& d) {
  if (!d.is_cuda()) return;
  if (!at::globalContext().hasCUDA()) {
    ThrowError(std::string(fn) + ": " + name + " is " + DeviceName(d) +
               " but CUDA is not available here (hexa.cuda.isBuilt() and hexa.cuda.isAvailable() say why)");
  }
  int64_t n = at::detail::getCUDAHooks().deviceCount();
  if (d.index() >= n) {
    ThrowRangeError(std::string(fn) + ": " + name + " is " + DeviceName(d) + " but this machine has " +
                    std::to_string(n) + " CUDA device(s)");
  }
}

namespace {
// A cgroup memory limit file: a number of bytes, or "max" (none).
double CgroupLimit(const char* file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text.empty() || text[0] < '0' || text[0] > '9') return INFINITY;
  return std::stod(text);
}

std::string GiB(double bytes) {
  std::ostringstream s;
  const double g = bytes / double(int64_t{1} << 30);
  s << std::fixed << std::setprecision(g < 10 ? 1 : 0) << g << " GiB";
  return s.str();
}
}  // namespace

double MemoryLimitBytes() {
  static const double limit = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double bytes = pages > 0 && page > 0 ? double(pages) * double(page) : INFINITY;
    bytes = std::min(bytes, CgroupLimit("/sys/fs/cgroup/memory.max"));
    bytes = std::min(bytes, CgroupLimit("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
    return bytes;
  }();
  return limit;
}

void CheckFitsInMemory(const char* fn, const std::string& what, double bytes, const at::Device& device) {
  if (!device.is_cpu()) return;
  const double limit = MemoryLimitBytes();
  if (bytes <= limit) return;
  ThrowRangeError(std::string(fn) + ": " + what + " needs about " + GiB(bytes) + " of memory, more than this machine has (" +
                  GiB(limit) + ")");
}

}  // namespace hexa::binding
