// Frame sealing and scanning: the contracts of native/frame.h.
#include <flatbuffers/flatbuffers.h>

#include <cstring>
#include <vector>

#include "check.h"
#include "frame.h"

using namespace flatstream;

namespace {

const ChecksumKind kAllKinds[] = {ChecksumKind::kNone,   ChecksumKind::kCrc16,
                                  ChecksumKind::kCrc32,  ChecksumKind::kXxHash64,
                                  ChecksumKind::kCrc32c, ChecksumKind::kCrc64};

std::vector<uint8_t> payload_of(size_t n, uint8_t seed) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = uint8_t(seed + i * 31);
  return p;
}

// Stages frames the way the JS writer does (length, blank checksum, payload),
// then seals them.
std::vector<uint8_t> build_stream(ChecksumKind kind, const std::vector<size_t>& sizes) {
  const unsigned width = checksum_width(kind);
  std::vector<uint8_t> out;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const size_t at = out.size();
    out.resize(at + 4 + width + sizes[i]);
    store_u32le(&out[at], uint32_t(sizes[i]));
    const std::vector<uint8_t> p = payload_of(sizes[i], uint8_t(i));
    if (!p.empty()) std::memcpy(&out[at + 4 + width], p.data(), p.size());
  }
  const SealResult r = seal_frames(out.data(), out.size(), kind);
  CHECK(r.ok);
  CHECK_EQ(r.frames, sizes.size());
  return out;
}

const std::vector<size_t> kSizes = {0, 3, 1, 1500, 48, 7};

// A small valid FlatBuffer (a table of two u64 and a double, like Telemetry).
std::vector<uint8_t> table_payload(uint64_t i) {
  flatbuffers::FlatBufferBuilder b(64);
  const auto start = b.StartTable();
  b.AddElement<uint64_t>(4, 1000 + i, 0);
  b.AddElement<uint64_t>(6, 1700000000000ull + i, 0);
  b.AddElement<double>(8, 0.5 + double(i), 0.0);
  b.Finish(flatbuffers::Offset<void>(b.EndTable(start)));
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

// Frames the given payloads and seals them.
std::vector<uint8_t> frame_payloads(ChecksumKind kind, const std::vector<std::vector<uint8_t>>& ps,
                                    std::vector<size_t>* starts = nullptr) {
  const unsigned width = checksum_width(kind);
  std::vector<uint8_t> out;
  for (const auto& p : ps) {
    if (starts) starts->push_back(out.size());
    const size_t at = out.size();
    out.resize(at + 4 + width + p.size());
    store_u32le(&out[at], uint32_t(p.size()));
    if (!p.empty()) std::memcpy(&out[at + 4 + width], p.data(), p.size());
  }
  if (starts) starts->push_back(out.size());
  CHECK(seal_frames(out.data(), out.size(), kind).ok);
  return out;
}

// Frame starts of build_stream(kind, sizes), and its end.
std::vector<size_t> boundaries_of(ChecksumKind kind, const std::vector<size_t>& sizes) {
  std::vector<size_t> b = {0};
  for (size_t x : sizes) b.push_back(b.back() + 4 + checksum_width(kind) + x);
  return b;
}

FrameFormat with_chain(ChecksumKind kind, uint64_t bound, const ValidatorChain* chain) {
  FrameFormat f = make_format(kind, 0, bound);
  f.validators = chain;
  return f;
}

}  // namespace

TEST_CASE(seal_writes_each_checksum_little_endian) {
  for (ChecksumKind kind : kAllKinds) {
    const std::vector<uint8_t> s = build_stream(kind, kSizes);
    size_t pos = 0;
    for (size_t i = 0; i < kSizes.size(); ++i) {
      CHECK_EQ(load_u32le(&s[pos]), kSizes[i]);
      const unsigned w = checksum_width(kind);
      const uint64_t stored = load_le(&s[pos + 4], w);
      CHECK_EQ(stored, checksum(kind, &s[pos + 4 + w], kSizes[i]));
      pos += 4 + w + kSizes[i];
    }
    CHECK_EQ(pos, s.size());
  }
}

