// Valid payloads for the verifier's test, fuzzer and benchmark, built with
// flatc's generated C++ builders (events.fbs and the C++-only coverage.fbs,
// compiled into the build directory), and the generated verifiers the
// validators are held against.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "coverage_generated.h"
#include "events_bfbs_generated.h"
#include "events_generated.h"

namespace fixtures {

using Bytes = std::vector<uint8_t>;

inline Bytes finish(const flatbuffers::FlatBufferBuilder& b) {
  return Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

// The events schema as flatc embeds it (identical to test/generated/events.bfbs).
inline Bytes events_bfbs() {
  const uint8_t* p = events::RichEventBinarySchema::data();
  return Bytes(p, p + events::RichEventBinarySchema::size());
}

// A file of the build directory (the coverage schemas), empty when missing.
inline Bytes read_file(const std::string& path) {
  Bytes out;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    uint8_t chunk[4096];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) out.insert(out.end(), chunk, chunk + n);
    std::fclose(f);
  }
  return out;
}
// coverage.bfbs as `flatc -b --schema` makes it (no attributes), or with
// --bfbs-builtins (nested_flatbuffer kept).
inline Bytes coverage_bfbs(bool builtins) {
  return read_file(std::string(FLATSTREAM_GEN_DIR) + (builtins ? "/builtins" : "") +
                   "/coverage.bfbs");
}

// The flatstream-rs telemetry event.
inline Bytes telemetry(uint64_t i) {
  flatbuffers::FlatBufferBuilder b(64);
  b.Finish(events::CreateTelemetry(b, 1000 + i, 1700000000000ull + i, 0.5 * double(i)));
  return finish(b);
}

// The benchmarks' richer event: telemetry plus a 16-char label and 8 readings.
inline Bytes rich_bench(uint64_t i) {
  flatbuffers::FlatBufferBuilder b(256);
  const double readings[8] = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, double(i)};
  const auto label = b.CreateString("sensor-0000-abcd");
  const auto r = b.CreateVector(readings, 8);
  events::RichEventBuilder e(b);
  e.add_device_id(1000 + i);
  e.add_timestamp(1700000000000ull + i);
  e.add_label(label);
  e.add_readings(r);
  b.Finish(e.Finish());
  return finish(b);
}

// RichEvents exercising every field: 0 full (tags, an Alarm, flags), 1 a
// Note and empty strings and vectors, 2 all defaults, 3 the benchmark's.
constexpr int kRichVariants = 4;
inline Bytes rich(int variant) {
  flatbuffers::FlatBufferBuilder b(512);
  const events::Vec3 pos(1.0f, -2.0f, 3.5f);
  switch (variant) {
    case 0: {
      std::vector<flatbuffers::Offset<events::Tag>> tags = {events::CreateTagDirect(b, "site", 7),
                                                            events::CreateTagDirect(b, "rack"),
                                                            events::CreateTag(b)};
      const std::vector<double> readings = {1, 2, 3};
      const std::vector<uint8_t> flags = {1, 2, 3, 4, 5};
      const auto alarm = events::CreateAlarmDirect(b, 42, "overheat");
      b.Finish(events::CreateRichEventDirect(b, 7, 8, "a label", &readings, events::Level_Error,
                                             &pos, &tags, events::Detail_Alarm, alarm.Union(),
                                             &flags, false));
      break;
    }
    case 1: {
      const std::vector<double> none;
      const std::vector<flatbuffers::Offset<events::Tag>> no_tags;
      const auto note = events::CreateNoteDirect(b, "");
      b.Finish(events::CreateRichEventDirect(b, 1, 2, "", &none, events::Level_Debug, nullptr,
                                             &no_tags, events::Detail_Note, note.Union()));
      break;
    }
    case 2:
      b.Finish(events::RichEventBuilder(b).Finish());
      break;
    default:
      return rich_bench(3);
  }
  return finish(b);
}

