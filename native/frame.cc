#include "frame.h"

namespace flatstream {

FrameFormat make_format(ChecksumKind kind, unsigned custom_width, uint64_t max_frame_len) noexcept {
  FrameFormat f;
  f.kind = kind;
  f.width = kind == ChecksumKind::kNone ? custom_width : checksum_width(kind);
  f.max_frame_len = max_frame_len;
  return f;
}

uint64_t load_le(const uint8_t* p, unsigned width) noexcept {
  uint64_t v = 0;
  for (unsigned i = width; i-- > 0;) v = v << 8 | p[i];
  return v;
}

void store_le(uint8_t* p, uint64_t v, unsigned width) noexcept {
  for (unsigned i = 0; i < width; ++i, v >>= 8) p[i] = uint8_t(v);
}

namespace {

// The walk behind walk_frames and seal_frames: calls seal(header, payload,
// length) for each whole frame when sealing.
template <bool kSeal>
SealResult walk(uint8_t* buf, size_t len, const FrameFormat& format) noexcept {
  SealResult r;
  const size_t header = format.header_size();
  const bool fill = kSeal && format.verifies() && format.width != 0;
  size_t pos = 0;
  while (len - pos >= header) {
    const size_t payload_len = load_u32le(buf + pos);
    if (len - pos - header < payload_len) break;
    if (fill) {
      uint8_t* payload = buf + pos + header;
      store_le(buf + pos + kLengthFieldSize, checksum(format.kind, payload, payload_len),
               format.width);
    }
    pos += header + payload_len;
    ++r.frames;
  }
  r.whole = pos;
  if (pos != len) {
    r.ok = false;
    r.bad_offset = pos;
  }
  return r;
}

}  // namespace

SealResult walk_frames(const uint8_t* buf, size_t len, const FrameFormat& format) noexcept {
  // Never written through: walk<false> only reads.
  return walk<false>(const_cast<uint8_t*>(buf), len, format);
}

SealResult seal_frames(uint8_t* buf, size_t len, const FrameFormat& format) noexcept {
  return walk<true>(buf, len, format);
}

ScanResult scan_frames(const uint8_t* buf, size_t len, size_t start, const FrameFormat& format,
                       uint32_t* index, size_t index_capacity) noexcept {
  ScanResult r;
  const size_t header = format.header_size();
  size_t pos = start;
  for (;;) {
    r.consumed = pos;
    if (pos >= len) {
      r.status = ScanStatus::kEnd;
      return r;
    }
    const size_t avail = len - pos;
    if (avail < kLengthFieldSize) {
      r.status = ScanStatus::kPartial;
      r.needed = header;
      return r;
    }
    const uint64_t payload_len = load_u32le(buf + pos);
    // The bound is checked before anything is sized or read from the length.
    if (payload_len > format.max_frame_len) {
      r.status = ScanStatus::kInvalidFrame;
      r.length = payload_len;
      return r;
    }
    if (avail < header || avail - header < payload_len) {
      r.status = ScanStatus::kPartial;
      r.length = payload_len;
      r.needed = avail < header ? header : header + payload_len;
      return r;
    }
    if (r.frames == index_capacity) {
      r.status = ScanStatus::kIndexFull;
      return r;
    }
    const uint8_t* payload = buf + pos + header;
    if (format.verifies()) {
      const uint64_t expected = load_le(buf + pos + kLengthFieldSize, format.width);
      const uint64_t calculated = checksum(format.kind, payload, payload_len);
      if (expected != calculated) {
        r.status = ScanStatus::kChecksumMismatch;
        r.expected = expected;
        r.calculated = calculated;
        r.length = payload_len;
        return r;
      }
    }
    if (format.validators) {
      const ChainResult v = format.validators->check(payload, size_t(payload_len));
      if (!v.ok()) {
        r.status = ScanStatus::kValidationFailed;
        r.validation = v;
        r.length = payload_len;
        return r;
      }
    }
    index[2 * r.frames] = uint32_t(pos + header - start);
    index[2 * r.frames + 1] = uint32_t(payload_len);
    ++r.frames;
    pos += header + payload_len;
  }
}

namespace {

// What one frame says, under the scan's checks in the scan's order.
enum class Verdict : uint8_t {
  kGood,       // complete and verified; the next frame starts at `next`
  kBad,        // above the bound, checksum mismatch or a validator failed
  kUndecided,  // runs past the buffer: more data will tell
};
struct FrameVerdict {
  Verdict verdict = Verdict::kUndecided;
  size_t next = 0;
};

FrameVerdict check_frame(const uint8_t* buf, size_t len, size_t at, const FrameFormat& f) noexcept {
  const size_t avail = len - at;
  if (avail < kLengthFieldSize) return {};
  const uint64_t payload_len = load_u32le(buf + at);
  if (payload_len > f.max_frame_len) return {Verdict::kBad, 0};
  const size_t header = f.header_size();
  if (avail < header || avail - header < payload_len) return {};
  const uint8_t* payload = buf + at + header;
  if (load_le(buf + at + kLengthFieldSize, f.width) != checksum(f.kind, payload, payload_len))
    return {Verdict::kBad, 0};
  if (f.validators && !f.validators->check(payload, size_t(payload_len)).ok())
    return {Verdict::kBad, 0};
  return {Verdict::kGood, at + header + size_t(payload_len)};
}

// Verdicts of frames met while walking a candidate's run, for the candidates
// after it: sorted by offset, those behind the current candidate dropped.
// Fixed capacity, so nothing is allocated; when full, the farthest is dropped.
class VerdictMemo {
 public:
  void drop_below(size_t at) noexcept {
    while (head_ < n_ && e_[head_].at < at) ++head_;
  }
  const FrameVerdict* find(size_t at) const noexcept {
    for (size_t i = head_; i < n_ && e_[i].at <= at; ++i)
      if (e_[i].at == at) return &e_[i].v;
    return nullptr;
  }
  void put(size_t at, FrameVerdict v) noexcept {
    if (n_ == kCapacity && head_ > 0) {
      for (size_t i = head_; i < n_; ++i) e_[i - head_] = e_[i];
      n_ -= head_;
      head_ = 0;
    }
    if (n_ == kCapacity) {
      if (e_[n_ - 1].at < at) return;
      --n_;
    }
    size_t i = n_++;
    for (; i > head_ && e_[i - 1].at > at; --i) e_[i] = e_[i - 1];
    e_[i] = {at, v};
  }

