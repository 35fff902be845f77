// Frame sealing, scanning and resynchronisation: the contracts of native/frame.h.
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
  const SealResult r = seal_frames(out.data(), out.size(), make_format(kind, 0, kWireMaxFrameLen));
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
  CHECK(seal_frames(out.data(), out.size(), make_format(kind, 0, kWireMaxFrameLen)).ok);
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

// What resync_frames must say about an offset, by scanning from it.
enum class Run { kValid, kRuledOut, kUndecided };
Run oracle(const std::vector<uint8_t>& s, size_t q, const FrameFormat& f, size_t run) {
  std::vector<uint32_t> index(2 * run);
  const ScanResult r = scan_frames(s.data(), s.size(), q, f, index.data(), run);
  if (r.frames >= run || (r.status == ScanStatus::kEnd && r.frames > 0)) return Run::kValid;
  if (r.status == ScanStatus::kPartial || r.status == ScanStatus::kEnd) return Run::kUndecided;
  return Run::kRuledOut;
}

// Holds a resync result to its definition: the smallest valid offset after
// `start`, everything before `keep` ruled out, `keep` itself undecided.
void check_resync(const std::vector<uint8_t>& s, size_t start, const FrameFormat& f, size_t run,
                  const ResyncResult& r) {
  const size_t len = s.size();
  const bool found = r.status == ResyncStatus::kFound;
  CHECK(found || r.status == ResyncStatus::kNotFound);
  const size_t limit = found ? r.offset : len;
  if (found) {
    CHECK(r.offset > start && r.offset < len);
    CHECK(oracle(s, r.offset, f, run) == Run::kValid);
    CHECK(r.frames >= 1 && r.frames <= run);
    CHECK(r.keep <= r.offset);
  }
  CHECK(r.keep > start);
  for (size_t q = start + 1; q < limit; ++q) {
    const Run o = oracle(s, q, f, run);
    CHECK(o != Run::kValid);
    if (q < r.keep) CHECK(o == Run::kRuledOut);
    if (q == r.keep) CHECK(o == Run::kUndecided);
  }
  if (!found && r.keep < len) CHECK(oracle(s, r.keep, f, run) == Run::kUndecided);
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
  const SealResult r =
      seal_frames(s.data(), s.size(), make_format(ChecksumKind::kCrc32, 0, kWireMaxFrameLen));
  CHECK(!r.ok);
  CHECK_EQ(r.frames, 1u);
  CHECK_EQ(r.bad_offset, 4u + 4u + 5u);
}