// coverage.fbs Roots: 0 everything (any = Leaf, a nested Root), 1 any =
// Outer, 2 any = Str, 3 only the required fields.
constexpr int kCoverageVariants = 4;
inline Bytes coverage(int variant) {
  flatbuffers::FlatBufferBuilder b(1024);
  const cov::Inner inner(-3, 4);
  const int32_t arr[3] = {1, 2, 3};
  const cov::Outer outer(2.5, inner, flatbuffers::span<const int32_t, 3>(arr));
  const auto req = b.CreateString("required");
  if (variant == 3) {
    cov::RootBuilder r(b);
    r.add_req(req);
    r.add_req_inner(&inner);
    cov::FinishRootBuffer(b, r.Finish());
    return finish(b);
  }
  const Bytes nested = variant == 0 ? coverage(3) : Bytes();
  const flatbuffers::Offset<flatbuffers::Vector<uint8_t>> nested_vec =
      variant == 0 ? b.CreateVector(nested) : flatbuffers::Offset<flatbuffers::Vector<uint8_t>>();
  const auto leaf = cov::CreateLeafDirect(b, "leaf", 9);
  const auto next = [&] {
    const auto s = b.CreateString("next");
    cov::RootBuilder r(b);
    r.add_req(s);
    r.add_req_inner(&inner);
    r.add_i32(-1);
    return r.Finish();
  }();
  const std::vector<uint8_t> bools = {1, 0, 1};
  const std::vector<int16_t> i16s = {-1, 2, -3};
  const std::vector<int64_t> i64s = {1ll << 40, -5};
  const std::vector<double> f64s = {0.25, 0.5};
  const auto v_str = b.CreateVectorOfStrings({"a", "", "ccc"});
  const std::vector<cov::Outer> outers = {outer, outer};
  const std::vector<cov::Inner> inners = {inner, inner, inner};
  const std::vector<flatbuffers::Offset<cov::Leaf>> leaves = {cov::CreateLeafDirect(b, "x", 1),
                                                              cov::CreateLeaf(b), leaf};
  flatbuffers::Offset<void> any;
  cov::Any any_type = cov::Any_Leaf;
  if (variant == 0) {
    any = leaf.Union();
  } else if (variant == 1) {
    any = b.CreateStruct(outer).Union();
    any_type = cov::Any_Outer;
  } else {
    any = b.CreateString("any").Union();
    any_type = cov::Any_Str;
  }
  std::vector<uint8_t> any_types;
  std::vector<flatbuffers::Offset<void>> anys;
  if (variant != 2) {
    any_types = {cov::Any_Leaf, cov::Any_Outer, cov::Any_Str, cov::Any_NONE};
    anys = {cov::CreateLeafDirect(b, "in union").Union(), b.CreateStruct(outer).Union(),
            b.CreateString("str").Union(), leaf.Union()};
  }
  const auto s = b.CreateString("string");
  const auto v_bool = b.CreateVector(bools);
  const auto v_i16 = b.CreateVector(i16s);
  const auto v_i64 = b.CreateVector(i64s);
  const auto v_f64 = b.CreateVector(f64s);
  const auto v_outer = b.CreateVectorOfStructs(outers);
  const auto v_inner = b.CreateVectorOfStructs(inners);
  const auto v_leaf = b.CreateVector(leaves);
  const auto v_any_type = b.CreateVector(any_types);
  const auto v_any = b.CreateVector(anys);
  cov::RootBuilder r(b);
  r.add_b(true);
  r.add_i8(-8);
  r.add_u8(8);
  r.add_i16(-16);
  r.add_u16(16);
  r.add_i32(-32);
  r.add_u32(32);
  r.add_i64(-64);
  r.add_u64(64);
  r.add_f32(3.2f);
  r.add_f64(6.4);
  r.add_color(cov::Color_Blue);
  r.add_s(s);
  r.add_req(req);
  r.add_outer(&outer);
  r.add_leaf(leaf);
  r.add_next(next);
  r.add_v_bool(v_bool);
  r.add_v_i16(v_i16);
  r.add_v_i64(v_i64);
  r.add_v_f64(v_f64);
  r.add_v_str(v_str);
  r.add_v_outer(v_outer);
  r.add_v_inner(v_inner);
  r.add_v_leaf(v_leaf);
  r.add_any_type(any_type);
  r.add_any(any);
  r.add_v_any_type(v_any_type);
  r.add_v_any(v_any);
  if (variant == 0) r.add_nested(nested_vec);
  r.add_opt(5);
  r.add_req_inner(&inner);
  cov::FinishRootBuffer(b, r.Finish());
  return finish(b);
}

// Told not to check alignment, flatbuffers' own verifier calls members of
// misaligned Vector pointers (VerifyVectorOfTables: vec->size()): UB that
// UBSan reports. Sanitized builds (here ASan and UBSan always come together)
// consult the generated verifiers with alignment checks on only.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// The generated verifiers, with the given options.
inline bool generated_rich(const uint8_t* d, size_t n, const flatbuffers::Verifier::Options& o) {
  flatbuffers::Verifier v(d, n, o);
  return events::VerifyRichEventBuffer(v);
}
inline bool generated_telemetry(const uint8_t* d, size_t n,
                                const flatbuffers::Verifier::Options& o) {
  flatbuffers::Verifier v(d, n, o);
  return v.VerifyBuffer<events::Telemetry>(nullptr);
}
inline bool generated_coverage(const uint8_t* d, size_t n,
                               const flatbuffers::Verifier::Options& o) {
  flatbuffers::Verifier v(d, n, o);
  return cov::VerifyRootBuffer(v);
}

}  // namespace fixtures
