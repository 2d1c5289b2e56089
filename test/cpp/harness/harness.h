// The C++ tests' harness, ours and tiny (no test framework to install: the tests need
// registration, checks that report file:line and go on, expected throws with a message, and
// tensor comparisons against ATen compositions; nothing more).
//
//   HEXA_TEST(suite, name) { EXPECT(x == 1); EXPECT_THROWS_WITH(f(), "names the argument"); }
//   EXPECT_CLOSE(actual, expected, rtol, atol)   tensors, compared in float64, shapes equal
// (EXPECT, not CHECK: c10 defines a glog-style CHECK.)
//
// Every test runs; a failed EXPECT records and continues, an exception ends that test as a
// failure. main() (main.cpp) runs the tests whose "suite.name" contains argv[1], if given.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace hexa::test {

struct TestCase {
  std::string name;
  std::function<void()> body;
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

inline int& failures() {
  static int count = 0;
  return count;
}

void fail(const char* file, int line, const std::string& what);

struct Registrar {
  Registrar(const char* name, std::function<void()> body) { registry().push_back({name, std::move(body)}); }
};

// "" when actual matches expected within |a − e| <= atol + rtol·|e| elementwise (NaNs must
// match), else why not.
std::string closeness(const at::Tensor& actual, const at::Tensor& expected, double rtol, double atol);

// Runs f and returns its exception's message, or nullopt-like "<no throw>" marker.
template <typename F>
bool throwsWith(F&& f, const std::string& fragment, std::string& message) {
  try {
    f();
  } catch (const std::exception& e) {
    message = e.what();
    return message.find(fragment) != std::string::npos;
  }
  message = "<no exception>";
  return false;
}

}  // namespace hexa::test

#define HEXA_TEST_CONCAT2(a, b) a##b
#define HEXA_TEST_CONCAT(a, b) HEXA_TEST_CONCAT2(a, b)
#define HEXA_TEST(suite, name)                                                                      \
  static void HEXA_TEST_CONCAT(test_, HEXA_TEST_CONCAT(suite, name))();                           \
  static ::hexa::test::Registrar HEXA_TEST_CONCAT(registrar_, HEXA_TEST_CONCAT(suite, name))(      \
      #suite "." #name, HEXA_TEST_CONCAT(test_, HEXA_TEST_CONCAT(suite, name)));                  \
  static void HEXA_TEST_CONCAT(test_, HEXA_TEST_CONCAT(suite, name))()

#define EXPECT(cond)                                                          \
  do {                                                                       \
    if (!(cond)) ::hexa::test::fail(__FILE__, __LINE__, "EXPECT(" #cond ")"); \
  } while (0)

#define EXPECT_CLOSE(actual, expected, rtol, atol)                                                       \
  do {                                                                                                  \
    const std::string why_ = ::hexa::test::closeness((actual), (expected), (rtol), (atol));             \
    if (!why_.empty()) ::hexa::test::fail(__FILE__, __LINE__, "EXPECT_CLOSE(" #actual ", " #expected "): " + why_); \
  } while (0)

#define EXPECT_EQUAL_TENSORS(actual, expected) EXPECT_CLOSE(actual, expected, 0.0, 0.0)

#define EXPECT_THROWS_WITH(expr, fragment)                                                                \
  do {                                                                                                   \
    std::string message_;                                                                                \
    if (!::hexa::test::throwsWith([&] { (void)(expr); }, (fragment), message_))                          \
      ::hexa::test::fail(__FILE__, __LINE__,                                                             \
                         std::string("EXPECT_THROWS_WITH(" #expr ", \"") + (fragment) + "\"): got " + message_); \
  } while (0)
