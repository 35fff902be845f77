// Arena: bump allocation from large chunks, O(1) reset, a high-water mark and
// shrinking back to a baseline (memory policy). Pure C++ (no N-API).
//
// It implements flatbuffers::Allocator, so a C++ FlatBufferBuilder can build
// in arena memory, and its chunks are reference-counted so that the binding
// can expose each one to JS as a single external ArrayBuffer: the arena holds
// one reference, every ArrayBuffer over a chunk holds another, and the memory
// is freed when the last one goes. shrink_to() and ~Arena() therefore never
// free memory that JS can still see (docs/design.md, "Engine contract" and
// "Memory and zero allocation").
//
// Allocation failure: allocate(size, align) never throws and never aborts; it
// returns nullptr for a bad alignment, a size above kMaxBlockSize, a request
// that would take the capacity above max_capacity, or when the system is out
// of memory. The flatbuffers::Allocator entry points throw std::bad_alloc
// instead, exactly like flatbuffers' DefaultAllocator (new[]), because
// vector_downward uses the pointer it gets without checking it.
//
// Not thread-safe: one thread at a time uses an arena. Chunk references are
// atomic, so a chunk may be released from any thread.
#pragma once

#include <flatbuffers/allocator.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace flatstream {

// One chunk of arena memory, shared between the arena and whoever else took
// a reference (the binding, for each ArrayBuffer it creates over the chunk).
class Chunk {
 public:
  // Data alignment of every chunk: a cache line, and the largest alignment a
  // block gets without padding.
  static constexpr size_t kAlign = 64;

  // A zero-filled chunk of `size` bytes (like a new ArrayBuffer: JS never sees
  // stale process memory) with one reference, or nullptr when out of memory.
  static Chunk* create(size_t size, uint64_t id) noexcept;

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops one reference; the last one frees the chunk.
  void release() noexcept;

  uint8_t* data() noexcept { return reinterpret_cast<uint8_t*>(this) + kHeader; }
  const uint8_t* data() const noexcept { return reinterpret_cast<const uint8_t*>(this) + kHeader; }
  size_t size() const noexcept { return size_; }
  // Serial number within its arena (1, 2, ...), never reused by that arena.
  uint64_t id() const noexcept { return id_; }

  // Chunks alive in the process, in every arena (for leak tests).
  static size_t live() noexcept { return live_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kHeader = kAlign;  // the header, padded so the data is aligned
  Chunk(void* raw, size_t size, uint64_t id) noexcept : raw_(raw), size_(size), id_(id) {}
  ~Chunk() = default;

  std::atomic<uint32_t> refs_{1};
  void* raw_;  // what calloc returned
  size_t size_;
  uint64_t id_;
  static std::atomic<size_t> live_;
};

struct ArenaStats {
  size_t capacity = 0;            // bytes in the arena's chunks
  size_t in_use = 0;              // bytes handed out since the last reset, padding included
  size_t high_water_mark = 0;     // max in_use since construction or the last shrink_to
  size_t chunks = 0;              // chunks held
  uint64_t chunks_allocated = 0;  // chunks ever allocated (steady state: constant)
};

class Arena final : public flatbuffers::Allocator {
 public:
  static constexpr size_t kDefaultChunkSize = 64 * 1024;
  static constexpr size_t kMinChunkSize = 64;
  // The FlatBuffers maximum; also what one JS ArrayBuffer can safely hold.
  static constexpr size_t kMaxBlockSize = size_t{1} << 31;
  static constexpr size_t kMaxAlign = 4096;
  static constexpr size_t kUnlimited = ~size_t{0};
  // What the flatbuffers::Allocator entry points align to: operator new's.
  static constexpr size_t kBuilderAlign = alignof(std::max_align_t);

