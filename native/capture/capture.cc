// Capture (native/capture/capture.h): the writer thread, its queue and the
// grower thread over a StagingFile (docs/design.md, "The native core:
// capture and binding").
#include "capture/capture.h"

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "capture/file_io.h"
#include "frame.h"

namespace flatstream {

using file_io::sys;

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kLatencyWindow = 8192;
// The writer thread's polling while work flows (see run()).
constexpr auto kPoll = std::chrono::milliseconds(1);
constexpr uint32_t kIdlePolls = 200;

}  // namespace

std::unique_ptr<Capture> Capture::open(const std::string& stream_path,
                                       const std::string& staging_path, const CaptureConfig& config,
                                       SysError& error) {
  std::unique_ptr<StagingFile> staging =
      StagingFile::open(stream_path, staging_path, config, error);
  if (!staging) return nullptr;
  std::unique_ptr<Capture> c(new Capture());
  c->staging_ = std::move(staging);
  c->sync_interval_ms_ = config.sync_interval_ms;
  for (uint32_t i = 0; i < c->slot_count(); ++i) c->free_.push_back(i);
  return c;
}

Capture::~Capture() {
  if (!closed_) close(0);
}

SysError Capture::bind(int32_t kind, uint32_t header_size) {
  if (started_) return sys("bind", "already bound", EINVAL);
  uint64_t end = 0;
  if (SysError e = staging_->bind(kind, header_size, end)) return e;
  next_offset_ = end;
  started_ = true;
  thread_ = std::thread([this] { run(); });
  if (staging_->max_slots() > slot_count()) grower_ = std::thread([this] { run_grower(); });
  return {};
}

int32_t Capture::acquire(bool grow, uint32_t wait_ms, bool* grown, SysError& error) {
  *grown = false;
  std::unique_lock<std::mutex> lk(mu_);
  if (failed_ || !started_) return kFailed;
  // The thread is adding a slot: it is there in a moment (no frame dropped
  // for want of a growth already under way).
  if (free_.empty() && growing_) done_cv_.wait(lk, [this] { return !growing_ || failed_; });
  if (free_.empty() && grow && slot_count() < staging_->max_slots() && !grow_refused_) {
    const uint32_t n = slot_count();
    // Reserved before it is mapped; a full filesystem is no failure of the
    // capture: it stops growing (the policy decides) until a slot is free.
    if (!staging_->reserve_slot(n)) {
      grow_refused_ = true;
      stats_.grow_failures++;
    } else {
      std::shared_ptr<Region> region = staging_->map_slot(n, error);
      if (!region) return kFailed;
      staging_->add_slot(n, std::move(region));
      free_.push_back(n);
      *grown = true;
    }
  }
  if (free_.empty() && wait_ms > 0)
    done_cv_.wait_for(lk, std::chrono::milliseconds(wait_ms),
                      [this] { return !free_.empty() || failed_; });
  if (failed_) return kFailed;
  if (free_.empty()) return wait_ms > 0 ? kTimeout : kNone;
  const uint32_t slot = free_.front();
  free_.pop_front();
  SlotRecord& r = record(slot);
  r.commit = 0;
  r.seq = next_seq_++;
  r.file_offset = next_offset_;
  r.state.store(kSlotFilling, std::memory_order_release);
  filling_ = int32_t(slot);
  // The producer took the last free slot: the thread adds the next one
  // before it is needed, so growing costs the event loop nothing.
  if (grow && free_.empty() && slot_count() < staging_->max_slots() && !grow_refused_ &&
      !growing_ && grower_.joinable()) {
    grow_ahead_ = true;
    grow_cv_.notify_one();
  }
  return int32_t(slot);
}

uint32_t Capture::in_use() const {
  std::lock_guard<std::mutex> lk(mu_);
  return slot_count() - uint32_t(free_.size());
}

