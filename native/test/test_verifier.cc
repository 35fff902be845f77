// TableRootValidator and SchemaValidator: the contracts of native/verifier.h
// and native/schema_verifier.h. The schema walk is held to accept/reject
// parity with flatc's generated verifiers on valid payloads, on every
// single-byte mutation and truncation of them, and on random multi-byte
// edits; crafted lies check that the reasons name the table and field.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "check.h"
#include "schema_verifier.h"
#include "verifier.h"
#include "verifier_fixtures.h"

using namespace flatstream;
using fixtures::Bytes;

namespace {

using Generated = bool (*)(const uint8_t*, size_t, const flatbuffers::Verifier::Options&);

std::unique_ptr<SchemaValidator> load(const Bytes& bfbs, const std::string& root,
                                      const VerifierOptions& o = {}) {
  std::string error;
  auto v = SchemaValidator::create(bfbs.data(), bfbs.size(), root, o, &error);
  if (!v) std::fprintf(stderr, "schema: %s\n", error.c_str());
  return v;
}

flatbuffers::Verifier::Options generated_options(const VerifierOptions& o, bool nested) {
  flatbuffers::Verifier::Options g;
  g.max_depth = o.max_depth;
  g.max_tables = o.max_tables;
  g.check_alignment = o.check_alignment;
  g.check_nested_flatbuffers = nested;
  return g;
}

VerifierOptions with(bool align, uint32_t depth, uint32_t tables) {
  VerifierOptions o;
  o.check_alignment = align;
  o.max_depth = depth;
  o.max_tables = tables;
  return o;
}

// Option sets the parity runs under: flatc's defaults, no alignment checks,
// and limits tight enough to bite on the fixtures.
const VerifierOptions kOptionSets[] = {with(true, 64, 1000000), with(false, 64, 1000000),
                                       with(true, 1, 1000000), with(true, 2, 3)};

// Each single-byte mutation (xor 0x01, xor 0x80, set to 0xFF; no-ops left
// out) and each truncation of `buf`, in exactly sized heap buffers so that
// ASan sees any read past the end.
template <typename F>
void for_each_mutation(const Bytes& buf, F f) {
  Bytes m(buf);
  for (size_t i = 0; i < buf.size(); ++i) {
    const uint8_t edits[3] = {uint8_t(buf[i] ^ 0x01), uint8_t(buf[i] ^ 0x80), 0xFF};
    for (uint8_t e : edits) {
      if (e == buf[i]) continue;
      m[i] = e;
      f(m);
      m[i] = buf[i];
    }
  }
  for (size_t n = 0; n < buf.size(); ++n) f(Bytes(buf.begin(), buf.begin() + n));
}

struct Tally {
  size_t inputs = 0;
  size_t agree = 0;
  size_t accepted = 0;
};
Tally g_total;

// Reasons TableRootValidator may give for a payload generated code accepts:
// the checks it makes beyond VerifyTableStart.
bool extra_structural_reason(const char* r) {
  return !std::strcmp(r, "vtable too short") ||
         !std::strcmp(r, "table size smaller than its vtable offset") ||
         !std::strcmp(r, "table body out of bounds") ||
         !std::strcmp(r, "field offset outside the table");
}

void check_input(const SchemaValidator& sv, Generated gen, const flatbuffers::Verifier::Options& g,
                 const Bytes& in, const char* what, Tally& t) {
  const VerifyResult ours = sv.verify(in.data(), in.size());
  const TableRootValidator root(sv.options());
  const VerifyResult r = root.verify(in.data(), in.size());
  if (!ours.ok()) CHECK(!ours.message().empty());
  if (fixtures::kSanitized && !g.check_alignment) return;  // see kSanitized
  const bool theirs = gen(in.data(), in.size(), g);
  ++t.inputs;
  if (ours.ok() == theirs) {
    ++t.agree;
    t.accepted += theirs;
  } else if (t.inputs - t.agree <= 5) {
    std::fprintf(stderr, "%s: %zu bytes: ours %s, generated %s\n", what, in.size(),
                 ours.ok() ? "accepts" : ours.message().c_str(), theirs ? "accepts" : "rejects");
  }
  // TableRootValidator never rejects what generated code accepts, beyond its
  // documented extra checks.
  if (theirs && !r.ok() && !extra_structural_reason(r.reason)) {
    std::fprintf(stderr, "%s: TableRootValidator rejects a valid payload: %s\n", what, r.reason);
    CHECK(false);
  }
}

void parity(const Bytes& bfbs, const std::string& root, Generated gen, const Bytes& buf,
            const VerifierOptions& o, bool nested, const char* what) {
  auto sv = load(bfbs, root, o);
  CHECK(sv != nullptr);
  if (!sv) return;
  const flatbuffers::Verifier::Options g = generated_options(o, nested);
  Tally t;
  check_input(*sv, gen, g, buf, what, t);
  for_each_mutation(buf, [&](const Bytes& m) { check_input(*sv, gen, g, m, what, t); });
  if (fixtures::kSanitized && !o.check_alignment) return;  // ASan and UBSan only, no parity
  std::printf(
      "  parity %-34s depth %2u tables %7u align %d: %6zu inputs, %6zu agree, %5zu accepted\n",
      what, o.max_depth, o.max_tables, int(o.check_alignment), t.inputs, t.agree, t.accepted);
  CHECK_EQ(t.agree, t.inputs);
  g_total.inputs += t.inputs;
  g_total.agree += t.agree;
  g_total.accepted += t.accepted;
}

// --- Positions inside a payload, for crafting lies ------------------------

uint32_t get32(const Bytes& b, size_t at) { return flatbuffers::ReadScalar<uint32_t>(&b[at]); }
uint16_t get16(const Bytes& b, size_t at) { return flatbuffers::ReadScalar<uint16_t>(&b[at]); }
void put32(Bytes& b, size_t at, uint32_t v) { flatbuffers::WriteScalar<uint32_t>(&b[at], v); }
void put16(Bytes& b, size_t at, uint16_t v) { flatbuffers::WriteScalar<uint16_t>(&b[at], v); }
size_t root_of(const Bytes& b) { return get32(b, 0); }
size_t vtable_of(const Bytes& b, size_t table) {
  return table - size_t(int64_t(flatbuffers::ReadScalar<int32_t>(&b[table])));
}
// Where a (present) field of the table at `table` lies.
size_t field_at(const Bytes& b, size_t table, uint16_t slot) {
  const size_t off = get16(b, vtable_of(b, table) + slot);
  CHECK(off != 0);
  return table + off;
}
size_t deref(const Bytes& b, size_t at) { return at + get32(b, at); }

std::string message_of(const SchemaValidator& sv, const Bytes& b) {
  return sv.verify(b.data(), b.size()).message();
}

const flatbuffers::Verifier::Options kGeneratedDefaults;

}  // namespace

