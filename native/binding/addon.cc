// The N-API binding: argument conversion and nothing else. Argument checking
// and user-facing messages live in lib/ (TypeScript); these entry points read
// every argument through native/binding/args.h, so whatever reaches C++ is
// refused the Node way (docs/design.md, "The native core: capture and
// binding"). Every call here works on a whole slab or buffer, never on a
// single frame of a batch (docs/design.md, "Engine contract").
#include <napi.h>

#include <cstdint>

#include "arena.h"
#include "args.h"
#include "binding.h"
#include "checksum.h"
#include "frame.h"
#include "layout.h"
#include "verifier.h"

namespace {

using flatstream::ChecksumKind;

using namespace flatstream_binding;
using Bytes = flatstream_binding::ByteView;

ChecksumKind kind_of(const Napi::Value& v) {
  if (!v.IsNumber()) throw arg_type_error(v.Env(), "kind", "of type number");
  // An integer id, as the TS engine requires (1.5 and NaN are not kinds;
  // test/engine-parity.test.ts).
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < flatstream::kChecksumKindCount) || d != double(unsigned(d)))
    throw arg_range_error(v.Env(), "kind", "It must be a checksum kind");
  return static_cast<ChecksumKind>(unsigned(d));
}

// Integer argument in [0, max]; doubles carry every offset a Buffer can have.
uint64_t index_arg(const Napi::Value& v, uint64_t max, const char* what) {
  return integer_arg(v, what, 0, max < kMaxSafeInteger ? max : kMaxSafeInteger);
}

// checksum(kind, bytes) -> number (width <= 4) | bigint (width 8)
Napi::Value Checksum(const Napi::CallbackInfo& info) {
  const ChecksumKind kind = kind_of(info[0]);
  const Bytes b = bytes_arg(info[1], "data");
  const uint64_t value = flatstream::checksum(kind, b.data, b.len);
  if (flatstream::checksum_width(kind) == 8) return Napi::BigInt::New(info.Env(), value);
  return Napi::Number::New(info.Env(), double(value));
}

// checksumImpl(kind) -> the implementation chosen for this CPU
Napi::Value ChecksumImpl(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), flatstream::checksum_impl(kind_of(info[0])));
}

// sealFrames(slab, start, end, kind) -> frames sealed in slab[start, end)
Napi::Value SealFrames(const Napi::CallbackInfo& info) {
  const Bytes b = bytes_arg(info[0], "slab");
  const uint64_t end = index_arg(info[2], b.len, "end");
  const uint64_t start = index_arg(info[1], end, "start");
  const flatstream::SealResult r = flatstream::seal_frames(
      b.data + start, end - start,
      flatstream::make_format(kind_of(info[3]), 0, flatstream::kWireMaxFrameLen));
  if (!r.ok)
    throw Napi::Error::New(info.Env(), "staged bytes are not whole frames at offset " +
                                           std::to_string(start + r.bad_offset));
  return Napi::Number::New(info.Env(), double(r.frames));
}

// The frame format of scanFrames' and resyncFrames' arguments 3..5 (and 7).
flatstream::FrameFormat format_of(const Napi::CallbackInfo& info, size_t validators_arg) {
  const ChecksumKind kind = kind_of(info[3]);
  const unsigned width = unsigned(index_arg(info[4], 8, "width"));
  const uint64_t max_len = index_arg(info[5], flatstream::kWireMaxFrameLen, "maxFrameLen");
  flatstream::FrameFormat format = flatstream::make_format(kind, width, max_len);
  format.validators = validator_chain_arg(info[validators_arg], "validators");
  return format;
}

