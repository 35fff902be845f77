// Frame encoding and batch decoding over byte spans. Pure C++ (no N-API).
//
//   frame = [u32 LE payload length L][checksum, W bytes LE][payload, L bytes]
//
// The writer stages whole frames in a slab (length written, checksum slot left
// blank) and seals them all in one call; the reader scans a buffer in one call
// and gets back an index of (offset, length) pairs. Both are one crossing from
// JS per slab, never one per frame (docs/design.md, "Engine contract").
//
// A corruption-skipping reader finds where intact frames resume with
// resync_step, which only a checksummed stream makes meaningful.
#pragma once

#include <cstddef>
#include <cstdint>

#include "checksum.h"
#include "validator_chain.h"

namespace flatstream {

constexpr size_t kLengthFieldSize = 4;
constexpr uint64_t kDefaultMaxFrameLen = uint64_t{1} << 31;  // 2 GiB, the FlatBuffers maximum
constexpr uint64_t kWireMaxFrameLen = 0xFFFFFFFFu;           // what a u32 length can say

// How frames look on the wire. `width` is the checksum field width; it equals
// checksum_width(kind) for the built-ins and may be 0..8 for a custom checksum
// (kind == kNone), whose field the scanner then skips without verifying.
struct FrameFormat {
  ChecksumKind kind = ChecksumKind::kNone;
  unsigned width = 0;
  uint64_t max_frame_len = kDefaultMaxFrameLen;
  // Run on each payload after its checksum verified; nullptr: none. Not owned.
  const ValidatorChain* validators = nullptr;

