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

#include "args.h"
#include "binding.h"
#include "schema_verifier.h"
#include "validator_chain.h"

namespace {

using flatstream::ValidatorChain;
using flatstream::VerifierOptions;
using namespace flatstream_binding;

// Marks the objects this file made, so that scanFrames never unwraps another
// class's object (an Arena) as a chain.
constexpr napi_type_tag kChainTag = {0x6a1f3c09e2b84d57ull, 0x9c0e5d2b7f4a1836ull};

VerifierOptions options_of(const Napi::Object& o) {
  VerifierOptions opts;
  opts.max_depth =
      uint32_t(integer_prop(o, "maxDepth", 1, VerifierOptions::kMaxDepthLimit, opts.max_depth));
  opts.max_tables = uint32_t(integer_prop(o, "maxTables", 1, UINT32_MAX, opts.max_tables));
  opts.max_size =
      size_t(integer_prop(o, "maxSize", 0, flatstream::kMaxVerifiableSize, opts.max_size));
  opts.check_alignment = bool_prop(o, "checkAlignment", opts.check_alignment);
  opts.check_nested_flatbuffers =
      bool_prop(o, "checkNestedFlatbuffers", opts.check_nested_flatbuffers);
  return opts;
}

ValidatorChain::Validator validator_of(const Napi::Value& v, uint32_t i) {
  Napi::Env env = v.Env();
  const Napi::Object o = object_arg(v, "validators[" + std::to_string(i) + "]");
  const Napi::Value kind = o.Get("kind");
  const std::string k = kind.IsString() ? kind.As<Napi::String>().Utf8Value() : "";
  if (k == "size") {
    ValidatorChain::Size s;
    s.min = size_t(integer_prop(o, "min", 0, kMaxSafeInteger, 0));
    if (!o.Get("max").IsUndefined()) s.max = size_t(integer_prop(o, "max", 0, kMaxSafeInteger, 0));
    if (s.min > s.max) throw arg_range_error(env, "min");
    return s;
  }
  if (k == "tableRoot") return ValidatorChain::TableRoot(options_of(o));
  if (k == "schema") {
    const ByteView bfbs = bytes_arg(o.Get("bfbs"), "bfbs");
    const Napi::Value root = o.Get("rootType");
    const std::string root_type = root.IsUndefined() ? "" : string_arg(root, "rootType");
    const VerifierOptions opts = options_of(o);
    std::string error;
    std::unique_ptr<flatstream::SchemaValidator> schema =
        flatstream::SchemaValidator::create(bfbs.data, bfbs.len, root_type, opts, &error);
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
    const ByteView buf = bytes_arg(info[0], "buf");
    const size_t offset = size_t(integer_arg(info[1], "offset", 0, buf.len));
    const size_t length = size_t(integer_arg(info[2], "length", 0, buf.len - offset));
    const flatstream::ChainResult r = chain_->check(buf.data + offset, length);
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

// The chain behind scanFrames' / resyncFrames' `validators` argument
// (native/binding/binding.h).
const ValidatorChain* flatstream_binding::validator_chain_arg(const Napi::Value& v,
                                                              const char* name) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&kChainTag))
    return ChainWrap::Unwrap(v.As<Napi::Object>())->chain();
  throw arg_type_error(v.Env(), name, "a ValidatorChain");
}

void flatstream_binding::InitValidator(Napi::Env env, Napi::Object exports) {
  exports.Set("ValidatorChain",
              ChainWrap::DefineClass(env, "ValidatorChain",
                                     {
                                         ChainWrap::InstanceMethod<&ChainWrap::Check>("check"),
                                         ChainWrap::InstanceAccessor<&ChainWrap::Length>("length"),
                                     }));
}