TEST_CASE(embedded_events_schema_is_the_committed_one) {
  const char* src = std::getenv("FLATSTREAM_SOURCE_DIR");
  if (!src) return;  // run outside ctest
  CHECK(fixtures::read_file(std::string(src) + "/test/generated/events.bfbs") ==
        fixtures::events_bfbs());
}

TEST_CASE(schema_validator_accepts_every_valid_fixture) {
  auto rich = load(fixtures::events_bfbs(), "");
  auto telemetry = load(fixtures::events_bfbs(), "Telemetry");
  auto cov = load(fixtures::coverage_bfbs(true), "");
  auto cov_plain = load(fixtures::coverage_bfbs(false), "cov.Root");
  CHECK(rich && telemetry && cov && cov_plain);
  if (!rich || !telemetry || !cov || !cov_plain) return;
  CHECK(rich->root_type() == "events.RichEvent");
  CHECK(telemetry->root_type() == "events.Telemetry");
  CHECK(std::string(cov->file_identifier()) == "COVR");
  CHECK(std::string(rich->file_identifier()).empty());
  for (int i = 0; i < fixtures::kRichVariants; ++i) {
    const Bytes b = fixtures::rich(i);
    CHECK(rich->verify(b.data(), b.size()).ok());
    CHECK(TableRootValidator().verify(b.data(), b.size()).ok());
  }
  const Bytes t = fixtures::telemetry(5);
  CHECK(telemetry->verify(t.data(), t.size()).ok());
  CHECK(TableRootValidator().verify(t.data(), t.size()).ok());
  for (int i = 0; i < fixtures::kCoverageVariants; ++i) {
    const Bytes b = fixtures::coverage(i);
    CHECK(cov->verify(b.data(), b.size()).ok());
    CHECK(cov_plain->verify(b.data(), b.size()).ok());
    CHECK(fixtures::generated_coverage(b.data(), b.size(), kGeneratedDefaults));
    CHECK(TableRootValidator().verify(b.data(), b.size()).ok());
  }
}

