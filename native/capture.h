// Capture: crash-safe staging plus a dedicated writer thread (docs/design.md,
// "Capture staging format"; docs/capture.md). Pure C++ (no N-API); POSIX only.
//
// The writer stages frames into *slots* of a staging file mapped MAP_SHARED:
// memory the kernel keeps when the process dies. A slot is FREE, FILLING (the
// one slot the producer appends to; it stores how many bytes it committed
// after every frame) or SEALED (handed to the writer thread, which fills the
// built-in checksums, pwrite()s the slot at the stream offset it was given
// when it was acquired, and frees it). Offsets are assigned in order, so a
// slot's write is idempotent: reopening the staging file after a crash writes
// every FILLING/SEALED slot again at its offset, in sequence order, and
// truncates the stream after the last one (the torn tail of a partial write).
//
// Staging file layout (little-endian, version 2):
//   [0, header_bytes)   StagingHeader, then max_slots SlotRecords
//   then slot i at header_bytes + i * slot_bytes: slab_size bytes of frames,
//   then scratch_size bytes the producer may use as it likes (not persisted
//   meaningfully; the JS writer builds its next message there).
// The staging is claimed (flock on its descriptor, released explicitly at
// close) and records the identity of the stream file it stages for (device,
// inode, birth time): frames staged for another file are never written into
// this one (docs/design.md, "Capture staging: space, claims and identity").
// Every byte of it is reserved (posix_fallocate) before it is mapped. A clean
// close removes it; where the stream ended is kept in an extended attribute
// of the stream file instead, so a clean reopen skips the torn-tail walk.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "checksum.h"

namespace flatstream {

// A failed system call: errno value (0: none), its name, and context.
// Why recovery left a file untouched (docs/design.md, "Recovery").
enum Refusal : int32_t {
  kNoRefusal = 0,
  kNoIntactFrame = 1,  // no intact frame precedes the torn tail
  kTailTooLong = 2,    // the tail is longer than one slab
  kNotRegular = 3,     // a FIFO, a device, a socket
};

struct SysError {
  int code = 0;
  const char* syscall = "";
  std::string detail;  // e.g. the path
  // Recovery refused (code EINVAL): why, the bytes after the last intact
  // frame, and where the torn frame starts.
  Refusal refusal = kNoRefusal;
  uint64_t torn_bytes = 0, offset = 0, frame_index = 0;
  explicit operator bool() const noexcept { return code != 0; }
};

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

struct LatencySummary {
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  uint64_t samples = 0;
};

struct CaptureStats {
  uint64_t frames = 0, bytes = 0;                  // handed to the thread
  uint64_t frames_written = 0, bytes_written = 0;  // in the stream file
  uint64_t flushes = 0, writes = 0, fsyncs = 0, errors = 0;
  uint64_t queue_depth = 0, slots = 0;
  uint64_t grow_failures = 0;  // growth refused: the staging filesystem is full
  uint64_t grown_ahead = 0;    // slots the writer thread added before they were needed
  LatencySummary latency;
};

// Test hook: make the writer thread's writes slow or fail.
struct Fault {
  int code = 0;               // errno to fail with (0: none)
  uint64_t after_writes = 0;  // successful writes before the failures start
  uint32_t delay_ms = 0;      // sleep before every slot write
};

class Capture {
 public:
  enum Acquire : int32_t { kNone = -1, kTimeout = -2, kFailed = -3 };

  // Opens (creating) the stream file and the staging file, locks the stream
  // file (EBUSY when another open capture holds it), drains what a previous writer
  // left staged into the stream, and lays out fresh staging. No thread yet.
  static std::unique_ptr<Capture> open(const std::string& stream_path,
                                       const std::string& staging_path, const CaptureConfig& config,
                                       SysError& error);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // Declares the frame format (kind: a ChecksumKind or kCustomKind;
  // header_size must match it) and starts the writer thread. If the stream's
  // end is not known from the staging header, walks its frames first,
  // verifying built-in checksums, and truncates a torn tail. EINVAL: another
  // format than the staging recorded, or a frame that fails its checksum.
  SysError bind(int32_t kind, uint32_t header_size);