TEST_CASE(seal_rejects_staged_bytes_that_are_not_whole_frames) {
  std::vector<uint8_t> s = build_stream(ChecksumKind::kCrc32, {5, 9});
  s.pop_back();
  const SealResult r = seal_frames(s.data(), s.size(), ChecksumKind::kCrc32);
  CHECK(!r.ok);
  CHECK_EQ(r.frames, 1u);
  CHECK_EQ(r.bad_offset, 4u + 4u + 5u);
}

TEST_CASE(scan_round_trips_every_checksum) {
  for (ChecksumKind kind : kAllKinds) {
    const std::vector<uint8_t> s = build_stream(kind, kSizes);
    uint32_t index[64];
    const ScanResult r =
        scan_frames(s.data(), s.size(), 0, make_format(kind, 0, kDefaultMaxFrameLen), index, 32);
    CHECK(r.status == ScanStatus::kEnd);
    CHECK_EQ(r.frames, kSizes.size());
    CHECK_EQ(r.consumed, s.size());
    size_t pos = 0;
    for (size_t i = 0; i < kSizes.size(); ++i) {
      const unsigned w = checksum_width(kind);
      CHECK_EQ(index[2 * i], pos + 4 + w);
      CHECK_EQ(index[2 * i + 1], kSizes[i]);
      pos += 4 + w + kSizes[i];
    }
  }
}

TEST_CASE(scan_offsets_are_relative_to_start) {
  const std::vector<uint8_t> s = build_stream(ChecksumKind::kCrc16, {4, 4});
  uint32_t index[8];
  const ScanResult r =
      scan_frames(s.data(), s.size(), 10, make_format(ChecksumKind::kCrc16, 0, 100), index, 4);
  CHECK(r.status == ScanStatus::kEnd);
  CHECK_EQ(r.frames, 1u);
  CHECK_EQ(index[0], 6u);  // second frame's payload at 16, start 10
  CHECK_EQ(r.consumed, s.size());
}

TEST_CASE(scan_stops_when_the_index_is_full) {
  const std::vector<uint8_t> s = build_stream(ChecksumKind::kXxHash64, kSizes);
  uint32_t index[4];
  const FrameFormat f = make_format(ChecksumKind::kXxHash64, 0, kDefaultMaxFrameLen);
  ScanResult r = scan_frames(s.data(), s.size(), 0, f, index, 2);
  CHECK(r.status == ScanStatus::kIndexFull);
  CHECK_EQ(r.frames, 2u);
  CHECK_EQ(r.consumed, 12u + 12u + 3u);
  r = scan_frames(s.data(), s.size(), 0, f, index, 0);
  CHECK(r.status == ScanStatus::kIndexFull);
  CHECK_EQ(r.frames, 0u);
  CHECK_EQ(r.consumed, 0u);
}

TEST_CASE(clean_end_only_between_frames_truncation_at_every_byte) {
  for (ChecksumKind kind : kAllKinds) {
    const std::vector<uint8_t> s = build_stream(kind, kSizes);
    const unsigned header = 4 + checksum_width(kind);
    std::vector<size_t> boundaries = {0};
    for (size_t x : kSizes) boundaries.push_back(boundaries.back() + header + x);
    std::vector<uint32_t> index(64);
    for (size_t cut = 0; cut <= s.size(); ++cut) {
      const ScanResult r = scan_frames(s.data(), cut, 0, make_format(kind, 0, kDefaultMaxFrameLen),
                                       index.data(), 32);
      size_t whole = 0;
      while (whole + 1 < boundaries.size() && boundaries[whole + 1] <= cut) ++whole;
      CHECK_EQ(r.frames, whole);
      CHECK_EQ(r.consumed, boundaries[whole]);
      if (cut == boundaries[whole]) {
        CHECK(r.status == ScanStatus::kEnd);
      } else {
        CHECK(r.status == ScanStatus::kPartial);
        const size_t have = cut - boundaries[whole];
        CHECK_EQ(r.needed, have < header ? header : header + kSizes[whole]);
      }
    }
  }
}

