#include "capture.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "frame.h"

namespace flatstream {

namespace {

using Clock = std::chrono::steady_clock;

constexpr char kMagic[8] = {'F', 'S', 'T', 'S', 'T', 'A', 'G', 'E'};
constexpr uint32_t kVersion = 2;
// The stream file's clean mark (docs/design.md, "Capture staging: space,
// claims and identity"): where it ended after a clean close, and its format.
constexpr char kCleanAttr[] = "user.flatstream.clean";
struct CleanMark {
  uint64_t end;
  int32_t kind;
  uint32_t header_size;
  uint32_t slab_size;
  uint32_t pad;
};
static_assert(sizeof(CleanMark) == 24, "CleanMark layout");
constexpr size_t kLatencyWindow = 8192;
constexpr size_t kWalkWindow = size_t{1} << 20;
// The writer thread's polling while work flows (see run()).
constexpr auto kPoll = std::chrono::milliseconds(1);
constexpr uint32_t kIdlePolls = 200;

size_t page_size() {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return page;
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

bool builtin(int32_t kind) { return kind >= 0 && is_checksum_kind(unsigned(kind)); }

SysError sys(const char* call, const std::string& detail, int code = errno) {
  SysError e;
  e.code = code;
  e.syscall = call;
  e.detail = detail;
  return e;
}

SysError pwrite_all(int fd, const uint8_t* data, size_t len, uint64_t offset,
                    const std::string& path) {
  while (len > 0) {
    const ssize_t n = ::pwrite(fd, data, len, off_t(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys("write", path);
    }
    if (n == 0) return sys("write", path, EIO);
    data += n;
    len -= size_t(n);
    offset += uint64_t(n);
  }
  return {};
}

SysError pread_all(int fd, uint8_t* data, size_t len, uint64_t offset, const std::string& path) {
  while (len > 0) {
    const ssize_t n = ::pread(fd, data, len, off_t(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys("read", path);
    }
    if (n == 0) return sys("read", path, EIO);  // the file shrank under us
    data += n;
    len -= size_t(n);
    offset += uint64_t(n);
  }
  return {};
}

SysError refuse(const std::string& path, Refusal why, uint64_t torn, uint64_t offset,
                uint64_t frame_index) {
  std::string what;
  if (why == kNoIntactFrame)
    what = ": " + std::to_string(torn) +
           " bytes that do not start with an intact frame (not a stream?); left untouched";
  else if (why == kTailTooLong)
    what = ": a torn tail of " + std::to_string(torn) + " bytes after frame " +
           std::to_string(frame_index) + " at offset " + std::to_string(offset) +
           " is longer than one slab; left untouched";
  else
    what = ": not a regular file";
  SysError e = sys("open", path + what, EINVAL);
  e.refusal = why;
  e.torn_bytes = torn;
  e.offset = offset;
  e.frame_index = frame_index;
  return e;
}

// Makes [offset, offset + len) of fd real memory or disk blocks, so that a
// mapping of it can never fault for want of space (docs/design.md, "Capture
// staging: space, claims and identity").
SysError reserve(int fd, uint64_t offset, uint64_t len, const std::string& path) {
  int r;
  do r = posix_fallocate(fd, off_t(offset), off_t(len));
  while (r == EINTR);
  if (r == 0) return {};
  return sys("fallocate",
             path + ": cannot reserve " + std::to_string(len) +
                 " bytes of staging (its filesystem is full or too small; see stagingPath)",
             r);
}

struct Identity {
  uint64_t dev = 0, ino = 0, btime_ns = 0;
};

Identity identity_of(int fd, const struct stat& st) {
  Identity id{uint64_t(st.st_dev), uint64_t(st.st_ino), 0};
#ifdef STATX_BTIME
  struct statx sx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME) != 0)
    id.btime_ns = uint64_t(sx.stx_btime.tv_sec) * 1000000000u + sx.stx_btime.tv_nsec;
#else
  (void)fd;
#endif
  return id;
}

SysError file_size(int fd, const std::string& path, uint64_t& size) {
  struct stat st;
  if (fstat(fd, &st) != 0) return sys("fstat", path);
  size = uint64_t(st.st_size);
  return {};
}

// Frames in [0, len) of staged bytes with `header`-byte headers (whole frames
// only: the count stops at the first that does not fit).
size_t count_frames(const uint8_t* data, size_t len, size_t header, size_t* whole) {
  size_t pos = 0, frames = 0;
  while (len - pos >= header) {
    const size_t n = load_u32le(data + pos);
    if (len - pos - header < n) break;
    pos += header + n;
    ++frames;
  }
  *whole = pos;
  return frames;
}

}  // namespace

Capture::Region::~Region() {
  if (data != nullptr) munmap(data, size);
}

std::unique_ptr<Capture> Capture::open(const std::string& stream_path,
                                       const std::string& staging_path, const CaptureConfig& config,
                                       SysError& error) {
  std::unique_ptr<Capture> c(new Capture());
  c->stream_path_ = stream_path;
  c->staging_path_ = staging_path;
  c->sync_interval_ms_ = config.sync_interval_ms;
  c->config_slab_ = config.slab_size;
  c->mode_ = config.mode;
  // O_NONBLOCK: opening a FIFO must not wait for a reader; a stream is a
  // regular file, checked before anything is read or written.
  c->stream_fd_ = ::open(stream_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
                         config.mode);
  if (c->stream_fd_ < 0) {
    error = sys("open", stream_path);
    return nullptr;
  }
  struct stat st;
  if (fstat(c->stream_fd_, &st) != 0) {
    error = sys("fstat", stream_path);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    error = refuse(stream_path, kNotRegular, 0, 0, 0);
    return nullptr;
  }
  const int fl = fcntl(c->stream_fd_, F_GETFL);
  if (fl < 0 || fcntl(c->stream_fd_, F_SETFL, fl & ~O_NONBLOCK) != 0) {
    error = sys("fcntl", stream_path);
    return nullptr;
  }
  const Identity id = identity_of(c->stream_fd_, st);
  c->stream_dev_ = id.dev;
  c->stream_ino_ = id.ino;
  c->stream_btime_ns_ = id.btime_ns;
  // One live writer per stream: the stream file is locked. Its descriptor
  // is never mapped, so closing it releases the lock; the kernel drops it
  // when the process dies, however it dies.
  if (flock(c->stream_fd_, LOCK_EX | LOCK_NB) != 0) {
    error = sys("flock", stream_path, errno == EWOULDBLOCK ? EBUSY : errno);
    return nullptr;
  }
  if ((error = c->claim_staging())) return nullptr;
  if ((error = c->read_clean_mark())) return nullptr;
  if ((error = c->recover_staging())) return nullptr;
  if ((error = c->layout(config))) {
    // Nothing of it was written: a staging that cannot be laid out is not
    // left behind (in /dev/shm, its name would stay in RAM).
    struct stat mine, there;
    if (fstat(c->staging_fd_, &mine) == 0 && mine.st_size == 0 &&
        stat(staging_path.c_str(), &there) == 0 && mine.st_dev == there.st_dev &&
        mine.st_ino == there.st_ino)
      unlink(staging_path.c_str());
    return nullptr;
  }
  return c;
}

// Opens and claims the staging file: private to this user (the default
// directory is shared, and staged bytes are drained into the stream), and
// locked for the sink's life so that two streams given one staging path are
// told apart (docs/design.md, "Capture staging: space, claims and identity").
Capture::~Capture() {
  if (started_ || stream_fd_ >= 0) close(0);
  if (orphan_fd_ >= 0) ::close(orphan_fd_);
}

SysError Capture::claim_staging() {
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int fd = ::open(staging_path_.c_str(),
                          O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600);
    if (fd < 0) return sys("open", staging_path_);
    staging_fd_ = fd;
    struct stat st;
    if (fstat(fd, &st) != 0) return sys("fstat", staging_path_);
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
      return sys("open", staging_path_ + ": not a private file of this user (mode 0600)", EACCES);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return sys("flock", staging_path_);
      return sys("flock",
                 staging_path_ +
                     ": this staging file is claimed by another live capture; the "
                     "stream " +
                     stream_path_ + " needs a stagingPath of its own",
                 EBUSY);
    }
    // A capture that closed between our open and our lock removed the file:
    // claim the one that is at the path now.
    struct stat now;
    if (stat(staging_path_.c_str(), &now) == 0 && now.st_dev == st.st_dev &&
        now.st_ino == st.st_ino)
      return {};
    ::close(fd);
    staging_fd_ = -1;
  }
  return sys("open", staging_path_ + ": replaced while being claimed", EBUSY);
}

