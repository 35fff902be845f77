// StagingFile (native/capture/staging_file.h): the staging format, its
// claims, recovery and layout (docs/design.md, "Capture staging: space,
// claims and identity", "Recovery").
#include "capture/staging_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "capture/file_io.h"

namespace flatstream {

using file_io::file_size;
using file_io::kNoHandle;
using file_io::pread_all;
using file_io::pwrite_all;
using file_io::reserve;
using file_io::round_up;
using file_io::sys;

namespace {

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
constexpr size_t kWalkWindow = size_t{1} << 20;

bool builtin(int32_t kind) { return kind >= 0 && is_checksum_kind(unsigned(kind)); }

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

}  // namespace

FrameFormat staged_format(int32_t kind, uint32_t header_size) noexcept {
  if (builtin(kind)) return make_format(ChecksumKind(kind), 0, kWireMaxFrameLen);
  const unsigned width = header_size > kLengthFieldSize ? header_size - kLengthFieldSize : 0;
  return make_format(ChecksumKind::kNone, width, kWireMaxFrameLen);
}

StagingRegion::~StagingRegion() { file_io::unmap(data, size); }

std::unique_ptr<StagingFile> StagingFile::open(const std::string& stream_path,
                                               const std::string& staging_path,
                                               const CaptureConfig& config, SysError& error) {
  std::unique_ptr<StagingFile> c(new StagingFile());
  c->stream_path_ = stream_path;
  c->staging_path_ = staging_path;
  c->config_slab_ = config.slab_size;
  c->mode_ = config.mode;
  if ((error =
           file_io::open_file(stream_path, file_io::OpenHow::kStream, config.mode, c->stream_fd_)))
    return nullptr;
  file_io::FileInfo st;
  if ((error = file_io::file_info(c->stream_fd_, stream_path, st))) return nullptr;
  if (!st.regular) {
    error = refuse(stream_path, kNotRegular, 0, 0, 0);
    return nullptr;
  }
  c->stream_dev_ = st.id.dev;
  c->stream_ino_ = st.id.ino;
  c->stream_btime_ns_ = st.id.btime_ns;
  // One live writer per stream: the stream file is locked. Its descriptor
  // is never mapped, so closing it releases the lock; the system drops it
  // when the process dies, however it dies.
  if ((error = file_io::try_lock(c->stream_fd_, stream_path))) return nullptr;
  if ((error = c->claim_staging())) return nullptr;
  if ((error = c->read_clean_mark())) return nullptr;
  if ((error = c->recover_staging())) return nullptr;
  if ((error = c->layout(config))) {
    // Nothing of it was written: a staging that cannot be laid out is not
    // left behind (in /dev/shm, its name would stay in RAM).
    uint64_t size = 1;
    if (!file_size(c->staging_fd_, staging_path, size) && size == 0 &&
        file_io::same_file(c->staging_fd_, staging_path))
      file_io::remove_file(staging_path);
    return nullptr;
  }
  return c;
}

StagingFile::~StagingFile() {
  if (!released_) {
    if (header_) finish_clean();
    release();
  }
  file_io::close_file(orphan_fd_);
}

// Opens and claims the staging file: private to this user (the default
// directory is shared, and staged bytes are drained into the stream), and
// locked for the sink's life so that two streams given one staging path are
// told apart (docs/design.md, "Capture staging: space, claims and identity").
SysError StagingFile::claim_staging() {
  for (int attempt = 0; attempt < 8; ++attempt) {
    file_io::Handle fd = kNoHandle;
    if (SysError e = file_io::open_file(staging_path_, file_io::OpenHow::kStaging, 0600, fd))
      return e;
    staging_fd_ = fd;
    file_io::FileInfo st;
    if (SysError e = file_io::file_info(fd, staging_path_, st)) return e;
    if (!st.regular || !st.private_to_user)
      return sys("open", staging_path_ + ": not a private file of this user (mode 0600)", EACCES);
    if (SysError e = file_io::try_lock(fd, staging_path_)) {
      if (e.code != EBUSY) return e;
      return sys("flock",
                 staging_path_ +
                     ": this staging file is claimed by another live capture; the "
                     "stream " +
                     stream_path_ + " needs a stagingPath of its own",
                 EBUSY);
    }
    // A capture that closed between our open and our lock removed the file:
    // claim the one that is at the path now.
    if (file_io::same_file(fd, staging_path_)) return {};
    file_io::close_file(fd);
    staging_fd_ = kNoHandle;
  }
  return sys("open", staging_path_ + ": replaced while being claimed", EBUSY);
}

// The stream's own clean mark: where it ended and its format after a clean
// close. Read once and removed before anything is written, so that a mark
// never outlives the writes it vouches for.
SysError StagingFile::read_clean_mark() {
  CleanMark m{};
  const long n = file_io::read_attr(stream_fd_, kCleanAttr, &m, sizeof m);
  if (n < 0) return {};  // none, or the filesystem has no user attributes
  file_io::remove_attr(stream_fd_, kCleanAttr);
  uint64_t size = 0;
  if (SysError e = file_size(stream_fd_, stream_path_, size)) return e;
  if (n != long(sizeof m) || m.header_size < kLengthFieldSize ||
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
SysError StagingFile::recover_staging() {
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
  const size_t page = file_io::map_granularity();
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.version != kVersion ||
      h.header_size < kLengthFieldSize || h.header_size > kLengthFieldSize + 8 ||
      h.slab_size == 0 || h.slab_size > kMaxSlabSize || h.scratch_size > kMaxScratchSize ||
      h.max_slots > kMaxSlots || h.slot_count > h.max_slots ||
      h.header_bytes != round_up(sizeof h + size_t{h.max_slots} * sizeof(SlotRecord), page) ||
      // A built-in kind has one header size: staged bytes of another are
      // no frames of it (they could only be walked one way and sealed another).
      (builtin(h.kind) && h.header_size != kLengthFieldSize + checksum_width(ChecksumKind(h.kind))))
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
  // The previous writer's format: its frames are walked (and sealed) with it.
  const FrameFormat format = staged_format(h.kind, h.header_size);
  // Reads slot s's committed bytes into buf.
  std::vector<uint8_t> buf;
  auto load = [&](const Pending& s) -> SysError {
    buf.resize(s.len);
    return pread_all(staging_fd_, buf.data(), s.len, h.header_bytes + uint64_t{s.slot} * slot_bytes,
                     staging_path_);
  };
  if (!same) {
    for (size_t k = 0; k < pending.size(); ++k) {
      if (SysError e = load(pending[k])) return e;
      // Only whole frames are kept: a commit may end inside a frame.
      const SealResult w = walk_frames(buf.data(), buf.size(), format);
      if (SysError e =
              write_orphans(buf.data(), w.whole, w.frames, format, k + 1 == pending.size()))
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
    if (SysError e = load(s)) return e;
    // Seals the whole frames; a commit that ends inside a frame (not ok)
    // keeps the frames before it, and the rest is the torn write it was.
    const SealResult r = seal_frames(buf.data(), buf.size(), format);
    if (SysError e = pwrite_all(stream_fd_, buf.data(), r.whole, pos, stream_path_)) return e;
    pos += r.whole;
    recovery_.slots++;
    recovery_.frames += r.frames;
    recovery_.bytes += r.whole;
  }
  if (stream_size > pos) {
    if (SysError e = file_io::truncate(stream_fd_, pos, stream_path_)) return e;
    recovery_.torn_bytes = stream_size - pos;
  }
  if (SysError e = file_io::sync_data(stream_fd_, stream_path_)) return e;
  end_known_ = true;
  return {};
}

// Frames staged for a stream file that is gone or replaced: appended to a
// new stream file beside this one, named after it and the old file's
// identity, created exclusively (never an existing file).
SysError StagingFile::write_orphans(const uint8_t* data, size_t len, uint64_t frames,
                                    const FrameFormat& format, bool last) {
  // No whole frame to keep (a slot whose commit ends inside a frame): no
  // file is created for nothing.
  if (len == 0 && orphan_fd_ == kNoHandle) return {};
  if (orphan_fd_ == kNoHandle) {
    StagingHeader h;
    if (SysError e =
            pread_all(staging_fd_, reinterpret_cast<uint8_t*>(&h), sizeof h, 0, staging_path_))
      return e;
    const std::string base = stream_path_ + ".orphaned-" + std::to_string(h.stream_dev) + "-" +
                             std::to_string(h.stream_ino);
    for (int n = 0; n < 1000 && orphan_fd_ == kNoHandle; ++n) {
      const std::string p = n == 0 ? base + ".fst" : base + "-" + std::to_string(n) + ".fst";
      SysError e = file_io::open_file(p, file_io::OpenHow::kCreateNew, mode_, orphan_fd_);
      if (!e)
        recovery_.orphan_path = p;
      else if (e.code != EEXIST)
        return e;
    }
    if (orphan_fd_ == kNoHandle) return sys("open", base + ".fst", EEXIST);
  }
  std::vector<uint8_t> copy(data, data + len);
  // `len` is whole frames (walked by the caller): sealing them is always ok.
  const SealResult sealed = seal_frames(copy.data(), len, format);
  if (!sealed.ok) return sys("write", recovery_.orphan_path + ": not whole frames", EINVAL);
  if (SysError e =
          pwrite_all(orphan_fd_, copy.data(), len, recovery_.orphaned_bytes, recovery_.orphan_path))
    return e;
  recovery_.orphaned_frames += frames;
  recovery_.orphaned_bytes += len;
  if (last) {
    if (SysError e = file_io::sync_data(orphan_fd_, recovery_.orphan_path)) return e;
    file_io::close_file(orphan_fd_);
    orphan_fd_ = kNoHandle;
  }
  return {};
}

SysError StagingFile::layout(const CaptureConfig& config) {
  const size_t page = file_io::map_granularity();
  max_slots_ = std::max(config.max_slots, config.initial_slots);
  slab_size_ = config.slab_size;
  header_bytes_ = round_up(sizeof(StagingHeader) + size_t{max_slots_} * sizeof(SlotRecord), page);
  slot_bytes_ = round_up(size_t{config.slab_size} + config.scratch_size, page);
  slots_.reset(new std::shared_ptr<Region>[max_slots_]);
  // Cut to nothing first (the old slots' pages go), then reserve every byte
  // before any of it is mapped: a mapping of a hole that the filesystem
  // cannot fill would kill the process with SIGBUS when touched.
  const uint64_t total = header_bytes_ + uint64_t{config.initial_slots} * slot_bytes_;
  if (SysError e = file_io::truncate(staging_fd_, 0, staging_path_)) {
    // Windows refuses to cut a file that is still mapped (a previous sink's
    // slabs that JS has not collected): the fresh layout is then written
    // over the old bytes, every record freed (docs/design.md, "Platforms").
    if (e.code != EBUSY) return e;
  }
  if (SysError e = reserve(staging_fd_, 0, total, staging_path_)) {
    (void)file_io::truncate(staging_fd_, 0, staging_path_);
    return e;
  }
  SysError map_error;
  uint8_t* p = file_io::map_shared(staging_fd_, 0, header_bytes_, false, staging_path_, map_error);
  if (p == nullptr) return map_error;
  header_ = std::make_shared<Region>(p, header_bytes_);
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
    SysError e;
    std::shared_ptr<Region> region = map_slot(i, e);
    if (!region) return e;
    publish_slot(i, std::move(region));
  }
  h->slot_count = config.initial_slots;
  uint64_t size = 0;
  if (SysError e = file_size(stream_fd_, stream_path_, size)) return e;
  h->stream_end = size;
  return {};
}

// Maps slot i of the staging (already reserved); touches no shared state.
std::shared_ptr<StagingRegion> StagingFile::map_slot(uint32_t slot, SysError& error) const {
  // Populated: the pages are faulted in now, not in the producer's hot path.
  uint8_t* p = file_io::map_shared(staging_fd_, header_bytes_ + uint64_t{slot} * slot_bytes_,
                                   slot_bytes_, true, staging_path_, error);
  if (p == nullptr) return nullptr;
  return std::make_shared<Region>(p, slot_bytes_);
}

// Makes a mapped slot usable (under the Capture's lock once its thread runs).
void StagingFile::publish_slot(uint32_t slot, std::shared_ptr<Region> region) {
  slots_[slot] = std::move(region);
  SlotRecord& r = record(slot);
  r.commit = 0;
  r.seq = 0;
  r.file_offset = 0;
  r.state.store(kSlotFree, std::memory_order_release);
  slot_count_.store(slot + 1, std::memory_order_release);
}

// Finds the end of the last whole frame and cuts what follows (a torn tail).
// With a built-in checksum every frame is verified on the way: a mismatch is
// damage (or another format), not a torn write, and is refused with its
// offset rather than truncated away.
SysError StagingFile::walk_tail(const FrameFormat& format) {
  uint64_t size = 0;
  if (SysError e = file_size(stream_fd_, stream_path_, size)) return e;
  recovery_.walked = true;
  const uint32_t header_size = uint32_t(format.header_size());
  // A custom field is skipped: only a built-in checksum is verified.
  const unsigned width = format.verifies() ? format.width : 0;
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
      if (checksum(format.kind, payload, size_t(len)) != stored)
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
    if (SysError e = file_io::truncate(stream_fd_, pos, stream_path_)) return e;
    if (SysError e = file_io::sync_data(stream_fd_, stream_path_)) return e;
    recovery_.torn_bytes += torn;
  }
  end_known_ = true;
  return {};
}

SysError StagingFile::bind(int32_t kind, uint32_t header_size, uint64_t& end) {
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
  const FrameFormat format = staged_format(kind, header_size);
  if (!end_known_) {
    if (SysError e = walk_tail(format)) return e;
    if (SysError e = file_size(stream_fd_, stream_path_, size)) return e;
  }
  format_ = format;
  StagingHeader* h = header();
  h->kind = kind;
  h->header_size = header_size;
  h->stream_end = size;
  end = size;
  return {};
}

// After a full drain: the stream's end and format go into its clean mark
// (an extended attribute: best effort, a reopen without it walks the
// stream), and the staging file is removed, if it is still ours at its path,
// so a clean close leaves nothing behind in /dev/shm. Mappings JS may still
// hold stay valid: they keep the unlinked file alive until it lets go.
void StagingFile::finish_clean() {
  uint64_t size = 0;
  // Unbound, the header keeps the format the stream was written with.
  if (!file_size(stream_fd_, stream_path_, size) && header()->kind != kUnboundKind) {
    const CleanMark m{size, header()->kind, header()->header_size, slab_size_, 0};
    file_io::write_attr(stream_fd_, kCleanAttr, &m, sizeof m);
  }
  // Marked clean first: where the file cannot go (Windows refuses to
  // remove a file that is still mapped, and JS may hold its slabs until it
  // collects them) or only goes once the last mapping does, what stays at
  // the path says it holds nothing (docs/design.md, "Platforms").
  StagingHeader* h = header();
  h->slot_count = 0;
  h->stream_end = size;
  h->clean = 1;
  if (file_io::same_file(staging_fd_, staging_path_)) (void)file_io::remove_file(staging_path_);
}

// Lets go of both claims now, whatever holds the files open: the staging's
// mappings (JS may hold them until it collects them) keep its open file
// description, and with it a lock, alive; an explicit unlock does not wait.
void StagingFile::release() {
  released_ = true;
  if (staging_fd_ != kNoHandle) {
    file_io::unlock(staging_fd_);
    file_io::close_file(staging_fd_);
  }
  file_io::close_file(stream_fd_);
  stream_fd_ = staging_fd_ = kNoHandle;
}

bool StagingFile::reserve_slot(uint32_t n) {
  const uint64_t at = header_bytes_ + uint64_t{n} * slot_bytes_;
  if (!reserve(staging_fd_, at, slot_bytes_, staging_path_)) return true;
  cut_slot(n);
  return false;
}

void StagingFile::cut_slot(uint32_t n) {
  (void)file_io::truncate(staging_fd_, header_bytes_ + uint64_t{n} * slot_bytes_, staging_path_);
}

void StagingFile::add_slot(uint32_t n, std::shared_ptr<Region> region) {
  publish_slot(n, std::move(region));
  header()->slot_count = n + 1;
}

SysError StagingFile::write_stream(const uint8_t* data, size_t len, uint64_t offset) const {
  return pwrite_all(stream_fd_, data, len, offset, stream_path_);
}

SysError StagingFile::sync_stream() const { return file_io::sync_data(stream_fd_, stream_path_); }

}  // namespace flatstream
