// Capture (native/capture/capture.h, docs/capture.md): the staging file, what a
// reopen recovers from it after a crash, the torn-tail walk, and the writer
// thread (policies, faults, flush_sync, sync and notify). Every stream is
// checked byte for byte against the same frames sealed with seal_frames.
//
// The producer is played the way the JS writer plays it: frames are copied
// into slot_region(slot)->data as [u32 len][blank checksum][payload] and the
// commit is stored at header_region()->data + commit_offset(slot) after each.
// Crashes are real process deaths (fork, then SIGKILL or _exit without close).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "capture/capture.h"
#include "check.h"
#include "frame.h"

using namespace flatstream;

namespace {

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

constexpr int32_t kXx = int32_t(ChecksumKind::kXxHash64);
constexpr uint32_t kXxHeader = 12;
constexpr int32_t kCrc32 = int32_t(ChecksumKind::kCrc32);
constexpr uint32_t kCrc32Header = 8;

size_t page() { return size_t(sysconf(_SC_PAGESIZE)); }
size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
size_t header_bytes_for(uint32_t max_slots) {
  return round_up(sizeof(StagingHeader) + size_t{max_slots} * sizeof(SlotRecord), page());
}

// A temporary directory for a stream and its staging file, removed (with
// whatever is in it) when the test is done.
struct TempDir {
  std::string path;
  TempDir() {
    const char* t = std::getenv("TMPDIR");
    path = std::string(t && *t ? t : "/tmp") + "/flatstream-capture-XXXXXX";
    CHECK(mkdtemp(&path[0]) != nullptr);
  }
  ~TempDir() {
    if (DIR* d = opendir(path.c_str())) {
      while (const dirent* e = readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
          unlink((path + "/" + e->d_name).c_str());
      }
      closedir(d);
    }
    rmdir(path.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string stream() const { return path + "/events.fst"; }
  std::string staging() const { return path + "/events.staging"; }
};

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

uint64_t size_of(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

Bytes read_all(const std::string& p) {
  Bytes out;
  const int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  uint8_t buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  close(fd);
  return out;
}

// Writes `b` at `at` (truncating the file to at + b.size() when `trunc`).
void write_at(const std::string& p, const Bytes& b, uint64_t at, bool trunc) {
  const int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  if (fd < 0) return;
  size_t done = 0;
  while (done < b.size()) {
    const ssize_t n = pwrite(fd, b.data() + done, b.size() - done, off_t(at + done));
    CHECK(n > 0);
    if (n <= 0) break;
    done += size_t(n);
  }
  if (trunc) CHECK(ftruncate(fd, off_t(at + b.size())) == 0);
  close(fd);
}
void write_file(const std::string& p, const Bytes& b) { write_at(p, b, 0, true); }
void truncate_file(const std::string& p, uint64_t size) {
  CHECK(truncate(p.c_str(), off_t(size)) == 0);
}

Bytes slice(const Bytes& b, size_t from, size_t to) {
  return Bytes(b.begin() + ptrdiff_t(from), b.begin() + ptrdiff_t(to));
}
Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

using Frames = std::vector<Bytes>;
Frames operator+(Frames a, const Frames& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// One frame as the producer stages it: [u32 len][blank checksum][payload].
Bytes frame(uint32_t len, uint32_t seed, uint32_t header = kXxHeader) {
  Bytes f(header + len, 0);
  store_u32le(f.data(), len);
  for (uint32_t i = 0; i < len; ++i) f[header + i] = uint8_t(seed * 131 + i * 7 + (i >> 8));
  return f;
}

// n frames, payloads of 0..max_len-1 bytes (the first is empty when seed is 0).
Frames frames_of(size_t n, uint32_t seed, uint32_t header = kXxHeader, uint32_t max_len = 400) {
  Frames fs;
  for (size_t i = 0; i < n; ++i)
    fs.push_back(
        frame(uint32_t((seed * 131 + i * 97) % max_len), uint32_t(seed * 1000 + i), header));
  return fs;
}

size_t bytes_of(const Frames& fs) {
  size_t n = 0;
  for (const Bytes& f : fs) n += f.size();
  return n;
}

Bytes concat(const Frames& fs) {
  Bytes out;
  for (const Bytes& f : fs) out.insert(out.end(), f.begin(), f.end());
  return out;
}

// What the stream must hold: the frames with their checksums filled in.
Bytes sealed(const Frames& fs, int32_t kind = kXx) {
  Bytes out = concat(fs);
  if (kind >= 0 && is_checksum_kind(unsigned(kind))) {
    const SealResult r =
        seal_frames(out.data(), out.size(), make_format(ChecksumKind(kind), 0, kWireMaxFrameLen));
    CHECK(r.ok);
    CHECK_EQ(r.frames, fs.size());
  }
  return out;
}

CaptureConfig small_config(uint32_t slots = 4, uint32_t max_slots = 4) {
  CaptureConfig c;
  c.slab_size = 4096;
  c.scratch_size = 256;
  c.initial_slots = slots;
  c.max_slots = max_slots;
  return c;
}

std::unique_ptr<Capture> open_capture(const TempDir& d, const CaptureConfig& config) {
  SysError e;
  std::unique_ptr<Capture> c = Capture::open(d.stream(), d.staging(), config, e);
  CHECK(c != nullptr);
  CHECK_EQ(e.code, 0);
  if (e) std::fprintf(stderr, "open: %s %s: %s\n", e.syscall, e.detail.c_str(), strerror(e.code));
  return c;
}

bool eventually(const std::function<bool()>& done, int timeout_ms = 10000) {
  const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

bool drained(const Capture& c) { return c.completed() == c.last_ticket(); }

// The producer side, as the JS writer does it. No CHECKs inside, so a forked
// child can use it too: failures come back as `false`.
struct Producer {
  Capture& c;
  int32_t slot = -1;
  uint32_t pos = 0, frames = 0;
  uint32_t submits = 0;
  explicit Producer(Capture& cap) : c(cap) {}

  bool acquire(bool grow = false, uint32_t wait_ms = 5000) {
    bool grown = false;
    SysError e;
    const int32_t s = c.acquire(grow, wait_ms, &grown, e);
    if (s < 0 || e) return false;
    slot = s;
    pos = frames = 0;
    return true;
  }
  void store_commit(uint32_t v) {
    const int32_t commit = int32_t(v);
    std::memcpy(c.header_region()->data + commit_offset(uint32_t(slot)), &commit, 4);
  }
  bool fits(const Bytes& f) const { return pos + f.size() <= c.slab_size(); }
  // Copies the frame in and commits it.
  bool put(const Bytes& f) {
    if (slot < 0 || !fits(f)) return false;
    std::memcpy(c.slot_region(uint32_t(slot))->data + pos, f.data(), f.size());
    pos += uint32_t(f.size());
    frames++;
    store_commit(pos);
    return true;
  }
  bool put_all(const Frames& fs) {
    for (const Bytes& f : fs)
      if (!put(f)) return false;
    return true;
  }
  // Copies bytes after the commit without committing them (a frame being staged).
  void scribble(const Bytes& b) {
    std::memcpy(c.slot_region(uint32_t(slot))->data + pos, b.data(),
                std::min<size_t>(b.size(), c.slab_size() - pos));
  }
  void submit() {
    c.submit(uint32_t(slot), pos, frames);
    submits++;
    slot = -1;
  }
  // Stages every frame, handing the slot over whenever the next one does not
  // fit. The last slot stays FILLING.
  bool stage(const Frames& fs) {
    for (const Bytes& f : fs) {
      if (slot < 0 && !acquire()) return false;
      if (!fits(f)) {
        submit();
        if (!acquire()) return false;
      }
      if (!put(f)) return false;
    }
    return true;
  }
};

// The staging file as bytes on disk: its header and slot records.
struct Rec {
  int32_t state = -1, commit = 0;
  uint64_t seq = 0, offset = 0;
};
struct Staged {
  StagingHeader h{};
  std::vector<Rec> recs;
  uint64_t size = 0;
};
Staged read_staging(const std::string& path) {
  Staged s;
  const Bytes b = read_all(path);
  s.size = b.size();
  if (b.size() < sizeof(StagingHeader)) return s;
  std::memcpy(&s.h, b.data(), sizeof s.h);
  for (uint32_t i = 0; i < s.h.max_slots; ++i) {
    const size_t at = sizeof(StagingHeader) + size_t{i} * sizeof(SlotRecord);
    if (at + sizeof(SlotRecord) > b.size()) break;
    Rec r;
    std::memcpy(&r.state, &b[at], 4);
    std::memcpy(&r.commit, &b[at + 4], 4);
    std::memcpy(&r.seq, &b[at + 8], 8);
    std::memcpy(&r.offset, &b[at + 16], 8);
    s.recs.push_back(r);
  }
  return s;
}

// The state of slot i in the live header mapping.
int32_t live_state(const Capture& c, uint32_t slot) {
  int32_t v;
  std::memcpy(&v, c.header_region()->data + sizeof(StagingHeader) + slot * sizeof(SlotRecord), 4);
  return v;
}

// The stream's clean mark (docs/design.md, "Capture staging: space, claims
// and identity"): end, kind, header size, slab size.
struct Mark {
  uint64_t end = 0;
  int32_t kind = 0;
  uint32_t header_size = 0, slab_size = 0, pad = 0;
};
Mark read_mark(const std::string& stream) {
  Mark m;
  CHECK_EQ(getxattr(stream.c_str(), "user.flatstream.clean", &m, sizeof m), ssize_t(sizeof m));
  return m;
}

// After a clean close: no staging file is left, and the stream carries its
// end and format in its clean mark.
void check_clean_staging(const TempDir& d, int32_t kind, uint32_t header_size, uint32_t max_slots) {
  (void)max_slots;
  CHECK(!exists(d.staging()));
  CHECK(!exists(d.staging() + ".new"));
  const Mark m = read_mark(d.stream());
  CHECK_EQ(m.end, size_of(d.stream()));
  CHECK_EQ(m.kind, kind);
  CHECK_EQ(m.header_size, header_size);
}

// Writes `fs` with a fresh writer and closes it cleanly.
void write_cleanly(const TempDir& d, const Frames& fs, int32_t kind = kXx,
                   uint32_t header = kXxHeader) {
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kind, header));
  Producer p(*c);
  CHECK(p.stage(fs));
  CHECK(!c->close(5000));
}

// Runs `child` in a forked process (which must end itself) and returns its
// wait status.
int in_child(const std::function<void()>& child) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    child();
    _exit(99);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  return status;
}

bool killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
bool exited_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

}  // namespace

// --- 1. Round trip ------------------------------------------------------------

TEST_CASE(round_trip_across_slots_equals_seal_frames) {
  TempDir d;
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->slot_count(), 4u);
  CHECK_EQ(c->slab_size(), 4096u);
  CHECK_EQ(c->slot_bytes(), round_up(4096 + 256, page()));
  CHECK_EQ(c->header_region()->size, header_bytes_for(4));
  CHECK(c->slot_region(3) != nullptr);
  CHECK(c->slot_region(4) == nullptr);
  {
    bool grown = true;
    SysError e;
    CHECK_EQ(c->acquire(false, 0, &grown, e), int32_t(Capture::kFailed));  // not bound yet
    CHECK(!grown);
  }
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(c->bind(kXx, kXxHeader).code == EINVAL);  // once
  CHECK_EQ(c->recovery().slots, 0u);
  CHECK(!c->recovery().walked);

