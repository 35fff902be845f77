// libFuzzer target for Capture's recovery (native/capture/staging_file.h): the input is
// turned into a staging file left by a writer that died, plus a small stream
// file; then Capture::open (drains the staged slots, or writes them to an
// orphan file when the staging records another stream file's identity),
// bind (walks a torn tail when the stream's end is not known, refusing what
// is not a plausible torn tail) and close (removes the staging and leaves a
// clean mark on the stream).
//
// Most inputs build a structurally valid StagingHeader (magic and version
// fixed, geometry taken modulo small bounds, sometimes broken on purpose),
// slot records and slots of frames from the input bytes; some are the raw
// input as is, or with only the magic and version patched in.
//
// It must never crash, hang or hit UB, and a model of the documented
// recovery predicts the outcome exactly: which staging files are refused
// (EINVAL, nothing touched), the RecoveryInfo, and the stream byte for byte:
// what preceded the first pending slot, then every FILLING/SEALED slot's whole
// frames (sealed with the staged kind) in sequence order, nothing after; or,
// when the end was not known, the stream cut after its last whole frame.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "capture/capture.h"
#include "frame.h"

using namespace flatstream;

namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kRecords = sizeof(StagingHeader);  // slot records start here
constexpr size_t kMaxStaging = size_t{1} << 20;     // never build a bigger file

size_t page() {
  static const size_t p = size_t(sysconf(_SC_PAGESIZE));
  return p;
}
size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
bool builtin(int32_t kind) { return kind >= 0 && is_checksum_kind(unsigned(kind)); }

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_staging: %s\n", what);
  std::abort();
}
#define REQUIRE(cond)         \
  do {                        \
    if (!(cond)) fail(#cond); \
  } while (0)

// --- Files: one per-process directory, the same paths every iteration ------

// Removed at exit (not after a crash: the directory then says which input).
struct Paths {
  std::string dir, stream, staging;
  Paths() {
    const char* env = std::getenv("TMPDIR");
    const std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                             : env && *env                 ? env
                                                           : "/tmp";
    dir = base + "/flatstream-fuzz-staging-XXXXXX";
    if (mkdtemp(&dir[0]) == nullptr) fail("mkdtemp");
    stream = dir + "/stream.fst";
    staging = dir + "/stream.staging";
  }
  ~Paths() {
    clear();
    rmdir(dir.c_str());
  }
  // Every file in the directory (orphan files included).
  void clear() const {
    if (DIR* d = opendir(dir.c_str())) {
      while (const dirent* e = readdir(d))
        if (e->d_name[0] != '.') unlink((dir + "/" + e->d_name).c_str());
      closedir(d);
    }
  }
};

const Paths& paths() {
  static const Paths p;
  return p;
}

void write_file(const std::string& path, const Bytes& b) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail("open for writing");
  size_t done = 0;
  while (done < b.size()) {
    const ssize_t n = ::write(fd, b.data() + done, b.size() - done);
    if (n <= 0) fail("write");
    done += size_t(n);
  }
  ::close(fd);
}

Bytes read_file(const std::string& path) {
  Bytes out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  struct stat st;
  if (fstat(fd, &st) == 0) {
    out.resize(size_t(st.st_size));
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += size_t(n);
    }
    out.resize(done);
  }
  ::close(fd);
  return out;
}

// --- Input ------------------------------------------------------------------

// Reads the input front to back; zeros once it runs out, so that any input
// (the empty one included) still makes a whole staging file.
struct Reader {
  const uint8_t* p;
  size_t n, i = 0;
  uint8_t u8() { return i < n ? p[i++] : 0; }
  uint16_t u16() { return uint16_t(u8() | u8() << 8); }
  uint32_t u32() { return uint32_t(u16()) | uint32_t(u16()) << 16; }
  void bytes(uint8_t* out, size_t k) {
    for (size_t j = 0; j < k; ++j) out[j] = u8();
  }
};

template <typename T>
void put(Bytes& b, size_t at, T v) {
  if (at + sizeof v <= b.size()) std::memcpy(&b[at], &v, sizeof v);
}
template <typename T>
T get(const Bytes& b, size_t at) {
  T v{};
  if (at + sizeof v <= b.size()) std::memcpy(&v, &b[at], sizeof v);
  return v;
}