TEST_CASE(parity_with_generated_on_every_single_byte_mutation_and_truncation) {
  const Bytes events = fixtures::events_bfbs();
  const Bytes cov = fixtures::coverage_bfbs(true);
  const Bytes cov_plain = fixtures::coverage_bfbs(false);
  char what[64];
  for (const VerifierOptions& o : kOptionSets) {
    for (int i = 0; i < fixtures::kRichVariants; ++i) {
      std::snprintf(what, sizeof what, "RichEvent variant %d", i);
      parity(events, "", fixtures::generated_rich, fixtures::rich(i), o, true, what);
    }
    parity(events, "Telemetry", fixtures::generated_telemetry, fixtures::telemetry(3), o, true,
           "Telemetry");
    for (int i = 0; i < fixtures::kCoverageVariants; ++i) {
      // Generated code verifies a nested flatbuffer with default options
      // whatever its own are: variant 0 (the one with a nested Root) is held
      // to parity under the defaults only.
      if (i > 0 || (o.max_depth == 64 && o.max_tables == 1000000 && o.check_alignment)) {
        std::snprintf(what, sizeof what, "cov.Root variant %d", i);
        parity(cov, "", fixtures::generated_coverage, fixtures::coverage(i), o, true, what);
      }
      // Without --bfbs-builtins the schema does not say `nested` holds a
      // flatbuffer: parity with generated code told not to look either.
      std::snprintf(what, sizeof what, "cov.Root variant %d, plain bfbs", i);
      parity(cov_plain, "", fixtures::generated_coverage, fixtures::coverage(i), o, false, what);
    }
  }
  std::printf("  parity total: %zu inputs, %zu agree, %zu accepted\n", g_total.inputs,
              g_total.agree, g_total.accepted);
}

TEST_CASE(parity_with_generated_on_random_multi_byte_edits) {
  auto rich = load(fixtures::events_bfbs(), "");
  auto cov = load(fixtures::coverage_bfbs(true), "");
  CHECK(rich && cov);
  if (!rich || !cov) return;
  uint64_t s = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  Tally t;
  for (int i = 0; i < fixtures::kRichVariants + fixtures::kCoverageVariants; ++i) {
    const bool is_rich = i < fixtures::kRichVariants;
    const Bytes base =
        is_rich ? fixtures::rich(i) : fixtures::coverage(i - fixtures::kRichVariants);
    for (int trial = 0; trial < 20000; ++trial) {
      Bytes m(base);
      const int edits = 1 + int(next() % 4);
      for (int e = 0; e < edits; ++e) m[next() % m.size()] = uint8_t(next());
      if (next() % 8 == 0) m.resize(next() % m.size());
      check_input(is_rich ? *rich : *cov,
                  is_rich ? fixtures::generated_rich : fixtures::generated_coverage,
                  kGeneratedDefaults, m, is_rich ? "RichEvent random" : "cov.Root random", t);
    }
  }
  std::printf("  random edits: %zu inputs, %zu agree, %zu accepted\n", t.inputs, t.agree,
              t.accepted);
  CHECK_EQ(t.agree, t.inputs);
}

