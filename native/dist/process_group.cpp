#include "dist/process_group.h"

#include <c10/util/Logging.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include "dist/backends.h"

namespace hexa::dist {

BackendSupport SupportedBackends() {
  BackendSupport s;
#if HEXA_WITH_GLOO
  s.gloo = true;
#else
  s.glooMissing =
      "this build of hexa-torch has no Gloo backend: gloo's headers were not found when it was compiled "
      "(the set-up step fetches them with `apt-get download libgloo-dev`; see docs/distributed.md)";
#endif
#if HEXA_WITH_NCCL
  s.nccl = true;
#else
  s.ncclMissing = "NCCL needs the CUDA variant of hexa-torch (this is the CPU build)";
#endif
  return s;
}

namespace {

const std::string kAlive = "hexa/alive/";

// Each rank bumps its own counter in the store every second from a thread of its own (its
// own store connection), so that a rank whose collective failed can tell which peers are
// dead or frozen: their counters stop.
class Heartbeat {
 public:
  Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank) : store_(std::move(store)), rank_(rank) {
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stop_) {
        try {
          store_->add(kAlive + std::to_string(rank_), 1);
        } catch (...) {
          return;  // the store (rank 0) is gone: the collectives will say so
        }
        wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
      }
    });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  int rank_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

class ProcessGroupCommunicator final : public Communicator {
 public:
  ProcessGroupCommunicator(const ProcessGroupOptions& o, c10::intrusive_ptr<c10d::Store> store,
                           c10::intrusive_ptr<c10d::Backend> backend)
      : options_(o), store_(std::move(store)), backend_(std::move(backend)) {
    heartbeat_ = std::make_unique<Heartbeat>(store_->clone(), o.rank);
  }
  ~ProcessGroupCommunicator() override {
    heartbeat_.reset();
    // A backend whose peers are gone may block in its destructor; shut it down first.
    try {
      backend_->shutdown();
    } catch (...) {
    }
  }

  int rank() const override { return options_.rank; }
  int worldSize() const override { return options_.worldSize; }
  std::string backend() const override { return options_.backend; }

  void allReduceSum(std::vector<at::Tensor>& tensors) override {
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = options_.timeout;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one = {Contiguous(t)};
      run("allreduce", [&] { return backend_->allreduce(one, o); });
      if (!one[0].is_same(t)) t.copy_(one[0]);
    }
  }

  void broadcast(std::vector<at::Tensor>& tensors, int root) override {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = options_.timeout;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one = {Contiguous(t)};
      run("broadcast", [&] { return backend_->broadcast(one, o); });
      if (!one[0].is_same(t)) t.copy_(one[0]);
    }
  }

  at::Tensor allGather(const at::Tensor& t) override {
    at::Tensor in = Contiguous(t);
    std::vector<int64_t> shape = in.sizes().vec();
    TORCH_CHECK(!shape.empty(), "allGather: a tensor with a first dimension");
    shape[0] *= options_.worldSize;
    at::Tensor out = at::empty(shape, in.options());
    c10d::AllgatherOptions o;
    o.timeout = options_.timeout;
    run("allgather", [&] { return backend_->_allgather_base(out, in, o); });
    return out.to(t.device());
  }

  void barrier() override {
    c10d::BarrierOptions o;
    o.timeout = options_.timeout;
    if (options_.backend == "nccl") o.device_ids = {static_cast<int64_t>(options_.cudaDevice)};
    run("barrier", [&] { return backend_->barrier(o); });
  }

 private:
  // NCCL moves CUDA tensors only: CPU ones (generator states, metrics) go through this rank's GPU.
  at::Tensor Contiguous(const at::Tensor& t) const {
    if (options_.backend == "nccl" && !t.is_cuda()) return t.to(at::Device(at::kCUDA, options_.cudaDevice)).contiguous();
    return t.is_contiguous() ? t : t.contiguous();
  }

  template <class Issue>
  void run(const char* what, Issue issue) {
    try {
      c10::intrusive_ptr<c10d::Work> work = issue();
      if (!work->wait(options_.timeout)) TORCH_CHECK(false, "timed out");
    } catch (const std::exception& e) {
      throw std::runtime_error(describeFailure(what, e.what()));
    }
  }

  // "rank 1: allreduce failed (peers not answering: rank 0): <backend message>"
  std::string describeFailure(const char* what, const std::string& cause) {
    std::ostringstream m;
    m << "rank " << options_.rank << " of " << options_.worldSize << ": " << what << " failed";
    if (cause.find("timed out") != std::string::npos || cause.find("Timed out") != std::string::npos)
      m << " after the timeout of " << std::chrono::duration<double>(options_.timeout).count() << " s";
    try {
      auto counters = [&] {
        std::vector<int64_t> c(options_.worldSize);
        for (int r = 0; r < options_.worldSize; ++r) c[r] = store_->add(kAlive + std::to_string(r), 0);
        return c;
      };
      const std::vector<int64_t> before = counters();
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
      const std::vector<int64_t> after = counters();
      std::string silent;
      for (int r = 0; r < options_.worldSize; ++r)
        if (r != options_.rank && after[r] == before[r]) silent += (silent.empty() ? "rank " : ", rank ") + std::to_string(r);
      if (!silent.empty()) m << " (not answering: " << silent << ")";
    } catch (...) {
      m << " (the rendezvous store on rank 0 at " << options_.masterAddr << ":" << options_.masterPort
        << " is gone: rank 0 stopped)";
    }
    std::string c = cause;
    if (const auto nl = c.find("\nException raised from"); nl != std::string::npos) c.resize(nl);
    m << ": " << c;
    return m.str();
  }

  ProcessGroupOptions options_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  std::unique_ptr<Heartbeat> heartbeat_;
};

