// The JS class ValidatorChain over flatstream::ValidatorChain
// (native/validator_chain.h): built once from a spec array, then passed to
// scanFrames / resyncFrames so that a whole slab is verified in one crossing.
// check() is the slow path: the write side before staging a frame, and the
// message of a frame a batch stopped at. lib/ owns the user-facing API; this
// file converts the spec and owns the chain's lifetime.
//
//   new ValidatorChain([{ kind: 'size', min?, max? },
//                       { kind: 'tableRoot', maxDepth?, maxTables?, checkAlignment?, maxSize? },
//                       { kind: 'schema', bfbs, rootType?, ...the same options,
//                         checkNestedFlatbuffers? }])
//   chain.check(buf, offset, length) -> null | { index, reason }
//   chain.length -> number of validators
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "arg_error.h"
#include "schema_verifier.h"
#include "validator_chain.h"

namespace {

using flatstream::ValidatorChain;
using flatstream::VerifierOptions;
using flatstream_binding::arg_range_error;
using flatstream_binding::arg_type_error;

// Marks the objects this file made, so that scanFrames never unwraps another
// class's object (an Arena) as a chain.
constexpr napi_type_tag kChainTag = {0x6a1f3c09e2b84d57ull, 0x9c0e5d2b7f4a1836ull};

constexpr double kMaxSafeInteger = 9007199254740991.0;

// An optional integer property in [min, max]: TypeError if present and not a
// number, RangeError if out of range.
double integer_prop(const Napi::Object& o, const char* name, double min, double max, double dflt) {
  const Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throw arg_type_error(o.Env(), name, "of type number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != std::floor(d)) throw arg_range_error(o.Env(), name);
  return d;
}

bool bool_prop(const Napi::Object& o, const char* name, bool dflt) {
  const Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) throw arg_type_error(o.Env(), name, "of type boolean");
  return v.As<Napi::Boolean>().Value();
}

VerifierOptions options_of(const Napi::Object& o) {
  VerifierOptions opts;
  opts.max_depth = uint32_t(
      integer_prop(o, "maxDepth", 1, VerifierOptions::kMaxDepthLimit, double(opts.max_depth)));
  opts.max_tables =
      uint32_t(integer_prop(o, "maxTables", 1, 4294967295.0, double(opts.max_tables)));
  opts.max_size = size_t(
      integer_prop(o, "maxSize", 0, double(flatstream::kMaxVerifiableSize), double(opts.max_size)));
  opts.check_alignment = bool_prop(o, "checkAlignment", opts.check_alignment);
  opts.check_nested_flatbuffers =
      bool_prop(o, "checkNestedFlatbuffers", opts.check_nested_flatbuffers);
  return opts;
}

// Any TypedArray or DataView as bytes, SharedArrayBuffer-backed ones
// included (native/binding/arg_error.h); TypeError otherwise.
std::pair<const uint8_t*, size_t> view_of(const Napi::Value& v, const char* what) {
  const flatstream_binding::ByteView b = flatstream_binding::bytes_of(v, what);
  return {b.data, b.len};
}

ValidatorChain::Validator validator_of(const Napi::Value& v, uint32_t i) {
  Napi::Env env = v.Env();
  if (!v.IsObject() || v.IsArray())
    throw arg_type_error(env, "validators[" + std::to_string(i) + "]", "an object");
  const Napi::Object o = v.As<Napi::Object>();
  const Napi::Value kind = o.Get("kind");
  const std::string k = kind.IsString() ? kind.As<Napi::String>().Utf8Value() : "";
  if (k == "size") {
    ValidatorChain::Size s;
    s.min = size_t(integer_prop(o, "min", 0, kMaxSafeInteger, 0));
    const double max = integer_prop(o, "max", 0, kMaxSafeInteger, -1);
    if (max >= 0) s.max = size_t(max);
    if (s.min > s.max) throw arg_range_error(env, "min");
    return s;
  }
  if (k == "tableRoot") return ValidatorChain::TableRoot(options_of(o));
  if (k == "schema") {
    const auto bfbs = view_of(o.Get("bfbs"), "bfbs");
    const Napi::Value root = o.Get("rootType");
    if (!root.IsUndefined() && !root.IsString())
      throw arg_type_error(env, "rootType", "of type string");
    const VerifierOptions opts = options_of(o);
    std::string error;
    std::unique_ptr<flatstream::SchemaValidator> schema = flatstream::SchemaValidator::create(
        bfbs.first, bfbs.second, root.IsString() ? root.As<Napi::String>().Utf8Value() : "", opts,
        &error);
    if (!schema) throw Napi::Error::New(env, error);
    return ValidatorChain::Schema{std::move(schema)};
  }
  throw arg_type_error(env, "validators[" + std::to_string(i) + "].kind",
                       "'size', 'tableRoot' or 'schema'");
}

class ChainWrap : public Napi::ObjectWrap<ChainWrap> {
 public:
  explicit ChainWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ChainWrap>(info) {
    if (!info[0].IsArray()) throw arg_type_error(info.Env(), "validators", "an array");
    const Napi::Array spec = info[0].As<Napi::Array>();
    std::vector<ValidatorChain::Validator> validators;
    validators.reserve(spec.Length());
    for (uint32_t i = 0; i < spec.Length(); ++i) validators.push_back(validator_of(spec.Get(i), i));
    chain_ = std::make_shared<const ValidatorChain>(std::move(validators));
    info.This().As<Napi::Object>().TypeTag(&kChainTag);
  }

  // check(buf, offset, length) -> null | { index, reason }
  Napi::Value Check(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto buf = view_of(info[0], "buf");
    const double size = double(buf.second);
    const double offset = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    const double length = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
    if (!info[1].IsNumber()) throw arg_type_error(env, "offset", "of type number");
    if (!info[2].IsNumber()) throw arg_type_error(env, "length", "of type number");
    if (!(offset >= 0 && offset <= size && offset == std::floor(offset)))
      throw arg_range_error(env, "offset");
    if (!(length >= 0 && length <= size - offset && length == std::floor(length)))
      throw arg_range_error(env, "length");
    const flatstream::ChainResult r = chain_->check(buf.first + size_t(offset), size_t(length));
    if (r.ok()) return env.Null();
    Napi::Object failure = Napi::Object::New(env);
    failure.Set("index", Napi::Number::New(env, double(r.index)));
    failure.Set("reason", Napi::String::New(env, r.message()));
    return failure;
  }

  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(chain_->size()));
  }

  const ValidatorChain* chain() const noexcept { return chain_.get(); }

 private:
  // Shared, so that work outliving a call (a reader thread) may hold it.
  std::shared_ptr<const ValidatorChain> chain_;
};

}  // namespace

// The chain behind scanFrames' / resyncFrames' `validators` argument: nullptr
// for undefined or null; a TypeError for anything but a ValidatorChain.
const ValidatorChain* validator_chain_of(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&kChainTag))
    return ChainWrap::Unwrap(v.As<Napi::Object>())->chain();
  throw arg_type_error(v.Env(), "validators", "a ValidatorChain");
}

void InitValidator(Napi::Env env, Napi::Object exports) {
  exports.Set("ValidatorChain",
              ChainWrap::DefineClass(env, "ValidatorChain",
                                     {
                                         ChainWrap::InstanceMethod<&ChainWrap::Check>("check"),
                                         ChainWrap::InstanceAccessor<&ChainWrap::Length>("length"),
                                     }));
}