TEST_CASE(table_root_validator_rejects_root_and_vtable_lies) {
  const TableRootValidator v;
  auto reason = [&](const Bytes& b) {
    const VerifyResult r = v.verify(b.data(), b.size());
    return std::string(r.ok() ? "ok" : r.reason);
  };
  const Bytes good = fixtures::rich(0);
  const size_t root = root_of(good);
  const size_t vt = vtable_of(good, root);
  CHECK(reason(good) == "ok");
  CHECK(reason(Bytes(good.begin(), good.begin() + 11)) == "buffer too small");
  CHECK(v.verify(nullptr, 0).reason == std::string("buffer too small"));
  VerifierOptions small;
  small.max_size = 16;
  CHECK(std::string(TableRootValidator(small).verify(good.data(), good.size()).reason) ==
        "buffer too large");

  Bytes b = good;
  put32(b, 0, 0);
  CHECK(reason(b) == "root offset is zero");
  put32(b, 0, uint32_t(good.size()));
  CHECK(reason(b) == "root offset out of bounds");
  put32(b, 0, 0x80000000u);
  CHECK(reason(b) == "root offset out of bounds");
  put32(b, 0, uint32_t(root + 2));
  CHECK(reason(b) == "table misaligned");
  put32(b, 0, uint32_t(good.size() - 2));
  CHECK(reason(b) == "table misaligned");
  CHECK(std::string(TableRootValidator(with(false, 64, 1)).verify(b.data(), b.size()).reason) ==
        "table out of bounds");

  b = good;  // vtable before the start, past the end, misaligned
  put32(b, root, uint32_t(root + 2));
  CHECK(reason(b) == "vtable out of bounds");
  put32(b, root, uint32_t(int32_t(root) - int32_t(good.size())));
  CHECK(reason(b) == "vtable out of bounds");
  put32(b, root, uint32_t(root - vt + 1));
  CHECK(reason(b) == "vtable misaligned");
  b = good;
  put16(b, vt, 7);
  CHECK(reason(b) == "vtable size is odd");
  put16(b, vt, 0xFFFE);
  CHECK(reason(b) == "vtable extends past the end");
  put16(b, vt, 2);
  CHECK(reason(b) == "vtable too short");
  b = good;
  put16(b, vt + 2, 2);
  CHECK(reason(b) == "table size smaller than its vtable offset");
  put16(b, vt + 2, 0xFFF0);
  CHECK(reason(b) == "table body out of bounds");
  b = good;
  put16(b, vt + events::RichEvent::VT_LABEL, get16(b, vt + 2));
  CHECK(reason(b) == "field offset outside the table");
  const VerifyResult r = v.verify(b.data(), b.size());
  CHECK_EQ(r.offset, vt + events::RichEvent::VT_LABEL);

  VerifierOptions none;
  none.max_depth = 0;
  CHECK(std::string(TableRootValidator(none).verify(good.data(), good.size()).reason) ==
        "depth limit exceeded");
  CHECK(TableRootValidator(with(false, 64, 1)).verify(good.data(), good.size()).ok());
}

TEST_CASE(schema_validator_names_table_and_field) {
  auto sv = load(fixtures::events_bfbs(), "");
  CHECK(sv != nullptr);
  if (!sv) return;
  const Bytes good = fixtures::rich(0);
  const size_t root = root_of(good);
  const size_t label_slot = field_at(good, root, events::RichEvent::VT_LABEL);
  const size_t label = deref(good, label_slot);

  Bytes b = good;  // a string without its terminator
  b[label + 4 + get32(good, label)] = '!';
  CHECK(message_of(*sv, b) == "RichEvent.label: string not zero-terminated");
  CHECK_EQ(sv->verify(b.data(), b.size()).offset, label);
  b = good;  // a string longer than the buffer
  put32(b, label, 0x7FFF);
  CHECK(message_of(*sv, b) == "RichEvent.label: string longer than the buffer");
  b = good;  // an offset past the end
  put32(b, label_slot, uint32_t(good.size()));
  CHECK(message_of(*sv, b) == "RichEvent.label: offset target out of bounds");
  put32(b, label_slot, 0);
  CHECK(message_of(*sv, b) == "RichEvent.label: offset is zero");

  const size_t readings = deref(good, field_at(good, root, events::RichEvent::VT_READINGS));
  b = good;  // a vector longer than the buffer, or than any buffer
  put32(b, readings, 1000);
  CHECK(message_of(*sv, b) == "RichEvent.readings: vector longer than the buffer");
  put32(b, readings, 0x40000000);
  CHECK(message_of(*sv, b) == "RichEvent.readings: vector length overflows");

  b = good;  // the root's vtable past the end
  put32(b, root, uint32_t(int32_t(root) - int32_t(good.size()) - 8));
  CHECK(message_of(*sv, b) == "RichEvent: vtable out of bounds");

  // A tag's table start, then a tag's own field.
  const size_t tags = deref(good, field_at(good, root, events::RichEvent::VT_TAGS));
  const size_t tag0 = deref(good, tags + 4);
  b = good;
  put32(b, tag0, 0x7FFFFFF0);
  CHECK(message_of(*sv, b) == "RichEvent.tags: vtable out of bounds");
  b = good;
  const size_t key = deref(good, field_at(good, tag0, events::Tag::VT_KEY));
  b[key + 4 + get32(good, key)] = 1;
  CHECK(message_of(*sv, b) == "Tag.key: string not zero-terminated");

  // An unknown union type is accepted, as generated code does; a bad value
  // for a known one is not.
  const size_t dtype = field_at(good, root, events::RichEvent::VT_DETAIL_TYPE);
  b = good;
  b[dtype] = 9;
  CHECK(sv->verify(b.data(), b.size()).ok());
  CHECK(fixtures::generated_rich(b.data(), b.size(), kGeneratedDefaults));
  b[dtype] = events::Detail_Note;  // an Alarm read as a Note: its code as the text's offset
  CHECK(message_of(*sv, b) == "Note.text: string misaligned");
  CHECK(!fixtures::generated_rich(b.data(), b.size(), kGeneratedDefaults));
  const size_t alarm = deref(good, field_at(good, root, events::RichEvent::VT_DETAIL));
  b = good;
  put32(b, alarm, uint32_t(alarm + 1));
  CHECK(message_of(*sv, b) == "RichEvent.detail: vtable misaligned");
  CHECK(!fixtures::generated_rich(b.data(), b.size(), kGeneratedDefaults));
}