void Capture::notify_below(uint32_t slots) {
  std::lock_guard<std::mutex> lk(mu_);
  if (slot_count() - uint32_t(free_.size()) < slots || failed_) {
    notify_below_ = 0;
    fire();
  } else {
    notify_below_ = slots;
  }
}

void Capture::submit(uint32_t slot, uint32_t len, uint32_t frames) {
  std::lock_guard<std::mutex> lk(mu_);
  SlotRecord& r = record(slot);
  r.commit = int32_t(len);
  if (filling_ == int32_t(slot)) filling_ = -1;
  if (len == 0) {
    r.state.store(kSlotFree, std::memory_order_release);
    free_.push_front(slot);
    return;
  }
  r.state.store(kSlotSealed, std::memory_order_release);
  queue_.push_back({int64_t(slot), len, frames, r.file_offset, next_ticket_++});
  next_offset_ = r.file_offset + len;
  stats_.frames += frames;
  stats_.bytes += len;
  stats_.flushes++;
  if (sleeping_) work_cv_.notify_one();
}

void Capture::request_sync() {
  std::lock_guard<std::mutex> lk(mu_);
  queue_.push_back({-1, 0, 0, 0, next_ticket_++});
  if (sleeping_) work_cv_.notify_one();
}

uint64_t Capture::last_ticket() const {
  std::lock_guard<std::mutex> lk(mu_);
  return next_ticket_ - 1;
}

void Capture::notify_at(uint64_t ticket) {
  std::lock_guard<std::mutex> lk(mu_);
  if (completed() >= ticket || failed_) {
    notify_at_ = UINT64_MAX;
    fire();
  } else {
    notify_at_ = ticket;
  }
}

void Capture::set_notify(std::function<void()> notify) {
  std::lock_guard<std::mutex> lk(mu_);
  notify_ = std::move(notify);
}

void Capture::fire() {
  if (notify_) notify_();
}

Fault Capture::take_fault() {
  Fault f = fault_;
  if (f.code != 0 && fault_.after_writes > 0) {
    fault_.after_writes--;
    f.code = 0;  // this write still succeeds
  }
  return f;
}

void Capture::inject(const Fault& fault) {
  std::lock_guard<std::mutex> lk(mu_);
  fault_ = fault;
}

SysError Capture::write_slot(uint32_t slot, uint32_t len, uint64_t offset, const Fault& fault) {
  uint8_t* data = staging_->slot_data(slot);
  // The producer commits whole frames only; bytes that are not (a bug, or
  // a hostile write into the shared slot) would be a wrong stream: refused.
  const SealResult sealed = seal_frames(data, len, staging_->format());
  if (!sealed.ok)
    return sys("write",
               staging_->stream_path() + ": staged bytes are not whole frames at offset " +
                   std::to_string(sealed.bad_offset) + " of slot " + std::to_string(slot),
               EINVAL);
  if (fault.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(fault.delay_ms));
  if (fault.code != 0) return sys("write", staging_->stream_path(), fault.code);
  const auto t0 = Clock::now();
  SysError e = staging_->write_stream(data, len, offset);
  const uint64_t ns =
      uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  std::lock_guard<std::mutex> lk(mu_);
  stats_.writes++;
  if (latency_ns_.size() < kLatencyWindow)
    latency_ns_.push_back(ns);
  else
    latency_ns_[latency_next_] = ns;
  latency_next_ = (latency_next_ + 1) % kLatencyWindow;
  latency_max_ns_ = std::max(latency_max_ns_, ns);
  return e;
}

