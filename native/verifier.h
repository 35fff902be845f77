// Payload verification for untrusted FlatBuffers. Pure C++ (no N-API).
//
// TableRootValidator checks the structure every FlatBuffer shares, without a
// schema: a sane size, a root offset inside the buffer, and a root table whose
// vtable and inline body lie inside it. SchemaValidator (schema_verifier.h)
// walks every field a binary schema describes. Both run on the read side after
// the checksum and before user code, and on the write side before a frame is
// staged (docs/design.md, "Validators").
//
// Both sit on the header-only flatbuffers::Verifier, so "in bounds" and
// "aligned" mean exactly what they mean to flatc-generated verifiers: ranges
// are checked against the buffer, alignment relative to the buffer's start.
// Bad input never throws, never aborts and never makes them read outside
// [data, data + len).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace flatstream {

// What flatbuffers::Verifier accepts: a buffer shorter than 2^31 - 1 bytes.
constexpr size_t kMaxVerifiableSize = (size_t{1} << 31) - 2;
// The smallest valid FlatBuffer: root offset, soffset, vtable size and table size.
constexpr size_t kMinVerifiableSize = 12;

struct VerifierOptions {
  // Longer payloads are rejected ("buffer too large"); clamped to kMaxVerifiableSize.
  size_t max_size = kMaxVerifiableSize;
  // Tables on one path from the root (the root is depth 1). flatc's default.
  // Clamped to kMaxDepthLimit: the schema walk recurses once per level.
  uint32_t max_depth = 64;
  // Tables visited in all, counting a table once per reference (a DAG of
  // shared tables costs what its expansion would). flatc's default.
  uint32_t max_tables = 1000000;
  // Scalars, offsets and vtables at multiples of their size (from the
  // buffer's start), as in flatc's generated verifiers.
  bool check_alignment = true;
  // SchemaValidator: verify [ubyte] fields marked nested_flatbuffer as
  // FlatBuffers of their declared root type.
  bool check_nested_flatbuffers = true;

  static constexpr uint32_t kMaxDepthLimit = 256;
};

// The outcome of one verification: ok, or what failed and where. `reason` is
// a static string; `table` and `field` (the short names from the schema, for
// SchemaValidator only) are owned by the validator and valid while it lives.
// Building one allocates nothing.
struct VerifyResult {
  const char* reason = nullptr;  // nullptr: the payload is valid
  const char* table = nullptr;   // the table being checked, when known
  const char* field = nullptr;   // its field, when the failure is in one
  // The nested_flatbuffer field the failure lies under, when it does.
  const char* outer_table = nullptr;
  const char* outer_field = nullptr;
  size_t offset = 0;  // byte offset in the payload of the offending item

  bool ok() const noexcept { return reason == nullptr; }
  // "RichEvent.label: string out of bounds", "Tag: vtable out of bounds",
  // "buffer too small"; "" when ok.
  std::string message() const;
};

// Structural check of a payload without a schema: size within
// [kMinVerifiableSize, max_size], root offset in bounds, and the root table
// verified like flatbuffers::Verifier::VerifyTableStart does (table and
// vtable in bounds and aligned, the vtable's size even). Beyond that, and
// beyond what generated verifiers check, it requires what every FlatBuffers
// builder writes: a vtable that holds its own size and the table's, a table
// body inside the buffer and every field offset inside the table body. So a
// payload it accepts can be opened and its root's inline scalars read
// without going out of bounds; offsets to strings, vectors and sub-tables
// are not followed (that takes a schema).
//
// Immutable after construction: verify() may run on many threads at once.
class TableRootValidator {
 public:
  explicit TableRootValidator(const VerifierOptions& options = {}) noexcept;

  VerifyResult verify(const uint8_t* data, size_t len) const noexcept;
  const VerifierOptions& options() const noexcept { return options_; }

 private:
  VerifierOptions options_;
};

// Clamps options to what the verifiers support.
VerifierOptions normalize(VerifierOptions options) noexcept;

// Shared with SchemaValidator: why a check of flatbuffers::Verifier failed,
// computed after it did (the Verifier decides, these only name the cause).
namespace verify_detail {

// Verifier::VerifyOffset(start) returned 0.
const char* offset_failure(const uint8_t* buf, size_t len, size_t start, bool align,
                           bool root) noexcept;
// Verifier::VerifyTableStart(buf + pos) returned false; nullptr when the
// table itself is sound (the Verifier's depth or table count ran out).
const char* table_failure(const uint8_t* buf, size_t len, size_t pos, bool align) noexcept;
// Verifier::VerifyVectorOrString(buf + pos, elem_size) returned false.
const char* vector_failure(const uint8_t* buf, size_t len, size_t pos, size_t elem_size, bool align,
                           bool string) noexcept;
// Verifier::VerifyString(buf + pos) returned false.
const char* string_failure(const uint8_t* buf, size_t len, size_t pos, bool align) noexcept;

}  // namespace verify_detail

}  // namespace flatstream
