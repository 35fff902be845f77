// The arena: the contracts of native/arena.h, and a FlatBufferBuilder that
// builds, grows and verifies in arena memory.
#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "arena.h"
#include "check.h"

using namespace flatstream;

namespace {

bool aligned(const void* p, size_t align) { return reinterpret_cast<uintptr_t>(p) % align == 0; }

// --- A tiny table built by hand with the builder API (no flatc needed) ------
//   table Event { id: ulong; name: string; values: [uint]; labels: [string]; value: double; }
enum : flatbuffers::voffset_t { kId = 4, kName = 6, kValues = 8, kLabels = 10, kValue = 12 };

struct Event {
  uint64_t id;
  std::string name;
  std::vector<uint32_t> values;
  std::vector<std::string> labels;
  double value;
};

Event make_event(size_t n) {
  Event e;
  e.id = 0x0123456789ABCDEFull;
  e.name = std::string(3000, 'n') + "end";
  for (size_t i = 0; i < n; ++i) e.values.push_back(uint32_t(i * 2654435761u));
  for (size_t i = 0; i < 200; ++i) e.labels.push_back("label-" + std::to_string(i));
  e.value = 3.25;
  return e;
}

void build(flatbuffers::FlatBufferBuilder& b, const Event& e) {
  // Many small strings first: the buffer grows step by step from 64 bytes.
  const auto labels = b.CreateVectorOfStrings(e.labels);
  const auto name = b.CreateString(e.name);
  const auto values = b.CreateVector(e.values);
  const auto start = b.StartTable();
  b.AddElement<uint64_t>(kId, e.id, 0);
  b.AddOffset(kName, name);
  b.AddOffset(kValues, values);
  b.AddOffset(kLabels, labels);
  b.AddElement<double>(kValue, e.value, 0.0);
  b.Finish(flatbuffers::Offset<flatbuffers::Table>(b.EndTable(start)));
}

// What flatc would generate for Event's verifier.
struct EventTable : flatbuffers::Table {
  bool Verify(flatbuffers::Verifier& v) const {
    using Strings = flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>;
    return VerifyTableStart(v) && VerifyField<uint64_t>(v, kId, 8) && VerifyOffset(v, kName) &&
           v.VerifyString(GetPointer<const flatbuffers::String*>(kName)) &&
           VerifyOffset(v, kValues) &&
           v.VerifyVector(GetPointer<const flatbuffers::Vector<uint32_t>*>(kValues)) &&
           VerifyOffset(v, kLabels) && v.VerifyVector(GetPointer<const Strings*>(kLabels)) &&
           v.VerifyVectorOfStrings(GetPointer<const Strings*>(kLabels)) &&
           VerifyField<double>(v, kValue, 8) && v.EndTable();
  }
};

bool verify(const uint8_t* buf, size_t len) {
  flatbuffers::Verifier v(buf, len);
  return v.VerifyBuffer<EventTable>(nullptr);
}

bool reads_back(const uint8_t* buf, const Event& e) {
  const auto* t = flatbuffers::GetRoot<flatbuffers::Table>(buf);
  const auto* name = t->GetPointer<const flatbuffers::String*>(kName);
  const auto* values = t->GetPointer<const flatbuffers::Vector<uint32_t>*>(kValues);
  const auto* labels =
      t->GetPointer<const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>*>(kLabels);
  if (t->GetField<uint64_t>(kId, 0) != e.id || t->GetField<double>(kValue, 0) != e.value)
    return false;
  if (name->str() != e.name || values->size() != e.values.size()) return false;
  for (size_t i = 0; i < e.values.size(); ++i)
    if (values->Get(flatbuffers::uoffset_t(i)) != e.values[i]) return false;
  if (labels->size() != e.labels.size()) return false;
  for (size_t i = 0; i < e.labels.size(); ++i)
    if (labels->Get(flatbuffers::uoffset_t(i))->str() != e.labels[i]) return false;
  return true;
}

// Forwards to an arena and counts the builder's growths.
struct Counting : flatbuffers::Allocator {
  explicit Counting(Arena& a) : arena(a) {}
  uint8_t* allocate(size_t size) override {
    reserved = size;
    return arena.allocate(size);
  }
  void deallocate(uint8_t* p, size_t size) override { arena.deallocate(p, size); }
  uint8_t* reallocate_downward(uint8_t* p, size_t old_size, size_t new_size, size_t back,
                               size_t front) override {
    ++growths;
    reserved = new_size;
    return arena.reallocate_downward(p, old_size, new_size, back, front);
  }
  Arena& arena;
  int growths = 0;
  size_t reserved = 0;  // the builder's current buffer size
};

std::vector<uint8_t> build_with_default_allocator(const Event& e) {
  flatbuffers::FlatBufferBuilder b(64);
  build(b, e);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

}  // namespace

TEST_CASE(blocks_do_not_overlap_and_honour_alignment) {
  Arena arena(4096);
  struct Block {
    uint8_t* p;
    size_t size;
  };
  std::vector<Block> blocks;
  const size_t aligns[] = {1, 2, 8, 16, 64, 256, 4096};
  uint32_t x = 1;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1103515245u + 12345u;
    const size_t size = (x >> 8) % 700;
    const size_t align = aligns[(x >> 20) % 7];
    uint8_t* p = arena.allocate(size, align);
    CHECK(p != nullptr);
    CHECK(aligned(p, align));
    std::memset(p, uint8_t(i), size);
    blocks.push_back({p, size});
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    for (size_t k = 0; k < blocks[i].size; ++k) {
      if (blocks[i].p[k] != uint8_t(i)) {
        CHECK(!"a block was overwritten by another");
        return;
      }
    }
  }
  const ArenaStats s = arena.stats();
  CHECK(s.chunks > 1);
  CHECK_EQ(s.chunks, s.chunks_allocated);
  CHECK(s.in_use <= s.capacity);
  CHECK_EQ(s.high_water_mark, s.in_use);
}

