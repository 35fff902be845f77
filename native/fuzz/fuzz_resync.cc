// libFuzzer target for resync_frames and resync_step: arbitrary bytes mixed
// with intact frames, every checksum kind, run lengths 1..4, with and without
// validators. It must never read out of bounds (ASan), hit UB (UBSan), or
// return an answer its definition denies, which a scan from every offset
// checks:
//   - resync_frames: the offset found starts a verified run, and no earlier
//     offset does; every offset before `keep` is ruled out for good, `keep`
//     itself is not;
//   - resync_step: the answer is the evidence rule of docs/design.md "Skip
//     mode" applied to each offset in order (a reference built on
//     scan_frames), with and without the end of the stream; and fed the same
//     bytes in pieces, calling again only once `need` is reached, it ends
//     with the same answer and the same bytes checksummed.
#include <algorithm>
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

// The evidence of the frame at q, by scanning it alone. 0: undecided.
int ref_evidence(const std::vector<uint8_t>& s, size_t len, size_t q, const FrameFormat& f,
                 bool eof) {
  uint32_t index[2];
  const ScanResult r = scan_frames(s.data(), len, q, f, index, 1);
  if (r.frames == 1) {
    if (index[1] == 0 && f.kind != ChecksumKind::kXxHash64) return int(Evidence::kNone);
    return int(f.width >= 4 ? Evidence::kStrong : Evidence::kWeak);
  }
  if (r.status == ScanStatus::kPartial || r.status == ScanStatus::kEnd)
    return eof ? int(Evidence::kBad) : 0;
  return int(Evidence::kBad);
}

// 1 accept, 0 reject, -1 undecided.
int ref_decide(const std::vector<uint8_t>& s, size_t len, size_t q, bool natural,
               const FrameFormat& f, bool eof) {
  const int e = ref_evidence(s, len, q, f, eof);
  if (e == 0) return -1;
  if (e == int(Evidence::kBad) || e == int(Evidence::kNone)) return 0;
  if (e == int(Evidence::kStrong) || natural) return 1;
  const size_t next = q + f.header_size() + load_u32le(&s[q]);
  if (next == len) return eof ? 1 : -1;
  const int e2 = ref_evidence(s, len, next, f, eof);
  if (e2 == 0) return -1;
  return e2 == int(Evidence::kWeak) || e2 == int(Evidence::kStrong) ? 1 : 0;
}

void check_step(const std::vector<uint8_t>& s, size_t start, size_t natural, const FrameFormat& f,
                bool eof, const ResyncStep& r) {
  const size_t len = s.size();
  if (natural != kNoNatural && (natural < len || !eof)) {
    const int d = natural < len ? ref_decide(s, len, natural, true, f, eof) : -1;
    if (d == 1) {
      if (r.status != ResyncStatus::kFound || r.offset != natural) std::abort();
      return;
    }
    if (d == -1) {
      if (r.status != ResyncStatus::kNotFound || !r.natural_pending || r.keep != start)
        std::abort();
      return;
    }
  }
  if (r.natural_pending) std::abort();
  for (size_t q = start; q < len; ++q) {
    const int d = ref_decide(s, len, q, false, f, eof);
    if (d == 1) {
      if (r.status != ResyncStatus::kFound || r.offset != q || r.keep != q) std::abort();
      return;
    }
    if (d == -1) {
      if (r.status != ResyncStatus::kNotFound || r.keep != q || r.need <= len) std::abort();
      return;
    }
  }
  if (r.status != ResyncStatus::kNotFound || r.keep != std::max(len, start)) std::abort();
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

  // resync_step: natural candidate picked from the input, or none.
  const size_t natural =
      s.empty() || (start_pick & 1) ? kNoNatural : start + (data[2] % (s.size() - start + 1));
  for (bool eof : {false, true}) {
    std::vector<uint8_t> memo(s.size(), 0);
    ResyncBudget budget;
    const ResyncStep one =
        resync_step(s.data(), s.size(), start, natural, eof, f, memo.data(), &budget);
    check_step(s, start, natural, f, eof, one);
    if (!eof) continue;
    // The same bytes in pieces of `piece` bytes, as the cursor feeds them
    // (no dropping here: offsets stay absolute), then the end.
    const size_t piece = 1 + data[3] % 61;
    std::vector<uint8_t> memo2(s.size(), 0);
    ResyncBudget budget2;
    size_t at = start, nat = natural, need = 0;
    ResyncStep last;
    bool done = false;
    for (size_t len = std::min(s.size(), start + piece);; len = std::min(s.size(), len + piece)) {
      const bool end = len == s.size();
      if (end || len >= need) {
        std::vector<uint8_t> prefix(s.begin(), s.begin() + len);  // exactly sized, for ASan
        last = resync_step(prefix.data(), len, at, nat, end, f, memo2.data(), &budget2);
        if (last.status == ResyncStatus::kFound) done = true;
        if (!done && !end) {
          if (last.need <= len) std::abort();  // a call must say what would make progress
          at = last.keep;
          need = last.need;
          if (!last.natural_pending) nat = kNoNatural;
        }
      }
      if (done || end) break;
    }
    if (last.status != one.status || (done && last.offset != one.offset)) std::abort();
    if (budget2.spent != budget.spent) std::abort();  // each frame checksummed once either way
  }
  return 0;
}