  // The next slot to fill, a slot index >= 0, or kNone (none free now and
  // wait_ms == 0 / no growth allowed), kTimeout, kFailed (the thread failed:
  // see error()). `grow`: add a slot if none is free and max_slots allows.
  // *grown is set when the slot is new (the caller maps it).
  // Growth that cannot be reserved (ENOSPC) is no failure: acquire then
  // behaves as if the staging could not grow (counted in grow_failures).
  int32_t acquire(bool grow, uint32_t wait_ms, bool* grown, SysError& error);
  // Slots not free (filling or queued), as of now.
  uint32_t in_use() const;
  // Hands slot (FILLING) to the thread with `len` bytes of `frames` frames.
  void submit(uint32_t slot, uint32_t len, uint32_t frames);
  // Queues an fdatasync after everything submitted so far.
  void request_sync();
  // Ticket of the last item queued; completed() reaches it when done.
  uint64_t last_ticket() const;
  uint64_t completed() const noexcept { return completed_.load(std::memory_order_acquire); }
  // Calls `notify` (from the writer thread) once completed() >= ticket, or on
  // failure. One pending request at a time; a later call replaces it.
  void notify_at(uint64_t ticket);
  // Calls `notify` once fewer than `slots` slots are in use (now, or when the
  // thread frees one). One pending request; a later call replaces it.
  void notify_below(uint32_t slots);
  void set_notify(std::function<void()> notify);

  // Synchronously: waits until the queue is written (bounded), then writes
  // the committed bytes of the FILLING slot too (it stays FILLING). For exit
  // paths while the producer is not running. ETIMEDOUT, or the thread's error.
  SysError flush_sync(uint32_t timeout_ms);
  // flush_sync, stop and join the thread, then (when nothing is pending)
  // record the stream's end on the stream file and remove the staging file.
  // The claims are released before this returns, whatever happened.
  // Idempotent.
  SysError close(uint32_t timeout_ms);
  bool closed() const noexcept { return closed_; }

  // A mapping of part of the staging file, unmapped when the last reference
  // goes: the binding keeps one per ArrayBuffer it hands to JS, so memory JS
  // can still touch is never unmapped under it.
  struct Region {
    uint8_t* data = nullptr;
    size_t size = 0;
    Region(uint8_t* d, size_t n) noexcept : data(d), size(n) {}
    ~Region();
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;
  };
  // The header page (slot records: JS stores commits there) and slot i
  // (slot_bytes() long: slab_size() bytes of frames, then the scratch).
  const std::shared_ptr<Region>& header_region() const noexcept { return header_; }
  std::shared_ptr<Region> slot_region(uint32_t slot) const;
  size_t slot_bytes() const noexcept { return slot_bytes_; }
  uint32_t slab_size() const noexcept { return slab_size_; }
  uint32_t slot_count() const;

  const RecoveryInfo& recovery() const noexcept { return recovery_; }
  CaptureStats stats() const;
  // The thread's sticky failure (code 0: none).
  SysError error() const;
  void inject(const Fault& fault);

 private:
  Capture() = default;
  SysError layout(const CaptureConfig& config);
  SysError claim_staging();
  SysError read_clean_mark();
  SysError recover_staging();
  SysError write_orphans(const uint8_t* data, size_t len, uint64_t frames, int32_t kind, bool last);
  SysError walk_tail(int32_t kind, uint32_t header_size);
  SysError map_slot(uint32_t slot);
  std::shared_ptr<Region> map_region(uint32_t slot, SysError& error) const;
  void publish_slot(uint32_t slot, std::shared_ptr<Region> region);
  void grow_on_thread(std::unique_lock<std::mutex>& lk);
  void run_grower();
  // Seals (built-in kinds) and writes slot's first `len` bytes at `offset`,
  // honouring `fault`; records the latency. Called with mu_ NOT held.
  SysError write_slot(uint32_t slot, uint32_t len, uint64_t offset, const Fault& fault);
  Fault take_fault();  // under mu_
  void fire();         // under mu_: calls notify_
  StagingHeader* header() const noexcept { return reinterpret_cast<StagingHeader*>(header_->data); }
  SlotRecord& record(uint32_t slot) const noexcept {
    return reinterpret_cast<SlotRecord*>(header_->data + sizeof(StagingHeader))[slot];
  }
  void run();
  void stop_thread();
  void finish_clean();
  void release();