// The stream's own clean mark: where it ended and its format after a clean
// close. Read once and removed before anything is written, so that a mark
// never outlives the writes it vouches for.
SysError Capture::read_clean_mark() {
  CleanMark m{};
  const ssize_t n = fgetxattr(stream_fd_, kCleanAttr, &m, sizeof m);
  if (n < 0) return {};  // none, or the filesystem has no user attributes
  (void)fremovexattr(stream_fd_, kCleanAttr);
  uint64_t size = 0;
  if (SysError e = file_size(stream_fd_, stream_path_, size)) return e;
  if (n != ssize_t(sizeof m) || m.header_size < kLengthFieldSize ||
      m.header_size > kLengthFieldSize + 8 || m.slab_size > kMaxSlabSize)
    return {};  // not ours: walk
  prev_kind_ = m.kind;
  prev_header_size_ = m.header_size;
  prev_slab_ = m.slab_size;
  clean_end_ = size == m.end;
  return {};
}

// Drains what a previous writer left in the staging file into the stream,
// if it was staged for this very file; frames staged for another file go to
// an orphan file beside the stream, never into it. Reads with pread, never
// through a mapping: a staging file is input that may be short, sparse or
// shrinking, and a mapping of it could fault.
SysError Capture::recover_staging() {
  uint64_t staging_size = 0, stream_size = 0;
  if (SysError e = file_size(staging_fd_, staging_path_, staging_size)) return e;
  if (SysError e = file_size(stream_fd_, stream_path_, stream_size)) return e;
  end_known_ = stream_size == 0 || clean_end_;
  if (staging_size == 0) return {};  // new: nothing staged

  StagingHeader h;
  const SysError bad = sys("open", staging_path_ + ": not a flatstream staging file", EINVAL);
  if (staging_size < sizeof h) {
    // A writer that died while laying out its staging leaves zeros.
    std::vector<uint8_t> head(size_t(staging_size), 0);
    if (SysError e = pread_all(staging_fd_, head.data(), head.size(), 0, staging_path_)) return e;
    for (uint8_t b : head)
      if (b != 0) return bad;
    return {};
  }
  if (SysError e =
          pread_all(staging_fd_, reinterpret_cast<uint8_t*>(&h), sizeof h, 0, staging_path_))
    return e;
  static const char kZeros[sizeof kMagic] = {};
  if (std::memcmp(h.magic, kZeros, sizeof kZeros) == 0) return {};
  const size_t page = page_size();
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.version != kVersion ||
      h.header_size < kLengthFieldSize || h.header_size > kLengthFieldSize + 8 ||
      h.slab_size == 0 || h.slab_size > kMaxSlabSize || h.scratch_size > kMaxScratchSize ||
      h.max_slots > kMaxSlots || h.slot_count > h.max_slots ||
      h.header_bytes != round_up(sizeof h + size_t{h.max_slots} * sizeof(SlotRecord), page))
    return bad;
  const size_t slot_bytes = round_up(size_t{h.slab_size} + h.scratch_size, page);
  const bool same =
      h.stream_dev == stream_dev_ && h.stream_ino == stream_ino_ &&
      (h.stream_btime_ns == 0 || stream_btime_ns_ == 0 || h.stream_btime_ns == stream_btime_ns_);
  if (same) {
    prev_kind_ = h.kind;
    prev_header_size_ = h.header_size;
    prev_slab_ = h.slab_size;
  }
  if (h.clean) {
    if (same) end_known_ = end_known_ || stream_size == h.stream_end;
    return {};
  }
  const uint64_t total = h.header_bytes + uint64_t{h.slot_count} * slot_bytes;
  if (staging_size < total) return bad;
  std::vector<uint8_t> recs(size_t{h.slot_count} * sizeof(SlotRecord));
  if (!recs.empty())
    if (SysError e = pread_all(staging_fd_, recs.data(), recs.size(), sizeof h, staging_path_))
      return e;

  struct Pending {
    uint64_t seq, offset;
    uint32_t slot, len;
  };
  std::vector<Pending> pending;
  for (uint32_t i = 0; i < h.slot_count; ++i) {
    int32_t state, commit;
    uint64_t seq, offset;
    const uint8_t* r = recs.data() + size_t{i} * sizeof(SlotRecord);
    std::memcpy(&state, r, 4);
    std::memcpy(&commit, r + 4, 4);
    std::memcpy(&seq, r + 8, 8);
    std::memcpy(&offset, r + 16, 8);
    if (state == kSlotFree || commit <= 0) continue;
    if (state != kSlotFilling && state != kSlotSealed) return bad;
    pending.push_back({seq, offset, i, std::min(uint32_t(commit), h.slab_size)});
  }
  std::sort(pending.begin(), pending.end(),
            [](const Pending& a, const Pending& b) { return a.seq < b.seq; });
  if (pending.empty()) {
    if (same) end_known_ = end_known_ || stream_size == h.stream_end;
    return {};
  }
  // Reads slot s's whole frames into buf; returns their count.
  std::vector<uint8_t> buf;
  auto load = [&](const Pending& s, size_t* whole) -> SysError {
    buf.resize(s.len);
    if (SysError e = pread_all(staging_fd_, buf.data(), s.len,
                               h.header_bytes + uint64_t{s.slot} * slot_bytes, staging_path_))
      return e;
    *whole = 0;
    return {};
  };
  if (!same) {
    for (size_t k = 0; k < pending.size(); ++k) {
      size_t whole = 0;
      if (SysError e = load(pending[k], &whole)) return e;
      const size_t frames = count_frames(buf.data(), pending[k].len, h.header_size, &whole);
      if (SysError e = write_orphans(buf.data(), whole, frames, h.kind, k + 1 == pending.size()))
        return e;
    }
    return {};
  }
  // Slots were given consecutive offsets; a stream cut shorter than the
  // first one (by someone else) gets them at its end, never after a hole.
  const uint64_t start = std::min(pending.front().offset, stream_size);
  // The bytes after the last slot can only be a torn write of one slab: the
  // same rule as the tail walk, checked before anything is written.
  uint64_t staged = 0;
  for (const Pending& s : pending) staged += s.len;
  const uint64_t max_tail = std::max(h.slab_size, config_slab_);
  if (stream_size > start + staged + max_tail)
    return refuse(stream_path_, kTailTooLong, stream_size - (start + staged), start + staged, 0);
  uint64_t pos = start;
  for (const Pending& s : pending) {
    size_t whole = 0;
    if (SysError e = load(s, &whole)) return e;
    const size_t frames = count_frames(buf.data(), s.len, h.header_size, &whole);
    if (builtin(h.kind)) seal_frames(buf.data(), whole, ChecksumKind(h.kind));
    if (SysError e = pwrite_all(stream_fd_, buf.data(), whole, pos, stream_path_)) return e;
    pos += whole;
    recovery_.slots++;
    recovery_.frames += frames;
    recovery_.bytes += whole;
  }
  if (stream_size > pos) {
    if (ftruncate(stream_fd_, off_t(pos)) != 0) return sys("ftruncate", stream_path_);
    recovery_.torn_bytes = stream_size - pos;
  }
  if (fdatasync(stream_fd_) != 0) return sys("fdatasync", stream_path_);
  end_known_ = true;
  return {};
}

