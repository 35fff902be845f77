// The capture's OS seam on POSIX systems (native/capture/file_io.h;
// docs/design.md, "Platforms"): Linux, macOS and the BSDs. Linux-only calls
// are used where they exist, with the portable fallback beside them.
#ifndef _WIN32

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__) || defined(__APPLE__)
#include <sys/xattr.h>
#endif

#include "capture/file_io.h"

namespace flatstream {
namespace file_io {

namespace {
int fd_of(Handle h) noexcept { return int(h); }
}  // namespace

SysError last_error(const char* call, const std::string& detail) {
  return sys(call, detail, errno);
}

size_t map_granularity() noexcept {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return page;
}

SysError open_file(const std::string& path, OpenHow how, uint32_t mode, Handle& out) {
  int fd;
  if (how == OpenHow::kStream) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer or reader; the
    // caller refuses anything but a regular file before reading or writing.
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, mode_t(mode));
    if (fd < 0) return last_error("open", path);
    const int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
      SysError e = last_error("fcntl", path);
      ::close(fd);
      return e;
    }
  } else if (how == OpenHow::kStaging) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
                0600);
    if (fd < 0) return last_error("open", path);
  } else {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                mode_t(mode & 0666));
    if (fd < 0) return last_error("open", path);
  }
  out = Handle(fd);
  return {};
}

void close_file(Handle h) noexcept {
  if (h != kNoHandle) ::close(fd_of(h));
}

SysError file_info(Handle h, const std::string& path, FileInfo& out) {
  struct stat st;
  if (fstat(fd_of(h), &st) != 0) return last_error("fstat", path);
  out.regular = S_ISREG(st.st_mode);
  out.private_to_user = st.st_uid == geteuid() && (st.st_mode & 077) == 0;
  out.size = uint64_t(st.st_size);
  out.id = Identity{uint64_t(st.st_dev), uint64_t(st.st_ino), 0};
#if defined(STATX_BTIME)
  struct statx sx;
  if (statx(fd_of(h), "", AT_EMPTY_PATH, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME) != 0)
    out.id.btime_ns = uint64_t(sx.stx_btime.tv_sec) * 1000000000u + sx.stx_btime.tv_nsec;
#elif defined(__APPLE__)
  out.id.btime_ns =
      uint64_t(st.st_birthtimespec.tv_sec) * 1000000000u + uint64_t(st.st_birthtimespec.tv_nsec);
#endif
  return {};
}

SysError file_size(Handle h, const std::string& path, uint64_t& size) {
  struct stat st;
  if (fstat(fd_of(h), &st) != 0) return last_error("fstat", path);
  size = uint64_t(st.st_size);
  return {};
}

bool same_file(Handle h, const std::string& path) noexcept {
  struct stat mine, there;
  return fstat(fd_of(h), &mine) == 0 && stat(path.c_str(), &there) == 0 &&
         mine.st_dev == there.st_dev && mine.st_ino == there.st_ino;
}

bool remove_file(const std::string& path) noexcept { return unlink(path.c_str()) == 0; }

SysError try_lock(Handle h, const std::string& path) {
  if (flock(fd_of(h), LOCK_EX | LOCK_NB) == 0) return {};
  return sys("flock", path, errno == EWOULDBLOCK ? EBUSY : errno);
}

void unlock(Handle h) noexcept { (void)flock(fd_of(h), LOCK_UN); }

