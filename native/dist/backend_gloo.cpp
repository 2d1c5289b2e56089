// The Gloo backend (CPU tensors). The only file that includes gloo's headers; built with
// USE_C10D_GLOO (without it ProcessGroupGloo.hpp is empty) when scripts/gloo.mjs fetched them.
// gloo's code itself is inside libtorch_cpu: nothing more is linked. The store is handed to
// ProcessGroupGloo as a c10d::Store: it wraps it for gloo itself (gloo's wrapper header
// differs between Debian's gloo and the one LibTorch was built with).
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "dist/backends.h"

namespace hexa::dist {

c10::intrusive_ptr<c10d::Backend> MakeGlooBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int worldSize,
                                                  std::chrono::milliseconds timeout, const std::string& masterAddr) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  // GLOO_SOCKET_IFNAME picks the interface (as torch.distributed); a loopback master means
  // local workers only: loopback; else the address of this host's name (torch's default).
  const bool local = masterAddr == "localhost" || masterAddr.rfind("127.", 0) == 0 || masterAddr == "::1";
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  } else if (local) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, worldSize, options);
}

}  // namespace hexa::dist
