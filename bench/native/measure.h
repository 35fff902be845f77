// Timing for the native micro-benchmarks: the median of several calibrated runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

inline volatile uint64_t g_sink;

// Median ns per call of fn(i) over `runs` runs of about 20 ms each.
template <typename F>
double measure(F fn, int runs) {
  using clock = std::chrono::steady_clock;
  size_t iters = 1024;
  for (;;) {  // calibrate to about 20 ms
    const auto t0 = clock::now();
    for (size_t i = 0; i < iters; ++i) g_sink = fn(i);
    if (clock::now() - t0 > std::chrono::milliseconds(20)) break;
    iters *= 2;
  }
  std::vector<double> ns;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = clock::now();
    for (size_t i = 0; i < iters; ++i) g_sink = fn(i);
    ns.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count() / iters);
  }
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

}  // namespace bench
