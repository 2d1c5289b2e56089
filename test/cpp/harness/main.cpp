// Runs the registered C++ tests (harness.h): all, or those whose name contains argv[1].
// Exit status 0 only when every selected test passed and at least one ran.
#include <ATen/Parallel.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "harness/harness.h"

namespace hexa::test {

void fail(const char* file, int line, const std::string& what) {
  ++failures();
  std::fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, what.c_str());
}

std::string closeness(const at::Tensor& actual, const at::Tensor& expected, double rtol, double atol) {
  if (!actual.defined() || !expected.defined()) return "an undefined tensor";
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream s;
    s << "shape " << actual.sizes() << " vs " << expected.sizes();
    return s.str();
  }
  const at::Tensor a = actual.detach().cpu().to(at::kDouble);
  const at::Tensor e = expected.detach().cpu().to(at::kDouble);
  const at::Tensor nanMismatch = a.isnan().ne(e.isnan());
  if (nanMismatch.any().item<bool>()) return "NaN where the other has a number";
  const at::Tensor both = a.isnan().logical_not();
  const at::Tensor excess = ((a - e).abs() - (atol + rtol * e.abs())).masked_fill(both.logical_not(), -1);
  const double worst = excess.numel() ? excess.max().item<double>() : -1;
  if (worst <= 0) return "";
  const int64_t at = excess.flatten().argmax().item<int64_t>();
  std::ostringstream s;
  s << "element " << at << ": " << a.flatten()[at].item<double>() << " vs " << e.flatten()[at].item<double>()
    << " (max |a−e| " << (a - e).abs().masked_fill(both.logical_not(), 0).max().item<double>() << ", rtol " << rtol
    << ", atol " << atol << ")";
  return s.str();
}

}  // namespace hexa::test

int main(int argc, char** argv) {
  using namespace hexa::test;
  const char* filter = argc > 1 ? argv[1] : "";
  // HEXA_TEST_THREADS=N runs every test with N intra-op threads. LibTorch caps OMP_NUM_THREADS
  // at the machine's cores, so only this reaches the thread counts of a larger machine (and the
  // chunkings our kernels choose there) on a small one.
  if (const char* threads = std::getenv("HEXA_TEST_THREADS"); threads && *threads) {
    const int n = std::atoi(threads);
    if (n < 1) {
      std::fprintf(stderr, "HEXA_TEST_THREADS must be a positive integer, got '%s'\n", threads);
      return 2;
    }
    at::set_num_threads(n);
    std::fprintf(stderr, "intra-op threads: %d\n", at::get_num_threads());
  }
  int ran = 0, failed = 0;
  for (const TestCase& t : registry()) {
    if (t.name.find(filter) == std::string::npos) continue;
    ++ran;
    const int before = failures();
    std::fprintf(stderr, "[ RUN  ] %s\n", t.name.c_str());
    try {
      t.body();
    } catch (const std::exception& e) {
      fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    const bool ok = failures() == before;
    if (!ok) ++failed;
    std::fprintf(stderr, "[ %s ] %s\n", ok ? " OK " : "FAIL", t.name.c_str());
  }
  std::fprintf(stderr, "%d tests, %d passed, %d failed\n", ran, ran - failed, failed);
  return ran > 0 && failed == 0 ? 0 : 1;
}