void Capture::run() {
  // The thread must not preempt the producer it serves (SCHED_BATCH on
  // Linux, below-normal priority on Windows).
  file_io::lower_thread_priority();
  std::unique_lock<std::mutex> lk(mu_);
  auto last_sync = Clock::now();
  const auto interval = std::chrono::milliseconds(sync_interval_ms_);
  auto sync_now = [&]() -> bool {
    lk.unlock();
    SysError e = staging_->sync_stream();
    lk.lock();
    if (e) {
      failed_ = true;
      error_ = std::move(e);
      stats_.errors++;
      fire();
      done_cv_.notify_all();
      return false;
    }
    stats_.fsyncs++;
    dirty_ = false;
    last_sync = Clock::now();
    return true;
  };
  for (;;) {
    if (stop_ && (queue_.empty() || failed_ || abandon_)) break;

    if (queue_.empty() || failed_) {
      const bool sync_due = sync_interval_ms_ > 0 && dirty_ && !failed_;
      if (sync_due && Clock::now() >= last_sync + interval) {
        sync_now();
        continue;
      }
      // While slabs keep coming the thread looks for work every kPoll, and
      // producers do not wake it: a wake-up costs the producer ~20 µs (a
      // futex wake and an inter-processor interrupt on a VM) in the call
      // that hands a slab over. Idle for longer, it sleeps until woken.
      if (idle_polls_ < kIdlePolls && !failed_) {
        ++idle_polls_;
        const auto until = Clock::now() + kPoll;
        work_cv_.wait_until(lk, sync_due ? std::min(until, last_sync + interval) : until);
      } else {
        sleeping_ = true;
        if (sync_due)
          work_cv_.wait_until(lk, last_sync + interval);
        else
          work_cv_.wait(lk);
        sleeping_ = false;
      }
      continue;
    }
    idle_polls_ = 0;
    const Item it = queue_.front();
    busy_ = true;
    SysError e;
    if (it.slot >= 0) {
      const Fault fault = take_fault();
      lk.unlock();
      e = write_slot(uint32_t(it.slot), it.len, it.offset, fault);
      lk.lock();
    } else if (!sync_now()) {
      busy_ = false;
      continue;
    }
    busy_ = false;
    if (e) {
      failed_ = true;
      error_ = e;
      stats_.errors++;
      fire();
      done_cv_.notify_all();
      continue;
    }
    queue_.pop_front();
    if (it.slot >= 0) {
      const uint32_t slot = uint32_t(it.slot);
      header()->stream_end = it.offset + it.len;
      record(slot).state.store(kSlotFree, std::memory_order_release);
      free_.push_back(slot);
      grow_refused_ = false;  // space may have come back: growth may try again
      stats_.frames_written += it.frames;
      stats_.bytes_written += it.len;
      if (prefix_slot_ == int64_t(slot)) {  // flush_sync wrote (and counted) a prefix
        stats_.frames_written -= prefix_frames_;
        stats_.bytes_written -= prefix_bytes_;
        prefix_slot_ = -1;
        prefix_frames_ = prefix_bytes_ = 0;
      }
      dirty_ = true;
    }
    completed_.store(it.ticket, std::memory_order_release);
    const bool below = notify_below_ > 0 && slot_count() - uint32_t(free_.size()) < notify_below_;
    if (it.ticket >= notify_at_ || below) {
      if (it.ticket >= notify_at_) notify_at_ = UINT64_MAX;
      if (below) notify_below_ = 0;
      fire();
    }
    done_cv_.notify_all();
    if (sync_interval_ms_ > 0 && dirty_ && Clock::now() >= last_sync + interval) sync_now();
  }
}

