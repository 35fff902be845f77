// A minimal test harness for the pure C++ core: one executable per test file,
// each registered with ctest. No third-party test framework is needed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  void (*fn)();
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

inline int& failures() {
  static int n = 0;
  return n;
}

struct Register {
  Register(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

inline int run_all() {
  int failed_cases = 0;
  for (const Case& c : registry()) {
    const int before = failures();
    c.fn();
    const bool ok = failures() == before;
    if (!ok) ++failed_cases;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
  }
  std::printf("%zu passed, %d failed\n", registry().size() - failed_cases, failed_cases);
  return failed_cases == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK_CAT2(a, b) a##b
#define CHECK_CAT(a, b) CHECK_CAT2(a, b)
#define TEST_CASE(name)                                                    \
  static void name();                                                      \
  static const ::check::Register CHECK_CAT(register_, name){#name, &name}; \
  static void name()

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      ++::check::failures();                                                        \
    }                                                                               \
  } while (0)

#define CHECK_EQ(a, b)                                                                           \
  do {                                                                                           \
    const auto check_a_ = (a);                                                                   \
    const auto check_b_ = (b);                                                                   \
    if (!(check_a_ == check_b_)) {                                                               \
      std::fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %llu != %llu\n", __FILE__, __LINE__, \
                   #a, #b, (unsigned long long)check_a_, (unsigned long long)check_b_);          \
      ++::check::failures();                                                                     \
    }                                                                                            \
  } while (0)

#define CHECK_MAIN() \
  int main() { return ::check::run_all(); }
