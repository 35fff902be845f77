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

SealResult seal_frames(uint8_t* buf, size_t len, ChecksumKind kind) noexcept {
  SealResult r;
  const unsigned width = checksum_width(kind);
  const size_t header = kLengthFieldSize + width;
  size_t pos = 0;
  while (pos < len) {
    if (len - pos < header) break;
    const size_t payload_len = load_u32le(buf + pos);
    if (len - pos - header < payload_len) break;
    uint8_t* payload = buf + pos + header;
    if (width != 0)
      store_le(buf + pos + kLengthFieldSize, checksum(kind, payload, payload_len), width);
    pos += header + payload_len;
    ++r.frames;
  }
  if (pos != len) {
    r.ok = false;
    r.bad_offset = pos;
  }
  return r;
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

}  // namespace flatstream
