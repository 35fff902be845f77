// Micro-benchmark of the arena: a bump allocation against malloc/free, and a
// C++ FlatBufferBuilder building the telemetry event (u64 id, u64 timestamp,
// f64 value) over the arena against the default allocator. ns per operation,
// median of several timed runs.
//   build/bench_arena [runs]
#include "arena.h"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "measure.h"

using namespace flatstream;
using bench::g_sink;
using bench::measure;

namespace {

uint64_t build_event(flatbuffers::FlatBufferBuilder& b, size_t i) {
  const auto start = b.StartTable();
  b.AddElement<uint64_t>(4, 1000 + i, 0);
  b.AddElement<uint64_t>(6, 1700000000000ull + i, 0);
  b.AddElement<double>(8, 0.5 * double(i), 0.0);
  b.Finish(flatbuffers::Offset<flatbuffers::Table>(b.EndTable(start)));
  return b.GetSize() + b.GetBufferPointer()[0];
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
  std::printf("ns per operation, median of %d runs\n", runs);
  auto row = [](const char* what, double ns) {
    std::printf("%-58s %8.1f\n", what, ns);
    std::fflush(stdout);
  };

  Arena arena;
  auto bump = [&](size_t i) {
    if (i % 1000 == 0) arena.reset();
    return uint64_t(arena.allocate(64, 8)[0]);
  };
  auto heap = [](size_t) {
    auto* p = static_cast<volatile uint8_t*>(std::malloc(64));
    p[0] = 1;
    const uint64_t v = p[0];
    std::free(const_cast<uint8_t*>(p));
    return v;
  };
  row("arena allocate(64, 8), reset every 1000", measure(bump, runs));
  row("malloc(64) + free", measure(heap, runs));

  flatbuffers::FlatBufferBuilder reused(256);
  auto reuse_default = [&](size_t i) {
    reused.Clear();
    return build_event(reused, i);
  };
  auto fresh_default = [](size_t i) {
    flatbuffers::FlatBufferBuilder b(256);
    return build_event(b, i);
  };
  auto fresh_arena = [&](size_t i) {
    arena.reset();
    flatbuffers::FlatBufferBuilder b(256, &arena);
    return build_event(b, i);
  };
  row("event: one builder reused (Clear), default allocator", measure(reuse_default, runs));
  row("event: a new builder per message, default allocator", measure(fresh_default, runs));
  row("event: a new builder per message over the arena (reset)", measure(fresh_arena, runs));
  flatbuffers::FlatBufferBuilder over(256, &arena);
  auto reuse_arena = [&](size_t i) {
    over.Clear();
    return build_event(over, i);
  };
  row("event: one builder over the arena reused (Clear)", measure(reuse_arena, runs));
  std::printf("arena chunks allocated: %llu\n",
              static_cast<unsigned long long>(arena.stats().chunks_allocated));
  return 0;
}
