// The operating-system seam of the capture (docs/design.md, "Platforms"):
// every file, mapping, lock and thread call StagingFile and Capture make,
// behind one interface with two implementations: posix_io.cc (Linux, macOS,
// the BSDs) and win_io.cc (Windows). Each implementation is one whole file
// compiled only for its platform; nothing above this seam names a platform.
// Whole reads and writes at an offset retry interruptions and short
// transfers; every failure is a SysError (native/sys_error.h) naming the call
// and the path, its code an errno value (Windows errors are translated).
// Pure C++ (no N-API).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include "sys_error.h"

namespace flatstream {
namespace file_io {

// An open file: a descriptor (POSIX) or a HANDLE (Windows), as an integer.
using Handle = intptr_t;
constexpr Handle kNoHandle = -1;

// A failed call on `detail` (usually the path) with an errno value.
inline SysError sys(const char* call, const std::string& detail, int code) {
  SysError e;
  e.code = code;
  e.syscall = call;
  e.detail = detail;
  return e;
}

// A failed call on `detail`, with the error the last system call left
// (errno, or GetLastError() translated to an errno value).
SysError last_error(const char* call, const std::string& detail);

// What offsets and lengths of mappings are multiples of: the page size on
// POSIX, the allocation granularity (64 KiB) on Windows.
size_t map_granularity() noexcept;

inline size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// How open_file opens.
enum class OpenHow {
  // The stream: read and write, created with `mode` if missing; a FIFO
  // does not block the open (the caller refuses what is not regular).
  kStream,
  // A staging file: read and write, created private to this user (0600),
  // never through a symbolic link (ELOOP).
  kStaging,
  // A new file: write only, created with `mode`, never an existing one
  // (EEXIST), never through a symbolic link.
  kCreateNew,
};
SysError open_file(const std::string& path, OpenHow how, uint32_t mode, Handle& out);
void close_file(Handle h) noexcept;

// Which file a handle is: device (volume), inode (file index), birth time
// (0: the filesystem does not say).
struct Identity {
  uint64_t dev = 0, ino = 0, btime_ns = 0;
};
struct FileInfo {
  bool regular = false;          // a regular file (not a FIFO, device, directory)
  bool private_to_user = false;  // owned by this user, no access for others
  uint64_t size = 0;
  Identity id;
};
SysError file_info(Handle h, const std::string& path, FileInfo& out);
SysError file_size(Handle h, const std::string& path, uint64_t& size);
// Whether `path` still names the file open on h.
bool same_file(Handle h, const std::string& path) noexcept;
// Removes the name `path` (false: it could not).
bool remove_file(const std::string& path) noexcept;

// The claim: an exclusive lock on h, never waiting; EBUSY when another open
// file holds it. Dropped when h is closed or the process dies, however it
// dies; unlock drops it now.
SysError try_lock(Handle h, const std::string& path);
void unlock(Handle h) noexcept;

// All of data[0, len) at `offset`; a write that makes no progress is EIO.
SysError pwrite_all(Handle h, const uint8_t* data, size_t len, uint64_t offset,
                    const std::string& path);
// All of [offset, offset + len) into data; a file that ends first (it
// shrank under us) is EIO.
SysError pread_all(Handle h, uint8_t* data, size_t len, uint64_t offset, const std::string& path);
// Makes [offset, offset + len) real memory or disk blocks, so that a mapping
// of it can never fault for want of space (docs/design.md, "Capture staging:
// space, claims and identity"); the file grows to cover it.
SysError reserve(Handle h, uint64_t offset, uint64_t len, const std::string& path);
SysError truncate(Handle h, uint64_t size, const std::string& path);
// The file's data on stable storage.
SysError sync_data(Handle h, const std::string& path);

// A shared read-write mapping of [offset, offset + len) (offset a multiple
// of map_granularity(), the range already reserved); `populate` faults its
// pages in now rather than in the producer's hot path. Null on failure.
uint8_t* map_shared(Handle h, uint64_t offset, size_t len, bool populate, const std::string& path,
                    SysError& error);
void unmap(uint8_t* data, size_t len) noexcept;

// A small named attribute of a file (the stream's clean mark). Where the
// platform or filesystem has none, read returns -1 and write does nothing:
// the caller then does without it.
long read_attr(Handle h, const char* name, void* data, size_t len) noexcept;
void write_attr(Handle h, const char* name, const void* data, size_t len) noexcept;
void remove_attr(Handle h, const char* name) noexcept;

// Lowers the calling thread's priority so that its wake-ups do not preempt
// the event loop it serves (SCHED_BATCH where there is one).
void lower_thread_priority() noexcept;

}  // namespace file_io
}  // namespace flatstream
