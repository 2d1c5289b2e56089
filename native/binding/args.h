// Argument checks for exported functions. Every failure names the function and the argument,
// says what was expected and what was given: "pgdStep: eps must be a finite number >= 0, got -1".
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include <optional>
#include <string>
#include <vector>

namespace hexa::binding {

// "-1", "NaN", "a string", "undefined", "a Tensor (disposed)" ...: what a value looks like to a user.
std::string Describe(const Napi::Value& v);

// Reads the arguments of one call to `fn`.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : info_(info), fn_(fn) {}

  const char* fn() const { return fn_; }
  Napi::Env env() const { return info_.Env(); }
  size_t count() const { return info_.Length(); }
  Napi::Value at(size_t i) const { return info_[i]; }
  bool has(size_t i) const { return i < info_.Length() && !info_[i].IsUndefined(); }

  const at::Tensor& tensor(size_t i, const char* name) const;
  std::vector<at::Tensor> tensorList(size_t i, const char* name) const;
  double number(size_t i, const char* name) const;                                 // finite
  int64_t integer(size_t i, const char* name, int64_t min, int64_t max) const;     // integral, in range
  std::vector<int64_t> shape(size_t i, const char* name) const;                    // non-negative ints
  at::ScalarType dtype(size_t i, const char* name) const;                          // 'float32', ...
  at::Device device(size_t i, const char* name) const;                             // 'cpu', 'cuda:N'
  Napi::Object object(size_t i, const char* name) const;

  [[noreturn]] void typeError(const std::string& name, const std::string& expected, const Napi::Value& got) const;
  [[noreturn]] void rangeError(const std::string& name, const std::string& expected, const Napi::Value& got) const;

 private:
  const Napi::CallbackInfo& info_;
  const char* fn_;
};

// One vocabulary for checks on tensor arguments, shared by every binding. Each failure names
// the function and the argument, says what was expected and what was given:
//   "infoNCE: k must be a Tensor with q's dtype (float32), got a Tensor of shape [4, 8] (float64, cpu)"
// The kind of fault decides the error class, the same everywhere:
//   TypeError:  the wrong kind of thing: not a Tensor, its dtype, its device;
//   RangeError: the right kind with a wrong size or layout (shape, number of dimensions,
//               contiguity) or wrong values.
class TensorArg {
 public:
  TensorArg(const char* fn, std::string name, at::Tensor t) : fn_(fn), name_(std::move(name)), t_(std::move(t)) {}
  const at::Tensor& get() const { return t_; }

  // ---- kind: TypeError ----
  const TensorArg& floating(bool allowHalf = false) const;  // float32/float64 (+ float16/bfloat16)
  const TensorArg& dtype(at::ScalarType d, const std::string& why = "") const;
  const TensorArg& sameDtype(const at::Tensor& ref, const std::string& refName) const;
  const TensorArg& onDevice(const at::Tensor& ref, const std::string& refName) const;
  const TensorArg& like(const at::Tensor& ref, const std::string& refName) const { return sameDtype(ref, refName).onDevice(ref, refName); }
  // Index tensors may live on the CPU or on the data's device.
  const TensorArg& onCpuOr(const at::Device& data) const;

  // ---- size and layout: RangeError ----
  // -1 entries match anything; `text` describes the shape ("[N, C] = [4, 8]").
  const TensorArg& shape(std::initializer_list<int64_t> want, const std::string& text) const;
  const TensorArg& shape(at::IntArrayRef want) const;
  const TensorArg& sameShape(const at::Tensor& ref, const std::string& refName) const;
  const TensorArg& minDims(int64_t dims, const std::string& what) const;
  const TensorArg& minSize(int64_t dim, int64_t min, const std::string& what) const;
  const TensorArg& contiguous() const;

  [[noreturn]] void typeFail(const std::string& expected) const;
  [[noreturn]] void rangeFail(const std::string& expected) const;

  // What floating() and sameShape(ref).like(ref) accept, without a TensorArg: for a long list
  // checked on every call, where only a tensor that fails is named (names cost strings).
  static bool IsFloating(const at::Tensor& t, bool allowHalf = false);
  static bool IsLike(const at::Tensor& t, const at::Tensor& ref);

 private:
  const char* fn_;
  std::string name_;
  at::Tensor t_;
};

// "[4, 8]" and "a Tensor of shape [4, 8] (float32, cpu)".
std::string ShapeText(at::IntArrayRef shape);
std::string TensorText(const at::Tensor& t);

// Reads the fields of a plain options object; a missing field is undefined (then the default).
class Options {
 public:
  Options(const Args& args, size_t i, const char* name);
  // A nested options object (undefined or null: every field takes its default).
  Options(const Args& args, const Napi::Value& value, std::string name);
  bool has(const char* key) const;
  double number(const char* key, std::optional<double> dflt, double min, double max) const;
  int64_t integer(const char* key, std::optional<int64_t> dflt, int64_t min, int64_t max) const;
  bool boolean(const char* key, bool dflt) const;
  std::string choice(const char* key, const std::vector<std::string>& allowed, const std::string& dflt) const;
  std::optional<at::Tensor> tensor(const char* key) const;
  at::ScalarType dtype(const char* key, at::ScalarType dflt) const;
  at::Device device(const char* key, at::Device dflt) const;
  std::optional<at::Generator> generator(const char* key) const;

 private:
  std::string where(const char* key) const { return name_ + "." + key; }
  Napi::Value get(const char* key) const;
  const Args& args_;
  std::string name_;
  std::optional<Napi::Object> obj_;
};

// Parses names shared by the JS API.
std::optional<at::ScalarType> ParseDtype(const std::string& s);
std::string DtypeName(at::ScalarType t);
std::optional<at::Device> ParseDevice(const std::string& s);
std::string DeviceName(const at::Device& d);
// Throws when `d` is a CUDA device this process cannot use.
void CheckDeviceUsable(const char* fn, const char* name, const at::Device& d);

// The most memory this process can count on, in bytes: physical memory, or the cgroup's
// limit (v2 memory.max, v1 memory.limit_in_bytes) when lower. Read once.
double MemoryLimitBytes();

// Refuses, up front, a request that fits in the address space but not in memory (the kernel's
// OOM killer would end the process): a RangeError "fn: <what> needs about X GiB of memory,
// more than this machine has (Y GiB)" when `bytes` (what the op will allocate on `device`)
// exceed MemoryLimitBytes(). Only CPU memory is checked: a CUDA allocation that does not fit
// fails by itself with LibTorch's out-of-memory error.
void CheckFitsInMemory(const char* fn, const std::string& what, double bytes, const at::Device& device = at::kCPU);

}  // namespace hexa::binding