  // chunk_size is clamped to [kMinChunkSize, kMaxBlockSize]. A request larger
  // than a chunk gets a chunk of its own. max_capacity caps the bytes held.
  explicit Arena(size_t chunk_size = kDefaultChunkSize, size_t max_capacity = kUnlimited) noexcept;
  ~Arena() override;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A block of `size` bytes aligned to `align` (a power of two <= kMaxAlign),
  // valid until reset(); nullptr on failure (see the top of this file).
  // Takes the rest of the current chunk, else the first held free chunk that
  // fits, else a new chunk.
  uint8_t* allocate(size_t size, size_t align) noexcept;

  // For a caller that bump-allocates inside the current chunk itself (the JS
  // binding: one call into C++ per chunk instead of one per block): declares
  // the bytes of the current chunk up to `end` handed out, as allocate() would
  // have (padding included). `end` must lie in [offset(), current chunk size]
  // (0 when there is no current chunk); otherwise returns false, changing nothing.
  bool commit(size_t end) noexcept;
  // The bump offset in the current chunk.
  size_t offset() const noexcept { return offset_; }

  // Every block becomes free; chunks are kept, so a steady state allocates no
  // chunk. O(1). Blocks handed out before stay readable (their chunks live on)
  // but will be handed out again. A FlatBufferBuilder keeps its buffer across
  // Clear(): destroy it or call its Reset() before resetting its arena.
  void reset() noexcept;

  // Frees held chunks that no block uses (those after the current one) until
  // the capacity is at most `baseline` bytes, keeping the earliest that fit;
  // chunks in use are kept. Call it after reset() to return to the baseline.
  // Resets the high-water mark to the bytes in use. Returns the bytes freed.
  size_t shrink_to(size_t baseline) noexcept;

  ArenaStats stats() const noexcept;
  size_t capacity() const noexcept { return capacity_; }
  size_t high_water_mark() const noexcept { return high_water_mark_; }
  size_t chunk_size() const noexcept { return chunk_size_; }
  uint64_t chunks_allocated() const noexcept { return chunks_allocated_; }

  // The chunk the last block came from (nullptr before the first block).
  Chunk* current_chunk() noexcept { return active_ ? chunks_[active_ - 1] : nullptr; }
  // Held chunks, for the binding (in use first, then free ones).
  size_t chunk_count() const noexcept { return chunks_.size(); }
  const Chunk& chunk(size_t i) const noexcept { return *chunks_[i]; }

  // --- flatbuffers::Allocator (throw std::bad_alloc on failure) -----------
  uint8_t* allocate(size_t size) override;
  // Gives the block back when it is the last one handed out (a FlatBufferBuilder
  // destroyed before the next allocation returns its memory); otherwise the
  // memory comes back at reset(). Never call it for a block from before a reset.
  void deallocate(uint8_t* p, size_t size) override;
  // Grows in place when the block is the last one and its chunk has room;
  // otherwise allocates, copies like the default (the in-use back bytes go to
  // the end of the new block, the front bytes stay at its start) and
  // deallocates.
  uint8_t* reallocate_downward(uint8_t* old_p, size_t old_size, size_t new_size, size_t in_use_back,
                               size_t in_use_front) override;

 private:
  uint8_t* bump(size_t size, size_t align) noexcept;
  bool take_free_chunk(size_t size, size_t align) noexcept;
  bool add_chunk(size_t size, size_t align) noexcept;

  size_t chunk_size_;
  size_t max_capacity_;
  std::vector<Chunk*> chunks_;  // [0, active_) used since the last reset, then free ones
  size_t active_ = 0;           // chunks used since the last reset; the current is active_ - 1
  size_t offset_ = 0;           // bump offset in the current chunk
  size_t capacity_ = 0;
  size_t in_use_ = 0;
  size_t high_water_mark_ = 0;
  uint64_t chunks_allocated_ = 0;
  // The last block handed out and the offset before it, for deallocate() and
  // in-place growth.
  uint8_t* last_ = nullptr;
  size_t last_from_ = 0;
};

}  // namespace flatstream
