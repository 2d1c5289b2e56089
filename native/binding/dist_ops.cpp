#include "binding/dist_ops.h"

#include <mutex>

#include "binding/args.h"
#include "binding/async_work.h"
#include "binding/errors.h"
#include "binding/handles.h"
#include "dist/process_group.h"

namespace hexa::binding {

namespace {
constexpr napi_type_tag kCommunicatorTag = {0x6865786164697374ULL, 0x636f6d6d00000001ULL};

// What the JS object holds: the communicator until close(). Collectives issued from JS go
// through one mutex so that two never interleave on the wire (ranks must issue them in one
// order); trainers issue theirs under their own lock, in their step order.
struct SharedCommunicator {
  std::mutex opMutex;     // held for a whole collective (on a worker thread only)
  std::mutex stateMutex;  // held only to read or clear `comm` (never blocks the loop for long)
  std::shared_ptr<dist::Communicator> comm;
  std::shared_ptr<dist::Communicator> get() {
    std::lock_guard<std::mutex> lock(stateMutex);
    return comm;
  }
};

std::shared_ptr<SharedCommunicator> SharedOf(const Napi::Value& value, const char* fn, const std::string& name) {
  bool tagged = false;
  if (value.IsObject()) napi_check_object_type_tag(value.Env(), value, &kCommunicatorTag, &tagged);
  if (!tagged) ThrowTypeError(std::string(fn) + ": " + name + " must be a communicator from connectProcessGroup(), got " + Describe(value));
  auto* holder = value.As<Napi::Object>().Get("handle").As<Napi::External<std::shared_ptr<SharedCommunicator>>>().Data();
  return *holder;
}

std::shared_ptr<dist::Communicator> Live(const std::shared_ptr<SharedCommunicator>& s, const char* fn) {
  std::shared_ptr<dist::Communicator> c = s->get();
  if (!c) ThrowError(std::string(fn) + ": the communicator was closed");
  return c;
}

Napi::Object Wrap(Napi::Env env, std::shared_ptr<dist::Communicator> comm) {
  auto shared = std::make_shared<SharedCommunicator>();
  shared->comm = std::move(comm);
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::External<std::shared_ptr<SharedCommunicator>>::New(
                      env, new std::shared_ptr<SharedCommunicator>(shared),
                      [](Napi::Env, std::shared_ptr<SharedCommunicator>* p) { delete p; }));
  o.Set("rank", shared->comm->rank());
  o.Set("worldSize", shared->comm->worldSize());
  o.Set("backend", shared->comm->backend());
  o.Freeze();
  o.TypeTag(&kCommunicatorTag);
  return o;
}
}  // namespace

std::shared_ptr<dist::Communicator> CommunicatorOf(const Napi::Value& value, const char* fn, const std::string& name) {
  return Live(SharedOf(value, fn, name), fn);
}

// distBackends() -> { gloo, nccl, glooMissing, ncclMissing } (sync: fixed at build time)
Napi::Value DistBackends(const Napi::CallbackInfo& info) {
  const dist::BackendSupport s = dist::SupportedBackends();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("gloo", s.gloo);
  o.Set("nccl", s.nccl);
  o.Set("glooMissing", s.glooMissing);
  o.Set("ncclMissing", s.ncclMissing);
  return o;
}