// Frames staged for a stream file that is gone or replaced: appended to a
// new stream file beside this one, named after it and the old file's
// identity, created exclusively (never an existing file).
SysError Capture::write_orphans(const uint8_t* data, size_t len, uint64_t frames, int32_t kind,
                                bool last) {
  // No whole frame to keep (a slot whose commit ends inside a frame): no
  // file is created for nothing.
  if (len == 0 && orphan_fd_ < 0) return {};
  if (orphan_fd_ < 0) {
    StagingHeader h;
    if (SysError e =
            pread_all(staging_fd_, reinterpret_cast<uint8_t*>(&h), sizeof h, 0, staging_path_))
      return e;
    const std::string base = stream_path_ + ".orphaned-" + std::to_string(h.stream_dev) + "-" +
                             std::to_string(h.stream_ino);
    for (int n = 0; n < 1000 && orphan_fd_ < 0; ++n) {
      const std::string p = n == 0 ? base + ".fst" : base + "-" + std::to_string(n) + ".fst";
      orphan_fd_ =
          ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_ & 0666);
      if (orphan_fd_ >= 0)
        recovery_.orphan_path = p;
      else if (errno != EEXIST)
        return sys("open", p);
    }
    if (orphan_fd_ < 0) return sys("open", base + ".fst", EEXIST);
  }
  std::vector<uint8_t> copy(data, data + len);
  if (builtin(kind)) seal_frames(copy.data(), len, ChecksumKind(kind));
  if (SysError e =
          pwrite_all(orphan_fd_, copy.data(), len, recovery_.orphaned_bytes, recovery_.orphan_path))
    return e;
  recovery_.orphaned_frames += frames;
  recovery_.orphaned_bytes += len;
  if (last) {
    if (fdatasync(orphan_fd_) != 0) return sys("fdatasync", recovery_.orphan_path);
    ::close(orphan_fd_);
    orphan_fd_ = -1;
  }
  return {};
}

