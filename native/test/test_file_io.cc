// The capture's OS seam (native/capture/file_io.h; docs/design.md,
// "Platforms"), through its interface only, so that the same tests run on
// every implementation: posix_io.cc under ctest here, win_io.cc in Windows
// under wine (scripts/cross-win64.mjs builds this file with mingw-w64).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "capture/file_io.h"
#include "check.h"

using namespace flatstream;
using file_io::Handle;
using file_io::kNoHandle;
using file_io::OpenHow;

namespace {

// A fresh name in the temp directory (TMPDIR, TEMP or /tmp).
std::string temp_path(const char* what) {
  const char* dir = std::getenv("TMPDIR");
  if (dir == nullptr) dir = std::getenv("TEMP");
  if (dir == nullptr) dir = "/tmp";
  static unsigned n = 0;
  const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
  return std::string(dir) + "/flatstream-file-io-" + std::to_string(t) + "-" + std::to_string(++n) +
         "-" + what;
}

Handle open_or_fail(const std::string& path, OpenHow how) {
  Handle h = kNoHandle;
  const SysError e = file_io::open_file(path, how, 0644, h);
  CHECK_EQ(e.code, 0);
  return h;
}

}  // namespace

TEST_CASE(positioned_writes_and_reads) {
  const std::string p = temp_path("rw");
  const Handle h = open_or_fail(p, OpenHow::kStream);
  uint64_t size = 1;
  CHECK_EQ(file_io::file_size(h, p, size).code, 0);
  CHECK_EQ(size, 0u);
  const uint8_t hello[5] = {'h', 'e', 'l', 'l', 'o'};
  CHECK_EQ(file_io::pwrite_all(h, hello, 5, 10, p).code, 0);
  CHECK_EQ(file_io::file_size(h, p, size).code, 0);
  CHECK_EQ(size, 15u);
  uint8_t back[5] = {};
  CHECK_EQ(file_io::pread_all(h, back, 5, 10, p).code, 0);
  CHECK(std::memcmp(back, hello, 5) == 0);
  // A read past the end is EIO, naming the call and the path.
  const SysError e = file_io::pread_all(h, back, 5, 12, p);
  CHECK_EQ(e.code, EIO);
  CHECK(std::strcmp(e.syscall, "read") == 0);
  CHECK(e.detail == p);
  file_io::FileInfo info;
  CHECK_EQ(file_io::file_info(h, p, info).code, 0);
  CHECK(info.regular);
  CHECK_EQ(info.size, 15u);
  CHECK(file_io::same_file(h, p));
  CHECK(file_io::remove_file(p));
#ifndef _WIN32
  // The name goes at once. On Windows it does with POSIX delete semantics
  // (Windows 10 1709 and later); wine and older Windows keep it until the
  // last handle closes (docs/design.md, "Platforms").
  CHECK(!file_io::same_file(h, p));
#endif
  file_io::close_file(h);
  // Closed, the name is free for a new file.
  const Handle again = open_or_fail(p, OpenHow::kCreateNew);
  CHECK(again != kNoHandle);
  file_io::close_file(again);
  CHECK(file_io::remove_file(p));
}

TEST_CASE(a_missing_directory_is_enoent) {
  Handle h = kNoHandle;
  const std::string p = temp_path("no-such-dir") + "/x.fst";
  const SysError e = file_io::open_file(p, OpenHow::kStream, 0644, h);
  CHECK_EQ(e.code, ENOENT);
  CHECK(std::strcmp(e.syscall, "open") == 0);
  CHECK(h == kNoHandle);
}

TEST_CASE(create_new_never_opens_an_existing_file) {
  const std::string p = temp_path("new");
  const Handle a = open_or_fail(p, OpenHow::kCreateNew);
  Handle b = kNoHandle;
  CHECK_EQ(file_io::open_file(p, OpenHow::kCreateNew, 0644, b).code, EEXIST);
  CHECK(b == kNoHandle);
  file_io::close_file(a);
  CHECK(file_io::remove_file(p));
}