  struct Item {
    int64_t slot;  // -1: an fdatasync marker
    uint32_t len, frames;
    uint64_t offset, ticket;
  };

  int stream_fd_ = -1;
  int staging_fd_ = -1;
  std::string stream_path_, staging_path_;
  std::shared_ptr<Region> header_;
  size_t header_bytes_ = 0;
  size_t slot_bytes_ = 0;
  uint32_t slab_size_ = 0;
  uint32_t config_slab_ = 0;  // this writer's slab size (before layout)
  uint32_t prev_slab_ = 0;    // the previous writer's (0: unknown)
  uint32_t mode_ = 0644;
  uint64_t stream_dev_ = 0, stream_ino_ = 0, stream_btime_ns_ = 0;
  int orphan_fd_ = -1;
  // max_slots_ entries, never reallocated (the thread reads them unlocked);
  // the first slot_count_ are mapped.
  std::unique_ptr<std::shared_ptr<Region>[]> slots_;
  std::atomic<uint32_t> slot_count_{0};
  uint32_t max_slots_ = 0;
  int32_t prev_kind_ = kUnboundKind;
  uint32_t prev_header_size_ = 0;
  uint32_t sync_interval_ms_ = 0;
  int32_t kind_ = kUnboundKind;
  bool end_known_ = false;  // the stream's end is known (no walk needed)
  bool clean_end_ = false;  // the stream's clean mark matches its size
  bool closed_ = false;
  RecoveryInfo recovery_;

  // Producer side (the JS thread).
  uint64_t next_seq_ = 1;
  uint64_t next_offset_ = 0;
  int32_t filling_ = -1;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the thread waits for items
  std::condition_variable done_cv_;  // producers wait for progress
  std::deque<Item> queue_;
  std::deque<uint32_t> free_;
  bool busy_ = false;
  bool stop_ = false;
  bool sleeping_ = false;    // the thread waits to be woken (else it polls)
  uint32_t idle_polls_ = 0;  // polls that found nothing since the last item
  bool abandon_ = false;     // stop without draining the queue (a drain timed out)
  bool failed_ = false;
  bool grow_refused_ = false;  // the last growth could not be reserved
  bool grow_ahead_ = false;    // the thread should add a slot (none is free)
  bool growing_ = false;       // the thread is adding one (mu_ released)
  SysError error_;
  uint64_t next_ticket_ = 1;
  std::atomic<uint64_t> completed_{0};
  uint64_t notify_at_ = UINT64_MAX;
  uint32_t notify_below_ = 0;  // 0: none
  std::function<void()> notify_;
  Fault fault_;
  bool dirty_ = false;  // written since the last fdatasync
  // What flush_sync wrote of the FILLING slot (counted in stats already).
  int64_t prefix_slot_ = -1;
  uint64_t prefix_frames_ = 0, prefix_bytes_ = 0;
  bool started_ = false;
  std::thread thread_;
  std::thread grower_;  // adds slots ahead of need (when the staging may grow)
  std::condition_variable grow_cv_;

  // Counters (under mu_).
  CaptureStats stats_;
  std::vector<uint64_t> latency_ns_;  // ring of the last kLatencyWindow writes
  size_t latency_next_ = 0;
  uint64_t latency_max_ns_ = 0;
};

}  // namespace flatstream
