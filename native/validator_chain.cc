#include "validator_chain.h"

#include <stdexcept>
#include <utility>

#include "schema_verifier.h"

namespace flatstream {

namespace {

// Static reasons, so that check() allocates nothing; message() adds the numbers.
const char kTooSmall[] = "payload shorter than the minimum";
const char kTooLarge[] = "payload longer than the maximum";

struct Run {
  const uint8_t* data;
  size_t len;
  ChainResult& out;

  bool operator()(const ValidatorChain::Size& s) const noexcept {
    if (len < s.min) return fail(kTooSmall, s.min);
    if (len > s.max) return fail(kTooLarge, s.max);
    return true;
  }
  bool operator()(const ValidatorChain::TableRoot& t) const noexcept {
    out.result = t.validator.verify(data, len);
    return out.result.ok();
  }
  bool operator()(const ValidatorChain::Schema& s) const noexcept {
    out.result = s.validator->verify(data, len);
    return out.result.ok();
  }
  bool fail(const char* reason, uint64_t limit) const noexcept {
    out.result.reason = reason;
    out.limit = limit;
    return false;
  }
};

}  // namespace

std::string ChainResult::message() const {
  if (ok()) return std::string();
  if (result.reason == kTooSmall)
    return "payload of " + std::to_string(length) + " bytes is shorter than " +
           std::to_string(limit);
  if (result.reason == kTooLarge)
    return "payload of " + std::to_string(length) + " bytes is longer than " +
           std::to_string(limit);
  return result.message();
}

ValidatorChain::ValidatorChain(std::vector<Validator> validators)
    : validators_(std::move(validators)) {
  for (const Validator& v : validators_) {
    if (const Schema* s = std::get_if<Schema>(&v); s && !s->validator)
      throw std::invalid_argument("ValidatorChain: Schema without a validator");
    if (const Size* s = std::get_if<Size>(&v); s && s->min > s->max)
      throw std::invalid_argument("ValidatorChain: Size with min > max");
  }
}

ChainResult ValidatorChain::check(const uint8_t* data, size_t len) const noexcept {
  ChainResult r;
  r.length = len;
  const Run run{data, len, r};
  for (size_t i = 0; i < validators_.size(); ++i) {
    if (!std::visit(run, validators_[i])) {
      r.index = i;
      return r;
    }
  }
  r.result = VerifyResult();
  return r;
}

}  // namespace flatstream