// One claim per file, whoever else opens it; unlocked or closed, it is free.
TEST_CASE(claims_are_exclusive_and_released) {
  const std::string p = temp_path("claim");
  const Handle a = open_or_fail(p, OpenHow::kStream);
  const Handle b = open_or_fail(p, OpenHow::kStream);
  CHECK_EQ(file_io::try_lock(a, p).code, 0);
  CHECK_EQ(file_io::try_lock(b, p).code, EBUSY);
  // The claim does not block the data: the other handle still writes and reads.
  const uint8_t x[3] = {1, 2, 3};
  uint8_t y[3] = {};
  CHECK_EQ(file_io::pwrite_all(b, x, 3, 0, p).code, 0);
  CHECK_EQ(file_io::pread_all(a, y, 3, 0, p).code, 0);
  CHECK(std::memcmp(x, y, 3) == 0);
  file_io::unlock(a);
  CHECK_EQ(file_io::try_lock(b, p).code, 0);
  CHECK_EQ(file_io::try_lock(a, p).code, EBUSY);
  file_io::close_file(b);
  CHECK_EQ(file_io::try_lock(a, p).code, 0);
  file_io::close_file(a);
  CHECK(file_io::remove_file(p));
}

// Reserved space is mapped shared: what is stored through the mapping is
// what a positioned read sees, and what a write puts there the mapping sees.
TEST_CASE(reserved_space_maps_shared) {
  const size_t g = file_io::map_granularity();
  CHECK(g >= 4096 && (g & (g - 1)) == 0);
  const std::string p = temp_path("map");
  const Handle h = open_or_fail(p, OpenHow::kStaging);
  file_io::FileInfo info;
  CHECK_EQ(file_io::file_info(h, p, info).code, 0);
  CHECK(info.private_to_user);
  CHECK_EQ(file_io::reserve(h, 0, 2 * g, p).code, 0);
  uint64_t size = 0;
  CHECK_EQ(file_io::file_size(h, p, size).code, 0);
  CHECK_EQ(size, 2 * g);
  SysError e;
  uint8_t* m = file_io::map_shared(h, g, g, true, p, e);
  CHECK(m != nullptr);
  if (m == nullptr) return;
  CHECK_EQ(m[0], 0u);
  CHECK_EQ(m[g - 1], 0u);
  std::memcpy(m + 100, "staged", 6);
  uint8_t back[6] = {};
  CHECK_EQ(file_io::pread_all(h, back, 6, g + 100, p).code, 0);
  CHECK(std::memcmp(back, "staged", 6) == 0);
  CHECK_EQ(file_io::pwrite_all(h, reinterpret_cast<const uint8_t*>("WRITE"), 5, g + 200, p).code,
           0);
  CHECK(std::memcmp(m + 200, "WRITE", 5) == 0);
  CHECK_EQ(file_io::sync_data(h, p).code, 0);
  // Reserving what is there already changes nothing.
  CHECK_EQ(file_io::reserve(h, 0, g, p).code, 0);
  CHECK_EQ(file_io::file_size(h, p, size).code, 0);
  CHECK_EQ(size, 2 * g);
  file_io::unmap(m, g);
  CHECK_EQ(file_io::truncate(h, g, p).code, 0);
  CHECK_EQ(file_io::file_size(h, p, size).code, 0);
  CHECK_EQ(size, g);
  file_io::close_file(h);
  CHECK(file_io::remove_file(p));
}

TEST_CASE(the_identity_tells_files_apart) {
  const std::string p = temp_path("id-a"), q = temp_path("id-b");
  const Handle a = open_or_fail(p, OpenHow::kStream);
  const Handle a2 = open_or_fail(p, OpenHow::kStream);
  const Handle b = open_or_fail(q, OpenHow::kStream);
  file_io::FileInfo ia, ia2, ib;
  CHECK_EQ(file_io::file_info(a, p, ia).code, 0);
  CHECK_EQ(file_io::file_info(a2, p, ia2).code, 0);
  CHECK_EQ(file_io::file_info(b, q, ib).code, 0);
  CHECK(ia.id.dev == ia2.id.dev && ia.id.ino == ia2.id.ino && ia.id.btime_ns == ia2.id.btime_ns);
  CHECK(!(ia.id.dev == ib.id.dev && ia.id.ino == ib.id.ino));
  CHECK(file_io::same_file(a, p));
  CHECK(!file_io::same_file(a, q));
  file_io::close_file(a);
  file_io::close_file(a2);
  file_io::close_file(b);
  CHECK(file_io::remove_file(p));
  CHECK(file_io::remove_file(q));
}

CHECK_MAIN()