SysError pwrite_all(Handle h, const uint8_t* data, size_t len, uint64_t offset,
                    const std::string& path) {
  while (len > 0) {
    const ssize_t n = ::pwrite(fd_of(h), data, len, off_t(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error("write", path);
    }
    if (n == 0) return sys("write", path, EIO);
    data += n;
    len -= size_t(n);
    offset += uint64_t(n);
  }
  return {};
}

SysError pread_all(Handle h, uint8_t* data, size_t len, uint64_t offset, const std::string& path) {
  while (len > 0) {
    const ssize_t n = ::pread(fd_of(h), data, len, off_t(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error("read", path);
    }
    if (n == 0) return sys("read", path, EIO);
    data += n;
    len -= size_t(n);
    offset += uint64_t(n);
  }
  return {};
}

SysError reserve(Handle h, uint64_t offset, uint64_t len, const std::string& path) {
  int r;
#if defined(__APPLE__)
  // No posix_fallocate: F_PREALLOCATE allocates the blocks (contiguous if it
  // can), then the size is extended over them.
  fstore_t store{F_ALLOCATEALL, F_PEOFPOSMODE, 0, off_t(offset + len), 0};
  uint64_t size = 0;
  r = 0;
  if (SysError e = file_size(h, path, size)) return e;
  if (offset + len > size) {
    store.fst_length = off_t(offset + len - size);
    if (fcntl(fd_of(h), F_PREALLOCATE, &store) != 0) {
      store.fst_flags = F_ALLOCATEALL;
      r = fcntl(fd_of(h), F_PREALLOCATE, &store) != 0 ? errno : 0;
    }
    if (r == 0 && ftruncate(fd_of(h), off_t(offset + len)) != 0) r = errno;
  }
#else
  do r = posix_fallocate(fd_of(h), off_t(offset), off_t(len));
  while (r == EINTR);
#endif
  if (r == 0) return {};
  return sys("fallocate",
             path + ": cannot reserve " + std::to_string(len) +
                 " bytes of staging (its filesystem is full or too small; see stagingPath)",
             r);
}

SysError truncate(Handle h, uint64_t size, const std::string& path) {
  if (ftruncate(fd_of(h), off_t(size)) != 0) return last_error("ftruncate", path);
  return {};
}

SysError sync_data(Handle h, const std::string& path) {
#if defined(__APPLE__)
  // fsync on macOS leaves the data in the drive's cache; F_FULLFSYNC does not.
  if (fcntl(fd_of(h), F_FULLFSYNC) == 0 || fsync(fd_of(h)) == 0) return {};
#else
  if (fdatasync(fd_of(h)) == 0) return {};
#endif
  return last_error("fdatasync", path);
}

uint8_t* map_shared(Handle h, uint64_t offset, size_t len, bool populate, const std::string& path,
                    SysError& error) {
  int flags = MAP_SHARED;
#ifdef MAP_POPULATE
  if (populate) flags |= MAP_POPULATE;
#endif
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, flags, fd_of(h), off_t(offset));
  if (p == MAP_FAILED) {
    error = last_error("mmap", path);
    return nullptr;
  }
#ifndef MAP_POPULATE
  // No MAP_POPULATE: touch a byte of each page (the range is reserved, so
  // this cannot fault for want of space).
  if (populate)
    for (size_t i = 0; i < len; i += map_granularity()) (void)static_cast<volatile uint8_t*>(p)[i];
#else
  (void)populate;
#endif
  return static_cast<uint8_t*>(p);
}

void unmap(uint8_t* data, size_t len) noexcept {
  if (data != nullptr) munmap(data, len);
}

long read_attr(Handle h, const char* name, void* data, size_t len) noexcept {
#if defined(__linux__)
  return long(fgetxattr(fd_of(h), name, data, len));
#elif defined(__APPLE__)
  return long(fgetxattr(fd_of(h), name, data, len, 0, 0));
#else
  (void)h, (void)name, (void)data, (void)len;
  return -1;
#endif
}

void write_attr(Handle h, const char* name, const void* data, size_t len) noexcept {
#if defined(__linux__)
  (void)fsetxattr(fd_of(h), name, data, len, 0);
#elif defined(__APPLE__)
  (void)fsetxattr(fd_of(h), name, data, len, 0, 0);
#else
  (void)h, (void)name, (void)data, (void)len;
#endif
}

void remove_attr(Handle h, const char* name) noexcept {
#if defined(__linux__)
  (void)fremovexattr(fd_of(h), name);
#elif defined(__APPLE__)
  (void)fremovexattr(fd_of(h), name, 0);
#else
  (void)h, (void)name;
#endif
}

void lower_thread_priority() noexcept {
#ifdef SCHED_BATCH
  // As a batch thread its wake-ups (a slab handed over) do not take the CPU
  // from the running event loop; it still gets its fair share of CPU time.
  sched_param batch{};
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch);
#endif
}

}  // namespace file_io
}  // namespace flatstream

#endif  // !_WIN32