  const Frames fs = frames_of(60, 0, kXxHeader, 700);
  Producer p(*c);
  CHECK(p.stage(fs));
  const uint32_t filling_frames = p.frames, filling_bytes = p.pos;
  CHECK(p.submits >= 5);  // more slabs than slots: slots were reused
  CHECK(eventually([&] { return drained(*c); }));
  CHECK_EQ(c->last_ticket(), uint64_t{p.submits});
  CHECK_EQ(live_state(*c, uint32_t(p.slot)), int32_t(kSlotFilling));

  CHECK(!c->close(5000));
  CHECK(c->closed());
  CHECK(read_all(d.stream()) == sealed(fs));

  const CaptureStats s = c->stats();
  CHECK_EQ(s.frames, fs.size() - filling_frames);  // handed over
  CHECK_EQ(s.bytes, bytes_of(fs) - filling_bytes);
  CHECK_EQ(s.frames_written, fs.size());  // the FILLING slot's too, at close
  CHECK_EQ(s.bytes_written, bytes_of(fs));
  CHECK_EQ(s.flushes, uint64_t{p.submits});
  CHECK_EQ(s.writes, uint64_t{p.submits} + 1);  // + the FILLING slot, at close
  CHECK_EQ(s.fsyncs, 0u);
  CHECK_EQ(s.errors, 0u);
  CHECK_EQ(s.queue_depth, 0u);
  CHECK_EQ(s.slots, 4u);
  CHECK_EQ(s.latency.samples, s.writes);

