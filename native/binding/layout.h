// Layout constants that exist only at the binding boundary (how results are
// packed into the arrays and numbers JS reads), beside the core's enums and
// constexprs. addon.cc exports all of them, with the core's, as
// `binding.layout`; lib/engine/contract.ts names each once and
// test/engine-contract.test.ts checks the two agree (docs/design.md
// "The engine contract").
#pragma once

#include <cstddef>

#include "capture/capture.h"

namespace flatstream_binding {

// Slots of a scan index's header (scanFrames); (offset, length) pairs follow.
enum IndexSlot : size_t {
  kIndexStatus,     // ScanStatus
  kIndexFrames,     // frames indexed
  kIndexConsumed,   // offset of the first frame not indexed, relative to start
  kIndexLength,     // declared length of the frame the scan stopped at
  kIndexValidator,  // kValidationFailed: the failing validator's position
  kIndexReserved,   // 0
  kIndexHeader      // header slots
};

// resyncFrames' out array: the plain search, then one step of skip mode's search.
enum ResyncOut : size_t { kResyncKeep, kResyncFrames, kResyncOut };
enum ResyncStepOut : size_t {
  kStepKeep,
  kStepNeed,
  kStepNaturalPending,
  kStepChecksummed,
  kStepSpent,
  kStepDropped,
  kResyncStepOut
};

// Slots of an Arena's shared Float64Array `state`.
enum ArenaSlot : size_t {
  kChunkId,   // block(): the chunk the block is in
  kOffset,    // block(): the block's offset in that chunk
  kCapacity,  // stats(): the rest
  kInUse,
  kHighWaterMark,
  kChunks,
  kChunksAllocated,
  kArenaSlots
};

// Arena blocks are 8-byte aligned (the largest scalar FlatBuffers writes).
constexpr size_t kBlockAlign = 8;

// Capture's acquire() returns slot + kInUseUnit * (slots in use after it).
constexpr double kInUseUnit = 131072;
static_assert(kInUseUnit > flatstream::kMaxSlots, "the in-use count must not spill into the slot");

}  // namespace flatstream_binding
