// Micro-benchmark of every checksum implementation the CPU can run, and of
// the public entry point (dispatch included), against memcpy bandwidth.
// GB/s (10^9 bytes/s), median of several timed runs; every size stays in
// cache (1 MiB fits L2 on current server CPUs).
//   build/bench_checksum [runs]
#include "checksum.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "checksum_impl.h"

using namespace flatstream;

namespace {

volatile uint64_t g_sink;

// Median GB/s over `runs` runs of at least 20 ms each.
template <typename F>
double measure(F fn, const uint8_t* p, size_t n, int runs) {
  using clock = std::chrono::steady_clock;
  size_t iters = 1;
  for (;;) {  // calibrate to about 5 ms
    const auto t0 = clock::now();
    uint64_t s = 0;
    for (size_t i = 0; i < iters; ++i) s += fn(p, n);
    g_sink = s;
    if (clock::now() - t0 > std::chrono::milliseconds(5)) break;
    iters *= 2;
  }
  iters *= 4;
  std::vector<double> gbps;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = clock::now();
    uint64_t s = 0;
    for (size_t i = 0; i < iters; ++i) s += fn(p, n);
    g_sink = s;
    const double ns = std::chrono::duration<double, std::nano>(clock::now() - t0).count();
    gbps.push_back(double(n) * iters / ns);
  }
  std::sort(gbps.begin(), gbps.end());
  return gbps[gbps.size() / 2];
}

uint8_t g_dst[1 << 20];

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
  const size_t sizes[] = {64, 4096, 1 << 20};
  std::vector<uint8_t> buf((1 << 20) + 64);
  std::mt19937 rng(1);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  const uint8_t* data = buf.data() + 1;  // deliberately unaligned

  std::printf("GB/s, median of %d runs\n%-8s %-15s %10s %10s %10s\n", runs, "algo", "impl", "64 B",
              "4 KiB", "1 MiB");
  auto row = [&](const char* algo, const char* impl, auto fn) {
    std::printf("%-8s %-15s", algo, impl);
    for (size_t n : sizes) std::printf(" %10.2f", measure(fn, data, n, runs));
    std::printf("\n");
    std::fflush(stdout);
  };
  row("memcpy", "libc", [](const uint8_t* p, size_t n) -> uint64_t {
    std::memcpy(g_dst, p, n);
    return g_dst[n - 1];
  });
  const detail::Implementations& l = detail::implementations();
  for (size_t i = 0; i < l.size; ++i) {
    const detail::ChecksumFn fn = l.item[i].fn;
    row(checksum_name(l.item[i].kind), l.item[i].name,
        [fn](const uint8_t* p, size_t n) { return fn(0, p, n); });
  }
  for (unsigned k = 1; k < kChecksumKindCount; ++k) {
    const auto kind = static_cast<ChecksumKind>(k);
    row(checksum_name(kind), "checksum()",
        [kind](const uint8_t* p, size_t n) { return checksum(kind, p, n); });
  }
  return 0;
}