  check_clean_staging(d, kXx, kXxHeader, 4);
  CHECK(!c->close(0));  // idempotent
  CHECK(read_all(d.stream()) == sealed(fs));
}

TEST_CASE(a_clean_reopen_appends_without_walking_or_recovering) {
  TempDir d;
  const Frames first = frames_of(10, 1), second = frames_of(25, 2);
  write_cleanly(d, first);
  auto c = open_capture(d, small_config(2, 2));
  if (!c) return;
  CHECK_EQ(c->recovery().slots, 0u);
  CHECK_EQ(c->recovery().torn_bytes, 0u);
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(!c->recovery().walked);  // the clean staging header says where the stream ends
  Producer p(*c);
  CHECK(p.stage(second));
  p.submit();
  CHECK(!c->close(5000));
  CHECK(read_all(d.stream()) == sealed(first + second));
  CHECK_EQ(c->stats().frames_written, second.size());
  check_clean_staging(d, kXx, kXxHeader, 2);
}

TEST_CASE(custom_kind_is_written_as_staged) {
  TempDir d;
  // 8-byte headers whose 4-byte checksum the producer fills in itself.
  Frames fs = frames_of(30, 3, 8);
  for (size_t i = 0; i < fs.size(); ++i) store_u32le(&fs[i][4], 0xC0DE0000u + uint32_t(i));
  write_cleanly(d, fs, kCustomKind, 8);
  CHECK(read_all(d.stream()) == concat(fs));
  check_clean_staging(d, kCustomKind, 8, 4);
}

TEST_CASE(submitting_an_empty_slot_frees_it_and_writes_nothing) {
  TempDir d;
  auto c = open_capture(d, small_config(1, 1));
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  Producer p(*c);
  CHECK(p.acquire(false, 0));
  const int32_t first = p.slot;
  p.submit();  // 0 bytes
  CHECK_EQ(c->last_ticket(), 0u);
  CHECK(p.acquire(false, 0));  // the only slot is free again
  CHECK_EQ(p.slot, first);
  const Frames fs = frames_of(3, 4);
  CHECK(p.put_all(fs));
  p.submit();
  CHECK(!c->close(5000));
  CHECK(read_all(d.stream()) == sealed(fs));
  CHECK_EQ(c->stats().flushes, 1u);
}

// A slot whose committed bytes are not whole frames (a producer bug, or a
// hostile write into the shared mapping) is never written: the thread fails
// with EINVAL naming where the frames stop, and the stream keeps only what
// came before (docs/design.md, "The native core: capture and binding").
TEST_CASE(a_slot_that_is_not_whole_frames_fails_the_capture_and_writes_nothing) {
  TempDir d;
  auto c = open_capture(d, small_config(2, 2));
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  const Frames fs = frames_of(3, 5);
  Producer p(*c);
  CHECK(p.acquire(false, 0) && p.put_all(fs));
  p.submit();
  CHECK(eventually([&] { return c->completed() >= 1; }));
  // A frame that declares 1000 bytes, submitted with 20 of them.
  bool grown = false;
  SysError e;
  const int32_t slot = c->acquire(false, 0, &grown, e);
  CHECK(slot >= 0);
  if (slot < 0) return;
  uint8_t* data = c->slot_region(uint32_t(slot))->data;
  const Bytes whole = frame(6, 9);
  std::memcpy(data, whole.data(), whole.size());
  store_u32le(data + whole.size(), 1000);
  const uint32_t len = uint32_t(whole.size()) + 20;
  c->submit(uint32_t(slot), len, 2);
  CHECK(eventually([&] { return c->error().code != 0; }));
  const SysError err = c->error();
  CHECK_EQ(err.code, EINVAL);
  CHECK(std::strcmp(err.syscall, "write") == 0);
  CHECK(err.detail == d.stream() + ": staged bytes are not whole frames at offset " +
                          std::to_string(whole.size()) + " of slot " + std::to_string(slot));
  CHECK(read_all(d.stream()) == sealed(fs));  // nothing of the bad slot
  CHECK_EQ(c->stats().frames_written, fs.size());
  CHECK(c->close(1000).code == EINVAL);
}

// --- 2. Crash and recovery ------------------------------------------------------

namespace {

// What the crashed writer staged: A and B were written by its thread, C and
// D handed over but stuck behind a stalled write, E FILLING (committed), and
// a frame past E's commit that was never committed.
struct CrashPlan {
  Frames a = frames_of(5, 11), b = frames_of(6, 12), c = frames_of(4, 13), d = frames_of(7, 14),
         e = frames_of(2, 15);
  Bytes uncommitted = frame(300, 99);
  Frames all() const { return a + b + c + d + e; }
};

enum class Death { kExit, kKill };

// In a forked child: opens, binds, stages the plan, dies without close.
// Exits with a code >= 10 if something went wrong before the planned death.
[[noreturn]] void crash_child(const TempDir& dir, const CrashPlan& plan, Death how, int32_t kind,
                              uint32_t header) {
  SysError e;
  std::unique_ptr<Capture> c = Capture::open(dir.stream(), dir.staging(), small_config(), e);
  if (!c) _exit(10);
  if (c->bind(kind, header)) _exit(11);
  Producer p(*c);
  // Slots 0 and 1, written by the thread.
  if (!p.acquire() || p.slot != 0 || !p.put_all(plan.a)) _exit(12);
  p.submit();
  if (!p.acquire() || p.slot != 1 || !p.put_all(plan.b)) _exit(13);
  p.submit();
  if (!eventually([&] { return drained(*c); })) _exit(14);
  // The thread stalls on its next write (it seals slot 2 first, then sleeps).
  Fault stall;
  stall.delay_ms = 60000;
  c->inject(stall);
  // Free slots are reused in the order they were freed: 2, 3, then 0.
  if (!p.acquire() || p.slot != 2 || !p.put_all(plan.c)) _exit(15);
  p.submit();
  if (!p.acquire() || p.slot != 3 || !p.put_all(plan.d)) _exit(16);
  p.submit();
  if (!p.acquire() || p.slot != 0 || !p.put_all(plan.e)) _exit(17);
  p.scribble(plan.uncommitted);
  if (how == Death::kKill) raise(SIGKILL);
  _exit(0);
}

// Crashes a writer of `plan` after `prefix` was written cleanly; checks the
// staging file the dead writer left. Returns the offset of slab C.
uint64_t crash_after(const TempDir& d, const Frames& prefix, const CrashPlan& plan, Death how,
                     int32_t kind = kXx, uint32_t header = kXxHeader) {
  if (!prefix.empty()) write_cleanly(d, prefix, kind, header);
  const int status = in_child([&] { crash_child(d, plan, how, kind, header); });
  CHECK(how == Death::kKill ? killed(status) : exited_ok(status));
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    std::fprintf(stderr, "crash child failed with %d\n", WEXITSTATUS(status));

  const uint64_t off_c = bytes_of(prefix) + bytes_of(plan.a) + bytes_of(plan.b);
  const uint64_t off_d = off_c + bytes_of(plan.c), off_e = off_d + bytes_of(plan.d);
  CHECK(read_all(d.stream()) == sealed(prefix + plan.a + plan.b, kind));
  const Staged s = read_staging(d.staging());
  CHECK_EQ(s.size, header_bytes_for(4) + 4 * round_up(4096 + 256, page()));
  CHECK_EQ(s.h.clean, 0u);
  CHECK_EQ(s.h.kind, kind);
  CHECK_EQ(s.h.header_size, header);
  CHECK_EQ(s.h.slot_count, 4u);
  CHECK_EQ(s.h.stream_end, off_c);
  CHECK_EQ(s.recs.size(), 4u);
  if (s.recs.size() == 4) {
    CHECK_EQ(s.recs[0].state, int32_t(kSlotFilling));
    CHECK_EQ(s.recs[0].commit, int32_t(bytes_of(plan.e)));
    CHECK_EQ(s.recs[0].seq, 5u);
    CHECK_EQ(s.recs[0].offset, off_e);
    CHECK_EQ(s.recs[1].state, int32_t(kSlotFree));
    CHECK_EQ(s.recs[2].state, int32_t(kSlotSealed));
    CHECK_EQ(s.recs[2].commit, int32_t(bytes_of(plan.c)));
    CHECK_EQ(s.recs[2].seq, 3u);
    CHECK_EQ(s.recs[2].offset, off_c);
    CHECK_EQ(s.recs[3].state, int32_t(kSlotSealed));
    CHECK_EQ(s.recs[3].commit, int32_t(bytes_of(plan.d)));
    CHECK_EQ(s.recs[3].seq, 4u);
    CHECK_EQ(s.recs[3].offset, off_d);
  }
  return off_c;
}

// Reopens after a crash_after() (with another geometry: recovery must use
// the dead writer's) and checks what was recovered; then writes `more` and
// closes. `expect` is what the stream must hold after recovery.
void reopen_and_check(const TempDir& d, const CrashPlan& plan, const Bytes& expect,
                      uint64_t torn_bytes, int32_t kind = kXx, uint32_t header = kXxHeader) {
  CaptureConfig other;
  other.slab_size = 8192;
  other.scratch_size = 0;
  other.initial_slots = 2;
  other.max_slots = 3;
  auto c = open_capture(d, other);
  if (!c) return;
  const RecoveryInfo& r = c->recovery();
  CHECK_EQ(r.slots, 3u);  // C, D and E (E's commit only)
  CHECK_EQ(r.frames, plan.c.size() + plan.d.size() + plan.e.size());
  CHECK_EQ(r.bytes, bytes_of(plan.c) + bytes_of(plan.d) + bytes_of(plan.e));
  CHECK_EQ(r.torn_bytes, torn_bytes);
  CHECK(!r.walked);
  CHECK(read_all(d.stream()) == expect);
  CHECK_EQ(c->slot_count(), 2u);
  CHECK_EQ(c->slab_size(), 8192u);
  CHECK_EQ(c->stats().frames, 0u);  // recovered frames are not this writer's
  // The fresh staging no longer holds the drained slots.
  const Staged s = read_staging(d.staging());
  CHECK_EQ(s.h.clean, 0u);
  CHECK_EQ(s.h.slot_count, 2u);
  CHECK_EQ(s.h.kind, kind);  // the stream's format, kept until a writer binds
  CHECK_EQ(s.size, header_bytes_for(3) + 2 * round_up(8192, page()));

  CHECK(!c->bind(kind, header));
  CHECK(!c->recovery().walked);  // the end is known after a drain
  const Frames more = frames_of(9, 16, header);
  Producer p(*c);
  CHECK(p.stage(more));
  CHECK(!c->close(5000));
  CHECK(read_all(d.stream()) == expect + sealed(more, kind));
  check_clean_staging(d, kind, header, 3);
}

}  // namespace

TEST_CASE(sigkill_recovery_drains_every_committed_frame_in_order) {
  TempDir d;
  const CrashPlan plan;
  const Frames prefix = frames_of(3, 10);
  crash_after(d, prefix, plan, Death::kKill);
  reopen_and_check(d, plan, sealed(prefix + plan.all()), 0);
}

TEST_CASE(exit_without_close_recovers_too) {
  TempDir d;
  const CrashPlan plan;
  crash_after(d, {}, plan, Death::kExit);
  reopen_and_check(d, plan, sealed(plan.all()), 0);
}

TEST_CASE(recovery_rewrites_a_torn_slab_and_cuts_garbage_after_the_last_slot) {
  TempDir d;
  const CrashPlan plan;
  const Frames prefix = frames_of(2, 20);
  const uint64_t off_c = crash_after(d, prefix, plan, Death::kExit);
  const Bytes expect = sealed(prefix + plan.all());
  // As if the thread had died halfway through writing C, after something
  // (a bigger, older write) had left bytes past where E ends.
  const uint64_t end_e = expect.size();
  Bytes torn = slice(expect, off_c, off_c + bytes_of(plan.c) / 2);
  torn.resize(end_e + 123 - off_c);
  for (size_t i = bytes_of(plan.c) / 2; i < torn.size(); ++i) torn[i] = uint8_t(0xA5 ^ i);
  write_at(d.stream(), torn, off_c, true);
  CHECK_EQ(size_of(d.stream()), end_e + 123);
  reopen_and_check(d, plan, expect, 123);
}

TEST_CASE(recovery_rewrites_a_stream_cut_in_the_middle_of_a_pending_slot) {
  TempDir d;
  const CrashPlan plan;
  const Frames prefix = frames_of(4, 21);
  const uint64_t off_c = crash_after(d, prefix, plan, Death::kKill);
  const Bytes expect = sealed(prefix + plan.all());
  // C written whole, D half: the stream ends before E.
  const uint64_t cut = off_c + bytes_of(plan.c) + bytes_of(plan.d) / 2;
  write_at(d.stream(), slice(expect, off_c, cut), off_c, true);
  CHECK_EQ(size_of(d.stream()), cut);
  reopen_and_check(d, plan, expect, 0);
}

TEST_CASE(recovery_appends_at_the_end_of_a_stream_cut_before_the_first_pending_slot) {
  // Documented in recover_staging: slots never go after a hole; a stream cut
  // shorter than the first pending offset gets them at its end.
  TempDir d;
  const CrashPlan plan;
  const Frames prefix = frames_of(4, 22);
  const uint64_t off_c = crash_after(d, prefix, plan, Death::kKill);
  truncate_file(d.stream(), off_c - 5);
  const Bytes expect =
      slice(sealed(prefix + plan.a + plan.b), 0, off_c - 5) + sealed(plan.c + plan.d + plan.e);
  reopen_and_check(d, plan, expect, 0);
}

TEST_CASE(recovery_of_a_custom_kind_writes_the_staged_bytes_as_they_are) {
  TempDir d;
  CrashPlan plan;
  for (Frames* fs : {&plan.a, &plan.b, &plan.c, &plan.d, &plan.e}) {
    for (Bytes& f : *fs) {
      Bytes g(f.size() - 4);  // 8-byte headers: [len][4 producer bytes]
      std::memcpy(g.data(), f.data(), 4);
      store_u32le(&g[4], 0xFEEDF00Du);
      std::memcpy(g.data() + 8, f.data() + 12, f.size() - 12);
      f = g;
    }
  }
  crash_after(d, {}, plan, Death::kKill, kCustomKind, 8);
  reopen_and_check(d, plan, concat(plan.all()), 0, kCustomKind, 8);
}

// A staging header whose built-in kind and frame header size disagree was
// not written by a writer: its slots could only be walked with one size and
// sealed with another, so it is refused and nothing is written.
TEST_CASE(a_staging_whose_kind_and_header_size_disagree_is_refused) {
  TempDir d;
  const int status = in_child([&] {
    auto c = open_capture(d, small_config());
    if (!c || c->bind(kXx, kXxHeader)) _exit(1);
    Producer p(*c);
    if (!p.acquire(false, 0) || !p.put_all(frames_of(3, 7))) _exit(1);
    kill(getpid(), SIGKILL);
  });
  CHECK(killed(status));
  const uint32_t crc32_header = kCrc32Header;  // kind stays XXH3 (12-byte headers)
  write_at(d.staging(),
           Bytes(reinterpret_cast<const uint8_t*>(&crc32_header),
                 reinterpret_cast<const uint8_t*>(&crc32_header) + 4),
           offsetof(StagingHeader, header_size), false);
  const Bytes staging = read_all(d.staging());
  SysError e;
  CHECK(Capture::open(d.stream(), d.staging(), small_config(), e) == nullptr);
  CHECK_EQ(e.code, EINVAL);
  CHECK(e.detail == d.staging() + ": not a flatstream staging file");
  CHECK_EQ(size_of(d.stream()), 0u);
  CHECK(read_all(d.staging()) == staging);
}

TEST_CASE(a_writer_that_dies_before_staging_anything_leaves_nothing_to_recover) {
  TempDir d;
  const Frames prefix = frames_of(3, 23);
  write_cleanly(d, prefix);
  const int status = in_child([&] {
    SysError e;
    auto c = Capture::open(d.stream(), d.staging(), small_config(), e);
    if (!c || c->bind(kXx, kXxHeader)) _exit(10);
    Producer p(*c);
    if (!p.acquire()) _exit(11);  // FILLING, nothing committed
    raise(SIGKILL);
  });
  CHECK(killed(status));
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->recovery().slots, 0u);
  CHECK_EQ(c->recovery().torn_bytes, 0u);
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(!c->recovery().walked);
  CHECK(!c->close(5000));
  CHECK(read_all(d.stream()) == sealed(prefix));
}

