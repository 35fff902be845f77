// ValidatorChain: the contracts of native/validator_chain.h. In order, AND,
// the first failure wins and names its position; check() allocates nothing.
#include <flatbuffers/flatbuffers.h>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "schema_verifier.h"
#include "validator_chain.h"

using namespace flatstream;
using Bytes = std::vector<uint8_t>;

// Counts heap allocations, to pin check() as allocation-free. Left out under
// the sanitizers, whose runtimes own operator new.
#if defined(__SANITIZE_ADDRESS__)
#define FLATSTREAM_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FLATSTREAM_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef FLATSTREAM_COUNT_ALLOCATIONS
#define FLATSTREAM_COUNT_ALLOCATIONS 1
#endif

#if FLATSTREAM_COUNT_ALLOCATIONS
static size_t g_allocations = 0;
void* operator new(size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#endif

namespace {

// The events schema (test/schema/events.fbs) as committed for the TS tests.
Bytes events_bfbs() {
  const char* root = std::getenv("FLATSTREAM_SOURCE_DIR");
  const std::string path = std::string(root ? root : ".") + "/test/generated/events.bfbs";
  Bytes out;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    uint8_t chunk[4096];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) out.insert(out.end(), chunk, chunk + n);
    std::fclose(f);
  }
  if (out.empty()) std::fprintf(stderr, "cannot read %s\n", path.c_str());
  return out;
}

std::shared_ptr<const SchemaValidator> schema(const std::string& root) {
  const Bytes bfbs = events_bfbs();
  std::string error;
  std::shared_ptr<const SchemaValidator> v =
      SchemaValidator::create(bfbs.data(), bfbs.size(), root, {}, &error);
  if (!v) std::fprintf(stderr, "schema: %s\n", error.c_str());
  return v;
}

Bytes finish(flatbuffers::FlatBufferBuilder& b, flatbuffers::uoffset_t table) {
  b.Finish(flatbuffers::Offset<void>(table));
  return Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

// events.Telemetry { device_id, timestamp, value }, built field by field.
Bytes telemetry(uint64_t i) {
  flatbuffers::FlatBufferBuilder b(64);
  const auto start = b.StartTable();
  b.AddElement<uint64_t>(4, 1000 + i, 0);
  b.AddElement<uint64_t>(6, 1700000000000ull + i, 0);
  b.AddElement<double>(8, 0.5 * double(i), 0.0);
  return finish(b, b.EndTable(start));
}

// A RichEvent whose `label` (slot 8, a string) points far outside the buffer:
// sound as a table, so only the schema walk sees it.
Bytes rich_with_a_lying_label() {
  flatbuffers::FlatBufferBuilder b(64);
  const auto start = b.StartTable();
  b.AddElement<uint64_t>(4, 7, 0);
  b.AddElement<uint32_t>(8, 0x7ffffff0u, 0);
  return finish(b, b.EndTable(start));
}

}  // namespace

TEST_CASE(an_empty_chain_passes_everything) {
  const ValidatorChain chain;
  CHECK(chain.empty());
  CHECK(chain.check(nullptr, 0).ok());
  const uint8_t junk[3] = {1, 2, 3};
  const ChainResult r = chain.check(junk, sizeof junk);
  CHECK(r.ok());
  CHECK_EQ(r.message().size(), 0u);
}

TEST_CASE(size_bounds_are_inclusive_and_say_which_one_failed) {
  const ValidatorChain chain({ValidatorChain::Size{3, 5}});
  const uint8_t buf[8] = {};
  CHECK(!chain.check(buf, 2).ok());
  CHECK(chain.check(buf, 3).ok());
  CHECK(chain.check(buf, 5).ok());
  const ChainResult small = chain.check(buf, 2);
  CHECK_EQ(small.index, 0u);
  CHECK(small.message() == "payload of 2 bytes is shorter than 3");
  const ChainResult large = chain.check(buf, 6);
  CHECK(large.message() == "payload of 6 bytes is longer than 5");
  CHECK_EQ(large.length, 6u);
  CHECK_EQ(large.limit, 5u);
}