// scanFrames(buf, start, end, kind, width, maxFrameLen, index, validators?) -> frames
// index: Uint32Array; a header of kIndexHeader slots, then (offset - start,
// length) pairs. Header: [0] status, [1] frames, [2] consumed - start, [3]
// declared length, [4] status 5 (kValidationFailed): the failing validator's
// position in the chain, else 0, [5] reserved (0). validators: a
// ValidatorChain run on each payload after its checksum, or undefined. One
// call per batch of frames.
using namespace flatstream_binding;  // NOLINT: the layout.h slot names
Napi::Value ScanFrames(const Napi::CallbackInfo& info) {
  const Bytes b = bytes_arg(info[0], "buf");
  const uint64_t end = index_arg(info[2], b.len, "end");
  const uint64_t start = index_arg(info[1], end, "start");
  if (end - start > flatstream::kWireMaxFrameLen)
    throw arg_range_error(info.Env(), "end",
                          "A scan window must be at most 2^32 - 1 bytes (index offsets are u32)");
  const flatstream::FrameFormat format = format_of(info, 7);
  uint32_t* index = uint32_out_arg(info[6], "index", 0);
  const size_t slots = info[6].As<Napi::TypedArray>().ElementLength();
  if (slots < kIndexHeader + 2)
    throw arg_range_error(info.Env(), "index", "It must hold at least 8 elements");
  const flatstream::ScanResult r = flatstream::scan_frames(
      b.data, end, start, format, index + kIndexHeader, (slots - kIndexHeader) / 2);
  index[kIndexStatus] = uint32_t(r.status);
  index[kIndexFrames] = uint32_t(r.frames);
  index[kIndexConsumed] = uint32_t(r.consumed - start);
  index[kIndexLength] = uint32_t(r.length);
  index[kIndexValidator] =
      r.status == flatstream::ScanStatus::kValidationFailed ? uint32_t(r.validation.index) : 0;
  index[kIndexReserved] = 0;
  return Napi::Number::New(info.Env(), double(r.frames));
}

// resyncFrames(buf, start, end, kind, width, maxFrameLen, run, validators?, out?)
//   -> absolute offset of the first verified run after `start`, or -1
// out: Float64Array of >= 2, filled with [0] keep (bytes of buf before it are
// ruled out for good and may be dropped), [1] frames in the run found (0 when
// none). Throws a RangeError without a checksum (kind 0). Slow path: once per
// corruption met, not per batch.
//
// With a memo (a Uint8Array of >= end bytes, argument 9), one step of skip
// mode's search instead (resync_step, docs/design.md "Skip mode"): candidates
// from `start` on, after `natural` (argument 10, -1: none), `eof` (argument
// 11) saying whether the stream ended at `end`; `run` is then unused. out must
// hold >= 6: [0] keep, [1] need, [2] 1 if the natural candidate is still
// undecided, [3] payload bytes checksummed by this call; [4] and [5] carry the
// search's budget across calls (spent, dropped), zero when a search starts.
Napi::Value ResyncFrames(const Napi::CallbackInfo& info) {
  const Bytes b = bytes_arg(info[0], "buf");
  const uint64_t end = index_arg(info[2], b.len, "end");
  const uint64_t start = index_arg(info[1], end, "start");
  const flatstream::FrameFormat format = format_of(info, 7);
  if (!format.verifies())
    throw arg_range_error(info.Env(), "kind", "Resync needs a built-in checksum");
  const double run = index_arg(info[6], 0xFFFFFFFFu, "run");
  if (run < 1) throw arg_range_error(info.Env(), "run");
  const bool step = info.Length() > 9 && !info[9].IsUndefined();
  const size_t out_len = step ? size_t{kResyncStepOut} : size_t{kResyncOut};
  double* out = step || !info[8].IsUndefined() ? float64_out_arg(info[8], "out", out_len) : nullptr;
  if (step) {
    uint8_t* memo = uint8_arg(info[9], "memo");
    if (info[9].As<Napi::TypedArray>().ElementLength() < end)
      throw arg_range_error(info.Env(), "memo", "It is shorter than end");
    size_t natural = flatstream::kNoNatural;
    if (!(info[10].IsUndefined() ||
          (info[10].IsNumber() && info[10].As<Napi::Number>().DoubleValue() == -1)))
      natural = size_t(index_arg(info[10], end, "natural"));
    if (natural != flatstream::kNoNatural && natural < start)
      throw arg_range_error(info.Env(), "natural", "It is before start");
    const bool eof = optional_bool_arg(info[11], "eof", false);
    flatstream::ResyncBudget budget;
    if (!(out[kStepSpent] >= 0 && out[kStepDropped] >= 0 && out[kStepSpent] <= 0x1p53 &&
          out[kStepDropped] <= 0x1p53))
      throw arg_range_error(info.Env(), "out", "The budget it carries is out of range");
    budget.spent = uint64_t(out[kStepSpent]);
    budget.dropped = uint64_t(out[kStepDropped]);
    const flatstream::ResyncStep r =
        flatstream::resync_step(b.data, end, start, natural, eof, format, memo, &budget);
    const bool found = r.status == flatstream::ResyncStatus::kFound;
    out[kStepKeep] = double(r.keep);
    out[kStepNeed] = found ? 0 : double(r.need);
    out[kStepNaturalPending] = r.natural_pending ? 1 : 0;
    out[kStepChecksummed] = double(budget.spent - uint64_t(out[kStepSpent]));
    out[kStepSpent] = double(budget.spent);
    return Napi::Number::New(info.Env(), found ? double(r.offset) : -1);
  }
  const flatstream::ResyncResult r =
      flatstream::resync_frames(b.data, end, start, format, size_t(run));
  const bool found = r.status == flatstream::ResyncStatus::kFound;
  if (out) {
    out[kResyncKeep] = double(r.keep);
    out[kResyncFrames] = found ? double(r.frames) : 0;
  }
  return Napi::Number::New(info.Env(), found ? double(r.offset) : -1);
}