// --- 3. The torn-tail walk --------------------------------------------------------

TEST_CASE(walk_tail_cuts_a_torn_header_or_payload_and_keeps_a_clean_end) {
  const Frames fs = frames_of(9, 30);
  const Bytes whole = sealed(fs);
  Bytes torn_payload = frame(100, 1);
  torn_payload.resize(kXxHeader + 40);
  Bytes header_only = frame(100, 2);
  header_only.resize(kXxHeader);
  const Bytes tails[] = {Bytes{}, Bytes{0x10, 0, 0, 0, 1, 2, 3}, torn_payload, header_only,
                         Bytes{0, 0, 0, 0}};
  for (const Bytes& tail : tails) {
    TempDir d;  // no staging file: the end of the stream is not known
    write_file(d.stream(), whole + tail);
    auto c = open_capture(d, small_config());
    if (!c) continue;
    CHECK(!c->recovery().walked);
    CHECK(!c->bind(kXx, kXxHeader));
    CHECK(c->recovery().walked);
    CHECK_EQ(c->recovery().torn_bytes, tail.size());
    CHECK_EQ(c->recovery().slots, 0u);
    CHECK(read_all(d.stream()) == whole);
    // It appends right after the last whole frame.
    const Frames more = frames_of(2, 31);
    Producer p(*c);
    CHECK(p.stage(more));
    CHECK(!c->close(5000));
    CHECK(read_all(d.stream()) == whole + sealed(more));
    check_clean_staging(d, kXx, kXxHeader, 4);
  }
}

TEST_CASE(walk_tail_verifies_checksums_and_refuses_damage_instead_of_cutting) {
  // A flipped bit in frame 5's payload, or frames of another checksum: the
  // walk stops there with EINVAL and the offset, and the stream is untouched.
  const Frames fs = frames_of(9, 33);
  Bytes damaged = sealed(fs);
  const size_t at = bytes_of(Frames(fs.begin(), fs.begin() + 5));
  damaged[at + kXxHeader] ^= 0x01;
  TempDir d;
  write_file(d.stream(), damaged + Bytes({0x10, 0, 0}));
  auto c = open_capture(d, small_config());
  if (!c) return;
  const SysError e = c->bind(kXx, kXxHeader);
  CHECK_EQ(e.code, EINVAL);
  CHECK(e.detail.find("the frame at offset " + std::to_string(at) + " fails its checksum") !=
        std::string::npos);
  const Bytes with_tail = damaged + Bytes{0x10, 0, 0};
  CHECK(read_all(d.stream()) == with_tail);
  // CRC32 frames read as XXH3 frames: the first one fails.
  TempDir other;
  write_file(other.stream(), sealed(frames_of(3, 34, kCrc32Header), kCrc32));
  auto c2 = open_capture(other, small_config());
  if (!c2) return;
  CHECK_EQ(c2->bind(kXx, kXxHeader).code, EINVAL);
}