SysError Capture::layout(const CaptureConfig& config) {
  const size_t page = page_size();
  max_slots_ = std::max(config.max_slots, config.initial_slots);
  slab_size_ = config.slab_size;
  header_bytes_ = round_up(sizeof(StagingHeader) + size_t{max_slots_} * sizeof(SlotRecord), page);
  slot_bytes_ = round_up(size_t{config.slab_size} + config.scratch_size, page);
  slots_.reset(new std::shared_ptr<Region>[max_slots_]);
  // Cut to nothing first (the old slots' pages go), then reserve every byte
  // before any of it is mapped: a mapping of a hole that the filesystem
  // cannot fill would kill the process with SIGBUS when touched.
  const uint64_t total = header_bytes_ + uint64_t{config.initial_slots} * slot_bytes_;
  if (ftruncate(staging_fd_, 0) != 0) return sys("ftruncate", staging_path_);
  if (SysError e = reserve(staging_fd_, 0, total, staging_path_)) {
    (void)ftruncate(staging_fd_, 0);
    return e;
  }
  void* p = mmap(nullptr, header_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, staging_fd_, 0);
  if (p == MAP_FAILED) return sys("mmap", staging_path_);
  header_ = std::make_shared<Region>(static_cast<uint8_t*>(p), header_bytes_);
  StagingHeader* h = header();
  std::memcpy(h->magic, kMagic, sizeof kMagic);
  h->version = kVersion;
  // Until a writer binds, the staging keeps the format the stream was
  // written with, so that a refused or missing bind cannot make it forget.
  h->kind = prev_kind_;
  h->header_size = prev_kind_ == kUnboundKind ? uint32_t(kLengthFieldSize) : prev_header_size_;
  h->slab_size = config.slab_size;
  h->scratch_size = config.scratch_size;
  h->max_slots = max_slots_;
  h->header_bytes = uint32_t(header_bytes_);
  h->clean = 0;
  h->stream_dev = stream_dev_;
  h->stream_ino = stream_ino_;
  h->stream_btime_ns = stream_btime_ns_;
  for (uint32_t i = 0; i < config.initial_slots; ++i) {
    if (SysError e = map_slot(i)) return e;
    free_.push_back(i);
  }
  h->slot_count = config.initial_slots;
  uint64_t size = 0;
  if (SysError e = file_size(stream_fd_, stream_path_, size)) return e;
  next_offset_ = size;
  h->stream_end = size;
  return {};
}

