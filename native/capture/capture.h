// Capture: the writer thread and its queue over a StagingFile
// (native/capture/staging_file.h: the staging format, claims, recovery and
// slot mappings), plus the grower thread that adds slots ahead of need
// (docs/design.md, "Capture staging: space, claims and identity",
// "Backpressure", "The native core: capture and binding"; docs/capture.md).
// The producer (the JS thread) acquires a slot, stages frames into it and
// submits it; the writer thread seals the built-in checksums, writes the
// slot at its stream offset and frees it. Pure C++ (no N-API); POSIX only.
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

#include "capture/staging_file.h"
#include "sys_error.h"

namespace flatstream {

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

  // Declares the frame format (StagingFile::bind: kind a ChecksumKind or
  // kCustomKind, header_size matching it; the torn-tail walk if the stream's
  // end is not known) and starts the writer thread. EINVAL: bound already,
  // another format than the stream was written with, or a frame that fails
  // its checksum.
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

  // A mapping of part of the staging file (native/capture/staging_file.h).
  using Region = StagingRegion;
  // The header page (slot records: JS stores commits there) and slot i
  // (slot_bytes() long: slab_size() bytes of frames, then the scratch).
  const std::shared_ptr<Region>& header_region() const noexcept {
    return staging_->header_region();
  }
  std::shared_ptr<Region> slot_region(uint32_t slot) const { return staging_->slot_region(slot); }
  size_t slot_bytes() const noexcept { return staging_->slot_bytes(); }
  uint32_t slab_size() const noexcept { return staging_->slab_size(); }
  uint32_t slot_count() const noexcept { return staging_->slot_count(); }

  const RecoveryInfo& recovery() const noexcept { return staging_->recovery(); }
  CaptureStats stats() const;
  // The thread's sticky failure (code 0: none).
  SysError error() const;
  void inject(const Fault& fault);

 private:
  Capture() = default;
  void grow_on_thread(std::unique_lock<std::mutex>& lk);
  void run_grower();
  // Seals (built-in kinds) and writes slot's first `len` bytes at `offset`,
  // honouring `fault`; records the latency. EINVAL when the bytes are not
  // whole frames: nothing is written. Called with mu_ NOT held.
  SysError write_slot(uint32_t slot, uint32_t len, uint64_t offset, const Fault& fault);
  Fault take_fault();  // under mu_
  void fire();         // under mu_: calls notify_
  StagingHeader* header() const noexcept { return staging_->header(); }
  SlotRecord& record(uint32_t slot) const noexcept { return staging_->record(slot); }
  void run();
  void stop_thread();

  struct Item {
    int64_t slot;  // -1: an fdatasync marker
    uint32_t len, frames;
    uint64_t offset, ticket;
  };

  std::unique_ptr<StagingFile> staging_;
  uint32_t sync_interval_ms_ = 0;
  bool closed_ = false;

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