TEST_CASE(bind_refuses_a_header_size_that_does_not_match_the_kind) {
  TempDir d;
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->bind(kXx, 8).code, EINVAL);
  CHECK_EQ(c->bind(kCustomKind, 3).code, EINVAL);
  CHECK_EQ(c->bind(kCustomKind, 13).code, EINVAL);
  CHECK_EQ(c->bind(77, 4).code, EINVAL);
  CHECK_EQ(c->bind(kXx, kXxHeader).code, 0);
}

TEST_CASE(an_all_zero_staging_file_is_new) {
  // A writer killed inside layout(), before the magic was written.
  TempDir d;
  write_file(d.staging(), Bytes(8192, 0));
  chmod(d.staging().c_str(), 0600);
  write_file(d.stream(), sealed(frames_of(2, 35)));
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->recovery().slots, 0u);
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(c->recovery().walked);  // nothing said where the stream ends
}

TEST_CASE(a_staging_file_others_can_read_or_write_is_refused) {
  TempDir d;
  write_file(d.staging(), Bytes{});
  chmod(d.staging().c_str(), 0644);
  SysError e;
  auto c = Capture::open(d.stream(), d.staging(), small_config(), e);
  CHECK(c == nullptr);
  CHECK_EQ(e.code, EACCES);
  CHECK(e.detail.find("not a private file of this user") != std::string::npos);
}

TEST_CASE(walk_tail_uses_the_bound_header_size) {
  // The same bytes are whole frames with 4-byte headers: nothing is cut.
  TempDir d;
  const Frames fs = frames_of(6, 32, 4);
  write_file(d.stream(), concat(fs) + Bytes{3, 0, 0, 0, 'a'});
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kCustomKind, 4));
  CHECK(c->recovery().walked);
  CHECK_EQ(c->recovery().torn_bytes, 5u);
  CHECK(read_all(d.stream()) == concat(fs));
}

TEST_CASE(walk_tail_across_its_read_window) {
  // Frames around and larger than the 1 MiB read window: a header straddling
  // the window's end, a frame longer than the window, then a torn frame.
  TempDir d;
  const uint32_t window = 1u << 20;
  const Frames fs = {frame(window - 6 - kXxHeader, 40), frame(window + window / 2, 41),
                     frame(10, 42), frame(0, 43)};
  const Bytes whole = sealed(fs);
  Bytes torn = frame(5000, 44);
  torn.resize(kXxHeader + 100);
  write_file(d.stream(), whole + torn);
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(c->recovery().walked);
  CHECK_EQ(c->recovery().torn_bytes, kXxHeader + 100u);
  CHECK_EQ(size_of(d.stream()), whole.size());
  CHECK(!c->close(5000));
  CHECK(read_all(d.stream()) == whole);
}

TEST_CASE(a_new_or_empty_stream_is_not_walked) {
  TempDir d;
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(!c->recovery().walked);
  CHECK(!c->close(5000));
  CHECK_EQ(size_of(d.stream()), 0u);
  check_clean_staging(d, kXx, kXxHeader, 4);
}

TEST_CASE(a_stream_changed_after_a_clean_close_is_walked) {
  TempDir d;
  const Frames fs = frames_of(5, 50), other = frames_of(3, 51);
  write_cleanly(d, fs);
  // Someone else appended whole frames, then a torn one.
  Bytes torn = frame(60, 52);
  torn.resize(20);
  write_file(d.stream(), sealed(fs) + sealed(other) + torn);
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(c->recovery().walked);
  CHECK_EQ(c->recovery().torn_bytes, 20u);
  CHECK(!c->close(5000));
  CHECK(read_all(d.stream()) == sealed(fs + other));
  // Now the staging records that end: no walk.
  c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(!c->recovery().walked);
}

// --- 4. Format mismatch -------------------------------------------------------------

TEST_CASE(binding_another_format_to_a_non_empty_stream_is_einval) {
  TempDir d;
  const Frames fs = frames_of(4, 60);
  write_cleanly(d, fs);
  const Bytes before = read_all(d.stream());
  {
    auto c = open_capture(d, small_config());
    if (!c) return;
    CHECK_EQ(c->bind(kCrc32, kCrc32Header).code, EINVAL);    // another kind and header
    CHECK_EQ(c->bind(kCustomKind, kXxHeader).code, EINVAL);  // another kind
    CHECK_EQ(c->bind(kXx, 8).code, EINVAL);                  // another header size
    CHECK(read_all(d.stream()) == before);
    bool grown;
    SysError e;
    CHECK_EQ(c->acquire(false, 0, &grown, e), int32_t(Capture::kFailed));
    CHECK(!c->bind(kXx, kXxHeader));  // the right one still binds
    CHECK(!c->close(5000));
  }
  CHECK(read_all(d.stream()) == before);
  // An empty stream takes any format.
  truncate_file(d.stream(), 0);
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kCrc32, kCrc32Header));
  const Frames crc = frames_of(3, 61, kCrc32Header);
  Producer p(*c);
  CHECK(p.stage(crc));
  CHECK(!c->close(5000));
  CHECK(read_all(d.stream()) == sealed(crc, kCrc32));
}

TEST_CASE(a_crashed_writers_format_is_enforced_after_its_slots_are_drained) {
  TempDir d;
  const CrashPlan plan;
  crash_after(d, {}, plan, Death::kKill);
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->recovery().slots, 3u);
  CHECK(read_all(d.stream()) == sealed(plan.all()));  // sealed with the dead writer's kind
  CHECK_EQ(c->bind(kCrc32, kCrc32Header).code, EINVAL);
  CHECK(read_all(d.stream()) == sealed(plan.all()));
}

// The staging keeps the stream's format across opens that never bind (a
// refused bind, a sink closed before any writer was attached), so the next
// open still refuses another format.
TEST_CASE(the_format_record_survives_a_refused_bind_and_an_unbound_close) {
  TempDir d;
  write_cleanly(d, frames_of(4, 62));
  {
    auto c = open_capture(d, small_config());
    if (!c) return;
    CHECK_EQ(c->bind(kCrc32, kCrc32Header).code, EINVAL);
  }  // destroyed after the refused bind
  {
    auto c = open_capture(d, small_config());
    if (!c) return;
    CHECK_EQ(c->bind(kCrc32, kCrc32Header).code, EINVAL);  // fails: the bind succeeds
  }
  // Same with an open and close without any bind.
  TempDir d2;
  write_cleanly(d2, frames_of(4, 63));
  {
    auto c = open_capture(d2, small_config());
    if (!c) return;
    CHECK(!c->close(1000));
  }
  CHECK_EQ(read_mark(d2.stream()).kind, kXx);  // fails: kUnboundKind
  auto c = open_capture(d2, small_config());
  if (!c) return;
  CHECK_EQ(c->bind(kCrc32, kCrc32Header).code, EINVAL);  // fails: the bind succeeds
}

// --- 5. One live writer ---------------------------------------------------------------