TEST_CASE(unaligned_scalars_fail_only_with_alignment_checks) {
  // Telemetry's device_id moved 4 bytes on: inside the table, misaligned for a u64.
  Bytes b = fixtures::telemetry(1);
  const size_t root = root_of(b);
  const size_t slot = vtable_of(b, root) + events::Telemetry::VT_DEVICE_ID;
  put16(b, slot, uint16_t(get16(b, slot) + 4));
  auto strict = load(fixtures::events_bfbs(), "Telemetry");
  auto lax = load(fixtures::events_bfbs(), "Telemetry", with(false, 64, 1000000));
  CHECK(strict && lax);
  if (!strict || !lax) return;
  CHECK(message_of(*strict, b) == "Telemetry.device_id: scalar misaligned");
  CHECK(lax->verify(b.data(), b.size()).ok());
  CHECK(!fixtures::generated_telemetry(b.data(), b.size(), kGeneratedDefaults));
  CHECK(fixtures::generated_telemetry(b.data(), b.size(),
                                      generated_options(with(false, 64, 1000000), true)));
}

TEST_CASE(back_references_deep_chains_and_shared_tables_are_bounded) {
  auto cov = load(fixtures::coverage_bfbs(true), "");
  CHECK(cov != nullptr);
  if (!cov) return;
  // Offsets are unsigned and point forward, so a table cannot reference one
  // before it: a cycle is impossible, and a reference back is out of bounds.
  Bytes b = fixtures::coverage(0);
  const size_t root = root_of(b);
  const size_t next = field_at(b, root, cov::Root::VT_NEXT);
  put32(b, next, uint32_t(root - next));
  CHECK(message_of(*cov, b) == "Root.next: offset target out of bounds");
  CHECK(!fixtures::generated_coverage(b.data(), b.size(), kGeneratedDefaults));
  b = fixtures::coverage(0);  // likewise a vector element (not checked as an offset)
  const size_t leaves = deref(b, field_at(b, root, cov::Root::VT_V_LEAF));
  put32(b, leaves + 4, uint32_t(root - (leaves + 4)));
  CHECK(message_of(*cov, b) == "Root.v_leaf: table out of bounds");
  CHECK(!fixtures::generated_coverage(b.data(), b.size(), kGeneratedDefaults));

  // A real chain, 70 tables deep: over flatc's default of 64, under 100.
  flatbuffers::FlatBufferBuilder fbb;
  const cov::Inner in(1, 2);
  auto chain_of = [&](int depth) {
    fbb.Clear();
    flatbuffers::Offset<cov::Root> last;
    for (int i = 0; i < depth; ++i) {
      const auto s = fbb.CreateString("r");
      cov::RootBuilder r(fbb);
      r.add_req(s);
      r.add_req_inner(&in);
      if (i > 0) r.add_next(last);
      last = r.Finish();
    }
    cov::FinishRootBuffer(fbb, last);
    return fixtures::finish(fbb);
  };
  const Bytes chain = chain_of(70);
  CHECK(message_of(*cov, chain) == "Root.next: depth limit exceeded");
  CHECK(!fixtures::generated_coverage(chain.data(), chain.size(), kGeneratedDefaults));
  auto deep = load(fixtures::coverage_bfbs(true), "", with(true, 100, 1000000));
  CHECK(deep && deep->verify(chain.data(), chain.size()).ok());
  CHECK(fixtures::generated_coverage(chain.data(), chain.size(),
                                     generated_options(with(true, 100, 1000000), true)));
  // The limit is clamped where the walk's recursion stays shallow.
  auto huge = load(fixtures::coverage_bfbs(true), "", with(true, 1u << 30, 1000000));
  CHECK(huge && huge->options().max_depth == VerifierOptions::kMaxDepthLimit);
  const Bytes deepest = chain_of(VerifierOptions::kMaxDepthLimit);
  CHECK(huge && huge->verify(deepest.data(), deepest.size()).ok());
  const Bytes too_deep = chain_of(VerifierOptions::kMaxDepthLimit + 1);
  CHECK(huge && message_of(*huge, too_deep) == "Root.next: depth limit exceeded");
  // Tables counted once per reference: 70 tables, a limit of 69.
  auto few = load(fixtures::coverage_bfbs(true), "", with(true, 100, 69));
  CHECK(few && message_of(*few, chain) == "Root.next: table limit exceeded");

  // One Leaf referenced 5000 times: counted 5000 times, as generated code does.
  fbb.Clear();
  const auto leaf = cov::CreateLeafDirect(fbb, "shared");
  const std::vector<flatbuffers::Offset<cov::Leaf>> refs(5000, leaf);
  const auto v_leaf = fbb.CreateVector(refs);
  const auto s = fbb.CreateString("r");
  cov::RootBuilder r(fbb);
  r.add_req(s);
  r.add_req_inner(&in);
  r.add_v_leaf(v_leaf);
  cov::FinishRootBuffer(fbb, r.Finish());
  const Bytes dag = fixtures::finish(fbb);
  CHECK(cov->verify(dag.data(), dag.size()).ok());
  auto capped = load(fixtures::coverage_bfbs(true), "", with(true, 64, 1000));
  CHECK(capped && message_of(*capped, dag) == "Root.v_leaf: table limit exceeded");
  CHECK(!fixtures::generated_coverage(dag.data(), dag.size(),
                                      generated_options(with(true, 64, 1000), true)));
}

