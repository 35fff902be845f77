// Micro-benchmark of payload verification: ns per frame for the telemetry
// event (u64 id, u64 timestamp, f64 value), the benchmarks' richer event
// (plus a 16-char label and 8 f64 readings) and the test suite's full
// RichEvent (tags, an Alarm, flags), through TableRootValidator,
// SchemaValidator (events.bfbs) and flatc's generated verifier. Median of
// several timed runs; the frames cycle through 64 copies so that each call
// sees other memory, like a reader walking a slab.
//   build/bench_verifier [runs]
#include "verifier.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "measure.h"
#include "schema_verifier.h"
#include "test/verifier_fixtures.h"

using namespace flatstream;
using bench::g_sink;
using bench::measure;
using fixtures::Bytes;

namespace {}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
  std::printf("ns per frame, median of %d runs\n", runs);
  const Bytes bfbs = fixtures::events_bfbs();
  std::string error;
  auto rich_v = SchemaValidator::create(bfbs.data(), bfbs.size(), "", {}, &error);
  auto tele_v = SchemaValidator::create(bfbs.data(), bfbs.size(), "Telemetry", {}, &error);
  if (!rich_v || !tele_v) {
    std::fprintf(stderr, "schema: %s\n", error.c_str());
    return 1;
  }
  const TableRootValidator root;
  const flatbuffers::Verifier::Options defaults;

  struct Workload {
    const char* name;
    std::vector<Bytes> frames;
    const SchemaValidator* schema;
    bool (*generated)(const uint8_t*, size_t, const flatbuffers::Verifier::Options&);
  };
  Workload workloads[3] = {
      {"telemetry", {}, tele_v.get(), fixtures::generated_telemetry},
      {"rich (label + 8 readings)", {}, rich_v.get(), fixtures::generated_rich},
      {"rich, full (tags, Alarm, flags)", {}, rich_v.get(), fixtures::generated_rich}};
  for (uint64_t i = 0; i < 64; ++i) {
    workloads[0].frames.push_back(fixtures::telemetry(i));
    workloads[1].frames.push_back(fixtures::rich_bench(i));
    workloads[2].frames.push_back(fixtures::rich(0));
  }
  for (const Workload& w : workloads) {
    std::printf("%s: %zu bytes\n", w.name, w.frames[0].size());
    auto row = [](const char* what, double ns) {
      std::printf("  %-40s %8.1f\n", what, ns);
      std::fflush(stdout);
    };
    const auto& f = w.frames;
    row("TableRootValidator", measure(
                                  [&](size_t i) {
                                    const Bytes& b = f[i & 63];
                                    return uint64_t(root.verify(b.data(), b.size()).ok());
                                  },
                                  runs));
    row("SchemaValidator", measure(
                               [&](size_t i) {
                                 const Bytes& b = f[i & 63];
                                 return uint64_t(w.schema->verify(b.data(), b.size()).ok());
                               },
                               runs));
    row("flatc-generated Verify...Buffer",
        measure(
            [&](size_t i) {
              const Bytes& b = f[i & 63];
              return uint64_t(w.generated(b.data(), b.size(), defaults));
            },
            runs));
  }
  return 0;
}