// connectProcessGroup({ backend, masterAddr, masterPort, rank, worldSize, timeoutMs, cudaDevice? })
//   -> Promise<communicator>: the rendezvous waits off the event loop.
Napi::Value ConnectProcessGroup(const Napi::CallbackInfo& info) {
  Args a(info, "connectProcessGroup");
  Napi::Object obj = a.object(0, "options");
  Options o(a, 0, "options");
  dist::ProcessGroupOptions p;
  p.backend = o.choice("backend", {"gloo", "nccl"}, "gloo");
  Napi::Value addr = obj.Get("masterAddr");
  if (!addr.IsString() || addr.As<Napi::String>().Utf8Value().empty()) a.typeError("options.masterAddr", "a host name or address", addr);
  p.masterAddr = addr.As<Napi::String>().Utf8Value();
  p.masterPort = static_cast<int>(o.integer("masterPort", std::nullopt, 1, 65535));
  p.worldSize = static_cast<int>(o.integer("worldSize", std::nullopt, 1, 1 << 20));
  p.rank = static_cast<int>(o.integer("rank", std::nullopt, 0, p.worldSize - 1));
  p.timeout = std::chrono::milliseconds(o.integer("timeoutMs", 300'000, 100, int64_t{1} << 40));
  p.cudaDevice = static_cast<int>(o.integer("cudaDevice", 0, 0, 1024));
  return RunAsync(
      a.env(), "connectProcessGroup", [p] { return dist::ConnectProcessGroup(p); },
      [](Napi::Env env, std::shared_ptr<dist::Communicator>& c) -> Napi::Value { return Wrap(env, c); });
}

namespace {
// A collective on one tensor from JS: on a private copy, so JS may reuse its tensor meanwhile.
template <class Collective>
Napi::Value TensorCollective(const Napi::CallbackInfo& info, const char* fn, Collective collective) {
  Args a(info, fn);
  auto shared = SharedOf(a.at(0), fn, "communicator");
  const int world = Live(shared, fn)->worldSize();
  at::Tensor t = a.tensor(1, "tensor").clone();
  int64_t root = a.has(2) ? a.integer(2, "root", 0, world - 1) : 0;
  return RunAsync(
      a.env(), fn,
      [shared, t, root, fn, collective]() mutable {
        std::lock_guard<std::mutex> lock(shared->opMutex);
        auto comm = shared->get();
        TORCH_CHECK(comm, fn, ": the communicator was closed");
        collective(*comm, t, static_cast<int>(root));
        return t;
      },
      [](Napi::Env env, at::Tensor& r) -> Napi::Value { return TensorHandle::Wrap(env, std::move(r)); });
}
}  // namespace

// communicatorAllReduce(comm, tensor) -> Promise<Tensor>: the element-wise sum over ranks
Napi::Value CommunicatorAllReduce(const Napi::CallbackInfo& info) {
  return TensorCollective(info, "communicatorAllReduce", [](dist::Communicator& c, at::Tensor& t, int) {
    std::vector<at::Tensor> one = {t};
    c.allReduceSum(one);
  });
}

// communicatorBroadcast(comm, tensor, root) -> Promise<Tensor>: rank root's values
Napi::Value CommunicatorBroadcast(const Napi::CallbackInfo& info) {
  return TensorCollective(info, "communicatorBroadcast", [](dist::Communicator& c, at::Tensor& t, int root) {
    std::vector<at::Tensor> one = {t};
    c.broadcast(one, root);
  });
}

// communicatorBarrier(comm) -> Promise<void>
Napi::Value CommunicatorBarrier(const Napi::CallbackInfo& info) {
  Args a(info, "communicatorBarrier");
  auto shared = SharedOf(a.at(0), a.fn(), "communicator");
  Live(shared, a.fn());
  return RunAsync(
      a.env(), "communicatorBarrier",
      [shared] {
        std::lock_guard<std::mutex> lock(shared->opMutex);
        auto comm = shared->get();
        TORCH_CHECK(comm, "communicatorBarrier: the communicator was closed");
        comm->barrier();
        return true;
      },
      [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
}

// communicatorClose(comm) -> Promise<void>: leaves the group (idempotent). Trainers made with
// it keep their reference until disposed.
Napi::Value CommunicatorClose(const Napi::CallbackInfo& info) {
  Args a(info, "communicatorClose");
  auto shared = SharedOf(a.at(0), a.fn(), "communicator");
  return RunAsync(
      a.env(), "communicatorClose",
      [shared] {
        std::lock_guard<std::mutex> op(shared->opMutex);
        std::shared_ptr<dist::Communicator> last;
        {
          std::lock_guard<std::mutex> lock(shared->stateMutex);
          last = std::move(shared->comm);
        }
        last.reset();  // the backend's shutdown may wait for its threads: here, off the loop
        return true;
      },
      [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
}

}  // namespace hexa::binding