TEST_CASE(coverage_lies_unions_required_identifier_nested) {
  auto cov = load(fixtures::coverage_bfbs(true), "");
  CHECK(cov != nullptr);
  if (!cov) return;
  const Bytes good = fixtures::coverage(0);
  const size_t root = root_of(good);
  const size_t vt = vtable_of(good, root);

  Bytes b = good;  // a required field absent
  put16(b, vt + cov::Root::VT_REQ, 0);
  CHECK(message_of(*cov, b) == "Root.req: required field missing");
  CHECK(!fixtures::generated_coverage(b.data(), b.size(), kGeneratedDefaults));
  b = good;
  put16(b, vt + cov::Root::VT_REQ_INNER, 0);
  CHECK(message_of(*cov, b) == "Root.req_inner: required field missing");

  b = good;  // a union typed as a struct, its value absent
  b[field_at(good, root, cov::Root::VT_ANY_TYPE)] = cov::Any_Outer;
  put16(b, vt + cov::Root::VT_ANY, 0);
  CHECK(message_of(*cov, b) == "Root.any: union struct value missing");
  CHECK(!fixtures::generated_coverage(b.data(), b.size(), kGeneratedDefaults));
  b = good;  // a union typed as a table, its value absent: fine
  put16(b, vt + cov::Root::VT_ANY, 0);
  CHECK(cov->verify(b.data(), b.size()).ok());

  // Vectors of unions: types without values, lengths that differ.
  b = good;
  put16(b, vt + cov::Root::VT_V_ANY, 0);
  CHECK(message_of(*cov, b) == "Root.v_any: union types without values");
  CHECK(!fixtures::generated_coverage(b.data(), b.size(), kGeneratedDefaults));
  b = good;
  put16(b, vt + cov::Root::VT_V_ANY_TYPE, 0);
  CHECK(message_of(*cov, b) == "Root.v_any: union values without types");
  b = good;
  const size_t types = deref(good, field_at(good, root, cov::Root::VT_V_ANY_TYPE));
  put32(b, types, get32(good, types) - 1);
  CHECK(message_of(*cov, b) == "Root.v_any: union types and values differ in length");
  CHECK(!fixtures::generated_coverage(b.data(), b.size(), kGeneratedDefaults));

  b = good;  // the file identifier
  b[5] = 'X';
  CHECK(message_of(*cov, b) == "file identifier mismatch");
  CHECK(!fixtures::generated_coverage(b.data(), b.size(), kGeneratedDefaults));
  // Leaf is not the schema's root_type: no identifier for it (generated code
  // has no VerifyLeafBuffer either).
  auto leaf = load(fixtures::coverage_bfbs(true), "Leaf");
  CHECK(leaf && std::string(leaf->file_identifier()).empty());

  // A nested flatbuffer whose own required field is gone.
  const size_t nested = deref(good, field_at(good, root, cov::Root::VT_NESTED)) + 4;
  const size_t nroot = nested + get32(good, nested);
  const size_t nvt = nroot - size_t(int64_t(flatbuffers::ReadScalar<int32_t>(&good[nroot])));
  b = good;
  put16(b, nvt + cov::Root::VT_REQ, 0);
  CHECK(message_of(*cov, b) ==
        "Root.nested: in nested flatbuffer: Root.req: required field missing");
  CHECK(!fixtures::generated_coverage(b.data(), b.size(), kGeneratedDefaults));
  auto plain = load(fixtures::coverage_bfbs(false), "");
  CHECK(plain && plain->verify(b.data(), b.size()).ok());
  VerifierOptions skip;
  skip.check_nested_flatbuffers = false;
  auto skipping = load(fixtures::coverage_bfbs(true), "", skip);
  CHECK(skipping && skipping->verify(b.data(), b.size()).ok());
}

