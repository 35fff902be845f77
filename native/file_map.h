// MappedFile: a whole regular file mapped read-only, unmapped by RAII. Pure
// C++ (no N-API). The reader's zero-copy source for files (docs/design.md,
// "Reading files"): the binding hands the mapping to JS as one external
// ArrayBuffer whose finalizer destroys the MappedFile.
//
// Mapping is MAP_SHARED: for a read-only mapping it costs the same as
// MAP_PRIVATE (no page is ever copied), but what it shows of a file that
// another process writes to is defined (the page cache), where MAP_PRIVATE's
// is "unspecified" by POSIX.
//
// Hazard: a file truncated by another process while mapped makes every access
// past the new end raise SIGBUS, which kills the process. Map files that are
// not concurrently truncated; read() the others.
//
// Errors never abort: map() returns a SysError (native/sys_error.h): the
// errno and the system call that failed. POSIX only; elsewhere map() reports ENOTSUP and
// supported() is false, so JS falls back to reading.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sys_error.h"

namespace flatstream {

struct MapOptions {
  // madvise(MADV_SEQUENTIAL): the reader scans front to back once.
  bool sequential = true;
  // MAP_POPULATE (Linux only; ignored elsewhere): fault every page in at map
  // time instead of on first access. Off: 25% slower for a map + one full
  // scan of a warm 1 GiB file (bench/file-read.mjs), no gain on a cold one.
  bool populate = false;
  // Files larger than this are refused with EFBIG (the binding passes the
  // largest ArrayBuffer the JS engine accepts).
  uint64_t max_size = UINT64_MAX;
};

class MappedFile {
 public:
  // Whether this platform can map files at all.
  static bool supported() noexcept;

  MappedFile() noexcept = default;
  ~MappedFile() { unmap(); }
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Maps the whole regular file open on `fd` (opened for reading), replacing
  // any previous mapping. The fd may be closed afterwards; the mapping stays.
  // An empty file maps to an empty span (data() == nullptr). Errors:
  //   EBADF  (fstat) fd is not open
  //   ENODEV (mmap)  fd is not a regular file (pipe, socket, device, directory)
  //   EACCES (mmap)  fd is not open for reading
  //   EFBIG  (mmap)  the file is larger than options.max_size or SIZE_MAX
  //   ENOTSUP (mmap) the platform cannot map files
  //   and whatever else fstat(2) and mmap(2) report (ENOMEM, ...).
  SysError map(int fd, const MapOptions& options = {}) noexcept;

  // Unmaps now (the destructor does it otherwise).
  void unmap() noexcept;

  const uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace flatstream