// A frame as a writer stages it, checksum blank: [u32 len][width][payload].
void append_frame(Bytes& out, Reader& r, uint32_t header, uint32_t len) {
  const size_t at = out.size();
  out.resize(at + header + len, 0);
  store_u32le(&out[at], len);
  r.bytes(&out[at + header], len);
}

const int32_t kKinds[] = {3, 3, 0, 1, 2, 4, 5, kCustomKind, kUnboundKind};

struct Built {
  Bytes staging, stream;
  bool foreign = false;  // the staging records another stream file
};

// A staging file whose header is valid unless the input says otherwise.
Built build_structured(Reader& r) {
  Built out;
  const size_t pg = page();
  // Geometry.
  const uint8_t ks = r.u8();
  const int32_t kind = ks % 10 < 9 ? kKinds[ks % 10] : int32_t(int8_t(r.u8()));
  uint32_t header = 4 + (builtin(kind) ? checksum_width(ChecksumKind(kind)) : r.u8() % 9u);
  const uint32_t frame_header = header;         // what the frames are built with
  if (r.u8() % 16 == 15) header = r.u8() % 16;  // a header size off the format
  uint32_t slab = 4096 - r.u16() % 4050u;       // (zeros read as the common case)
  if (r.u8() % 32 == 31) slab = 0;
  const uint32_t scratch = r.u16() % 5000u;
  const uint32_t max_slots = (r.u8() + 1u) % 6u;
  const uint32_t cut = r.u8() % (max_slots + 2u);
  const uint32_t slot_count = cut <= max_slots ? max_slots - cut : max_slots + 1;  // one too many
  uint32_t header_bytes = uint32_t(round_up(kRecords + max_slots * sizeof(SlotRecord), pg));
  switch (r.u8() % 16) {
    case 13:
      header_bytes = uint32_t(2 * pg);
      break;
    case 14:
      header_bytes = r.u32();
      break;
    case 15:
      header_bytes = uint32_t(kRecords + max_slots * sizeof(SlotRecord));
      break;
    default:
      break;
  }
  const uint8_t cs = r.u8();
  const uint32_t clean = cs % 6 == 5 ? 1u + cs / 6 % 3 : 0u;

  // The stream: whole sealed frames of the staged format, then maybe a tail.
  const unsigned frames = r.u8() % 8;
  for (unsigned f = 0; f < frames; ++f) append_frame(out.stream, r, frame_header, r.u8() % 100u);
  if (builtin(kind))
    REQUIRE(seal_frames(out.stream.data(), out.stream.size(),
                        make_format(ChecksumKind(kind), 0, kWireMaxFrameLen))
                .ok);
  switch (r.u8() % 4) {
    case 1: {  // garbage
      const size_t n = r.u8() % 20u;
      for (size_t j = 0; j < n; ++j) out.stream.push_back(r.u8());
      break;
    }
    case 2: {  // a frame cut short
      Bytes f;
      append_frame(f, r, frame_header, 1 + r.u8() % 200u);
      f.resize(r.u8() % f.size());
      out.stream.insert(out.stream.end(), f.begin(), f.end());
      break;
    }
    default:
      break;
  }
  uint64_t stream_end = out.stream.size();
  switch (r.u8() % 8) {
    case 6:
      stream_end = r.u16() % 2000u;
      break;
    case 7:
      stream_end = 0;
      break;
    default:
      break;
  }

  // Header page(s), records, slots.
  const size_t slot_bytes = round_up(size_t{slab} + scratch, pg);
  const size_t head = std::min<size_t>(header_bytes, 4 * pg);
  size_t total = head;
  if (head == header_bytes && slot_bytes * slot_count <= kMaxStaging)
    total += slot_bytes * slot_count;
  Bytes& s = out.staging;
  s.assign(std::max(total, kRecords), 0);
  std::memcpy(s.data(), "FSTSTAGE", 8);
  put<uint32_t>(s, 8, 2);
  put<int32_t>(s, 12, kind);
  put<uint32_t>(s, 16, header);
  put<uint32_t>(s, 20, slab);
  put<uint32_t>(s, 24, scratch);
  put<uint32_t>(s, 28, slot_count);
  put<uint32_t>(s, 32, max_slots);
  put<uint32_t>(s, 36, header_bytes);
  put<uint64_t>(s, 40, stream_end);
  put<uint32_t>(s, 48, clean);
  // The stream's identity (56: dev, 64: ino) is patched in once the stream
  // file exists, unless the input says the staging is another file's.
  out.foreign = r.u8() % 8 == 7;
  put<uint64_t>(s, 72, 0);  // birth time: unknown

  // Sequence numbers: a shuffle of 1..n, sometimes with a repeat.
  const uint32_t n = std::max(slot_count, max_slots);
  std::vector<uint64_t> seq(n);
  for (uint32_t i = 0; i < n; ++i) {
    seq[i] = i + 1;
    std::swap(seq[i], seq[r.u8() % (i + 1)]);
  }
  if (n > 1 && r.u8() % 16 == 15) seq[1] = seq[0];
  std::vector<int32_t> state(n), commit(n);
  for (uint32_t i = 0; i < n; ++i) {
    static const int32_t kStates[] = {kSlotSealed, kSlotFilling, kSlotSealed, kSlotFree,
                                      kSlotSealed, kSlotFilling, kSlotFree,   -1};
    state[i] = kStates[r.u8() % 8];
    if (state[i] == -1) state[i] = 3 + r.u8();
    // The slot's frames.
    Bytes data;
    if (r.u8() % 8 == 7) {
      data.resize(std::min<size_t>(slab, r.u8()));
      r.bytes(data.data(), data.size());
    } else {
      const unsigned k = 1 + r.u8() % 6;
      for (unsigned f = 0; f < k; ++f) {
        const uint32_t len = r.u8() % 200u;
        if (data.size() + frame_header + len > slab) break;
        append_frame(data, r, frame_header, len);
      }
    }
    commit[i] = int32_t(data.size());
    switch (r.u8() % 8) {
      case 5:
        commit[i] -= int32_t(std::min<size_t>(data.size(), r.u8() % 8u));
        break;
      case 6:
        commit[i] = int32_t(r.u32());
        break;
      case 7:
        commit[i] = -int32_t(r.u8());
        break;
      default:
        break;
    }
    const size_t at = header_bytes + i * slot_bytes;
    if (i < slot_count && at + data.size() <= s.size() && !data.empty())
      std::memcpy(&s[at], data.data(), data.size());
  }
  // Offsets: consecutive in sequence order from a base near the stream's end.
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return seq[a] < seq[b]; });
  uint64_t offset = out.stream.size();
  switch (r.u8() % 8) {
    case 4:
      offset = stream_end;
      break;
    case 5:
      offset -= std::min<uint64_t>(offset, r.u8() % 32u);
      break;  // before the end
    case 6:
      offset += r.u8();
      break;  // a hole
    case 7:
      offset = uint64_t{1} << 62;
      break;
    default:
      break;
  }
  for (uint32_t i : order) {
    const size_t at = kRecords + i * sizeof(SlotRecord);
    put<int32_t>(s, at, state[i]);
    put<int32_t>(s, at + 4, commit[i]);
    put<uint64_t>(s, at + 8, seq[i]);
    put<uint64_t>(s, at + 16, r.u8() % 32 == 31 ? uint64_t(r.u32()) : offset);
    if (state[i] != kSlotFree && commit[i] > 0)
      offset += std::min<uint32_t>(uint32_t(commit[i]), slab);
  }
  if (r.u8() % 16 == 15) s.resize(s.size() - r.u16() % s.size());  // a staging file cut short
  return out;
}

