// MappedFile: the contracts of native/file_map.h on real files, pipes and
// bad descriptors.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "file_map.h"

using namespace flatstream;

namespace {

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

// A temporary file holding `bytes`, removed when the test is done.
struct TempFile {
  std::string path;
  explicit TempFile(const std::vector<uint8_t>& bytes) {
    path = temp_dir() + "/flatstream-file-map-XXXXXX";
    const int fd = mkstemp(&path[0]);
    CHECK(fd >= 0);
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
      CHECK(n > 0);
      if (n <= 0) break;
      done += size_t(n);
    }
    close(fd);
  }
  ~TempFile() { unlink(path.c_str()); }
  int open_ro() const { return open(path.c_str(), O_RDONLY | O_CLOEXEC); }
};

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  uint32_t x = 7;
  for (auto& b : v) b = uint8_t((x = x * 1103515245u + 12345u) >> 24);
  return v;
}

bool same(const MappedFile& m, const std::vector<uint8_t>& want) {
  return m.size() == want.size() &&
         (want.empty() || std::memcmp(m.data(), want.data(), want.size()) == 0);
}

}  // namespace

TEST_CASE(platform_is_supported) { CHECK(MappedFile::supported()); }

TEST_CASE(contents_match_and_outlive_the_fd) {
  // Not a multiple of the page size: the tail page is partly past the end.
  const auto want = pattern(3 * 4096 + 123);
  TempFile f(want);
  const int fd = f.open_ro();
  MappedFile m;
  const SysError e = m.map(fd);
  CHECK(!e);
  CHECK_EQ(e.code, 0);
  close(fd);  // the mapping keeps the file
  CHECK(same(m, want));
}

TEST_CASE(populate_and_no_advice_map_the_same_bytes) {
  const auto want = pattern(1 << 20);
  TempFile f(want);
  const int fd = f.open_ro();
  for (const bool populate : {false, true}) {
    for (const bool sequential : {false, true}) {
      MapOptions o;
      o.populate = populate;
      o.sequential = sequential;
      MappedFile m;
      CHECK(!m.map(fd, o));
      CHECK(same(m, want));
    }
  }
  close(fd);
}

TEST_CASE(empty_file_is_an_empty_span) {
  TempFile f({});
  const int fd = f.open_ro();
  MappedFile m;
  CHECK(!m.map(fd));
  CHECK_EQ(m.size(), 0u);
  CHECK(m.data() == nullptr);
  close(fd);
}

TEST_CASE(pipe_is_refused_with_enodev) {
  int p[2];
  CHECK(pipe(p) == 0);
  CHECK(write(p[1], "abc", 3) == 3);
  MappedFile m;
  const SysError e = m.map(p[0]);
  CHECK_EQ(e.code, ENODEV);
  CHECK(std::strcmp(e.syscall, "mmap") == 0);
  CHECK(e.reason != nullptr);
  CHECK_EQ(m.size(), 0u);
  CHECK(m.data() == nullptr);
  close(p[0]);
  close(p[1]);
}

TEST_CASE(directory_is_refused_with_enodev) {
  const int fd = open(temp_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(fd >= 0);
  MappedFile m;
  CHECK_EQ(m.map(fd).code, ENODEV);
  close(fd);
}

TEST_CASE(bad_fd_is_ebadf_from_fstat) {
  MappedFile m;
  SysError e = m.map(-1);
  CHECK_EQ(e.code, EBADF);
  CHECK(std::strcmp(e.syscall, "fstat") == 0);
  // A descriptor that was open and is now closed.
  TempFile f(pattern(10));
  const int fd = f.open_ro();
  close(fd);
  e = m.map(fd);
  CHECK_EQ(e.code, EBADF);
  CHECK(m.data() == nullptr);
}

TEST_CASE(write_only_fd_is_eacces) {
  TempFile f(pattern(100));
  const int fd = open(f.path.c_str(), O_WRONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  MappedFile m;
  const SysError e = m.map(fd);
  CHECK_EQ(e.code, EACCES);
  CHECK(std::strcmp(e.syscall, "mmap") == 0);
  close(fd);
}

TEST_CASE(larger_than_max_size_is_efbig) {
  TempFile f(pattern(4097));
  const int fd = f.open_ro();
  MapOptions o;
  o.max_size = 4096;
  MappedFile m;
  CHECK_EQ(m.map(fd, o).code, EFBIG);
  o.max_size = 4097;
  CHECK(!m.map(fd, o));
  CHECK_EQ(m.size(), 4097u);
  close(fd);
}

TEST_CASE(failed_map_unmaps_the_previous_mapping) {
  TempFile f(pattern(5000));
  const int fd = f.open_ro();
  MappedFile m;
  CHECK(!m.map(fd));
  CHECK_EQ(m.size(), 5000u);
  CHECK_EQ(m.map(-1).code, EBADF);
  CHECK_EQ(m.size(), 0u);
  CHECK(m.data() == nullptr);
  close(fd);
}

TEST_CASE(moves_transfer_the_mapping) {
  const auto want = pattern(10000);
  TempFile f(want);
  const int fd = f.open_ro();
  MappedFile a;
  CHECK(!a.map(fd));
  close(fd);
  MappedFile b(std::move(a));
  CHECK(a.data() == nullptr);
  CHECK_EQ(a.size(), 0u);
  CHECK(same(b, want));
  MappedFile c;
  c = std::move(b);
  CHECK(b.data() == nullptr);
  CHECK(same(c, want));
  c.unmap();
  CHECK(c.data() == nullptr);
  c.unmap();  // idempotent
}

CHECK_MAIN()