TEST_CASE(unusable_schemas_and_root_types_are_errors_not_crashes) {
  const Bytes events = fixtures::events_bfbs();
  std::string error;
  CHECK(!SchemaValidator::create(nullptr, 0, "", {}, &error));
  CHECK(error == "not a binary schema (.bfbs): bad size");
  const Bytes payload = fixtures::rich(0);
  CHECK(!SchemaValidator::create(payload.data(), payload.size(), "", {}, &error));
  CHECK(error == "not a binary schema (.bfbs): verification failed");
  CHECK(!SchemaValidator::create(events.data(), events.size(), "Nope", {}, &error));
  CHECK(error == "root type 'Nope' is not in the schema");
  CHECK(!SchemaValidator::create(events.data(), events.size(), "Vec3", {}, &error));
  CHECK(error == "root type 'events.Vec3' is a struct, not a table");
  CHECK(SchemaValidator::create(events.data(), events.size(), "events.Tag", {}, nullptr));

  // Every single-byte mutation and truncation of both schemas: each either
  // loads or says why, and what loads verifies the fixtures without a crash.
  const Bytes payloads[] = {fixtures::rich(0), fixtures::coverage(0), fixtures::coverage(1)};
  size_t loaded = 0, refused = 0;
  for (const Bytes& bfbs : {events, fixtures::coverage_bfbs(true)}) {
    for_each_mutation(bfbs, [&](const Bytes& m) {
      auto sv = SchemaValidator::create(m.data(), m.size(), "", {}, &error);
      if (!sv) {
        CHECK(!error.empty());
        ++refused;
        return;
      }
      ++loaded;
      for (const Bytes& p : payloads) sv->verify(p.data(), p.size());
    });
  }
  std::printf("  mutated schemas: %zu loaded, %zu refused\n", loaded, refused);
}

TEST_CASE(verify_is_safe_from_many_threads) {
  auto sv = load(fixtures::events_bfbs(), "");
  CHECK(sv != nullptr);
  if (!sv) return;
  const Bytes good = fixtures::rich(0);
  Bytes bad = good;
  bad[root_of(bad)] ^= 0x80;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!sv->verify(good.data(), good.size()).ok()) ++wrong;
        if (sv->verify(bad.data(), bad.size()).ok()) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK_EQ(wrong.load(), 0);
}

CHECK_MAIN()