// Maps slot i of the staging (already reserved); touches no shared state.
std::shared_ptr<Capture::Region> Capture::map_region(uint32_t slot, SysError& error) const {
  int flags = MAP_SHARED;
#ifdef MAP_POPULATE
  flags |= MAP_POPULATE;  // fault the pages in now, not in the producer's hot path
#endif
  void* p = mmap(nullptr, slot_bytes_, PROT_READ | PROT_WRITE, flags, staging_fd_,
                 off_t(header_bytes_ + size_t{slot} * slot_bytes_));
  if (p == MAP_FAILED) {
    error = sys("mmap", staging_path_);
    return nullptr;
  }
  return std::make_shared<Region>(static_cast<uint8_t*>(p), slot_bytes_);
}

// Makes a mapped slot usable: under mu_ once the thread runs.
void Capture::publish_slot(uint32_t slot, std::shared_ptr<Region> region) {
  slots_[slot] = std::move(region);
  SlotRecord& r = record(slot);
  r.commit = 0;
  r.seq = 0;
  r.file_offset = 0;
  r.state.store(kSlotFree, std::memory_order_release);
  slot_count_.store(slot + 1, std::memory_order_release);
}

SysError Capture::map_slot(uint32_t slot) {
  SysError e;
  std::shared_ptr<Region> region = map_region(slot, e);
  if (!region) return e;
  publish_slot(slot, std::move(region));
  return {};
}

