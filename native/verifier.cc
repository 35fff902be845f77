#include "verifier.h"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>

namespace flatstream {

namespace {

using flatbuffers::ReadScalar;

// Verifier::Verify(elem, n): the range [elem, elem + n) inside a buffer of
// `len` bytes (n < len, like the Verifier: no item fills a whole buffer).
bool in_bounds(size_t len, size_t elem, size_t n) noexcept { return n < len && elem <= len - n; }

bool misaligned(size_t pos, size_t align, bool check) noexcept {
  return check && (pos & (align - 1)) != 0;
}

}  // namespace

VerifierOptions normalize(VerifierOptions o) noexcept {
  o.max_size = std::min(o.max_size, kMaxVerifiableSize);
  o.max_depth = std::min(o.max_depth, VerifierOptions::kMaxDepthLimit);
  return o;
}

std::string VerifyResult::message() const {
  std::string m;
  if (!reason) return m;
  if (outer_table) {
    m += outer_table;
    if (outer_field) m.append(".").append(outer_field);
    m += ": in nested flatbuffer: ";
  }
  if (table) {
    m += table;
    if (field) m.append(".").append(field);
    m += ": ";
  }
  return m += reason;
}

namespace verify_detail {

const char* offset_failure(const uint8_t* buf, size_t len, size_t start, bool align,
                           bool root) noexcept {
  if (misaligned(start, 4, align)) return "offset misaligned";
  if (!in_bounds(len, start, 4)) return root ? "buffer too small" : "offset out of bounds";
  const uint32_t o = ReadScalar<uint32_t>(buf + start);
  if (o == 0) return root ? "root offset is zero" : "offset is zero";
  // Negative (as a soffset) or past the end: either way outside the buffer.
  return root ? "root offset out of bounds" : "offset target out of bounds";
}

const char* table_failure(const uint8_t* buf, size_t len, size_t pos, bool align) noexcept {
  if (misaligned(pos, 4, align)) return "table misaligned";
  if (!in_bounds(len, pos, 4)) return "table out of bounds";
  // Unsigned wrap-around gives the right answer for either sign, as in the Verifier.
  const size_t vt = pos - static_cast<size_t>(ReadScalar<int32_t>(buf + pos));
  if (misaligned(vt, 2, align)) return "vtable misaligned";
  if (!in_bounds(len, vt, 2)) return "vtable out of bounds";
  const uint16_t vsize = ReadScalar<uint16_t>(buf + vt);
  if (vsize & 1) return "vtable size is odd";
  if (!in_bounds(len, vt, vsize)) return "vtable extends past the end";
  return nullptr;
}

const char* vector_failure(const uint8_t* buf, size_t len, size_t pos, size_t elem_size, bool align,
                           bool string) noexcept {
  if (misaligned(pos, 4, align)) return string ? "string misaligned" : "vector misaligned";
  if (!in_bounds(len, pos, 4)) return string ? "string out of bounds" : "vector out of bounds";
  const uint32_t n = ReadScalar<uint32_t>(buf + pos);
  if (n >= FLATBUFFERS_MAX_BUFFER_SIZE / elem_size) {
    return string ? "string length overflows" : "vector length overflows";
  }
  return string ? "string longer than the buffer" : "vector longer than the buffer";
}

const char* string_failure(const uint8_t* buf, size_t len, size_t pos, bool align) noexcept {
  if (misaligned(pos, 4, align) || !in_bounds(len, pos, 4)) {
    return vector_failure(buf, len, pos, 1, align, true);
  }
  const uint32_t n = ReadScalar<uint32_t>(buf + pos);
  if (n >= FLATBUFFERS_MAX_BUFFER_SIZE || !in_bounds(len, pos, 4 + size_t{n})) {
    return vector_failure(buf, len, pos, 1, align, true);
  }
  const size_t end = pos + 4 + n;
  if (!in_bounds(len, end, 1)) return "string terminator out of bounds";
  if (buf[end] != 0) return "string not zero-terminated";
  return "invalid string";
}

}  // namespace verify_detail

TableRootValidator::TableRootValidator(const VerifierOptions& options) noexcept
    : options_(normalize(options)) {}

VerifyResult TableRootValidator::verify(const uint8_t* data, size_t len) const noexcept {
  using namespace verify_detail;
  VerifyResult r;
  if (!data || len < kMinVerifiableSize) {
    r.reason = "buffer too small";
    return r;
  }
  if (len > options_.max_size) {
    r.reason = "buffer too large";
    return r;
  }
  flatbuffers::Verifier::Options vo;
  vo.max_depth = options_.max_depth;
  vo.max_tables = options_.max_tables;
  vo.check_alignment = options_.check_alignment;
  vo.check_nested_flatbuffers = false;
  flatbuffers::Verifier v(data, len, vo);
  const bool align = options_.check_alignment;

  const size_t root = v.VerifyOffset(size_t{0});
  if (root == 0) {
    r.reason = offset_failure(data, len, 0, align, true);
    return r;
  }
  r.offset = root;
  if (!v.VerifyTableStart(data + root)) {
    const char* why = table_failure(data, len, root, align);
    if (!why) why = options_.max_depth == 0 ? "depth limit exceeded" : "table limit exceeded";
    r.reason = why;
    return r;
  }

  // What builders always write, and generated verifiers do not check.
  const size_t vt = root - static_cast<size_t>(ReadScalar<int32_t>(data + root));
  const uint16_t vsize = ReadScalar<uint16_t>(data + vt);
  if (vsize < 4) {
    r.reason = "vtable too short";
    r.offset = vt;
    return r;
  }
  const uint16_t tsize = ReadScalar<uint16_t>(data + vt + 2);
  if (tsize < 4) {
    r.reason = "table size smaller than its vtable offset";
    return r;
  }
  if (!in_bounds(len, root, tsize)) {
    r.reason = "table body out of bounds";
    return r;
  }
  for (size_t slot = 4; slot < vsize; slot += 2) {
    const uint16_t off = ReadScalar<uint16_t>(data + vt + slot);
    if (off != 0 && (off < 4 || off >= tsize)) {
      r.reason = "field offset outside the table";
      r.offset = vt + slot;
      return r;
    }
  }
  return r;
}

}  // namespace flatstream