TEST_CASE(flipped_bytes_give_a_mismatch_at_the_frame_or_a_bound_error) {
  for (ChecksumKind kind : kAllKinds) {
    if (kind == ChecksumKind::kNone) continue;
    const std::vector<uint8_t> s = build_stream(kind, kSizes);
    const unsigned header = 4 + checksum_width(kind);
    std::vector<uint32_t> index(64);
    size_t frame_start = 0, frame = 0;
    for (size_t at = 0; at < s.size(); ++at) {
      while (at >= frame_start + header + kSizes[frame]) frame_start += header + kSizes[frame++];
      std::vector<uint8_t> bad = s;
      bad[at] ^= 0x01;
      const ScanResult r =
          scan_frames(bad.data(), bad.size(), 0, make_format(kind, 0, 4096), index.data(), 32);
      CHECK_EQ(r.frames, frame);
      CHECK_EQ(r.consumed, frame_start);
      if (at >= frame_start + 4) {
        CHECK(r.status == ScanStatus::kChecksumMismatch);
        CHECK(r.expected != r.calculated);
      } else {
        // A flipped length bit mis-frames: shorter/longer payload fails the
        // checksum, runs past the end, or exceeds the bound.
        CHECK(r.status != ScanStatus::kEnd);
      }
    }
  }
}

