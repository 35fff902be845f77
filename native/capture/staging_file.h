// StagingFile: the capture's crash-safe staging file and the stream file it
// stages for (docs/design.md, "Capture staging: space, claims and identity",
// "Recovery", and "The native core: capture and binding"; docs/capture.md).
// It owns the staging format and layout, both claims, the recovery of what a
// previous writer left (draining its slots, orphans, the torn-tail walk),
// the slot mappings, and the clean close. It has no thread: Capture
// (native/capture/capture.h) composes it with the writer thread and queue.
// Pure C++ (no N-API); every system call goes through the OS seam
// native/capture/file_io.h (docs/design.md, "Platforms").
//
// The writer stages frames into *slots* of the staging file mapped shared
// (MAP_SHARED, or a Windows file mapping): memory the kernel keeps when the
// process dies. A slot is FREE,
// FILLING (the one slot the producer appends to; it stores how many bytes it
// committed after every frame) or SEALED (handed to the writer thread, which
// fills the built-in checksums, pwrite()s the slot at the stream offset it
// was given when it was acquired, and frees it). Offsets are assigned in
// order, so a slot's write is idempotent: reopening the staging file after a
// crash writes every FILLING/SEALED slot again at its offset, in sequence
// order, and truncates the stream after the last one (the torn tail of a
// partial write).
//
// Staging file layout (little-endian, version 2):
//   [0, header_bytes)   StagingHeader, then max_slots SlotRecords
//   then slot i at header_bytes + i * slot_bytes: slab_size bytes of frames,
//   then scratch_size bytes the producer may use as it likes (not persisted
//   meaningfully; the JS writer builds its next message there).
// The staging is claimed (flock on its descriptor, released explicitly at
// close) and records the identity of the stream file it stages for (device,
// inode, birth time): frames staged for another file are never written into
// this one. Every byte of it is reserved (posix_fallocate) before it is
// mapped. A clean close removes it; where the stream ended is kept in an
// extended attribute of the stream file instead, so a clean reopen skips the
// torn-tail walk.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "capture/file_io.h"
#include "frame.h"
#include "sys_error.h"

namespace flatstream {

struct CaptureConfig {
  uint32_t slab_size = 256u << 10;
  uint32_t scratch_size = 1024;
  uint32_t initial_slots = 8;
  uint32_t max_slots = 8;         // > initial_slots: the staging may grow to this many
  uint32_t mode = 0644;           // permission bits of a new stream file
  uint32_t sync_interval_ms = 0;  // 0: fdatasync only when asked
};

// Kind of the frames in the staging: a ChecksumKind, or kCustomKind (headers
// written by the producer, nothing to seal), or kUnboundKind (no writer yet).
constexpr int32_t kCustomKind = 255;
constexpr int32_t kUnboundKind = -1;

enum SlotState : int32_t { kSlotFree = 0, kSlotFilling = 1, kSlotSealed = 2 };

struct SlotRecord {
  std::atomic<int32_t> state;
  int32_t commit;        // bytes of whole frames staged (the producer stores it)
  uint64_t seq;          // acquisition order
  uint64_t file_offset;  // where the slot's bytes go in the stream
  uint64_t reserved;
};
static_assert(sizeof(SlotRecord) == 32, "SlotRecord layout");

struct StagingHeader {
  char magic[8];  // "FSTSTAGE"
  uint32_t version;
  int32_t kind;
  uint32_t header_size;  // frame header bytes (4 + checksum width)
  uint32_t slab_size;
  uint32_t scratch_size;
  uint32_t slot_count;
  uint32_t max_slots;
  uint32_t header_bytes;
  uint64_t stream_end;  // the stream's logical end after the last slot written
  uint32_t clean;       // 1: closed cleanly (no slot pending)
  uint32_t pad;
  // Identity of the stream file the slots are staged for.
  uint64_t stream_dev;
  uint64_t stream_ino;
  uint64_t stream_btime_ns;  // birth time (0: the filesystem does not say)
  uint8_t reserved[48];
};
static_assert(sizeof(StagingHeader) == 128, "StagingHeader layout");

// Staging geometry bounds: a header outside them is not a staging file.
constexpr uint32_t kMaxSlabSize = 1u << 30;
constexpr uint32_t kMaxScratchSize = 1u << 20;
constexpr uint32_t kMaxSlots = 65536;

// Byte offset, in the header mapping, of slot i's commit field (what the JS
// producer stores after each frame).
constexpr size_t commit_offset(uint32_t slot) noexcept {
  return sizeof(StagingHeader) + size_t{slot} * sizeof(SlotRecord) + 4;
}

// The frame format of a staging kind and frame header size: a built-in
// checksum's, or (kCustomKind) a custom field of header_size - 4 bytes that
// nothing here fills or verifies.
FrameFormat staged_format(int32_t kind, uint32_t header_size) noexcept;

struct RecoveryInfo {
  uint64_t slots = 0;   // slots drained from a previous writer's staging
  uint64_t frames = 0;  // frames in them
  uint64_t bytes = 0;
  uint64_t torn_bytes = 0;  // cut from the stream's end (torn tail)
  bool walked = false;      // the stream's frames were walked to find its end
  // Frames staged for another file (the stream was rotated or replaced):
  // written to orphan_path, never into this stream.
  uint64_t orphaned_frames = 0, orphaned_bytes = 0;
  std::string orphan_path;
};

// A mapping of part of the staging file, unmapped when the last reference
// goes: the binding keeps one per ArrayBuffer it hands to JS, so memory JS
// can still touch is never unmapped under it.
struct StagingRegion {
  uint8_t* data = nullptr;
  size_t size = 0;
  StagingRegion(uint8_t* d, size_t n) noexcept : data(d), size(n) {}
  ~StagingRegion();
  StagingRegion(const StagingRegion&) = delete;
  StagingRegion& operator=(const StagingRegion&) = delete;
};

class StagingFile {
 public:
  using Region = StagingRegion;