TEST_CASE(a_second_open_of_the_same_paths_is_ebusy_and_leaves_the_first_alone) {
  TempDir d;
  auto first = open_capture(d, small_config());
  if (!first) return;
  CHECK(!first->bind(kXx, kXxHeader));
  const Frames fs = frames_of(20, 70);
  Producer p(*first);
  CHECK(p.stage(Frames(fs.begin(), fs.begin() + 10)));
  {
    SysError e;
    auto second = Capture::open(d.stream(), d.staging(), small_config(), e);
    CHECK(second == nullptr);
    CHECK_EQ(e.code, EBUSY);
    CHECK(std::strcmp(e.syscall, "flock") == 0);
    // The stream is what is locked: another staging path does not help.
    // (Two streams must not share one staging path: that is not checked.)
    SysError e2;
    auto third = Capture::open(d.stream(), d.path + "/other.staging", small_config(), e2);
    CHECK(third == nullptr);
    CHECK_EQ(e2.code, EBUSY);
  }  // the refused opens closed their descriptors: the first keeps its lock
  {
    SysError e;
    CHECK(Capture::open(d.stream(), d.staging(), small_config(), e) == nullptr);
    CHECK_EQ(e.code, EBUSY);
  }
  CHECK(p.stage(Frames(fs.begin() + 10, fs.end())));
  CHECK(!first->close(5000));
  CHECK(read_all(d.stream()) == sealed(fs));
  check_clean_staging(d, kXx, kXxHeader, 4);
  // Closed: the paths are free again.
  auto again = open_capture(d, small_config());
  CHECK(again != nullptr);
}

// --- 6. Faults ---------------------------------------------------------------------

TEST_CASE(a_failed_write_is_sticky_and_a_reopen_writes_what_was_left) {
  TempDir d;
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  std::atomic<int> notified{0};
  c->set_notify([&] { notified++; });
  Fault f;
  f.code = ENOSPC;
  f.after_writes = 1;
  f.delay_ms = 200;  // keeps the thread on slot 0 while slots 1 and 2 are taken
  c->inject(f);
  const Frames a = frames_of(5, 80), b = frames_of(6, 81), e = frames_of(3, 82);
  Producer p(*c);
  CHECK(p.acquire() && p.put_all(a));
  p.submit();  // written (after the delay)
  CHECK(p.acquire() && p.put_all(b));
  p.submit();                          // fails with ENOSPC
  CHECK(p.acquire() && p.put_all(e));  // stays FILLING
  const int32_t filling = p.slot;
  CHECK(eventually([&] { return c->error().code != 0; }));
  const SysError err = c->error();
  CHECK_EQ(err.code, ENOSPC);
  CHECK(std::strcmp(err.syscall, "write") == 0);
  CHECK(eventually([&] { return notified.load() >= 1; }));  // notified on failure
  {
    bool grown;
    SysError e2;
    CHECK_EQ(c->acquire(false, 0, &grown, e2), int32_t(Capture::kFailed));
    CHECK_EQ(c->acquire(true, 100, &grown, e2), int32_t(Capture::kFailed));
    CHECK(!grown);
  }
  CaptureStats s = c->stats();
  CHECK_EQ(s.errors, 1u);
  CHECK_EQ(s.writes, 1u);
  CHECK_EQ(s.frames, a.size() + b.size());
  CHECK_EQ(s.frames_written, a.size());
  CHECK_EQ(s.bytes_written, bytes_of(a));
  CHECK_EQ(s.queue_depth, 1u);
  CHECK_EQ(c->completed(), 1u);
  CHECK(read_all(d.stream()) == sealed(a));
  CHECK_EQ(c->flush_sync(100).code, ENOSPC);
  CHECK_EQ(c->close(1000).code, ENOSPC);
  CHECK(c->closed());
  // Nothing pending was dropped from the staging file.
  const Staged st = read_staging(d.staging());
  CHECK_EQ(st.h.clean, 0u);
  CHECK_EQ(st.recs[1].state, int32_t(kSlotSealed));
  CHECK_EQ(st.recs[1].commit, int32_t(bytes_of(b)));
  CHECK_EQ(st.recs[uint32_t(filling)].state, int32_t(kSlotFilling));
  CHECK_EQ(st.recs[uint32_t(filling)].commit, int32_t(bytes_of(e)));
  c.reset();

  c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->recovery().slots, 2u);
  CHECK_EQ(c->recovery().frames, b.size() + e.size());
  CHECK_EQ(c->recovery().bytes, bytes_of(b) + bytes_of(e));
  CHECK_EQ(c->recovery().torn_bytes, 0u);
  CHECK(read_all(d.stream()) == sealed(a + b + e));
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(!c->close(5000));
  check_clean_staging(d, kXx, kXxHeader, 4);
}

TEST_CASE(a_failed_flush_sync_leaves_the_filling_slot_for_a_reopen) {
  TempDir d;
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  Fault f;
  f.code = EIO;
  c->inject(f);
  const Frames fs = frames_of(4, 83);
  Producer p(*c);
  CHECK(p.acquire() && p.put_all(fs));
  CHECK_EQ(c->flush_sync(1000).code, EIO);
  CHECK_EQ(c->error().code, EIO);
  CHECK_EQ(c->stats().errors, 1u);
  CHECK_EQ(c->close(1000).code, EIO);
  CHECK_EQ(size_of(d.stream()), 0u);
  // Reopened while the closed capture (and its staging mappings) still lives.
  c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->recovery().slots, 1u);
  CHECK_EQ(c->recovery().frames, fs.size());
  CHECK(read_all(d.stream()) == sealed(fs));
}

// --- 7. Policies, at the core level ------------------------------------------------

TEST_CASE(acquire_none_timeout_and_grow_up_to_max_slots) {
  TempDir d;
  auto c = open_capture(d, small_config(2, 4));
  if (!c) return;
  CHECK_EQ(c->slot_count(), 2u);
  CHECK_EQ(read_staging(d.staging()).size, header_bytes_for(4) + 2 * c->slot_bytes());
  CHECK(!c->bind(kXx, kXxHeader));
  Fault slow;
  slow.delay_ms = 400;  // every slot write: the thread stays busy
  c->inject(slow);
  Frames all;
  Producer p(*c);
  for (uint32_t i = 0; i < 2; ++i) {
    const Frames fs = frames_of(3, 90 + i);
    CHECK(p.acquire(false, 0) && p.put_all(fs));
    all = all + fs;
    p.submit();
  }
  bool grown = true;
  SysError e;
  CHECK_EQ(c->acquire(false, 0, &grown, e), int32_t(Capture::kNone));
  CHECK(!grown);
  const auto t0 = Clock::now();
  CHECK_EQ(c->acquire(false, 30, &grown, e), int32_t(Capture::kTimeout));
  CHECK(Clock::now() - t0 >= std::chrono::milliseconds(30));
  CHECK(!e);
  for (uint32_t n = 3; n <= 4; ++n) {
    const int32_t s = c->acquire(true, 0, &grown, e);
    CHECK_EQ(s, int32_t(n - 1));
    // Slot 2 is grown by acquire (none free); taking it, the last free one,
    // makes the grower thread add slot 3 ahead of need.
    CHECK_EQ(grown, n == 3);
    CHECK(!e);
    CHECK(eventually([&] { return c->slot_count() == 4; }));
    CHECK_EQ(reinterpret_cast<const StagingHeader*>(c->header_region()->data)->slot_count, 4u);
    CHECK_EQ(size_of(d.staging()), header_bytes_for(4) + 4 * c->slot_bytes());
    CHECK(c->slot_region(n - 1) != nullptr);
    CHECK_EQ(c->slot_region(n - 1)->size, c->slot_bytes());
    CHECK_EQ(live_state(*c, n - 1), int32_t(kSlotFilling));
    p.slot = s;
    p.pos = p.frames = 0;
    const Frames fs = frames_of(2, 92 + n);
    CHECK(p.put_all(fs));
    all = all + fs;
    p.submit();
  }
  CHECK_EQ(c->acquire(true, 0, &grown, e), int32_t(Capture::kNone));  // at max_slots
  CHECK(!grown);
  CHECK_EQ(c->stats().slots, 4u);
  CHECK_EQ(c->stats().grown_ahead, 1u);
  CHECK(c->stats().queue_depth >= 3u);
  // Waiting (with growth allowed, at the cap) gets the first slot written.
  CHECK_EQ(c->acquire(true, 10000, &grown, e), 0);
  CHECK(!grown);
  p.slot = 0;
  p.pos = p.frames = 0;
  const Frames last = frames_of(1, 99);
  CHECK(p.put_all(last));
  all = all + last;
  c->inject(Fault{});
  CHECK(!c->close(10000));
  CHECK(read_all(d.stream()) == sealed(all));
  CHECK_EQ(c->stats().writes, 5u);
  check_clean_staging(d, kXx, kXxHeader, 4);
}