TEST_CASE(length_above_the_bound_is_invalid_before_any_read) {
  uint8_t buf[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  uint32_t index[4];
  ScanResult r = scan_frames(buf, sizeof buf, 0,
                             make_format(ChecksumKind::kNone, 0, kDefaultMaxFrameLen), index, 2);
  CHECK(r.status == ScanStatus::kInvalidFrame);
  CHECK_EQ(r.length, 0xffffffffu);
  CHECK_EQ(r.consumed, 0u);
  // At the wire ceiling the same length is merely truncated.
  r = scan_frames(buf, sizeof buf, 0, make_format(ChecksumKind::kNone, 0, kWireMaxFrameLen), index,
                  2);
  CHECK(r.status == ScanStatus::kPartial);
  CHECK_EQ(r.needed, 4ull + 0xffffffffull);
  // The bound is inclusive.
  store_u32le(buf, 4);
  r = scan_frames(buf, sizeof buf, 0, make_format(ChecksumKind::kNone, 0, 4), index, 2);
  CHECK(r.status == ScanStatus::kEnd);
  r = scan_frames(buf, sizeof buf, 0, make_format(ChecksumKind::kNone, 0, 3), index, 2);
  CHECK(r.status == ScanStatus::kInvalidFrame);
}

TEST_CASE(custom_width_field_is_skipped_unverified) {
  // A 3-byte custom checksum field: the scanner frames but does not verify.
  const uint8_t buf[] = {2, 0, 0, 0, 0xaa, 0xbb, 0xcc, 'h', 'i'};
  uint32_t index[4];
  const ScanResult r =
      scan_frames(buf, sizeof buf, 0, make_format(ChecksumKind::kNone, 3, 100), index, 2);
  CHECK(r.status == ScanStatus::kEnd);
  CHECK_EQ(r.frames, 1u);
  CHECK_EQ(index[0], 7u);
  CHECK_EQ(index[1], 2u);
}

// --- Validators inside the scan -------------------------------------------

TEST_CASE(scan_runs_validators_after_the_checksum_and_stops_at_the_frame) {
  const ValidatorChain chain({ValidatorChain::Size{1, 1024}, ValidatorChain::TableRoot()});
  for (ChecksumKind kind : kAllKinds) {
    std::vector<size_t> at;
    const std::vector<uint8_t> junk(20, 0xab);
    const std::vector<uint8_t> s =
        frame_payloads(kind, {table_payload(0), table_payload(1), junk, table_payload(3)}, &at);
    std::vector<uint32_t> index(16);
    ScanResult r =
        scan_frames(s.data(), s.size(), 0, with_chain(kind, 4096, &chain), index.data(), 8);
    CHECK(r.status == ScanStatus::kValidationFailed);
    CHECK_EQ(r.frames, 2u);
    CHECK_EQ(r.consumed, at[2]);
    CHECK_EQ(r.length, junk.size());
    CHECK_EQ(r.validation.index, 1u);  // TableRoot, after Size passed
    CHECK(r.validation.message() == "root offset out of bounds");
    CHECK_EQ(index[2], at[1] + 4 + checksum_width(kind));
    // Past the bad frame the scan goes on.
    r = scan_frames(s.data(), s.size(), at[3], with_chain(kind, 4096, &chain), index.data(), 8);
    CHECK(r.status == ScanStatus::kEnd);
    CHECK_EQ(r.frames, 1u);
    // Without the chain every frame passes.
    r = scan_frames(s.data(), s.size(), 0, with_chain(kind, 4096, nullptr), index.data(), 8);
    CHECK(r.status == ScanStatus::kEnd);
    CHECK_EQ(r.frames, 4u);
  }
}

TEST_CASE(bound_and_checksum_come_before_validators) {
  const ValidatorChain chain({ValidatorChain::TableRoot()});
  std::vector<size_t> at;
  std::vector<uint8_t> s =
      frame_payloads(ChecksumKind::kCrc32, {table_payload(0), std::vector<uint8_t>(20, 0xab)}, &at);
  std::vector<uint32_t> index(16);
  const FrameFormat f = with_chain(ChecksumKind::kCrc32, 4096, &chain);
  // A payload both corrupt and invalid is a checksum mismatch.
  s[at[1] + 8 + 5] ^= 0x40;
  ScanResult r = scan_frames(s.data(), s.size(), 0, f, index.data(), 8);
  CHECK(r.status == ScanStatus::kChecksumMismatch);
  CHECK_EQ(r.consumed, at[1]);
  // A length above the bound is invalid before anything else.
  r = scan_frames(s.data(), s.size(), 0, with_chain(ChecksumKind::kCrc32, 19, &chain), index.data(),
                  8);
  CHECK(r.status == ScanStatus::kInvalidFrame);
  CHECK_EQ(r.consumed, 0u);  // the first payload is longer than 19 bytes too
  // A full index stops before the next frame is validated.
  s[at[1] + 8 + 5] ^= 0x40;
  r = scan_frames(s.data(), s.size(), 0, f, index.data(), 1);
  CHECK(r.status == ScanStatus::kIndexFull);
  CHECK_EQ(r.consumed, at[1]);
  // A truncated frame is partial, whatever its bytes.
  r = scan_frames(s.data(), s.size() - 1, 0, f, index.data(), 8);
  CHECK(r.status == ScanStatus::kPartial);
}

TEST_CASE(validators_see_each_payload_exactly) {
  for (ChecksumKind kind : kAllKinds) {
    const std::vector<uint8_t> s = build_stream(kind, kSizes);
    const std::vector<size_t> at = boundaries_of(kind, kSizes);
    std::vector<uint32_t> index(64);
    const ValidatorChain fits({ValidatorChain::Size{0, 1500}});
    ScanResult r =
        scan_frames(s.data(), s.size(), 0, with_chain(kind, 4096, &fits), index.data(), 32);
    CHECK(r.status == ScanStatus::kEnd);
    const ValidatorChain tight({ValidatorChain::Size{0, 1499}});
    r = scan_frames(s.data(), s.size(), 0, with_chain(kind, 4096, &tight), index.data(), 32);
    CHECK(r.status == ScanStatus::kValidationFailed);
    CHECK_EQ(r.consumed, at[3]);
    CHECK_EQ(r.length, 1500u);
    CHECK_EQ(r.validation.index, 0u);
    const ValidatorChain nonempty({ValidatorChain::Size{1, 1500}});
    r = scan_frames(s.data(), s.size(), 0, with_chain(kind, 4096, &nonempty), index.data(), 32);
    CHECK(r.status == ScanStatus::kValidationFailed);
    CHECK_EQ(r.consumed, 0u);
    CHECK(r.validation.message() == "payload of 0 bytes is shorter than 1");
  }
}

CHECK_MAIN()