TEST_CASE(a_fresh_chunk_is_cache_line_aligned_and_large_alignments_fit) {
  Arena arena(Arena::kMinChunkSize);
  uint8_t* a = arena.allocate(Arena::kMinChunkSize, 1);
  CHECK(a == arena.current_chunk()->data() && aligned(a, Chunk::kAlign));
  uint8_t* p = arena.allocate(Arena::kMinChunkSize, Arena::kMaxAlign);  // needs padding room
  CHECK(p != nullptr && aligned(p, Arena::kMaxAlign));
  CHECK_EQ(arena.current_chunk()->size(), Arena::kMaxAlign);
  CHECK(p + Arena::kMinChunkSize <= arena.current_chunk()->data() + Arena::kMaxAlign);
}

TEST_CASE(reset_reuses_the_same_memory_and_allocates_no_chunk) {
  Arena arena(1024);
  const size_t sizes[] = {100, 900, 24, 5000, 1, 1000, 300};
  std::vector<uint8_t*> first;
  for (size_t s : sizes) first.push_back(arena.allocate(s, 8));
  const ArenaStats warm = arena.stats();
  CHECK_EQ(warm.in_use, warm.high_water_mark);
  for (int round = 0; round < 100; ++round) {
    arena.reset();
    CHECK_EQ(arena.stats().in_use, 0u);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i)
      CHECK(arena.allocate(sizes[i], 8) == first[i]);
  }
  const ArenaStats s = arena.stats();
  CHECK_EQ(s.chunks_allocated, warm.chunks_allocated);
  CHECK_EQ(s.capacity, warm.capacity);
  CHECK_EQ(s.in_use, warm.in_use);
}

TEST_CASE(a_request_larger_than_a_chunk_gets_its_own_chunk) {
  Arena arena(1024);
  uint8_t* small = arena.allocate(10, 8);
  uint8_t* big = arena.allocate(10000, 8);
  uint8_t* after = arena.allocate(10, 8);
  CHECK(small && big && after);
  CHECK_EQ(arena.stats().chunks, 3u);  // the small chunk, the big one, a new small one
  CHECK_EQ(arena.capacity(), 1024u + 10000u + 1024u);
  CHECK_EQ(arena.current_chunk()->size(), 1024u);
  std::memset(big, 0xAB, 10000);
  // After a reset the same sequence lands on the same chunks, big one included.
  arena.reset();
  CHECK(arena.allocate(10, 8) == small);
  CHECK(arena.allocate(10000, 8) == big);
  CHECK(arena.allocate(10, 8) == after);
  CHECK_EQ(arena.stats().chunks_allocated, 3u);
  // A big request first skips the small chunk and takes the big one.
  arena.reset();
  CHECK(arena.allocate(9000, 8) == big);
  CHECK_EQ(arena.stats().chunks_allocated, 3u);
}