// --- The model ----------------------------------------------------------------

struct Expect {
  bool open_ok = true;
  RecoveryInfo recovery;
  Bytes orphans;        // what the orphan file holds (recovery.orphaned_*)
  Bytes stream;         // after open
  bool exact = true;    // false: slots with equal sequence numbers (order unspecified)
  uint64_t prefix = 0;  // !exact: bytes of the old stream kept before the slots
  bool end_known = false;
  int32_t prev_kind = kUnboundKind;
  uint32_t prev_header = 0;
  uint32_t prev_slab = 0;
};

constexpr uint32_t kConfigSlab = 4096;  // the fuzzed writer's slab size

size_t whole_frames(const uint8_t* data, size_t len, size_t header, uint64_t* frames) {
  size_t pos = 0;
  *frames = 0;
  while (len - pos >= header) {
    const size_t n = load_u32le(data + pos);
    if (len - pos - header < n) break;
    pos += header + n;
    ++*frames;
  }
  return pos;
}

Expect model_open(const Bytes& staging, const Bytes& stream, bool same) {
  Expect x;
  x.stream = stream;
  x.end_known = stream.empty();
  if (staging.empty()) return x;
  if (staging.size() < sizeof(StagingHeader)) {
    // A writer that died while laying out its staging leaves zeros.
    x.open_ok = std::all_of(staging.begin(), staging.end(), [](uint8_t b) { return b == 0; });
    return x;
  }
  // A staging that died before its magic was written (all zeros) is new.
  if (std::all_of(staging.begin(), staging.begin() + 8, [](uint8_t b) { return b == 0; })) return x;
  const int32_t kind = get<int32_t>(staging, 12);
  const uint32_t header = get<uint32_t>(staging, 16), slab = get<uint32_t>(staging, 20),
                 scratch = get<uint32_t>(staging, 24), slot_count = get<uint32_t>(staging, 28),
                 max_slots = get<uint32_t>(staging, 32), header_bytes = get<uint32_t>(staging, 36),
                 clean = get<uint32_t>(staging, 48);
  const uint64_t stream_end = get<uint64_t>(staging, 40);
  const size_t slot_bytes = round_up(size_t{slab} + scratch, page());
  if (std::memcmp(staging.data(), "FSTSTAGE", 8) != 0 || get<uint32_t>(staging, 8) != 2 ||
      header < 4 || header > 12 || slot_count > max_slots || slab == 0 || slab > kMaxSlabSize ||
      scratch > kMaxScratchSize || max_slots > kMaxSlots ||
      header_bytes != round_up(kRecords + size_t{max_slots} * sizeof(SlotRecord), page()) ||
      (builtin(kind) && header != 4 + checksum_width(ChecksumKind(kind)))) {
    x.open_ok = false;
    return x;
  }
  if (same) {
    x.prev_kind = kind;
    x.prev_header = header;
    x.prev_slab = slab;
  }
  if (clean != 0) {
    if (same) x.end_known = x.end_known || stream.size() == stream_end;
    return x;
  }
  if (staging.size() < header_bytes + size_t{slot_count} * slot_bytes) {
    x.open_ok = false;
    return x;
  }
  struct Pending {
    uint64_t seq, offset;
    uint32_t slot, len;
  };
  std::vector<Pending> pending;
  for (uint32_t i = 0; i < slot_count; ++i) {
    const size_t at = kRecords + i * sizeof(SlotRecord);
    const int32_t state = get<int32_t>(staging, at), commit = get<int32_t>(staging, at + 4);
    if (state == kSlotFree || commit <= 0) continue;
    if (state != kSlotFilling && state != kSlotSealed) {
      x.open_ok = false;
      return x;
    }
    pending.push_back({get<uint64_t>(staging, at + 8), get<uint64_t>(staging, at + 16), i,
                       std::min(uint32_t(commit), slab)});
  }
  if (pending.empty()) {
    if (same) x.end_known = x.end_known || stream.size() == stream_end;
    return x;
  }
  std::stable_sort(pending.begin(), pending.end(),
                   [](const Pending& a, const Pending& b) { return a.seq < b.seq; });
  for (size_t k = 1; k < pending.size(); ++k)
    if (pending[k].seq == pending[k - 1].seq) x.exact = false;
  if (!same) {  // staged for another file: all of it to the orphan file, the stream untouched
    for (const Pending& p : pending) {
      const uint8_t* data = staging.data() + header_bytes + size_t{p.slot} * slot_bytes;
      uint64_t frames = 0;
      const size_t whole = whole_frames(data, p.len, header, &frames);
      Bytes chunk(data, data + whole);
      if (builtin(kind))
        REQUIRE(seal_frames(chunk.data(), chunk.size(),
                            make_format(ChecksumKind(kind), 0, kWireMaxFrameLen))
                    .ok);
      x.orphans.insert(x.orphans.end(), chunk.begin(), chunk.end());
      x.recovery.orphaned_frames += frames;
      x.recovery.orphaned_bytes += whole;
    }
    return x;
  }
  const uint64_t pos = std::min<uint64_t>(pending.front().offset, stream.size());
  // More than one slab after the staged bytes is not a torn write: refused.
  uint64_t staged = 0;
  for (const Pending& p : pending) staged += p.len;
  if (stream.size() > pos + staged + std::max(slab, kConfigSlab)) {
    x.open_ok = false;
    return x;
  }
  x.prefix = pos;
  x.stream.assign(stream.begin(), stream.begin() + ptrdiff_t(pos));
  for (const Pending& p : pending) {
    const uint8_t* data = staging.data() + header_bytes + size_t{p.slot} * slot_bytes;
    uint64_t frames = 0;
    const size_t whole = whole_frames(data, p.len, header, &frames);
    Bytes chunk(data, data + whole);
    if (builtin(kind))
      REQUIRE(seal_frames(chunk.data(), chunk.size(),
                          make_format(ChecksumKind(kind), 0, kWireMaxFrameLen))
                  .ok);
    x.stream.insert(x.stream.end(), chunk.begin(), chunk.end());
    x.recovery.slots++;
    x.recovery.frames += frames;
    x.recovery.bytes += whole;
  }
  if (stream.size() > x.stream.size()) x.recovery.torn_bytes = stream.size() - x.stream.size();
  x.end_known = true;
  return x;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Paths& files = paths();
  Reader r{data, size};
  const uint8_t mode = r.u8();
  const uint8_t bind_pick = r.u8();
  Built in;
  switch (mode % 8) {
    case 6:
    case 7: {  // the raw input; 7: with the magic and version patched in
      const size_t want = r.u8() % 64u;
      const size_t stream_len = std::min(want, size - r.i);
      in.stream.assign(data + r.i, data + r.i + stream_len);
      r.i += stream_len;
      in.staging.assign(data + r.i, data + size);
      if (mode % 8 == 7 && in.staging.size() >= 12) {
        std::memcpy(in.staging.data(), "FSTSTAGE", 8);
        put<uint32_t>(in.staging, 8, 2);
      }
      break;
    }
    default:
      in = build_structured(r);
  }
  files.clear();  // no orphan file, no clean mark from the last input
  write_file(files.stream, in.stream);
  struct stat st;
  if (stat(files.stream.c_str(), &st) != 0) fail("stat");
  // The staging's identity: the stream's, unless the input says otherwise
  // (or the raw input's bytes happen to be it).
  if (mode % 8 < 6) {
    put<uint64_t>(in.staging, 56, uint64_t(st.st_dev));
    put<uint64_t>(in.staging, 64, uint64_t(st.st_ino) + (in.foreign ? 1 : 0));
  }
  const bool same = get<uint64_t>(in.staging, 56) == uint64_t(st.st_dev) &&
                    get<uint64_t>(in.staging, 64) == uint64_t(st.st_ino) &&
                    get<uint64_t>(in.staging, 72) == 0;
  write_file(files.staging, in.staging);
  const Expect x = model_open(in.staging, in.stream, same);

  CaptureConfig config;
  config.slab_size = kConfigSlab;
  config.scratch_size = 0;
  config.initial_slots = 1;
  config.max_slots = 1;
  SysError e;
  std::unique_ptr<Capture> c = Capture::open(files.stream, files.staging, config, e);
  const Bytes after_open = read_file(files.stream);
  if (!x.open_ok) {
    REQUIRE(c == nullptr);
    REQUIRE(e.code == EINVAL);
    REQUIRE(after_open == in.stream);  // nothing touched
    REQUIRE(read_file(files.staging) == in.staging);
    return 0;
  }
  if (!c) {
    std::fprintf(stderr, "open: %s %s: %s\n", e.syscall, e.detail.c_str(), strerror(e.code));
    fail("open refused a valid staging file");
  }
  const RecoveryInfo& got = c->recovery();
  REQUIRE(got.slots == x.recovery.slots);
  REQUIRE(got.frames == x.recovery.frames);
  REQUIRE(got.bytes == x.recovery.bytes);
  REQUIRE(got.torn_bytes == x.recovery.torn_bytes);
  REQUIRE(got.orphaned_frames == x.recovery.orphaned_frames);
  REQUIRE(got.orphaned_bytes == x.recovery.orphaned_bytes);
  REQUIRE(got.orphan_path.empty() ==
          (got.orphaned_frames == 0 && got.orphaned_bytes == 0 && x.orphans.empty()));
  if (!got.orphan_path.empty()) {
    const Bytes orphaned = read_file(got.orphan_path);
    if (x.exact)
      REQUIRE(orphaned == x.orphans);
    else
      REQUIRE(orphaned.size() == x.orphans.size());
  }
  REQUIRE(!got.walked);
  if (x.exact) {
    REQUIRE(after_open == x.stream);
  } else {
    REQUIRE(after_open.size() == x.stream.size());
    REQUIRE(
        std::equal(in.stream.begin(), in.stream.begin() + ptrdiff_t(x.prefix), after_open.begin()));
  }

  // Bind: the staged format, or another one.
  int32_t kind = int32_t(ChecksumKind::kXxHash64);
  uint32_t header = 12;
  if (bind_pick % 2 == 0 && x.prev_kind != kUnboundKind && x.prev_header >= 4 &&
      x.prev_header <= 12) {
    kind = x.prev_kind;
    header = x.prev_header;
  } else {
    const unsigned k = bind_pick / 2 % 7;
    kind = k < kChecksumKindCount ? int32_t(k) : kCustomKind;
    header = 4 + (k < kChecksumKindCount ? checksum_width(ChecksumKind(k)) : bind_pick / 16 % 9u);
  }
  const SysError b = c->bind(kind, header);
  // A header size that does not fit the kind, another format than the
  // staging recorded, or (walking an end that is not known) a frame that
  // fails its built-in checksum: EINVAL, the stream untouched.
  const bool valid_format =
      builtin(kind) ? header == 4 + checksum_width(ChecksumKind(kind)) : kind == kCustomKind;
  bool refused = !valid_format || (!after_open.empty() && x.prev_kind != kUnboundKind &&
                                   (x.prev_kind != kind || x.prev_header != header));
  Bytes want = after_open;
  uint64_t torn = x.recovery.torn_bytes;  // (got is c->recovery(): bind updates it)
  if (!refused && !x.end_known) {
    uint64_t frames = 0;
    const size_t whole = whole_frames(after_open.data(), after_open.size(), header, &frames);
    const unsigned width = builtin(kind) ? checksum_width(ChecksumKind(kind)) : 0;
    for (size_t pos = 0; width != 0 && pos < whole && !refused;) {
      const size_t n = load_u32le(after_open.data() + pos);
      const uint64_t stored = load_le(after_open.data() + pos + 4, width);
      refused = checksum(ChecksumKind(kind), after_open.data() + pos + header, n) != stored;
      pos += header + n;
    }
    // Only a plausible torn tail is cut: after an intact frame (unless the
    // whole file is shorter than one frame header), at most one slab.
    const uint64_t tail = after_open.size() - whole;
    if (tail > 0 && whole == 0 && after_open.size() >= header) refused = true;
    if (tail > std::max(x.prev_slab, kConfigSlab)) refused = true;
    want.resize(whole);
    torn += after_open.size() - want.size();
  }
  if (refused) {
    REQUIRE(b.code == EINVAL);
    REQUIRE(read_file(files.stream) == after_open);
    return 0;
  }
  REQUIRE(!b);
  REQUIRE(c->recovery().walked == !x.end_known);
  REQUIRE(c->recovery().torn_bytes == torn);

  // What this writer stages lands right after what was recovered.
  Bytes appended;
  const unsigned extra = r.u8() % 4;
  for (unsigned f = 0; f < extra; ++f) append_frame(appended, r, header, r.u8() % 64u);
  if (!appended.empty()) {
    bool grown = false;
    SysError ae;
    const int32_t slot = c->acquire(false, 0, &grown, ae);
    REQUIRE(slot == 0 && !ae);
    std::memcpy(c->slot_region(0)->data, appended.data(), appended.size());
    const int32_t commit = int32_t(appended.size());
    std::memcpy(c->header_region()->data + commit_offset(0), &commit, 4);
    if (bind_pick & 0x80) c->submit(0, uint32_t(appended.size()), extra);  // else FILLING
    if (builtin(kind))
      REQUIRE(seal_frames(appended.data(), appended.size(),
                          make_format(ChecksumKind(kind), 0, kWireMaxFrameLen))
                  .ok);
    want.insert(want.end(), appended.begin(), appended.end());
  }
  const SysError closed = c->close(1000);
  REQUIRE(!closed);
  REQUIRE(read_file(files.stream) == want);
  // No staging left; the stream's clean mark says where it ends, and how.
  REQUIRE(access(files.staging.c_str(), F_OK) != 0);
  struct {
    uint64_t end;
    int32_t kind;
    uint32_t header_size, slab_size, pad;
  } mark{};
  REQUIRE(getxattr(files.stream.c_str(), "user.flatstream.clean", &mark, sizeof mark) ==
          ssize_t(sizeof mark));
  REQUIRE(mark.end == want.size());
  REQUIRE(mark.kind == kind);
  REQUIRE(mark.header_size == header);
  return 0;
}
