// ValidatorChain: the native validators of a stream, run in order on each
// payload, AND, stopping at the first that fails (flatstream-rs's
// CompositeValidator). Pure C++ (no N-API). The batch scanner runs it on every
// frame after the checksum (frame.h, FrameFormat::validators), so a slab of
// frames is verified in one crossing from JS (docs/design.md, "Engine
// contract" and "Validators").
//
// Immutable after construction and allocation-free in check(): one chain may
// serve many threads at once. A schema validator is shared, not copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "verifier.h"

namespace flatstream {

class SchemaValidator;  // schema_verifier.h

// The outcome of one check: ok, or which validator failed and why.
struct ChainResult {
  static constexpr size_t kPassed = ~size_t{0};

  size_t index = kPassed;  // position in the chain of the validator that failed
  VerifyResult result;     // its verdict; `reason` is static, table/field owned by the validator
  size_t length = 0;       // the payload's length
  uint64_t limit = 0;      // a size check: the bound the length crossed

  bool ok() const noexcept { return index == kPassed; }
  // "payload of 3 bytes is shorter than 12" (lib/format/validation.ts's
  // SizeValidator says the same), "RichEvent.label: string out of bounds",
  // "" when ok. Allocates: for error paths only.
  std::string message() const;
};

class ValidatorChain {
 public:
  // SizeValidator: payload length in [min, max], both inclusive.
  struct Size {
    size_t min = 0;
    size_t max = ~size_t{0};
  };
  // TableRootValidator (verifier.h): structure without a schema.
  struct TableRoot {
    explicit TableRoot(const VerifierOptions& options = {}) noexcept : validator(options) {}
    TableRootValidator validator;
  };
  // SchemaValidator (schema_verifier.h): every field a .bfbs describes.
  struct Schema {
    std::shared_ptr<const SchemaValidator> validator;
  };
  using Validator = std::variant<Size, TableRoot, Schema>;

  ValidatorChain() = default;
  // Throws std::invalid_argument for a Schema without a validator or a Size
  // with min > max.
  explicit ValidatorChain(std::vector<Validator> validators);

  // Runs the validators on data[0, len) in order; the first failure wins.
  ChainResult check(const uint8_t* data, size_t len) const noexcept;

  size_t size() const noexcept { return validators_.size(); }
  bool empty() const noexcept { return validators_.empty(); }
  const Validator& operator[](size_t i) const noexcept { return validators_[i]; }

 private:
  std::vector<Validator> validators_;
};

}  // namespace flatstream
