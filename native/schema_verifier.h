// SchemaValidator: verifies untrusted payloads against a binary schema (.bfbs,
// from `flatc -b --schema`). Pure C++ (no N-API). The native half of
// TypedValidator (docs/design.md, "Validators").
//
// It accepts exactly what flatc's generated C++ verifier for the same schema
// and root type accepts (Verify<Root>Buffer with the same options): every
// field of every table reached, strings (bounds, terminator), vectors of
// scalars, structs, strings, tables and unions, structs (size, alignment),
// unions (an unknown type is accepted, as generated code does, so that old
// readers accept new union members), required fields, the file identifier
// when the schema declares one for its root type, and [ubyte] fields marked
// nested_flatbuffer (kept in the .bfbs only by `flatc --bfbs-builtins`;
// without it such a field is a plain [ubyte]). Deliberate differences:
//   - Depth and table counts run on through nested flatbuffers, whose own
//     walk follows this validator's options; generated code starts a fresh
//     Verifier with default options for each nested buffer. So a nested
//     chain cannot recurse without bound.
//   - [ubyte] fields marked `flexbuffer` are checked as [ubyte] only.
//
// Debian's libflatbuffers.a is not position-independent, so reflection.cpp's
// flatbuffers::Verify cannot go into the addon: this walk is our own, on top
// of the header-only flatbuffers::Verifier (which decides every bounds and
// alignment question) and reflection_generated.h (which reads the schema).
// The schema becomes a flat plan once, at construction; verify() allocates
// nothing and is immutable, so one validator may serve many threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "verifier.h"

namespace flatstream {

class SchemaValidator {
 public:
  // A validator for payloads whose root is `root_type`: a table's fully
  // qualified name ("events.RichEvent"), its short name when no other table
  // has it ("RichEvent"), or empty for the schema's root_type. The .bfbs is
  // verified (reflection::VerifySchemaBuffer) and checked for consistency
  // before use, copied while reading, and not kept. Returns nullptr and sets
  // *error (when given) when the schema or the root type is unusable.
  // Allocates: std::bad_alloc is the only exception it lets through.
  static std::unique_ptr<SchemaValidator> create(const uint8_t* bfbs, size_t len,
                                                 const std::string& root_type,
                                                 const VerifierOptions& options,
                                                 std::string* error);

  // ok, or the reason, the table (short name) and field, and the byte offset.
  VerifyResult verify(const uint8_t* data, size_t len) const noexcept;

  // The root table's fully qualified name.
  const std::string& root_type() const noexcept { return root_type_; }
  const VerifierOptions& options() const noexcept { return options_; }
  // The file identifier checked at bytes 4..7, or "" when none is.
  const char* file_identifier() const noexcept { return identifier_; }

  SchemaValidator(const SchemaValidator&) = delete;
  SchemaValidator& operator=(const SchemaValidator&) = delete;

 private:
  friend class SchemaPlanner;
  friend class SchemaWalk;
  static constexpr uint32_t kNone = ~uint32_t{0};

  enum class Kind : uint8_t {
    kScalar,  // size and alignment only
    kStruct,  // likewise
    kString,
    kTable,
    kUnion,   // the value; its type is the field in the slot before
    kVector,  // of scalars or structs: checked as one block
    kStringVector,
    kTableVector,
    kUnionVector,  // the values; the types are the vector in the slot before
  };
  struct Field {
    uint16_t slot = 0;  // vtable offset
    Kind kind = Kind::kScalar;
    bool required = false;
    uint32_t size = 0;        // kScalar/kStruct: bytes; vectors: bytes per element
    uint32_t align = 1;       // kScalar/kStruct
    uint32_t target = kNone;  // kTable(Vector): table; kUnion(Vector): union
    uint32_t nested = kNone;  // kVector of ubyte marked nested_flatbuffer: its root table
    std::string name;
  };
  struct Table {
    std::string name;  // short name, for reasons
    uint32_t first = 0;
    uint32_t count = 0;
  };
  enum class MemberKind : uint8_t { kAccept, kTable, kStruct, kString };
  struct Member {
    MemberKind kind = MemberKind::kAccept;  // NONE and unknown types are accepted
    uint32_t table = kNone;                 // kTable
    uint32_t size = 0;                      // kStruct
    uint32_t align = 1;                     // kStruct
  };
  struct Union {
    std::array<Member, 256> members;  // by type value
  };

  SchemaValidator() = default;

  VerifierOptions options_;
  std::vector<Table> tables_;  // by the schema's object index (structs and unreached: empty)
  std::vector<Field> fields_;  // each table's fields, in id order, deprecated ones left out
  std::vector<Union> unions_;
  uint32_t root_ = 0;
  std::string root_type_;
  char identifier_[5] = {};
};

}  // namespace flatstream