TEST_CASE(walk_and_seal_take_a_frame_format_and_say_where_whole_frames_end) {
  // A custom 3-byte field: walked with its header size, never filled.
  const FrameFormat custom = make_format(ChecksumKind::kNone, 3, kWireMaxFrameLen);
  std::vector<uint8_t> s = {2, 0, 0, 0, 0xAA, 0xBB, 0xCC, 'h', 'i', 0, 0, 0, 0, 1, 2, 3, 9, 9};
  const std::vector<uint8_t> before = s;
  SealResult r = seal_frames(s.data(), s.size(), custom);
  CHECK(!r.ok);  // two bytes after the second frame: shorter than a header
  CHECK_EQ(r.frames, 2u);
  CHECK_EQ(r.whole, 16u);
  CHECK_EQ(r.bad_offset, 16u);
  CHECK(s == before);
  r = walk_frames(s.data(), 16, custom);
  CHECK(r.ok);
  CHECK_EQ(r.frames, 2u);
  CHECK_EQ(r.whole, 16u);
  r = walk_frames(s.data(), 8, custom);  // the first frame's payload is cut
  CHECK(!r.ok);
  CHECK_EQ(r.frames, 0u);
  CHECK_EQ(r.whole, 0u);
  // A built-in format: walk_frames counts the same frames and fills nothing.
  std::vector<uint8_t> b = build_stream(ChecksumKind::kCrc32, {5, 9});
  const std::vector<uint8_t> sealed = b;
  std::memset(&b[4], 0, 4);
  r = walk_frames(b.data(), b.size(), make_format(ChecksumKind::kCrc32, 0, kWireMaxFrameLen));
  CHECK(r.ok);
  CHECK_EQ(r.frames, 2u);
  CHECK_EQ(r.whole, b.size());
  CHECK(b != sealed);
  r = seal_frames(b.data(), b.size(), make_format(ChecksumKind::kCrc32, 0, kWireMaxFrameLen));
  CHECK(r.ok && b == sealed);
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

// --- Resynchronisation ----------------------------------------------------

TEST_CASE(resync_refuses_a_stream_without_a_checksum) {
  const std::vector<uint8_t> s = build_stream(ChecksumKind::kNone, kSizes);
  CHECK(resync_frames(s.data(), s.size(), 0, make_format(ChecksumKind::kNone, 0, 4096), 1).status ==
        ResyncStatus::kNoChecksum);
  CHECK(resync_frames(s.data(), s.size(), 0, make_format(ChecksumKind::kNone, 4, 4096), 1).status ==
        ResyncStatus::kNoChecksum);
}

TEST_CASE(resync_lands_on_the_next_intact_frame_after_every_byte_corruption) {
  const std::vector<size_t> sizes = {0, 3, 1, 300, 48, 7, 48, 5};
  for (ChecksumKind kind : kAllKinds) {
    if (kind == ChecksumKind::kNone) continue;
    const std::vector<uint8_t> s = build_stream(kind, sizes);
    const std::vector<size_t> at = boundaries_of(kind, sizes);
    const FrameFormat f = make_format(kind, 0, 4096);
    std::vector<uint32_t> index(64);
    for (size_t run = 1; run <= 3; ++run) {
      for (size_t i = 0; i < s.size(); ++i) {
        for (uint8_t edit : {uint8_t(0x01), uint8_t(0x80)}) {
          std::vector<uint8_t> bad = s;
          bad[i] ^= edit;
          const ScanResult r = scan_frames(bad.data(), bad.size(), 0, f, index.data(), 32);
          size_t frame = 0;
          while (at[frame + 1] <= i) ++frame;
          CHECK_EQ(r.consumed, at[frame]);
          const ResyncResult k = resync_frames(bad.data(), bad.size(), r.consumed, f, run);
          if (frame + 1 < sizes.size()) {
            CHECK(k.status == ResyncStatus::kFound);
            CHECK_EQ(k.offset, at[frame + 1]);
            CHECK_EQ(k.frames, std::min(run, sizes.size() - frame - 1));
          } else {
            CHECK(k.status == ResyncStatus::kNotFound);
          }
          if (run == 2) check_resync(bad, r.consumed, f, run, k);
        }
      }
    }
  }
}

TEST_CASE(resync_accepts_a_run_that_ends_the_buffer) {
  const std::vector<uint8_t> s = build_stream(ChecksumKind::kCrc32c, {48, 48});
  const ResyncResult r =
      resync_frames(s.data(), s.size(), 0, make_format(ChecksumKind::kCrc32c, 0, 4096), 3);
  CHECK(r.status == ResyncStatus::kFound);
  CHECK_EQ(r.offset, 56u);
  CHECK_EQ(r.frames, 1u);
  CHECK_EQ(r.keep, 56u);
}

TEST_CASE(resync_keeps_the_bytes_of_a_frame_that_may_still_complete) {
  // A corrupt frame (header and payload 0xFF), then a frame cut short.
  std::vector<uint8_t> s = {8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  s.insert(s.end(), 8, 0xff);
  const std::vector<uint8_t> next = build_stream(ChecksumKind::kCrc32, {20});
  s.insert(s.end(), next.begin(), next.end() - 5);
  const FrameFormat f = make_format(ChecksumKind::kCrc32, 0, 64);
  ResyncResult r = resync_frames(s.data(), s.size(), 0, f, 1);
  CHECK(r.status == ResyncStatus::kNotFound);
  CHECK_EQ(r.keep, 16u);
  check_resync(s, 0, f, 1, r);
  // Whole, it is found; an earlier offset that may still complete lowers keep.
  s.insert(s.end(), next.end() - 5, next.end());
  r = resync_frames(s.data(), s.size(), 0, f, 1);
  CHECK(r.status == ResyncStatus::kFound);
  CHECK_EQ(r.offset, 16u);
  CHECK_EQ(r.keep, 16u);
  s[9] = 60;  // offset 9 now declares 60 bytes: past the end, within the bound
  s[10] = s[11] = s[12] = 0;
  r = resync_frames(s.data(), s.size(), 0, f, 1);
  CHECK(r.status == ResyncStatus::kFound);
  CHECK_EQ(r.offset, 16u);
  CHECK_EQ(r.keep, 9u);
  check_resync(s, 0, f, 1, r);
}

TEST_CASE(resync_skips_frames_that_fail_the_validators) {
  std::vector<size_t> at;
  std::vector<uint8_t> s =
      frame_payloads(ChecksumKind::kXxHash64,
                     {std::vector<uint8_t>(30, 0xee), std::vector<uint8_t>(20, 0xab),
                      table_payload(1), table_payload(2)},
                     &at);
  s[at[0] + 14] ^= 1;  // the first frame is corrupt; the second sealed but no FlatBuffer
  const ValidatorChain chain({ValidatorChain::TableRoot()});
  ResyncResult r =
      resync_frames(s.data(), s.size(), 0, with_chain(ChecksumKind::kXxHash64, 4096, nullptr), 2);
  CHECK(r.status == ResyncStatus::kFound);
  CHECK_EQ(r.offset, at[1]);
  r = resync_frames(s.data(), s.size(), 0, with_chain(ChecksumKind::kXxHash64, 4096, &chain), 2);
  CHECK(r.status == ResyncStatus::kFound);
  CHECK_EQ(r.offset, at[2]);
  check_resync(s, 0, with_chain(ChecksumKind::kXxHash64, 4096, &chain), 2, r);
}

TEST_CASE(zeros_are_empty_frames_to_a_crc_unless_a_validator_says_no) {
  // CRCs of nothing are 0, so zero-filled bytes (a preallocated file's tail)
  // read as valid empty frames; XXH3 of nothing is not 0. A Size{1, ...}
  // validator (or TableRoot) tells them apart.
  for (ChecksumKind kind : {ChecksumKind::kCrc32, ChecksumKind::kXxHash64}) {
    std::vector<uint8_t> s(64, 0);
    const std::vector<uint8_t> tail = build_stream(kind, {48, 48});
    s.insert(s.end(), tail.begin(), tail.end());
    ResyncResult r = resync_frames(s.data(), s.size(), 0, make_format(kind, 0, 4096), 2);
    CHECK(r.status == ResyncStatus::kFound);
    CHECK_EQ(r.offset, kind == ChecksumKind::kCrc32 ? 1u : 64u);
    const ValidatorChain nonempty({ValidatorChain::Size{1, 4096}});
    r = resync_frames(s.data(), s.size(), 0, with_chain(kind, 4096, &nonempty), 2);
    CHECK(r.status == ResyncStatus::kFound);
    CHECK_EQ(r.offset, 64u);
  }
}

TEST_CASE(resync_matches_its_definition_on_random_streams) {
  // Mixtures of intact frames, garbage, zeros and cut frames, from every start.
  uint32_t x = 12345;
  auto rnd = [&x](uint32_t n) {
    x = x * 1103515245u + 12345u;
    return (x >> 8) % n;
  };
  const ValidatorChain nonempty({ValidatorChain::Size{1, 4096}});
  for (int round = 0; round < 60; ++round) {
    const ChecksumKind kind = kAllKinds[1 + rnd(5)];
    std::vector<uint8_t> s;
    for (int part = 0, parts = 2 + int(rnd(8)); part < parts; ++part) {
      const uint32_t what = rnd(4);
      if (what <= 1) {
        std::vector<size_t> sizes;
        for (uint32_t n = 1 + rnd(4); n > 0; --n) sizes.push_back(rnd(3) == 0 ? 0 : rnd(40));
        const std::vector<uint8_t> frames = build_stream(kind, sizes);
        s.insert(s.end(), frames.begin(), frames.end() - (what == 1 ? rnd(6) : 0));
      } else if (what == 2) {
        for (uint32_t n = rnd(30); n > 0; --n) s.push_back(uint8_t(rnd(256)));
      } else {
        s.insert(s.end(), rnd(12), 0);
      }
    }
    const uint64_t bound = rnd(2) ? 64 : kDefaultMaxFrameLen;
    for (const ValidatorChain* chain : {(const ValidatorChain*)nullptr, &nonempty}) {
      const FrameFormat f = with_chain(kind, bound, chain);
      for (size_t run = 1; run <= 4; ++run) {
        for (size_t start = 0; start <= s.size(); start += 1 + rnd(3)) {
          check_resync(s, start, f, run, resync_frames(s.data(), s.size(), start, f, run));
        }
      }
    }
  }
}

// --- resync_step: skip mode's search (docs/design.md "Skip mode") ----------

ResyncStep step(const std::vector<uint8_t>& s, size_t start, size_t natural, bool eof,
                const FrameFormat& f, std::vector<uint8_t>* memo = nullptr,
                ResyncBudget* budget = nullptr) {
  std::vector<uint8_t> own(s.size(), 0);
  ResyncBudget b;
  return resync_step(s.data(), s.size(), start, natural, eof, f, memo ? memo->data() : own.data(),
                     budget ? budget : &b);
}

TEST_CASE(resync_step_keeps_the_intact_frames_between_damaged_ones) {
  // Issue 10: ten frames, 3 and 7 with a payload byte flipped, 5 declaring
  // 0x00FFFFFF bytes. Reading resumes at 4 (the natural candidate after 3),
  // at 6 after 5 (strong checksums; CRC16 needs 8 and 9) and at 8 after 7.
  std::vector<size_t> sizes;
  for (size_t i = 0; i < 10; ++i) sizes.push_back(20 + 3 * i);
  for (ChecksumKind kind : kAllKinds) {
    if (kind == ChecksumKind::kNone) continue;
    const FrameFormat f = make_format(kind, 0, kDefaultMaxFrameLen);
    const size_t h = f.header_size();
    std::vector<uint8_t> s = build_stream(kind, sizes);
    const std::vector<size_t> at = boundaries_of(kind, sizes);
    s[at[3] + h + 5] ^= 1;
    s[at[7] + h + 7] ^= 1;
    store_u32le(&s[at[5]], 0x00FFFFFF);
    ResyncStep r = step(s, at[3] + 1, at[4], true, f);
    CHECK(r.status == ResyncStatus::kFound);
    CHECK_EQ(r.offset, at[4]);
    r = step(s, at[5] + 1, kNoNatural, true, f);
    CHECK(r.status == ResyncStatus::kFound);
    CHECK_EQ(r.offset, kind == ChecksumKind::kCrc16 ? at[8] : at[6]);
    r = step(s, at[7] + 1, at[8], true, f);
    CHECK(r.status == ResyncStatus::kFound);
    CHECK_EQ(r.offset, at[8]);
    // Without the end of the stream, offsets inside frame 5 that declare
    // frames past the data stay undecided, and the search waits for them:
    // the answer must not depend on where the data was cut.
    std::vector<uint8_t> cut(s.begin(), s.begin() + at[7]);
    r = step(cut, at[5] + 1, kNoNatural, false, f);
    CHECK(r.status == ResyncStatus::kNotFound);
    CHECK(r.keep > at[5] && r.keep <= at[6]);
    CHECK(r.need > cut.size());
  }
}

TEST_CASE(resync_step_never_accepts_zeros_and_weighs_crc16_by_two_frames) {
  for (ChecksumKind kind : kAllKinds) {
    if (kind == ChecksumKind::kNone) continue;
    const FrameFormat f = make_format(kind, 0, 4096);
    std::vector<uint8_t> s(64, 0);
    const std::vector<uint8_t> tail = build_stream(kind, {48, 30});
    s.insert(s.end(), tail.begin(), tail.end());
    const ResyncStep r = step(s, 1, kNoNatural, true, f);
    CHECK(r.status == ResyncStatus::kFound);
    CHECK_EQ(r.offset, 64u);  // empty CRC frames prove nothing; XXH3's 0 is not its empty hash
  }
  // A lone CRC16 frame followed by noise is not accepted; as the natural
  // candidate, or ending the stream, it is.
  const FrameFormat f = make_format(ChecksumKind::kCrc16, 0, 4096);
  std::vector<uint8_t> s = build_stream(ChecksumKind::kCrc16, {40});
  const size_t one = s.size();
  std::vector<uint8_t> noise(20, 0xEE);
  std::vector<uint8_t> with_noise = s;
  with_noise.insert(with_noise.end(), noise.begin(), noise.end());
  CHECK(step(with_noise, 0, kNoNatural, true, f).status == ResyncStatus::kNotFound);
  CHECK(step(with_noise, 0, 0, true, f).status == ResyncStatus::kFound);
  const ResyncStep alone = step(s, 0, kNoNatural, true, f);
  CHECK(alone.status == ResyncStatus::kFound);
  CHECK_EQ(alone.offset, 0u);
  CHECK_EQ(one, s.size());
}

TEST_CASE(resync_step_work_is_linear_on_hostile_bytes_and_never_repeated) {
  // Every fourth offset declares a whole 16 KiB frame that fails: 4096 bytes
  // checksummed per byte without the budget, at most 64 (+1 MiB) with it.
  for (ChecksumKind kind : {ChecksumKind::kXxHash64, ChecksumKind::kCrc32}) {
    const FrameFormat f = make_format(kind, 0, kDefaultMaxFrameLen);
    uint64_t spent[2] = {0, 0};
    for (size_t k = 0; k < 2; ++k) {
      const size_t n = (size_t{1} << 20) << k;
      std::vector<uint8_t> s(n);
      for (size_t i = 0; i < n; i += 4) s[i + 1] = 0x40;
      std::vector<uint8_t> memo(n, 0);
      ResyncBudget budget;
      const ResyncStep r = step(s, 1, kNoNatural, true, f, &memo, &budget);
      CHECK(r.status == ResyncStatus::kNotFound);
      CHECK(budget.spent <= kResyncWorkPerByte * n + kResyncWorkAllowance + n);
      spent[k] = budget.spent;
      // Asked again with the same memo: every verdict is known, nothing is checksummed.
      const uint64_t before = budget.spent;
      step(s, 1, kNoNatural, true, f, &memo, &budget);
      CHECK_EQ(budget.spent, before);
    }
    CHECK(spent[1] <= spent[0] * 5 / 2);
  }
}

CHECK_MAIN()