// Adds the next slot on the grower thread, called with mu_ held and released
// while the kernel reserves and maps (docs/design.md, "Capture staging:
// space, claims and identity": growth off the event loop, and off the
// writer thread, which may be stuck in a slow write just when growth is
// needed).
void Capture::grow_on_thread(std::unique_lock<std::mutex>& lk) {
  grow_ahead_ = false;
  if (!free_.empty() || slot_count() >= max_slots_ || grow_refused_ || failed_) return;
  growing_ = true;
  const uint32_t n = slot_count();
  const uint64_t at = header_bytes_ + uint64_t{n} * slot_bytes_;
  lk.unlock();
  SysError e = reserve(staging_fd_, at, slot_bytes_, staging_path_);
  std::shared_ptr<Region> region;
  if (!e) region = map_region(n, e);
  if (e) (void)ftruncate(staging_fd_, off_t(at));
  lk.lock();
  growing_ = false;
  if (region) {
    publish_slot(n, std::move(region));
    header()->slot_count = n + 1;
    free_.push_back(n);
    stats_.grown_ahead++;
  } else {
    grow_refused_ = true;
    stats_.grow_failures++;
  }
  done_cv_.notify_all();
}

std::shared_ptr<Capture::Region> Capture::slot_region(uint32_t slot) const {
  return slot < slot_count() ? slots_[slot] : nullptr;
}

uint32_t Capture::slot_count() const { return slot_count_.load(std::memory_order_acquire); }