TEST_CASE(a_crash_after_growing_recovers_the_grown_slots) {
  TempDir d;
  const Frames a = frames_of(3, 100), b = frames_of(4, 101), g = frames_of(5, 102);
  const int status = in_child([&] {
    SysError e;
    auto c = Capture::open(d.stream(), d.staging(), small_config(1, 3), e);
    if (!c || c->bind(kXx, kXxHeader)) _exit(10);
    Fault stall;
    stall.delay_ms = 60000;
    c->inject(stall);
    Producer p(*c);
    if (!p.acquire(false, 0) || !p.put_all(a)) _exit(11);
    p.submit();
    if (!p.acquire(true, 0) || p.slot != 1 || !p.put_all(b)) _exit(12);
    p.submit();
    if (!p.acquire(true, 0) || p.slot != 2 || !p.put_all(g)) _exit(13);
    raise(SIGKILL);
  });
  CHECK(killed(status));
  CHECK_EQ(read_staging(d.staging()).h.slot_count, 3u);
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->recovery().slots, 3u);
  CHECK_EQ(c->recovery().frames, a.size() + b.size() + g.size());
  CHECK(read_all(d.stream()) == sealed(a + b + g));
}

// --- 8. flush_sync ------------------------------------------------------------------

TEST_CASE(flush_sync_writes_the_filling_prefix_and_a_later_submit_rewrites_it) {
  TempDir d;
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->flush_sync(100));  // not bound: nothing to do
  CHECK(!c->bind(kXx, kXxHeader));
  CHECK(!c->flush_sync(100));  // nothing filling
  CHECK_EQ(c->stats().writes, 0u);
  const Frames first = frames_of(3, 110), rest = frames_of(4, 111);
  Producer p(*c);
  CHECK(p.acquire() && p.put_all(first));
  p.scribble(frame(50, 112));  // staged, not committed: not written
  CHECK(!c->flush_sync(1000));
  CHECK(read_all(d.stream()) == sealed(first));
  CHECK_EQ(live_state(*c, uint32_t(p.slot)), int32_t(kSlotFilling));
  CHECK_EQ(reinterpret_cast<const StagingHeader*>(c->header_region()->data)->stream_end,
           uint64_t(bytes_of(first)));
  CaptureStats s = c->stats();
  CHECK_EQ(s.writes, 1u);
  CHECK_EQ(s.frames, 0u);  // not handed over...
  CHECK_EQ(s.flushes, 0u);
  CHECK_EQ(s.frames_written, first.size());  // ...but written
  CHECK_EQ(s.bytes_written, bytes_of(first));
  CHECK(!c->flush_sync(1000));  // again: the same bytes at the same offset, counted once
  CHECK(read_all(d.stream()) == sealed(first));
  s = c->stats();
  CHECK_EQ(s.writes, 2u);
  CHECK_EQ(s.frames_written, first.size());
  CHECK_EQ(s.bytes_written, bytes_of(first));
  CHECK(p.put_all(rest));
  p.submit();
  CHECK(eventually([&] { return drained(*c); }));
  CHECK(read_all(d.stream()) == sealed(first + rest));
  s = c->stats();
  CHECK_EQ(s.writes, 3u);
  CHECK_EQ(s.frames, first.size() + rest.size());
  CHECK_EQ(s.frames_written, first.size() + rest.size());  // the prefix not twice
  CHECK_EQ(s.bytes_written, bytes_of(first) + bytes_of(rest));
  // A prefix that grows between two flush_syncs is counted by what it grew.
  const Frames after = frames_of(2, 113), more = frames_of(1, 114);
  CHECK(p.stage(after));
  CHECK(!c->flush_sync(1000));
  CHECK_EQ(c->stats().frames_written, first.size() + rest.size() + after.size());
  CHECK(p.put_all(more));
  CHECK(!c->flush_sync(1000));
  CHECK(read_all(d.stream()) == sealed(first + rest + after + more));
  CHECK(!c->close(5000));  // writes the same prefix once more
  CHECK(read_all(d.stream()) == sealed(first + rest + after + more));
  s = c->stats();
  CHECK_EQ(s.frames_written, first.size() + rest.size() + after.size() + more.size());
  CHECK_EQ(s.bytes_written, bytes_of(first + rest + after + more));
  CHECK_EQ(s.writes, 6u);
}

TEST_CASE(a_crash_after_flush_sync_recovers_the_grown_commit) {
  TempDir d;
  const Frames first = frames_of(3, 120), rest = frames_of(3, 121);
  const int status = in_child([&] {
    SysError e;
    auto c = Capture::open(d.stream(), d.staging(), small_config(), e);
    if (!c || c->bind(kXx, kXxHeader)) _exit(10);
    Producer p(*c);
    if (!p.acquire() || !p.put_all(first)) _exit(11);
    if (c->flush_sync(1000)) _exit(12);
    if (!p.put_all(rest)) _exit(13);
    raise(SIGKILL);
  });
  CHECK(killed(status));
  CHECK(read_all(d.stream()) == sealed(first));
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->recovery().slots, 1u);
  CHECK_EQ(c->recovery().frames, first.size() + rest.size());
  CHECK_EQ(c->recovery().torn_bytes, 0u);
  CHECK(read_all(d.stream()) == sealed(first + rest));
}

TEST_CASE(close_after_a_flush_timeout_leaves_the_filling_slot_for_a_reopen) {
  TempDir d;
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  Fault slow;
  slow.delay_ms = 150;
  c->inject(slow);
  const Frames a = frames_of(3, 130), b = frames_of(3, 131), e = frames_of(2, 132);
  Producer p(*c);
  CHECK(p.acquire() && p.put_all(a));
  p.submit();
  CHECK(p.acquire() && p.put_all(b));
  p.submit();
  CHECK(p.acquire() && p.put_all(e));
  CHECK_EQ(c->close(10).code, ETIMEDOUT);
  // close() is bounded: the thread finished the write it was in (a) and
  // stopped; b (queued) and the FILLING slot stay staged, not marked clean.
  CHECK(read_all(d.stream()) == sealed(a));
  CHECK_EQ(read_staging(d.staging()).h.clean, 0u);
  c = open_capture(d, small_config());
  if (!c) return;
  CHECK_EQ(c->recovery().slots, 2u);
  CHECK_EQ(c->recovery().frames, b.size() + e.size());
  CHECK(read_all(d.stream()) == sealed(a + b + e));
}

// --- 9. sync and notify ---------------------------------------------------------------

TEST_CASE(request_sync_counts_one_fsync_when_its_ticket_completes) {
  TempDir d;
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  const Frames fs = frames_of(5, 140);
  Producer p(*c);
  CHECK(p.acquire() && p.put_all(fs));
  p.submit();
  c->request_sync();
  const uint64_t ticket = c->last_ticket();
  CHECK_EQ(ticket, 2u);
  CHECK(eventually([&] { return c->completed() >= ticket; }));
  CaptureStats s = c->stats();
  CHECK_EQ(s.fsyncs, 1u);
  CHECK_EQ(s.writes, 1u);
  CHECK_EQ(s.flushes, 1u);  // a sync is not a slab
  CHECK_EQ(s.queue_depth, 0u);
  // A sync with nothing new written still syncs.
  c->request_sync();
  CHECK(eventually([&] { return c->completed() >= 3; }));
  CHECK_EQ(c->stats().fsyncs, 2u);
  CHECK(!c->close(5000));
  CHECK_EQ(c->stats().fsyncs, 2u);  // close itself does not sync
  CHECK(read_all(d.stream()) == sealed(fs));
}