 private:
  static constexpr size_t kCapacity = 64;
  struct Entry {
    size_t at;
    FrameVerdict v;
  };
  Entry e_[kCapacity];
  size_t head_ = 0;
  size_t n_ = 0;
};

}  // namespace

ResyncResult resync_frames(const uint8_t* buf, size_t len, size_t start, const FrameFormat& format,
                           size_t run) noexcept {
  ResyncResult r;
  constexpr size_t kNone = ~size_t{0};
  size_t keep = kNone;
  if (!format.verifies()) {
    r.status = ResyncStatus::kNoChecksum;
    return r;
  }
  if (run == 0) run = 1;
  VerdictMemo memo;
  for (size_t p = start + 1; p < len; ++p) {
    memo.drop_below(p);
    size_t at = p, frames = 0;
    Verdict verdict;
    for (;;) {
      FrameVerdict v;
      if (const FrameVerdict* known = memo.find(at)) {
        v = *known;
      } else {
        v = check_frame(buf, len, at, format);
        if (at != p && v.verdict != Verdict::kUndecided) memo.put(at, v);
      }
      verdict = v.verdict;
      if (verdict != Verdict::kGood) break;
      ++frames;
      at = v.next;
      if (frames == run || at == len) break;
    }
    if (verdict == Verdict::kGood) {
      r.status = ResyncStatus::kFound;
      r.offset = p;
      r.frames = frames;
      r.keep = keep < p ? keep : p;
      return r;
    }
    if (verdict == Verdict::kUndecided && keep == kNone) keep = p;
  }
  r.status = ResyncStatus::kNotFound;
  r.keep = keep != kNone ? keep : len > start ? len : start + 1;
  return r;
}

namespace {

// Evidence of the frame at `at`, memoised. Undecided (its bytes run past
// `len` and the stream goes on): kUnknown, with `need` set.
Evidence evidence_at(const uint8_t* buf, size_t len, size_t at, bool eof, const FrameFormat& f,
                     uint8_t* memo, size_t* need, ResyncBudget* budget) noexcept {
  if (memo[at] != uint8_t(Evidence::kUnknown)) return Evidence(memo[at]);
  const size_t avail = len - at;
  if (avail < kLengthFieldSize) {
    if (eof) return Evidence(memo[at] = uint8_t(Evidence::kBad));
    *need = at + kLengthFieldSize;
    return Evidence::kUnknown;
  }
  const uint64_t payload_len = load_u32le(buf + at);
  Evidence e = Evidence::kBad;
  const size_t header = f.header_size();
  if (payload_len <= f.max_frame_len) {
    if (avail < header || avail - header < payload_len) {
      if (!eof) {
        *need = at + header + size_t(payload_len);
        return Evidence::kUnknown;
      }
    } else {
      const uint8_t* payload = buf + at + header;
      // The budget grows with the offset searched, not with the frame's end:
      // a frame far longer than the search so far is checked only while the
      // search is still within its allowance (docs/design.md "Skip mode").
      if (budget->spent > kResyncWorkPerByte * (budget->dropped + at) + kResyncWorkAllowance) {
        memo[at] = uint8_t(Evidence::kBad);  // over budget: counts as bad
        return Evidence::kBad;
      }
      budget->spent += payload_len;
      if (load_le(buf + at + kLengthFieldSize, f.width) == checksum(f.kind, payload, payload_len) &&
          (!f.validators || f.validators->check(payload, size_t(payload_len)).ok())) {
        if (payload_len == 0 && f.kind != ChecksumKind::kXxHash64)
          e = Evidence::kNone;
        else
          e = f.width >= 4 ? Evidence::kStrong : Evidence::kWeak;
      }
    }
  }
  memo[at] = uint8_t(e);
  return e;
}

enum class Decision { kAccept, kReject, kUndecided };

Decision decide(const uint8_t* buf, size_t len, size_t at, bool natural, bool eof,
                const FrameFormat& f, uint8_t* memo, size_t* need, ResyncBudget* budget) noexcept {
  const Evidence e = evidence_at(buf, len, at, eof, f, memo, need, budget);
  if (e == Evidence::kUnknown) return Decision::kUndecided;
  if (e == Evidence::kBad || e == Evidence::kNone) return Decision::kReject;
  if (e == Evidence::kStrong || natural) return Decision::kAccept;
  // 16 bits alone are not enough: the next frame must prove something too,
  // or this one must end the stream.
  const size_t next = at + f.header_size() + size_t(load_u32le(buf + at));
  if (next == len) {
    if (eof) return Decision::kAccept;
    *need = len + 1;
    return Decision::kUndecided;
  }
  const Evidence e2 = evidence_at(buf, len, next, eof, f, memo, need, budget);
  if (e2 == Evidence::kUnknown) return Decision::kUndecided;
  return e2 == Evidence::kWeak || e2 == Evidence::kStrong ? Decision::kAccept : Decision::kReject;
}

}  // namespace

ResyncStep resync_step(const uint8_t* buf, size_t len, size_t start, size_t natural, bool eof,
                       const FrameFormat& format, uint8_t* memo, ResyncBudget* budget) noexcept {
  ResyncStep r;
  if (!format.verifies()) {
    r.status = ResyncStatus::kNoChecksum;
    return r;
  }
  if (natural != kNoNatural && natural < len) {
    size_t need = len + 1;
    switch (decide(buf, len, natural, true, eof, format, memo, &need, budget)) {
      case Decision::kAccept:
        r.status = ResyncStatus::kFound;
        r.offset = r.keep = natural;
        return r;
      case Decision::kUndecided:
        r.keep = start;
        r.need = need;
        r.natural_pending = true;
        return r;
      case Decision::kReject:
        break;
    }
  } else if (natural != kNoNatural && !eof) {
    // The next frame starts right at the end of the data: wait for it.
    r.keep = start;
    r.need = len + 1;
    r.natural_pending = true;
    return r;
  }
  for (size_t p = start; p < len; ++p) {
    size_t need = len + 1;
    switch (decide(buf, len, p, false, eof, format, memo, &need, budget)) {
      case Decision::kAccept:
        r.status = ResyncStatus::kFound;
        r.offset = r.keep = p;
        return r;
      case Decision::kUndecided:
        r.keep = p;
        r.need = need;
        return r;
      case Decision::kReject:
        break;
    }
  }
  r.keep = len > start ? len : start;
  r.need = len + 1;
  return r;
}

}  // namespace flatstream