  size_t header_size() const noexcept { return kLengthFieldSize + width; }
  bool verifies() const noexcept { return kind != ChecksumKind::kNone; }
};

// Builds a format for a built-in checksum, or for a custom one of `custom_width`.
FrameFormat make_format(ChecksumKind kind, unsigned custom_width, uint64_t max_frame_len) noexcept;

inline uint32_t load_u32le(const uint8_t* p) noexcept {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
inline void store_u32le(uint8_t* p, uint32_t v) noexcept {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v >> 16);
  p[3] = uint8_t(v >> 24);
}
// Little-endian integers of 0..8 bytes (the checksum field).
uint64_t load_le(const uint8_t* p, unsigned width) noexcept;
void store_le(uint8_t* p, uint64_t v, unsigned width) noexcept;

// --- Write side -----------------------------------------------------------

// What a walk over staged frames found. [[nodiscard]]: a caller that seals
// or walks decides what a result that is not whole frames means.
struct [[nodiscard]] SealResult {
  bool ok = true;         // false: the staged bytes are not a whole number of frames
  size_t frames = 0;      // whole frames walked (sealed)
  size_t bad_offset = 0;  // when !ok: where the inconsistent frame starts
  size_t whole = 0;       // bytes of those whole frames (len when ok)
};

// Walks the frames of `format` (its header size) in buf[0, len) and counts
// the whole ones, touching nothing: the one frame walk of staged bytes (the
// capture counts what it writes with it). format.max_frame_len is not
// applied: staged lengths are ours, and a walk only needs them in bounds.
SealResult walk_frames(const uint8_t* buf, size_t len, const FrameFormat& format) noexcept;

// walk_frames, filling the checksum field of every whole frame in place when
// the format has a built-in checksum (a custom one's field is the
// producer's). The lengths were written by our own staging code; they are
// still checked so that a bug there can never make this read or write out
// of bounds.
SealResult seal_frames(uint8_t* buf, size_t len, const FrameFormat& format) noexcept;

// --- Read side ------------------------------------------------------------

enum class ScanStatus : uint32_t {
  kEnd = 0,               // consumed every byte, ending exactly on a frame boundary
  kPartial = 1,           // a trailing incomplete frame starts at `consumed`
  kIndexFull = 2,         // the index is full; the next frame starts at `consumed`
  kChecksumMismatch = 3,  // the frame at `consumed` failed its checksum
  kInvalidFrame = 4,      // the frame at `consumed` declares a length above the bound
  kValidationFailed = 5,  // the frame at `consumed` passed its checksum, not the validators
};

struct ScanResult {
  ScanStatus status = ScanStatus::kEnd;
  size_t frames = 0;        // complete, verified frames written to the index
  size_t consumed = 0;      // absolute offset in buf of the first frame not in the index
  uint64_t length = 0;      // kInvalidFrame / kPartial (when known) / kChecksumMismatch /
                            // kValidationFailed: the declared length
  uint64_t needed = 0;      // kPartial: bytes the frame needs in total (header, or header + L)
  uint64_t expected = 0;    // kChecksumMismatch: the value stored in the frame
  uint64_t calculated = 0;  // kChecksumMismatch: the value computed over the payload
  ChainResult validation;   // kValidationFailed: which validator failed and why
};

// Scans buf[start, len). Per frame, in this order: the length against the
// bound (before anything is sized or read from it), the checksum field and
// the payload present, the checksum (built-ins), then format.validators. A
// check that fails stops the scan at that frame, so a validator never sees a
// payload whose checksum failed. For every good
// frame appends (payload offset, payload length) to `index` (2 entries per
// frame, at most `index_capacity` frames). Offsets are relative to `start`, so
// the caller must keep len - start below 2^32. Stops at the end of the buffer,
// at a partial frame, when the index is full, or at the first bad frame.
ScanResult scan_frames(const uint8_t* buf, size_t len, size_t start, const FrameFormat& format,
                       uint32_t* index, size_t index_capacity) noexcept;

// --- Resynchronisation ------------------------------------------------------

enum class ResyncStatus : uint32_t {
  kFound = 0,       // `offset` starts a verified run
  kNotFound = 1,    // no offset in the buffer does (yet): keep bytes from `keep`
  kNoChecksum = 2,  // refused: without a checksum any bytes look like frames
};

struct ResyncResult {
  ResyncStatus status = ResyncStatus::kNotFound;
  size_t offset = 0;  // kFound: where the run starts
  size_t frames = 0;  // kFound: frames in the run (`run`, or fewer that end the buffer exactly)
  // Every offset in (start, keep) is ruled out for good: bytes before `keep`
  // may be discarded. An offset is undecided while its run needs bytes past
  // the buffer (a frame may begin in the last header + bound bytes); `keep`
  // is the first undecided offset, capped by `offset` when found and by the
  // buffer's end (at least start + 1). kFound with keep < offset: an earlier
  // offset may still start a run once more data arrives; a reader that wants
  // the same answer for every chunking waits for it.
  size_t keep = 0;
};

// The smallest offset p > start at which `run` consecutive complete frames
// pass the bound, the checksum and format.validators, or at which at least
// one frame does and the frames end exactly at `len` (fewer than `run`
// remain): the plain run search, for tools that want it. The reader's skip
// mode uses resync_step below, whose evidence rule keeps frames this search
// loses (an intact frame between two damaged ones) and whose work is linear.
// run == 0 counts as 1. Refuses kind == kNone (custom checksums included):
// then nothing would tell frames from noise.
//
// Cost: each offset is a candidate once; it costs a bound check and, when the
// declared frame lies inside the buffer, one checksum (and the validators if
// that passes). Walking a candidate's run re-uses the verdicts of frames
// already checked (a 64-entry memo), so with fewer than 64 overlapping
// partial runs each offset is checksummed at most once. Worst case (hostile
// bytes whose every offset declares a frame reaching far into the buffer):
// O(n * min(n, max_frame_len)) bytes checksummed for a buffer of n bytes; a
// tight max_frame_len bounds it. Allocates nothing.
ResyncResult resync_frames(const uint8_t* buf, size_t len, size_t start, const FrameFormat& format,
                           size_t run) noexcept;

// --- Skip mode's resynchronisation (docs/design.md "Skip mode") ------------
//
// What one frame at an offset proves, once its bytes are all present. The
// values are stored as they are in the caller's memo (0: not known yet).
enum class Evidence : uint8_t {
  kUnknown = 0,
  kBad = 1,     // above the bound, checksum mismatch, or a validator failed
  kNone = 2,    // verifies but proves nothing: an empty payload under a CRC
                // (the CRC of nothing is 0, so zero bytes read as such frames)
  kWeak = 3,    // a non-empty payload under CRC16: 16 bits
  kStrong = 4,  // a non-empty payload under a 32- or 64-bit checksum, or any XXH3 frame
};

constexpr size_t kNoNatural = ~size_t{0};

// The search's work budget (docs/design.md "Skip mode"): the frame at
// search offset x (bytes from the bad frame on) is checksummed only while
// the payload bytes checksummed so far in the search are within
// kResyncWorkPerByte * x + kResyncWorkAllowance; past it, it counts as bad.
// So a search over x bytes checksums at most 64 x + 1 MiB + one frame,
// whatever the bytes; honest damage never comes near it.
constexpr uint64_t kResyncWorkPerByte = 64;
constexpr uint64_t kResyncWorkAllowance = uint64_t{1} << 20;

// What the search carries across calls besides the memo.
struct ResyncBudget {
  uint64_t spent = 0;    // payload bytes checksummed so far in this search
  uint64_t dropped = 0;  // bytes of the search dropped before buf[0]
};

struct ResyncStep {
  ResyncStatus status = ResyncStatus::kNotFound;
  size_t offset = 0;  // kFound: where reading resumes
  // Every candidate in [start, keep) is ruled out for good (bytes before
  // `keep` may be dropped); kFound: keep == offset.
  size_t keep = 0;
  // kNotFound: the buffer length at which the candidate at `keep` (or the
  // natural one) can be decided; calling again with less data redoes nothing
  // but costs a call. len + 1 when any more data will do.
  size_t need = 0;
  bool natural_pending = false;  // kNotFound: the natural candidate is still undecided
};

// One step of the search for where intact frames resume after a bad frame.
// Candidates are offsets >= start, tried in order, after `natural` (the
// offset right after a frame whose length was sane but whose checksum failed;
// kNoNatural: none). A candidate is accepted by the evidence rule of
// docs/design.md "Skip mode": its frame verifies and proves something
// (Evidence kWeak or kStrong), and either it is strong, or it is the natural
// candidate, or the frame after it proves something too, or it ends the
// stream (`eof`). Without `eof`, a candidate that needs bytes past `len` stops
// the step (need says how many): the answer is the same for every chunking.
//
// memo[0, len) holds each offset's Evidence as found; the caller zeroes it
// when a new search starts and keeps it (shifted with the bytes) across
// calls, so no frame is ever checksummed twice in one search, and `budget`
// (zeroed when a search starts) caps what is checksummed: a search over n
// bytes costs O(n) steps and at most 64 n + 1 MiB + one frame's bytes
// checksummed, and its answers do not depend on how the bytes were split.
// Refuses kind == kNone. Allocates nothing.
ResyncStep resync_step(const uint8_t* buf, size_t len, size_t start, size_t natural, bool eof,
                       const FrameFormat& format, uint8_t* memo, ResyncBudget* budget) noexcept;

}  // namespace flatstream