// Finds the end of the last whole frame and cuts what follows (a torn tail).
// With a built-in checksum every frame is verified on the way: a mismatch is
// damage (or another format), not a torn write, and is refused with its
// offset rather than truncated away.
SysError Capture::walk_tail(int32_t kind, uint32_t header_size) {
  uint64_t size = 0;
  if (SysError e = file_size(stream_fd_, stream_path_, size)) return e;
  recovery_.walked = true;
  const unsigned width = builtin(kind) ? checksum_width(ChecksumKind(kind)) : 0;
  std::vector<uint8_t> window(kWalkWindow);
  uint64_t win_start = 0, win_end = 0, pos = 0;
  // Makes [pos, pos + need) readable in the window (need <= size - pos).
  auto have = [&](uint64_t need) -> SysError {
    if (pos >= win_start && pos + need <= win_end) return {};
    if (need > window.size()) window.resize(size_t(need));
    win_start = pos;
    win_end = std::min<uint64_t>(size, pos + window.size());
    return pread_all(stream_fd_, window.data(), size_t(win_end - win_start), win_start,
                     stream_path_);
  };
  uint64_t frames = 0;
  while (size - pos >= header_size) {
    if (SysError e = have(header_size)) return e;
    const uint8_t* h = window.data() + (pos - win_start);
    const uint64_t len = load_u32le(h);
    if (size - pos - header_size < len) break;
    if (width != 0) {
      const uint64_t stored = load_le(h + kLengthFieldSize, width);
      if (SysError e = have(header_size + len)) return e;
      const uint8_t* payload = window.data() + (pos - win_start) + header_size;
      if (checksum(ChecksumKind(kind), payload, size_t(len)) != stored)
        return sys("open",
                   stream_path_ + ": the frame at offset " + std::to_string(pos) +
                       " fails its checksum (damage, or another frame format); not appending",
                   EINVAL);
    }
    pos += header_size + len;
    ++frames;
  }
  if (pos < size) {
    // Only a plausible torn tail is cut (docs/design.md, "Recovery"): after
    // at least one intact frame (unless the whole file is shorter than one
    // frame header), and no longer than the largest frame a writer could
    // have been writing: one slab.
    const uint64_t torn = size - pos;
    if (pos == 0 && size >= header_size) return refuse(stream_path_, kNoIntactFrame, torn, 0, 0);
    if (torn > std::max(prev_slab_, slab_size_))
      return refuse(stream_path_, kTailTooLong, torn, pos, frames);
    if (ftruncate(stream_fd_, off_t(pos)) != 0) return sys("ftruncate", stream_path_);
    if (fdatasync(stream_fd_) != 0) return sys("fdatasync", stream_path_);
    recovery_.torn_bytes += torn;
  }
  end_known_ = true;
  return {};
}

SysError Capture::bind(int32_t kind, uint32_t header_size) {
  if (started_) return sys("bind", "already bound", EINVAL);
  const bool known = builtin(kind);
  if ((known && header_size != kLengthFieldSize + checksum_width(ChecksumKind(kind))) ||
      (!known && kind != kCustomKind) || header_size < kLengthFieldSize ||
      header_size > kLengthFieldSize + 8)
    return sys("bind", "invalid frame format", EINVAL);
  uint64_t size = 0;
  if (SysError e = file_size(stream_fd_, stream_path_, size)) return e;
  if (size > 0 && prev_kind_ != kUnboundKind &&
      (prev_kind_ != kind || prev_header_size_ != header_size))
    return sys("open", stream_path_ + ": the stream was written with another frame format", EINVAL);
  if (!end_known_) {
    if (SysError e = walk_tail(kind, header_size)) return e;
    if (SysError e = file_size(stream_fd_, stream_path_, size)) return e;
  }
  kind_ = kind;
  next_offset_ = size;
  StagingHeader* h = header();
  h->kind = kind;
  h->header_size = header_size;
  h->stream_end = size;
  started_ = true;
  thread_ = std::thread([this] { run(); });
  if (max_slots_ > slot_count()) grower_ = std::thread([this] { run_grower(); });
  return {};
}