TEST_CASE(validators_run_in_order_and_the_first_failure_wins) {
  const Bytes good = telemetry(1);
  const uint8_t junk[3] = {1, 2, 3};
  // Size first: a short payload fails it, before TableRoot could.
  const ValidatorChain size_first({ValidatorChain::Size{4, 1024}, ValidatorChain::TableRoot()});
  ChainResult r = size_first.check(junk, sizeof junk);
  CHECK_EQ(r.index, 0u);
  CHECK(r.message() == "payload of 3 bytes is shorter than 4");
  // TableRoot first: the same payload fails it instead.
  const ValidatorChain root_first({ValidatorChain::TableRoot(), ValidatorChain::Size{4, 1024}});
  r = root_first.check(junk, sizeof junk);
  CHECK_EQ(r.index, 0u);
  CHECK(r.message() == "buffer too small");
  // A payload that passes the first fails the second, which is then named.
  const ValidatorChain tight({ValidatorChain::TableRoot(), ValidatorChain::Size{0, 8}});
  r = tight.check(good.data(), good.size());
  CHECK_EQ(r.index, 1u);
  CHECK(r.message() == "payload of " + std::to_string(good.size()) + " bytes is longer than 8");
  CHECK(size_first.check(good.data(), good.size()).ok());
  CHECK(root_first.check(good.data(), good.size()).ok());
}

TEST_CASE(a_schema_sees_what_a_table_root_cannot) {
  const auto rich = schema("");
  CHECK(rich != nullptr);
  if (!rich) return;
  const ValidatorChain chain(
      {ValidatorChain::Size{1, 1024}, ValidatorChain::TableRoot(), ValidatorChain::Schema{rich}});
  const Bytes lie = rich_with_a_lying_label();
  const ChainResult r = chain.check(lie.data(), lie.size());
  CHECK_EQ(r.index, 2u);
  CHECK(r.message().rfind("RichEvent.label: ", 0) == 0);
  CHECK(r.result.field != nullptr);
  // The first two alone accept it.
  const ValidatorChain structural({ValidatorChain::Size{1, 1024}, ValidatorChain::TableRoot()});
  CHECK(structural.check(lie.data(), lie.size()).ok());
}

TEST_CASE(a_telemetry_schema_accepts_telemetry) {
  const auto tele = schema("Telemetry");
  CHECK(tele != nullptr);
  if (!tele) return;
  const ValidatorChain chain({ValidatorChain::TableRoot(), ValidatorChain::Schema{tele}});
  for (uint64_t i = 0; i < 8; ++i) {
    const Bytes t = telemetry(i);
    CHECK(chain.check(t.data(), t.size()).ok());
    // Each truncation fails somewhere in the chain, never crashes.
    for (size_t n = 0; n < t.size(); ++n) CHECK(!chain.check(t.data(), n).ok());
  }
}

TEST_CASE(one_schema_validator_serves_many_chains) {
  const auto tele = schema("Telemetry");
  if (!tele) return;
  const ValidatorChain a({ValidatorChain::Schema{tele}});
  const ValidatorChain b({ValidatorChain::Size{0, 100}, ValidatorChain::Schema{tele}});
  CHECK_EQ(tele.use_count(), 3);
  const Bytes t = telemetry(3);
  CHECK(a.check(t.data(), t.size()).ok());
  CHECK(b.check(t.data(), t.size()).ok());
}

TEST_CASE(bad_chains_are_refused_at_construction) {
  bool threw = false;
  try {
    ValidatorChain({ValidatorChain::Schema{}});
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  threw = false;
  try {
    ValidatorChain({ValidatorChain::Size{5, 4}});
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
}

TEST_CASE(check_allocates_nothing) {
#if FLATSTREAM_COUNT_ALLOCATIONS
  const auto rich = schema("");
  if (!rich) return;
  const ValidatorChain chain(
      {ValidatorChain::Size{1, 1024}, ValidatorChain::TableRoot(), ValidatorChain::Schema{rich}});
  const Bytes good = telemetry(1);
  const Bytes lie = rich_with_a_lying_label();
  const uint8_t junk[3] = {1, 2, 3};
  const size_t before = g_allocations;
  CHECK(before > 0);  // the counter is live: loading the schema allocated
  size_t failures = 0;
  for (int i = 0; i < 100; ++i) {
    failures += !chain.check(good.data(), good.size()).ok();
    failures += !chain.check(lie.data(), lie.size()).ok();
    failures += !chain.check(junk, sizeof junk).ok();
  }
  CHECK_EQ(g_allocations - before, 0u);
  CHECK_EQ(failures, 300u);  // a Telemetry is no RichEvent either: its value is no label
#endif
}

CHECK_MAIN()