  // Opens (creating) the stream file and the staging file, locks the stream
  // file (EBUSY when another open capture holds it), claims the staging,
  // drains what a previous writer left staged into the stream, and lays out
  // fresh staging with config.initial_slots slots mapped.
  static std::unique_ptr<StagingFile> open(const std::string& stream_path,
                                           const std::string& staging_path,
                                           const CaptureConfig& config, SysError& error);
  // Not released yet (a failed open): closes cleanly, then releases.
  ~StagingFile();
  StagingFile(const StagingFile&) = delete;
  StagingFile& operator=(const StagingFile&) = delete;

  // Declares the frame format (kind: a ChecksumKind or kCustomKind;
  // header_size must match it). If the stream's end is not known from the
  // staging or the clean mark, walks its frames first, verifying built-in
  // checksums, and truncates a torn tail. EINVAL: another format than the
  // stream was written with, or a frame that fails its checksum. `end`: the
  // stream's end, where the next slot goes.
  SysError bind(int32_t kind, uint32_t header_size, uint64_t& end);
  // The bound format (staged_format of bind's arguments).
  const FrameFormat& format() const noexcept { return format_; }

  // Slots mapped so far (slot i < slot_count() may be used), and the bound.
  uint32_t slot_count() const noexcept { return slot_count_.load(std::memory_order_acquire); }
  uint32_t max_slots() const noexcept { return max_slots_; }
  size_t slot_bytes() const noexcept { return slot_bytes_; }
  uint32_t slab_size() const noexcept { return slab_size_; }
  StagingHeader* header() const noexcept { return reinterpret_cast<StagingHeader*>(header_->data); }
  SlotRecord& record(uint32_t slot) const noexcept {
    return reinterpret_cast<SlotRecord*>(header_->data + sizeof(StagingHeader))[slot];
  }
  // The header page (slot records: JS stores commits there) and slot i
  // (slot_bytes() long: slab_size() bytes of frames, then the scratch).
  const std::shared_ptr<Region>& header_region() const noexcept { return header_; }
  std::shared_ptr<Region> slot_region(uint32_t slot) const {
    return slot < slot_count() ? slots_[slot] : nullptr;
  }
  // Slot i's bytes (i < slot_count()); read without a lock by the writer thread.
  uint8_t* slot_data(uint32_t slot) const noexcept { return slots_[slot]->data; }

  // Growth by one slot n == slot_count(), in three steps so the caller can
  // do the slow ones without its lock: reserve its bytes (false: no space;
  // the file is cut back), map them (touches no shared state), add it.
  bool reserve_slot(uint32_t n);
  std::shared_ptr<Region> map_slot(uint32_t n, SysError& error) const;
  void cut_slot(uint32_t n);  // gives back slot n's reserved bytes
  void add_slot(uint32_t n, std::shared_ptr<Region> region);

  // The stream file: a whole write at `offset`, and fdatasync.
  SysError write_stream(const uint8_t* data, size_t len, uint64_t offset) const;
  SysError sync_stream() const;
  const std::string& stream_path() const noexcept { return stream_path_; }
  const RecoveryInfo& recovery() const noexcept { return recovery_; }

  // After a full drain: records where the stream ended in its clean mark and
  // removes the staging file (or marks it clean where it cannot).
  void finish_clean();
  // Lets go of both claims and descriptors now. Idempotent.
  void release();

 private:
  StagingFile() = default;
  SysError claim_staging();
  SysError read_clean_mark();
  SysError recover_staging();
  SysError write_orphans(const uint8_t* data, size_t len, uint64_t frames,
                         const FrameFormat& format, bool last);
  SysError walk_tail(const FrameFormat& format);
  SysError layout(const CaptureConfig& config);
  void publish_slot(uint32_t slot, std::shared_ptr<Region> region);

  file_io::Handle stream_fd_ = file_io::kNoHandle;
  file_io::Handle staging_fd_ = file_io::kNoHandle;
  bool released_ = false;
  std::string stream_path_, staging_path_;
  std::shared_ptr<Region> header_;
  size_t header_bytes_ = 0;
  size_t slot_bytes_ = 0;
  uint32_t slab_size_ = 0;
  uint32_t config_slab_ = 0;  // this writer's slab size (before layout)
  uint32_t prev_slab_ = 0;    // the previous writer's (0: unknown)
  uint32_t mode_ = 0644;
  uint64_t stream_dev_ = 0, stream_ino_ = 0, stream_btime_ns_ = 0;
  file_io::Handle orphan_fd_ = file_io::kNoHandle;
  // max_slots_ entries, never reallocated (the writer thread reads them
  // unlocked); the first slot_count_ are mapped.
  std::unique_ptr<std::shared_ptr<Region>[]> slots_;
  std::atomic<uint32_t> slot_count_{0};
  uint32_t max_slots_ = 0;
  int32_t prev_kind_ = kUnboundKind;
  uint32_t prev_header_size_ = 0;
  FrameFormat format_;
  bool end_known_ = false;  // the stream's end is known (no walk needed)
  bool clean_end_ = false;  // the stream's clean mark matches its size
  RecoveryInfo recovery_;
};

}  // namespace flatstream