TEST_CASE(shrink_to_frees_free_chunks_down_to_the_baseline) {
  Arena arena(1024);
  for (int i = 0; i < 10; ++i) CHECK(arena.allocate(1000, 8) != nullptr);
  CHECK(arena.allocate(50000, 8) != nullptr);
  CHECK_EQ(arena.stats().chunks, 11u);
  // Chunks in use are kept, whatever the baseline.
  CHECK_EQ(arena.shrink_to(0), 0u);
  CHECK_EQ(arena.stats().chunks, 11u);
  arena.reset();
  CHECK_EQ(arena.stats().high_water_mark, 10 * 1000u + 50000u);
  CHECK_EQ(arena.shrink_to(3 * 1024), 7 * 1024u + 50000u);
  ArenaStats s = arena.stats();
  CHECK_EQ(s.chunks, 3u);
  CHECK_EQ(s.capacity, 3 * 1024u);
  CHECK_EQ(s.high_water_mark, 0u);  // the mark restarts at the shrink
  CHECK_EQ(arena.shrink_to(0), 3 * 1024u);
  CHECK_EQ(arena.capacity(), 0u);
  CHECK(arena.allocate(1, 1) != nullptr);  // an empty arena grows again
  CHECK_EQ(arena.stats().chunks_allocated, 12u);
  CHECK_EQ(arena.stats().high_water_mark, 1u);
}

TEST_CASE(impossible_requests_fail_cleanly_with_nullptr) {
  Arena arena(4096);
  CHECK(arena.allocate(~size_t{0}, 8) == nullptr);
  CHECK(arena.allocate(Arena::kMaxBlockSize + 1, 8) == nullptr);
  CHECK(arena.allocate(8, 0) == nullptr);
  CHECK(arena.allocate(8, 3) == nullptr);
  CHECK(arena.allocate(8, Arena::kMaxAlign * 2) == nullptr);
  CHECK_EQ(arena.capacity(), 0u);
  // The flatbuffers::Allocator entry point throws, like flatbuffers' own.
  bool threw = false;
  try {
    static_cast<flatbuffers::Allocator&>(arena).allocate(~size_t{0});
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw);
  // Still usable.
  CHECK(arena.allocate(100, 8) != nullptr);
}

TEST_CASE(max_capacity_caps_the_memory_held) {
  Arena arena(1024, 4096);
  for (int i = 0; i < 4; ++i) CHECK(arena.allocate(1024, 8) != nullptr);
  CHECK(arena.allocate(1, 1) == nullptr);
  CHECK(arena.allocate(5000, 8) == nullptr);
  CHECK_EQ(arena.capacity(), 4096u);
  arena.reset();
  CHECK(arena.allocate(1024, 8) != nullptr);  // held chunks are still served
}

TEST_CASE(a_builder_over_the_arena_grows_verifies_and_reads_back) {
  const Event e = make_event(30000);  // 120 KB of values: several growths, past one chunk
  const std::vector<uint8_t> expected = build_with_default_allocator(e);
  Arena arena;  // 64 KiB chunks
  Counting counting(arena);
  {
    flatbuffers::FlatBufferBuilder b(64, &counting);
    build(b, e);
    CHECK(counting.growths >= 5);
    CHECK(aligned(b.GetBufferPointer(), 8));
    CHECK(verify(b.GetBufferPointer(), b.GetSize()));
    CHECK(reads_back(b.GetBufferPointer(), e));
    CHECK_EQ(b.GetSize(), expected.size());
    CHECK(std::memcmp(b.GetBufferPointer(), expected.data(), expected.size()) == 0);
  }
  const ArenaStats warm = arena.stats();
  CHECK(warm.chunks_allocated >= 2);
  // Reset and rebuild: the same chunks, no new one, and the same bytes.
  for (int round = 0; round < 5; ++round) {
    arena.reset();
    flatbuffers::FlatBufferBuilder b(64, &arena);
    build(b, e);
    CHECK(verify(b.GetBufferPointer(), b.GetSize()));
    CHECK(std::memcmp(b.GetBufferPointer(), expected.data(), expected.size()) == 0);
  }
  CHECK_EQ(arena.stats().chunks_allocated, warm.chunks_allocated);
  CHECK_EQ(arena.stats().high_water_mark, warm.high_water_mark);
}

TEST_CASE(a_small_builder_grows_in_place_and_gives_its_memory_back) {
  Arena arena(64 * 1024);
  const Event e = make_event(2000);  // fits one chunk
  Counting counting(arena);
  {
    flatbuffers::FlatBufferBuilder b(64, &counting);
    build(b, e);
    CHECK(verify(b.GetBufferPointer(), b.GetSize()));
    CHECK(reads_back(b.GetBufferPointer(), e));
    // Grown in place: the chunk holds the final block only, no stale copies.
    CHECK(counting.growths >= 5);
    CHECK_EQ(arena.stats().in_use, counting.reserved);
    CHECK_EQ(arena.stats().chunks_allocated, 1u);
  }
  CHECK_EQ(arena.stats().in_use, 0u);  // the builder's deallocate rolled the last block back
}

