#include "file_map.h"

#include <cerrno>
#include <utility>

#if defined(__unix__) || defined(__APPLE__)
#define FLATSTREAM_HAVE_MMAP 1
#include <sys/mman.h>
#include <sys/stat.h>
#endif

namespace flatstream {

bool MappedFile::supported() noexcept {
#ifdef FLATSTREAM_HAVE_MMAP
  return true;
#else
  return false;
#endif
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

#ifdef FLATSTREAM_HAVE_MMAP

SysError MappedFile::map(int fd, const MapOptions& options) noexcept {
  unmap();
  struct stat st;
  if (fstat(fd, &st) != 0) return sys_error(errno, "fstat");
  // mmap itself would refuse a pipe or socket with ENODEV, but it would map a
  // character device (whose st_size means nothing): refuse them all alike.
  if (!S_ISREG(st.st_mode)) return sys_error(ENODEV, "mmap", "not a regular file");
  const uint64_t size = uint64_t(st.st_size);
  if (size > options.max_size || size > SIZE_MAX)
    return sys_error(EFBIG, "mmap", "file too large to map");
  if (size == 0) return {};  // mmap refuses length 0: an empty span instead

  int flags = MAP_SHARED;
#ifdef MAP_POPULATE
  if (options.populate) flags |= MAP_POPULATE;
#endif
  void* p = mmap(nullptr, size_t(size), PROT_READ, flags, fd, 0);
  if (p == MAP_FAILED) return sys_error(errno, "mmap");
  // Advice only: a failure changes speed, never results.
  if (options.sequential) (void)madvise(p, size_t(size), MADV_SEQUENTIAL);
  data_ = static_cast<const uint8_t*>(p);
  size_ = size_t(size);
  return {};
}

void MappedFile::unmap() noexcept {
  if (data_ != nullptr) munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

#else  // no mmap: JS reads instead

SysError MappedFile::map(int, const MapOptions&) noexcept {
  return sys_error(ENOTSUP, "mmap", "mapping files is not supported on this platform");
}

void MappedFile::unmap() noexcept {
  data_ = nullptr;
  size_ = 0;
}

#endif

}  // namespace flatstream
