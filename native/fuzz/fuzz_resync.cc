// libFuzzer target for resync_frames: arbitrary bytes mixed with intact
// frames, every checksum kind, run lengths 1..4, with and without validators.
// It must never read out of bounds (ASan), hit UB (UBSan), or return an
// answer its definition denies, which a scan from every offset checks:
//   - the offset found starts a verified run, and no earlier offset does;
//   - every offset before `keep` is ruled out for good, `keep` itself is not.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "frame.h"

using namespace flatstream;

namespace {

constexpr size_t kMaxStream = 1024;

enum class Run { kValid, kRuledOut, kUndecided };

Run oracle(const std::vector<uint8_t>& s, size_t q, const FrameFormat& f, size_t run) {
  uint32_t index[2 * 4];
  const ScanResult r = scan_frames(s.data(), s.size(), q, f, index, run);
  if (r.frames >= run || (r.status == ScanStatus::kEnd && r.frames > 0)) return Run::kValid;
  if (r.status == ScanStatus::kPartial || r.status == ScanStatus::kEnd) return Run::kUndecided;
  return Run::kRuledOut;
}

// Segments: a tag byte, then (by its low 2 bits) raw bytes, a frame sealed
// around the next bytes, zeros, or a sealed frame with one byte flipped.
std::vector<uint8_t> build(ChecksumKind kind, const uint8_t* data, size_t size) {
  const unsigned width = checksum_width(kind);
  std::vector<uint8_t> s;
  size_t i = 0;
  while (i < size && s.size() < kMaxStream) {
    const uint8_t tag = data[i++];
    const size_t n = std::min<size_t>(tag >> 2, size - i);
    switch (tag & 3) {
      case 0:
        s.insert(s.end(), data + i, data + i + n);
        i += n;
        break;
      case 1:
      case 3: {
        const size_t at = s.size();
        s.resize(at + 4 + width + n);
        store_u32le(&s[at], uint32_t(n));
        if (n) std::memcpy(&s[at + 4 + width], data + i, n);
        i += n;
        if (width) store_le(&s[at + 4], checksum(kind, &s[at + 4 + width], n), width);
        if ((tag & 3) == 3 && i < size) s[at + data[i++] % (4 + width + n)] ^= 0x10;
        break;
      }
      default:
        s.insert(s.end(), tag >> 2, 0);
    }
  }
  if (s.size() > kMaxStream) s.resize(kMaxStream);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const unsigned k = data[0] % (kChecksumKindCount + 1);
  const ChecksumKind kind = ChecksumKind(k == kChecksumKindCount ? 3 : k);  // XXH3 twice as often
  const size_t run = 1 + data[1] % 4;
  const unsigned chain_pick = (data[1] >> 2) % 3;
  const uint64_t bound = data[2] & 0x80 ? kDefaultMaxFrameLen : uint64_t(data[2] & 0x7f) * 7;
  const uint8_t start_pick = data[3];
  // Exactly sized, so that ASan sees any read past the end.
  const std::vector<uint8_t> s = build(kind, data + 4, size - 4);
  const size_t start = start_pick % (s.size() + 1);

  const ValidatorChain size_chain({ValidatorChain::Size{1, 200}});
  const ValidatorChain root_chain({ValidatorChain::TableRoot()});
  FrameFormat f = make_format(kind, 0, bound);
  f.validators = chain_pick == 1 ? &size_chain : chain_pick == 2 ? &root_chain : nullptr;

  const ResyncResult r = resync_frames(s.data(), s.size(), start, f, run);
  if (kind == ChecksumKind::kNone) {
    if (r.status != ResyncStatus::kNoChecksum) std::abort();
    return 0;
  }
  const bool found = r.status == ResyncStatus::kFound;
  if (!found && r.status != ResyncStatus::kNotFound) std::abort();
  if (r.keep <= start) std::abort();
  const size_t limit = found ? r.offset : s.size();
  if (found) {
    if (r.offset <= start || r.offset >= s.size() || r.keep > r.offset) std::abort();
    if (r.frames < 1 || r.frames > run) std::abort();
    if (oracle(s, r.offset, f, run) != Run::kValid) std::abort();
  }
  for (size_t q = start + 1; q < limit; ++q) {
    const Run o = oracle(s, q, f, run);
    if (o == Run::kValid) std::abort();  // a smaller offset was missed
    if (q < r.keep && o != Run::kRuledOut) std::abort();
    if (q == r.keep && o != Run::kUndecided) std::abort();
  }
  return 0;
}