TEST_CASE(reallocate_downward_moves_back_and_front_like_the_default) {
  Arena arena(1024);
  flatbuffers::Allocator& a = arena;
  auto fill = [](uint8_t* p, size_t n, uint8_t v) { std::memset(p, v, n); };
  // In place: the block is the last one and the chunk has room.
  uint8_t* p = a.allocate(64);
  fill(p, 8, 0xF0);        // front (scratch) bytes
  fill(p + 48, 16, 0xB0);  // back (in use) bytes
  uint8_t* q = a.reallocate_downward(p, 64, 256, 16, 8);
  CHECK(q == p);
  for (size_t i = 0; i < 8; ++i) CHECK_EQ(q[i], 0xF0);
  for (size_t i = 240; i < 256; ++i) CHECK_EQ(q[i], 0xB0);
  // Not the last block: a new block, same layout.
  uint8_t* other = a.allocate(16);
  CHECK(other != nullptr);
  uint8_t* r = a.reallocate_downward(q, 256, 512, 16, 8);
  CHECK(r != q);
  for (size_t i = 0; i < 8; ++i) CHECK_EQ(r[i], 0xF0);
  for (size_t i = 496; i < 512; ++i) CHECK_EQ(r[i], 0xB0);
  // No room left in the chunk: a new chunk.
  uint8_t* s = a.reallocate_downward(r, 512, 4096, 16, 8);
  CHECK(s != r);
  for (size_t i = 0; i < 8; ++i) CHECK_EQ(s[i], 0xF0);
  for (size_t i = 4080; i < 4096; ++i) CHECK_EQ(s[i], 0xB0);
  CHECK_EQ(arena.stats().chunks_allocated, 2u);
}

TEST_CASE(a_chunk_outlives_the_arena_while_someone_holds_it) {
  const size_t before = Chunk::live();
  Chunk* held = nullptr;
  uint8_t* p = nullptr;
  {
    Arena arena(1024);
    p = arena.allocate(100, 8);
    held = arena.current_chunk();
    held->retain();  // what the binding does for each ArrayBuffer over a chunk
    std::memset(p, 7, 100);
    arena.reset();
    CHECK_EQ(arena.shrink_to(0), 1024u);
    CHECK_EQ(Chunk::live(), before + 1);
    std::memset(p, 9, 100);  // still ours (ASan would say otherwise)
    CHECK(arena.allocate(100, 8) != p);
  }
  CHECK_EQ(Chunk::live(), before + 1);
  CHECK_EQ(p[99], 9);
  held->release();
  CHECK_EQ(Chunk::live(), before);
}

TEST_CASE(commit_accounts_for_blocks_bumped_by_the_caller) {
  Arena arena(1024);
  CHECK(arena.commit(0));  // no current chunk: only 0
  CHECK(!arena.commit(8));
  uint8_t* p = arena.allocate(100, 8);
  CHECK_EQ(arena.offset(), 100u);
  // The caller hands out [104, 504) itself, then tells the arena.
  CHECK(arena.commit(504));
  CHECK_EQ(arena.stats().in_use, 504u);
  CHECK_EQ(arena.stats().high_water_mark, 504u);
  CHECK(!arena.commit(503));   // backwards
  CHECK(!arena.commit(1025));  // past the chunk
  CHECK_EQ(arena.offset(), 504u);
  CHECK(arena.allocate(8, 8) == p + 504);
  arena.deallocate(p + 504, 8);  // still the last block: given back
  CHECK(arena.commit(600));
  arena.deallocate(p + 504, 8);  // not the last block any more: no effect
  CHECK_EQ(arena.offset(), 600u);
  CHECK(arena.commit(1024));
  CHECK(arena.allocate(1, 1) != nullptr);
  CHECK_EQ(arena.stats().chunks, 2u);
  CHECK_EQ(arena.stats().in_use, 1025u);
}

TEST_CASE(new_chunks_are_zero_filled) {
  for (int round = 0; round < 3; ++round) {
    Arena arena(4096);
    uint8_t* p = arena.allocate(4096, 8);
    uint8_t* big = arena.allocate(1 << 20, 8);
    bool zero = true;
    for (size_t i = 0; i < 4096; ++i) zero = zero && p[i] == 0;
    for (size_t i = 0; i < (1 << 20); i += 4093) zero = zero && big[i] == 0;
    CHECK(zero);
    std::memset(p, 0xFF, 4096);  // dirty the heap for the next round
  }
}

TEST_CASE(chunk_ids_are_serial_and_never_reused) {
  Arena arena(64);
  arena.allocate(64, 8);
  CHECK_EQ(arena.current_chunk()->id(), 1u);
  arena.allocate(64, 8);
  CHECK_EQ(arena.current_chunk()->id(), 2u);
  arena.reset();
  arena.shrink_to(0);
  arena.allocate(64, 8);
  CHECK_EQ(arena.current_chunk()->id(), 3u);
}

CHECK_MAIN()
