// The JS class Arena over flatstream::Arena (native/arena.h). Argument checks
// and messages live in lib/write/arena.ts; this file converts and owns lifetimes.
//
// Each chunk reaches JS as ONE external ArrayBuffer, created when the chunk is
// (returned by the block() call that created it) and cached by lib/write/arena.ts.
// The ArrayBuffer holds a chunk reference that its finalizer drops, so
// shrinkTo() and garbage-collecting the Arena never free memory JS can see.
//
// JS bump-allocates inside the current chunk by itself and calls block() only
// when a block does not fit there: one crossing per chunk, not per block
// (measured: ~60 ns per crossing against ~20 ns for a whole JS block()). So
// every call takes `committed`, JS's bump offset in the current chunk, and
// commits it first; block() then writes (chunk id, offset) into a Float64Array
// shared with JS and creates no JS object except a new chunk's ArrayBuffer.
#include "arena.h"

#include <napi.h>

#include <cstdint>

#include "args.h"
#include "binding.h"
#include "layout.h"

namespace {

using flatstream::Arena;
using flatstream::Chunk;

// Slots of the shared Float64Array `state`: ArenaSlot in layout.h.
using namespace flatstream_binding;  // NOLINT: the ArenaSlot names
constexpr size_t kSlots = kArenaSlots;

// A byte count in [0, max] (native/binding/args.h).
size_t size_arg(const Napi::Value& v, uint64_t max, const char* what) {
  return size_t(flatstream_binding::integer_arg(v, what, 0, max));
}

void release_chunk(napi_env, void*, void* chunk) { static_cast<Chunk*>(chunk)->release(); }

class ArenaWrap : public Napi::ObjectWrap<ArenaWrap> {
 public:
  explicit ArenaWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<ArenaWrap>(info),
        arena_(size_arg(info[0], Arena::kMaxBlockSize, "chunkSize")) {
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(info.Env(), kSlots * sizeof(double));
    state_ = static_cast<double*>(buf.Data());
    state_ref_ = Napi::Persistent(buf);
    info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value(
        "state", Napi::Float64Array::New(info.Env(), kSlots, buf, 0), napi_enumerable));
  }

  // block(size, committed) -> undefined, the new chunk's ArrayBuffer, or null (out of memory)
  Napi::Value Block(const Napi::CallbackInfo& info) {
    const size_t size = size_arg(info[0], Arena::kMaxBlockSize, "size");
    commit(info[1]);
    const uint64_t chunks = arena_.chunks_allocated();
    uint8_t* p = arena_.allocate(size, kBlockAlign);
    if (p == nullptr) return info.Env().Null();
    Chunk* c = arena_.current_chunk();
    state_[kChunkId] = double(c->id());
    state_[kOffset] = double(p - c->data());
    if (arena_.chunks_allocated() == chunks) return info.Env().Undefined();
    return expose(info.Env(), c);
  }

  // reset(committed)
  void Reset(const Napi::CallbackInfo& info) {
    commit(info[0]);  // for the high-water mark
    arena_.reset();
  }

  // shrinkTo(bytes, committed) -> ids of the chunks still held (JS drops the others)
  Napi::Value ShrinkTo(const Napi::CallbackInfo& info) {
    const size_t bytes = size_arg(info[0], flatstream_binding::kMaxSafeInteger, "bytes");
    commit(info[1]);
    arena_.shrink_to(bytes);
    Napi::Array ids = Napi::Array::New(info.Env(), arena_.chunk_count());
    for (size_t i = 0; i < arena_.chunk_count(); ++i)
      ids.Set(uint32_t(i), double(arena_.chunk(i).id()));
    return ids;
  }

  // stats(committed)
  void Stats(const Napi::CallbackInfo& info) {
    commit(info[0]);
    const flatstream::ArenaStats s = arena_.stats();
    state_[kCapacity] = double(s.capacity);
    state_[kInUse] = double(s.in_use);
    state_[kHighWaterMark] = double(s.high_water_mark);
    state_[kChunks] = double(s.chunks);
    state_[kChunksAllocated] = double(s.chunks_allocated);
  }

 private:
  void commit(const Napi::Value& v) {
    if (!arena_.commit(size_arg(v, Arena::kMaxBlockSize, "committed")))
      throw flatstream_binding::arg_range_error(v.Env(), "committed",
                                                "It must be inside the current chunk");
  }

  static Napi::Value expose(Napi::Env env, Chunk* c) {
    c->retain();  // the ArrayBuffer's reference, dropped by its finalizer
    napi_value ab = nullptr;
    const napi_status status =
        napi_create_external_arraybuffer(env, c->data(), c->size(), release_chunk, c, &ab);
    if (status == napi_ok) return Napi::Value(env, ab);
    c->release();
    // lib/write/arena.ts checks Arena.externalBuffers first and uses JS chunks when
    // they are not allowed, so this is not expected to happen.
    Napi::Error e = Napi::Error::New(env, "external ArrayBuffers are not available");
    e.Set("code", status == napi_no_external_buffers_allowed ? "ERR_FLATSTREAM_NO_EXTERNAL_BUFFERS"
                                                             : "ERR_FLATSTREAM");
    throw e;
  }

  Arena arena_;
  Napi::Reference<Napi::ArrayBuffer> state_ref_;
  double* state_ = nullptr;
};

// Whether this host lets native memory back an ArrayBuffer (Electron's V8
// sandbox does not: napi_no_external_buffers_allowed).
bool external_buffers_allowed(napi_env env) {
  static uint8_t probe[8];
  napi_value ab = nullptr;
  return napi_create_external_arraybuffer(env, probe, sizeof probe, nullptr, nullptr, &ab) ==
         napi_ok;
}

// Arena.liveChunks() -> chunks alive in the process (tests prove they are freed)
Napi::Value LiveChunks(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(Chunk::live()));
}

}  // namespace

void flatstream_binding::InitArena(Napi::Env env, Napi::Object exports) {
  Napi::Function arena = ArenaWrap::DefineClass(
      env, "Arena",
      {
          ArenaWrap::InstanceMethod<&ArenaWrap::Block>("block"),
          ArenaWrap::InstanceMethod<&ArenaWrap::Reset>("reset"),
          ArenaWrap::InstanceMethod<&ArenaWrap::ShrinkTo>("shrinkTo"),
          ArenaWrap::InstanceMethod<&ArenaWrap::Stats>("stats"),
          ArenaWrap::StaticMethod<&LiveChunks>("liveChunks"),
          ArenaWrap::StaticValue("externalBuffers",
                                 Napi::Boolean::New(env, external_buffers_allowed(env))),
          ArenaWrap::StaticValue("blockAlign", Napi::Number::New(env, double(kBlockAlign))),
          ArenaWrap::StaticValue("maxBlockSize",
                                 Napi::Number::New(env, double(Arena::kMaxBlockSize))),
      });
  exports.Set("Arena", arena);
}