// binding.layout: every number JS and C++ share, taken from the enums and
// constexprs themselves (lib/engine/contract.ts names each once;
// docs/design.md "The engine contract").
Napi::Object Layout(Napi::Env env) {
  using flatstream::ChecksumKind;
  using flatstream::ScanStatus;
  const auto n = [&](double v) { return Napi::Number::New(env, v); };
  const auto obj = [&](std::initializer_list<std::pair<const char*, double>> kv) {
    Napi::Object o = Napi::Object::New(env);
    for (const auto& [k, v] : kv) o.Set(k, n(v));
    o.Freeze();
    return o;
  };
  Napi::Object l = Napi::Object::New(env);
  l.Set("checksumKind", obj({{"none", double(ChecksumKind::kNone)},
                             {"crc16", double(ChecksumKind::kCrc16)},
                             {"crc32", double(ChecksumKind::kCrc32)},
                             {"xxhash64", double(ChecksumKind::kXxHash64)},
                             {"crc32c", double(ChecksumKind::kCrc32c)},
                             {"crc64", double(ChecksumKind::kCrc64)},
                             {"count", double(flatstream::kChecksumKindCount)},
                             {"custom", double(flatstream::kCustomKind)},
                             {"unbound", double(flatstream::kUnboundKind)}}));
  Napi::Array widths = Napi::Array::New(env, flatstream::kChecksumKindCount);
  for (unsigned k = 0; k < flatstream::kChecksumKindCount; k++)
    widths.Set(k, n(flatstream::checksum_width(ChecksumKind(k))));
  l.Set("checksumWidth", widths);
  l.Set("frame", obj({{"lengthField", double(flatstream::kLengthFieldSize)},
                      {"defaultMaxFrameLen", double(flatstream::kDefaultMaxFrameLen)},
                      {"wireMaxFrameLen", double(flatstream::kWireMaxFrameLen)},
                      {"minVerifiableSize", double(flatstream::kMinVerifiableSize)},
                      {"maxVerifiableSize", double(flatstream::kMaxVerifiableSize)}}));
  l.Set("scanStatus", obj({{"end", double(ScanStatus::kEnd)},
                           {"partial", double(ScanStatus::kPartial)},
                           {"indexFull", double(ScanStatus::kIndexFull)},
                           {"checksumMismatch", double(ScanStatus::kChecksumMismatch)},
                           {"invalidFrame", double(ScanStatus::kInvalidFrame)},
                           {"validationFailed", double(ScanStatus::kValidationFailed)}}));
  l.Set("indexSlot", obj({{"status", kIndexStatus},
                          {"frames", kIndexFrames},
                          {"consumed", kIndexConsumed},
                          {"length", kIndexLength},
                          {"validator", kIndexValidator},
                          {"reserved", kIndexReserved},
                          {"header", kIndexHeader}}));
  l.Set("resyncOut",
        obj({{"keep", kResyncKeep}, {"frames", kResyncFrames}, {"length", kResyncOut}}));
  l.Set("resyncStepOut", obj({{"keep", kStepKeep},
                              {"need", kStepNeed},
                              {"naturalPending", kStepNaturalPending},
                              {"checksummed", kStepChecksummed},
                              {"spent", kStepSpent},
                              {"dropped", kStepDropped},
                              {"length", kResyncStepOut}}));
  l.Set("staging", obj({{"slotRecordSize", sizeof(flatstream::SlotRecord)},
                        {"commitFieldOffset", offsetof(flatstream::SlotRecord, commit)},
                        {"headerSize", sizeof(flatstream::StagingHeader)},
                        {"slotFree", flatstream::kSlotFree},
                        {"slotFilling", flatstream::kSlotFilling},
                        {"slotSealed", flatstream::kSlotSealed},
                        {"maxSlabSize", flatstream::kMaxSlabSize},
                        {"maxScratchSize", flatstream::kMaxScratchSize},
                        {"maxSlots", flatstream::kMaxSlots}}));
  l.Set("acquire", obj({{"none", flatstream::Capture::kNone},
                        {"timeout", flatstream::Capture::kTimeout},
                        {"failed", flatstream::Capture::kFailed},
                        {"inUseUnit", kInUseUnit}}));
  l.Set("refusal", obj({{"none", flatstream::kNoRefusal},
                        {"noIntactFrame", flatstream::kNoIntactFrame},
                        {"tailTooLong", flatstream::kTailTooLong},
                        {"notRegular", flatstream::kNotRegular}}));
  l.Set("arenaSlot", obj({{"chunkId", kChunkId},
                          {"offset", kOffset},
                          {"capacity", kCapacity},
                          {"inUse", kInUse},
                          {"highWaterMark", kHighWaterMark},
                          {"chunks", kChunks},
                          {"chunksAllocated", kChunksAllocated},
                          {"length", kArenaSlots}}));
  l.Set("evidence", obj({{"unknown", double(flatstream::Evidence::kUnknown)},
                         {"bad", double(flatstream::Evidence::kBad)},
                         {"none", double(flatstream::Evidence::kNone)},
                         {"weak", double(flatstream::Evidence::kWeak)},
                         {"strong", double(flatstream::Evidence::kStrong)}}));
  l.Set("resyncBudget", obj({{"workPerByte", double(flatstream::kResyncWorkPerByte)},
                             {"workAllowance", double(flatstream::kResyncWorkAllowance)}}));
  l.Set("arena", obj({{"blockAlign", double(kBlockAlign)},
                      {"maxBlockSize", double(flatstream::Arena::kMaxBlockSize)}}));
  const flatstream::VerifierOptions verifier;
  l.Set("verifier", obj({{"maxDepthLimit", double(flatstream::VerifierOptions::kMaxDepthLimit)},
                         {"defaultMaxDepth", double(verifier.max_depth)},
                         {"defaultMaxTables", double(verifier.max_tables)}}));
  l.Freeze();
  return l;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("layout", Layout(env));
  exports.Set("checksum", Napi::Function::New(env, Checksum, "checksum"));
  exports.Set("checksumImpl", Napi::Function::New(env, ChecksumImpl, "checksumImpl"));
  exports.Set("sealFrames", Napi::Function::New(env, SealFrames, "sealFrames"));
  exports.Set("scanFrames", Napi::Function::New(env, ScanFrames, "scanFrames"));
  exports.Set("resyncFrames", Napi::Function::New(env, ResyncFrames, "resyncFrames"));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  InitArena(env, exports);
  InitValidator(env, exports);
  InitCapture(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(flatstream, Init)