TEST_CASE(notify_fires_from_the_thread_when_the_ticket_is_reached) {
  TempDir d;
  auto c = open_capture(d, small_config());
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  std::atomic<int> calls{0};
  std::atomic<bool> from_thread{false};
  const auto me = std::this_thread::get_id();
  c->set_notify([&] {
    if (std::this_thread::get_id() != me) from_thread = true;
    calls++;
  });
  Fault slow;
  slow.delay_ms = 300;
  c->inject(slow);
  Producer p(*c);
  for (uint32_t i = 0; i < 2; ++i) {
    CHECK(p.acquire() && p.put_all(frames_of(2, 150 + i)));
    p.submit();
  }
  const uint64_t ticket = c->last_ticket();
  c->notify_at(ticket);
  CHECK(eventually([&] { return calls.load() == 1; }));
  CHECK(c->completed() >= ticket);
  CHECK(from_thread.load());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_EQ(calls.load(), 1);  // once
  // A ticket already reached fires at once, on the caller's thread.
  c->notify_at(ticket);
  CHECK_EQ(calls.load(), 2);
  c->inject(Fault{});
  CHECK(!c->close(5000));
}

TEST_CASE(sync_interval_syncs_written_data_without_being_asked) {
  TempDir d;
  CaptureConfig cfg = small_config();
  cfg.sync_interval_ms = 20;
  auto c = open_capture(d, cfg);
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  Producer p(*c);
  CHECK(p.acquire() && p.put_all(frames_of(3, 160)));
  p.submit();
  CHECK(eventually([&] { return c->stats().fsyncs >= 1; }));
  CHECK(!c->close(5000));
}

// --- Staging: claims, identity, refusals, growth (docs/design.md, "Capture
// staging: space, claims and identity") ---------------------------------------

TEST_CASE(a_staging_claimed_by_another_capture_is_ebusy_and_released_at_close) {
  TempDir d;
  auto first = open_capture(d, small_config());
  if (!first) return;
  // JS keeps mappings past close: they must not keep the claim.
  const std::shared_ptr<Capture::Region> held = first->header_region();
  SysError e;
  auto second = Capture::open(d.path + "/other.fst", d.staging(), small_config(), e);
  CHECK(second == nullptr);
  CHECK_EQ(e.code, EBUSY);
  CHECK(e.detail.find(d.staging()) != std::string::npos);
  CHECK(e.detail.find(d.path + "/other.fst") != std::string::npos);
  CHECK(!first->close(1000));
  e = SysError{};
  second = Capture::open(d.path + "/other.fst", d.staging(), small_config(), e);
  CHECK(second != nullptr);
  CHECK_EQ(e.code, 0);
  CHECK(held->data != nullptr);
}

// A child that stages `fs` (XXH3) into d's capture and exits without
// closing: the frames stay staged for the next open.
int stage_and_exit(const TempDir& d, const Frames& fs) {
  return in_child([&] {
    SysError e;
    auto c = Capture::open(d.stream(), d.staging(), small_config(), e);
    if (!c || c->bind(kXx, kXxHeader)) _exit(2);
    Producer p(*c);
    if (!p.acquire() || !p.put_all(fs)) _exit(3);
    _exit(0);
  });
}

TEST_CASE(frames_staged_for_a_replaced_stream_go_to_an_orphan_file) {
  TempDir d;
  const Frames fs = frames_of(7, 91);
  CHECK(exited_ok(stage_and_exit(d, fs)));
  struct stat old;
  CHECK(stat(d.stream().c_str(), &old) == 0);
  CHECK(rename(d.stream().c_str(), (d.stream() + ".1").c_str()) == 0);  // rotated
  auto c = open_capture(d, small_config());
  if (!c) return;
  const RecoveryInfo& r = c->recovery();
  CHECK_EQ(r.slots, 0u);
  CHECK_EQ(r.orphaned_frames, fs.size());
  CHECK_EQ(r.orphaned_bytes, bytes_of(fs));
  CHECK(r.orphan_path == d.stream() + ".orphaned-" + std::to_string(old.st_dev) + "-" +
                             std::to_string(old.st_ino) + ".fst");
  CHECK(read_all(r.orphan_path) == sealed(fs));
  CHECK(!c->bind(kCrc32, kCrc32Header));  // the new file is its own: any format
  CHECK(!c->close(1000));
  CHECK_EQ(size_of(d.stream()), 0u);
  CHECK_EQ(size_of(d.stream() + ".1"), 0u);
  unlink(r.orphan_path.c_str());
  unlink((d.stream() + ".1").c_str());
}

// Found by fuzz_staging: a slot for a replaced stream whose commit ends
// inside its first frame has nothing whole to keep, and no orphan file is
// created for it.
TEST_CASE(a_replaced_stream_with_no_whole_staged_frame_gets_no_orphan_file) {
  TempDir d;
  const Frames fs = frames_of(3, 17);
  CHECK(exited_ok(stage_and_exit(d, fs)));
  for (uint32_t slot = 0; slot < 4; ++slot) {
    int32_t commit = 0;
    const Bytes all = read_all(d.staging());
    std::memcpy(&commit, all.data() + commit_offset(slot), 4);
    if (commit > 0) {
      const int32_t partial = 3;  // inside the first frame's header
      write_at(d.staging(),
               Bytes(reinterpret_cast<const uint8_t*>(&partial),
                     reinterpret_cast<const uint8_t*>(&partial) + 4),
               commit_offset(slot), false);
    }
  }
  CHECK(rename(d.stream().c_str(), (d.stream() + ".1").c_str()) == 0);
  auto c = open_capture(d, small_config());
  if (!c) return;
  const RecoveryInfo& r = c->recovery();
  CHECK_EQ(r.orphaned_frames, 0u);
  CHECK_EQ(r.orphaned_bytes, 0u);
  CHECK(r.orphan_path.empty());
  DIR* dir = opendir(d.path.c_str());
  CHECK(dir != nullptr);
  size_t orphan_files = 0;
  while (dirent* ent = dir ? readdir(dir) : nullptr)
    if (std::string(ent->d_name).find(".orphaned-") != std::string::npos) ++orphan_files;
  if (dir) closedir(dir);
  CHECK_EQ(orphan_files, 0u);
  CHECK(!c->close(1000));
  unlink((d.stream() + ".1").c_str());
}

TEST_CASE(the_walk_refuses_what_is_not_a_torn_stream_and_leaves_it_untouched) {
  TempDir d;
  const Bytes text(10000, 'x');
  write_at(d.stream(), text, 0, true);
  {
    auto c = open_capture(d, small_config());
    if (!c) return;
    const SysError e = c->bind(kXx, kXxHeader);
    CHECK_EQ(e.code, EINVAL);
    CHECK_EQ(int(e.refusal), int(kNoIntactFrame));
    CHECK_EQ(e.torn_bytes, 10000u);
  }
  CHECK(read_all(d.stream()) == text);
  // Intact frames, then more than one slab (4096) of garbage.
  const Frames fs = frames_of(3, 92);
  const Bytes good = sealed(fs);
  write_at(d.stream(), good + Bytes(4097, 0xff), 0, true);
  {
    auto c = open_capture(d, small_config());
    if (!c) return;
    const SysError e = c->bind(kXx, kXxHeader);
    CHECK_EQ(int(e.refusal), int(kTailTooLong));
    CHECK_EQ(e.torn_bytes, 4097u);
    CHECK_EQ(e.offset, good.size());
    CHECK_EQ(e.frame_index, 3u);
  }
  CHECK_EQ(size_of(d.stream()), good.size() + 4097);
}

TEST_CASE(the_grower_thread_adds_a_slot_when_the_last_free_one_is_taken) {
  TempDir d;
  auto c = open_capture(d, small_config(1, 3));
  if (!c) return;
  CHECK(!c->bind(kXx, kXxHeader));
  Producer p(*c);
  CHECK(p.acquire(true, 0));
  CHECK(eventually([&] { return c->slot_count() == 2; }));
  CHECK_EQ(c->stats().grown_ahead, 1u);
  CHECK_EQ(c->in_use(), 1u);
  p.submit();
  CHECK(!c->close(5000));
}

CHECK_MAIN()
