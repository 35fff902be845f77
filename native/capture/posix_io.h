// The POSIX I/O the capture needs, in one place (docs/design.md, "The native
// core: capture and binding"): whole reads and writes at an offset that
// retry EINTR and short transfers, space reservation, sizes, identities.
// Every failure is a SysError (native/sys_error.h) naming the call and path.
// Pure C++ (no N-API); POSIX only.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include "sys_error.h"

namespace flatstream {
namespace posix_io {

// A failed call on `detail` (usually the path), errno by default.
inline SysError sys(const char* call, const std::string& detail, int code = errno) {
  SysError e;
  e.code = code;
  e.syscall = call;
  e.detail = detail;
  return e;
}

inline size_t page_size() {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return page;
}

inline size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Writes all of data[0, len) at `offset`; a write that makes no progress is EIO.
inline SysError pwrite_all(int fd, const uint8_t* data, size_t len, uint64_t offset,
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

// Reads all of [offset, offset + len) into data; a file that ends first
// (it shrank under us) is EIO.
inline SysError pread_all(int fd, uint8_t* data, size_t len, uint64_t offset,
                          const std::string& path) {
  while (len > 0) {
    const ssize_t n = ::pread(fd, data, len, off_t(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys("read", path);
    }
    if (n == 0) return sys("read", path, EIO);
    data += n;
    len -= size_t(n);
    offset += uint64_t(n);
  }
  return {};
}

// Makes [offset, offset + len) of fd real memory or disk blocks, so that a
// mapping of it can never fault for want of space (docs/design.md, "Capture
// staging: space, claims and identity").
inline SysError reserve(int fd, uint64_t offset, uint64_t len, const std::string& path) {
  int r;
  do r = posix_fallocate(fd, off_t(offset), off_t(len));
  while (r == EINTR);
  if (r == 0) return {};
  return sys("fallocate",
             path + ": cannot reserve " + std::to_string(len) +
                 " bytes of staging (its filesystem is full or too small; see stagingPath)",
             r);
}

inline SysError file_size(int fd, const std::string& path, uint64_t& size) {
  struct stat st;
  if (fstat(fd, &st) != 0) return sys("fstat", path);
  size = uint64_t(st.st_size);
  return {};
}

// Which file a descriptor is: device, inode, birth time (0: the filesystem
// does not say).
struct Identity {
  uint64_t dev = 0, ino = 0, btime_ns = 0;
};

inline Identity identity_of(int fd, const struct stat& st) {
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

// Whether `path` still names the file open on fd.
inline bool same_file(int fd, const std::string& path) {
  struct stat mine, there;
  return fstat(fd, &mine) == 0 && stat(path.c_str(), &there) == 0 && mine.st_dev == there.st_dev &&
         mine.st_ino == there.st_ino;
}

}  // namespace posix_io
}  // namespace flatstream