SysError Capture::flush_sync(uint32_t timeout_ms) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!started_) return {};
  const bool idle = done_cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                                      [this] { return (queue_.empty() && !busy_) || failed_; });
  if (failed_) return error_;
  if (!idle) {
    abandon_ = true;  // a close after this stops after the current write
    return sys("flush", staging_->stream_path() + ": the writer thread did not finish in time",
               ETIMEDOUT);
  }
  if (filling_ < 0) return {};
  SlotRecord& r = record(uint32_t(filling_));
  const uint32_t len = uint32_t(std::clamp<int32_t>(r.commit, 0, int32_t(slab_size())));
  if (len == 0) return {};
  const Fault fault = take_fault();
  busy_ = true;  // the thread is idle; keep it so while this thread writes
  lk.unlock();
  SysError e = write_slot(uint32_t(filling_), len, r.file_offset, fault);
  lk.lock();
  busy_ = false;
  if (e) {
    failed_ = true;
    error_ = e;
    stats_.errors++;
    return e;
  }
  header()->stream_end = r.file_offset + len;
  // Counted now; the slot's own write later counts only what follows.
  // write_slot sealed exactly these bytes: all whole frames.
  const size_t frames =
      walk_frames(staging_->slot_data(uint32_t(filling_)), len, staging_->format()).frames;
  if (prefix_slot_ != filling_) prefix_frames_ = prefix_bytes_ = 0;
  stats_.frames_written += frames - prefix_frames_;
  stats_.bytes_written += len - prefix_bytes_;
  prefix_slot_ = filling_;
  prefix_frames_ = frames;
  prefix_bytes_ = len;
  return {};
}

void Capture::stop_thread() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    work_cv_.notify_all();
    grow_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (grower_.joinable()) grower_.join();
}

// Waits for the producer to take the last free slot, then adds one.
// Normal scheduling, unlike the writer thread: the producer may wait for a
// growth under way (a burst), and must not wait behind a batch thread.
void Capture::run_grower() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    grow_cv_.wait(lk, [this] { return grow_ahead_ || stop_; });
    if (stop_) break;
    grow_on_thread(lk);
  }
}

// Adds the next slot on the grower thread, called with mu_ held and released
// while the kernel reserves and maps (docs/design.md, "Capture staging:
// space, claims and identity": growth off the event loop, and off the
// writer thread, which may be stuck in a slow write just when growth is
// needed).
void Capture::grow_on_thread(std::unique_lock<std::mutex>& lk) {
  grow_ahead_ = false;
  if (!free_.empty() || slot_count() >= staging_->max_slots() || grow_refused_ || failed_) return;
  growing_ = true;
  const uint32_t n = slot_count();
  lk.unlock();
  std::shared_ptr<Region> region;
  if (staging_->reserve_slot(n)) {
    SysError e;
    region = staging_->map_slot(n, e);
    if (!region) staging_->cut_slot(n);
  }
  lk.lock();
  growing_ = false;
  if (region) {
    staging_->add_slot(n, std::move(region));
    free_.push_back(n);
    stats_.grown_ahead++;
  } else {
    grow_refused_ = true;
    stats_.grow_failures++;
  }
  done_cv_.notify_all();
}

SysError Capture::close(uint32_t timeout_ms) {
  if (closed_) return {};
  closed_ = true;
  SysError e = flush_sync(timeout_ms);
  stop_thread();
  {
    std::lock_guard<std::mutex> lk(mu_);
    notify_ = nullptr;
    if (!e && failed_) e = error_;
  }
  if (!e) staging_->finish_clean();
  staging_->release();
  return e;
}

CaptureStats Capture::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  CaptureStats s = stats_;
  s.slots = slot_count();
  for (const Item& it : queue_) s.queue_depth += it.slot >= 0 ? 1 : 0;
  std::vector<uint64_t> v(latency_ns_);
  s.latency.samples = v.size();
  if (!v.empty()) {
    auto pct = [&v](double q) {
      const size_t k = std::min(v.size() - 1, size_t(q * double(v.size())));
      std::nth_element(v.begin(), v.begin() + ptrdiff_t(k), v.end());
      return double(v[k]) / 1000.0;
    };
    s.latency.p50_us = pct(0.50);
    s.latency.p99_us = pct(0.99);
    s.latency.p999_us = pct(0.999);
    s.latency.max_us = double(latency_max_ns_) / 1000.0;
  }
  return s;
}

SysError Capture::error() const {
  std::lock_guard<std::mutex> lk(mu_);
  return failed_ ? error_ : SysError{};
}

}  // namespace flatstream