int32_t Capture::acquire(bool grow, uint32_t wait_ms, bool* grown, SysError& error) {
  *grown = false;
  std::unique_lock<std::mutex> lk(mu_);
  if (failed_ || !started_) return kFailed;
  // The thread is adding a slot: it is there in a moment (no frame dropped
  // for want of a growth already under way).
  if (free_.empty() && growing_) done_cv_.wait(lk, [this] { return !growing_ || failed_; });
  if (free_.empty() && grow && slot_count() < max_slots_ && !grow_refused_) {
    const uint32_t n = slot_count();
    const uint64_t at = header_bytes_ + uint64_t{n} * slot_bytes_;
    // Reserved before it is mapped; a full filesystem is no failure of the
    // capture: it stops growing (the policy decides) until a slot is free.
    if (reserve(staging_fd_, at, slot_bytes_, staging_path_)) {
      (void)ftruncate(staging_fd_, off_t(at));
      grow_refused_ = true;
      stats_.grow_failures++;
    } else {
      if ((error = map_slot(n))) return kFailed;
      header()->slot_count = n + 1;
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
  if (grow && free_.empty() && slot_count() < max_slots_ && !grow_refused_ && !growing_ &&
      grower_.joinable()) {
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
  uint8_t* data = slots_[slot]->data;
  if (builtin(kind_)) seal_frames(data, len, ChecksumKind(kind_));
  if (fault.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(fault.delay_ms));
  if (fault.code != 0) return sys("write", stream_path_, fault.code);
  const auto t0 = Clock::now();
  SysError e = pwrite_all(stream_fd_, data, len, offset, stream_path_);
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
#ifdef SCHED_BATCH
  // The thread must not preempt the producer it serves: as a batch thread
  // its wake-ups (a slab handed over) do not take the CPU from the running
  // event loop; it still gets its fair share of CPU time.
  sched_param batch{};
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch);
#endif
  std::unique_lock<std::mutex> lk(mu_);
  auto last_sync = Clock::now();
  const auto interval = std::chrono::milliseconds(sync_interval_ms_);
  auto sync_now = [&]() -> bool {
    lk.unlock();
    const bool ok = fdatasync(stream_fd_) == 0;
    const int code = errno;
    lk.lock();
    if (!ok) {
      failed_ = true;
      error_ = sys("fdatasync", stream_path_, code);
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
    return sys("flush", stream_path_ + ": the writer thread did not finish in time", ETIMEDOUT);
  }
  if (filling_ < 0) return {};
  SlotRecord& r = record(uint32_t(filling_));
  const uint32_t len = uint32_t(std::clamp<int32_t>(r.commit, 0, int32_t(slab_size_)));
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
  size_t whole = 0;
  const size_t frames = count_frames(slots_[filling_]->data, len, header()->header_size, &whole);
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

// After a full drain: the stream's end and format go into its clean mark
// (an extended attribute: best effort, a reopen without it walks the
// stream), and the staging file is removed, if it is still ours at its path,
// so a clean close leaves nothing behind in /dev/shm. Mappings JS may still
// hold stay valid: they keep the unlinked file alive until it lets go. If
// the file cannot be removed, its header says it is clean.
void Capture::finish_clean() {
  uint64_t size = 0;
  // Unbound, the header keeps the format the stream was written with.
  if (!file_size(stream_fd_, stream_path_, size) && header()->kind != kUnboundKind) {
    const CleanMark m{size, header()->kind, header()->header_size, slab_size_, 0};
    (void)fsetxattr(stream_fd_, kCleanAttr, &m, sizeof m, 0);
  }
  struct stat mine, there;
  if (fstat(staging_fd_, &mine) == 0 && stat(staging_path_.c_str(), &there) == 0 &&
      mine.st_dev == there.st_dev && mine.st_ino == there.st_ino &&
      unlink(staging_path_.c_str()) == 0)
    return;
  StagingHeader* h = header();
  h->slot_count = 0;
  h->stream_end = size;
  h->clean = 1;
}

// Lets go of both claims now, whatever holds the files open: the staging's
// mappings (JS may hold them until it collects them) keep its open file
// description, and with it a lock, alive; an explicit unlock does not wait.
void Capture::release() {
  if (staging_fd_ >= 0) {
    (void)flock(staging_fd_, LOCK_UN);
    ::close(staging_fd_);
  }
  if (stream_fd_ >= 0) ::close(stream_fd_);
  stream_fd_ = staging_fd_ = -1;
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
  if (!e && header_) finish_clean();
  release();
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