std::string FirstLine(const std::string& s) {
  std::string c = s;
  if (const auto nl = c.find('\n'); nl != std::string::npos) c.resize(nl);
  return c;
}

}  // namespace

std::shared_ptr<Communicator> ConnectProcessGroup(const ProcessGroupOptions& o) {
  // c10d's diagnostics follow TORCH_CPP_LOG_LEVEL as in PyTorch (Python's torch reads it at
  // import; a C++ embedder must ask).
  static std::once_flag logging;
  std::call_once(logging, [] { c10::initLogging(); });
  TORCH_CHECK(o.worldSize >= 1 && o.rank >= 0 && o.rank < o.worldSize, "rank ", o.rank, " is outside the world of ",
              o.worldSize);
  TORCH_CHECK(o.masterPort >= 1 && o.masterPort <= 65535, "masterPort must be in [1, 65535], got ", o.masterPort);
  const BackendSupport support = SupportedBackends();
  if (o.backend == "gloo") {
    TORCH_CHECK(support.gloo, support.glooMissing);
  } else if (o.backend == "nccl") {
    TORCH_CHECK(support.nccl, support.ncclMissing);
  } else {
    TORCH_CHECK(false, "backend must be 'gloo' or 'nccl', got '", o.backend, "'");
  }

  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(o.masterPort);
  so.isServer = o.rank == 0;
  so.numWorkers = o.worldSize;
  so.waitWorkers = true;
  so.timeout = o.timeout;
  c10::intrusive_ptr<c10d::Store> store;
  const std::string where = o.masterAddr + ":" + std::to_string(o.masterPort);
  const double seconds = std::chrono::duration<double>(o.timeout).count();
  try {
    store = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, so);
  } catch (const std::exception& e) {
    const std::string cause = FirstLine(e.what());
    std::ostringstream m;
    if (o.rank == 0 && (cause.find("in use") != std::string::npos || cause.find("EADDRINUSE") != std::string::npos)) {
      m << "rank 0 cannot host the rendezvous at " << where << ": the port is in use (another run? pick another "
        << "--master-port / MASTER_PORT)";
    } else if (o.rank == 0) {
      m << "rank 0: not every one of the " << o.worldSize << " ranks arrived at the rendezvous on " << where
        << " within " << seconds << " s";
    } else {
      m << "rank " << o.rank << ": cannot reach the master at " << where << " within " << seconds
        << " s (is rank 0 running, and MASTER_ADDR/MASTER_PORT right?)";
    }
    m << ": " << cause;
    throw std::runtime_error(m.str());
  }
  c10::intrusive_ptr<c10d::Backend> backend;
  try {
#if HEXA_WITH_GLOO
    if (o.backend == "gloo") backend = MakeGlooBackend(store, o.rank, o.worldSize, o.timeout, o.masterAddr);
#endif
#if HEXA_WITH_NCCL
    if (o.backend == "nccl") backend = MakeNcclBackend(store, o.rank, o.worldSize, o.timeout);
#endif
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(o.rank) + ": cannot connect the " + o.backend +
                             " backend with the other ranks: " + FirstLine(e.what()));
  }
  TORCH_CHECK(backend, "backend '", o.backend, "' was not created");
  return std::make_shared<ProcessGroupCommunicator>(o, store, backend);
}

}  // namespace hexa::dist
