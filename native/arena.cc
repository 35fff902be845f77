#include "arena.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace flatstream {

std::atomic<size_t> Chunk::live_{0};

Chunk* Chunk::create(size_t size, uint64_t id) noexcept {
  // One calloc per chunk (the header, then the data at the next kAlign
  // boundary): large chunks come zeroed from the OS without a memset.
  static_assert(sizeof(Chunk) <= kHeader, "the header must fit its padding");
  void* raw = std::calloc(1, kHeader + size + kAlign - 1);
  if (!raw) return nullptr;
  const uintptr_t at = (reinterpret_cast<uintptr_t>(raw) + kAlign - 1) & ~uintptr_t(kAlign - 1);
  live_.fetch_add(1, std::memory_order_relaxed);
  return new (reinterpret_cast<void*>(at)) Chunk(raw, size, id);
}

void Chunk::release() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  void* raw = raw_;
  this->~Chunk();
  std::free(raw);
  live_.fetch_sub(1, std::memory_order_relaxed);
}

namespace {

bool valid_align(size_t align) noexcept {
  return align != 0 && (align & (align - 1)) == 0 && align <= Arena::kMaxAlign;
}

// Offset of the first `align`-aligned address at or after data + from.
size_t aligned_offset(const uint8_t* data, size_t from, size_t align) noexcept {
  const uintptr_t at = reinterpret_cast<uintptr_t>(data) + from;
  return from + (((at + align - 1) & ~uintptr_t(align - 1)) - at);
}

bool fits(Chunk& c, size_t from, size_t size, size_t align) noexcept {
  const size_t start = aligned_offset(c.data(), from, align);
  return start <= c.size() && c.size() - start >= size;
}

}  // namespace

Arena::Arena(size_t chunk_size, size_t max_capacity) noexcept
    : chunk_size_(std::clamp(chunk_size, kMinChunkSize, kMaxBlockSize)),
      max_capacity_(max_capacity) {}

Arena::~Arena() {
  for (Chunk* c : chunks_) c->release();
}

uint8_t* Arena::allocate(size_t size, size_t align) noexcept {
  if (!valid_align(align) || size > kMaxBlockSize) return nullptr;
  if (active_ > 0 && fits(*chunks_[active_ - 1], offset_, size, align)) return bump(size, align);
  if (take_free_chunk(size, align) || add_chunk(size, align)) return bump(size, align);
  return nullptr;
}

// Hands out [aligned offset_, + size) of the current chunk; the caller checked it fits.
uint8_t* Arena::bump(size_t size, size_t align) noexcept {
  Chunk& c = *chunks_[active_ - 1];
  const size_t start = aligned_offset(c.data(), offset_, align);
  last_from_ = offset_;
  offset_ = start + size;
  in_use_ += offset_ - last_from_;
  high_water_mark_ = std::max(high_water_mark_, in_use_);
  last_ = c.data() + start;
  return last_;
}

// Makes the first free chunk that fits the current one (moving it to just
// after the chunks in use, so that [0, active_) stays the used prefix).
bool Arena::take_free_chunk(size_t size, size_t align) noexcept {
  for (size_t j = active_; j < chunks_.size(); ++j) {
    if (!fits(*chunks_[j], 0, size, align)) continue;
    std::rotate(chunks_.begin() + active_, chunks_.begin() + j, chunks_.begin() + j + 1);
    ++active_;
    offset_ = 0;
    return true;
  }
  return false;
}

bool Arena::add_chunk(size_t size, size_t align) noexcept {
  // Chunk data is kAlign-aligned: larger alignments may need padding.
  const size_t need = size + (align > Chunk::kAlign ? align - Chunk::kAlign : 0);
  const size_t bytes = std::max(chunk_size_, need);
  if (max_capacity_ < capacity_ || bytes > max_capacity_ - capacity_) return false;
  Chunk* c = Chunk::create(bytes, chunks_allocated_ + 1);
  if (!c) return false;
  try {
    chunks_.insert(chunks_.begin() + active_, c);
  } catch (...) {  // std::bad_alloc from the vector
    c->release();
    return false;
  }
  ++chunks_allocated_;
  ++active_;
  offset_ = 0;
  capacity_ += bytes;
  return true;
}

bool Arena::commit(size_t end) noexcept {
  if (active_ == 0) return end == 0;
  if (end < offset_ || end > chunks_[active_ - 1]->size()) return false;
  in_use_ += end - offset_;
  high_water_mark_ = std::max(high_water_mark_, in_use_);
  offset_ = end;
  last_ = nullptr;  // the caller's blocks are unknown here: none can be given back
  return true;
}

void Arena::reset() noexcept {
  active_ = 0;
  offset_ = 0;
  in_use_ = 0;
  last_ = nullptr;
}

size_t Arena::shrink_to(size_t baseline) noexcept {
  size_t kept = 0;
  for (size_t i = 0; i < active_; ++i) kept += chunks_[i]->size();
  size_t freed = 0;
  size_t out = active_;
  for (size_t i = active_; i < chunks_.size(); ++i) {
    Chunk* c = chunks_[i];
    if (kept <= baseline && c->size() <= baseline - kept) {
      kept += c->size();
      chunks_[out++] = c;
    } else {
      freed += c->size();
      c->release();  // memory that JS still sees lives on until its ArrayBuffer goes
    }
  }
  chunks_.resize(out);
  capacity_ = kept;
  high_water_mark_ = in_use_;
  return freed;
}

ArenaStats Arena::stats() const noexcept {
  ArenaStats s;
  s.capacity = capacity_;
  s.in_use = in_use_;
  s.high_water_mark = high_water_mark_;
  s.chunks = chunks_.size();
  s.chunks_allocated = chunks_allocated_;
  return s;
}

// --- flatbuffers::Allocator ------------------------------------------------

uint8_t* Arena::allocate(size_t size) {
  uint8_t* p = allocate(size, kBuilderAlign);
  if (!p) throw std::bad_alloc();
  return p;
}

void Arena::deallocate(uint8_t* p, size_t size) {
  if (p == nullptr || p != last_) return;
  const Chunk& c = *chunks_[active_ - 1];
  if (size_t(p - c.data()) + size != offset_) return;
  in_use_ -= offset_ - last_from_;
  offset_ = last_from_;
  last_ = nullptr;
}

uint8_t* Arena::reallocate_downward(uint8_t* old_p, size_t old_size, size_t new_size,
                                    size_t in_use_back, size_t in_use_front) {
  if (old_p != nullptr && old_p == last_) {
    Chunk& c = *chunks_[active_ - 1];
    const size_t start = size_t(old_p - c.data());
    if (start + old_size == offset_ && new_size >= old_size && new_size <= c.size() - start) {
      // Grow in place: the front bytes stay, the back bytes move to the new end.
      offset_ = start + new_size;
      in_use_ += new_size - old_size;
      high_water_mark_ = std::max(high_water_mark_, in_use_);
      std::memmove(old_p + new_size - in_use_back, old_p + old_size - in_use_back, in_use_back);
      return old_p;
    }
  }
  uint8_t* p = allocate(new_size);
  memcpy_downward(old_p, old_size, p, new_size, in_use_back, in_use_front);
  deallocate(old_p, old_size);
  return p;
}

}  // namespace flatstream
