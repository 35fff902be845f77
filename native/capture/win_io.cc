// The capture's OS seam on Windows (native/capture/file_io.h;
// docs/design.md, "Platforms"): file mappings (CreateFileMapping and
// MapViewOfFile), positioned ReadFile/WriteFile with OVERLAPPED offsets, and
// LockFileEx for the claims. Paths are UTF-8, converted to UTF-16.
#ifdef _WIN32

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include "capture/file_io.h"

namespace flatstream {
namespace file_io {

namespace {

HANDLE handle_of(Handle h) noexcept { return reinterpret_cast<HANDLE>(h); }

// The errno value closest to a Windows error, for the Node-style errors the
// binding makes (native/binding/system_error.h).
int errno_of(DWORD error) noexcept {
  switch (error) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
      return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_WRITE_PROTECT:
      return EACCES;
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION:
    case ERROR_USER_MAPPED_FILE:
      return EBUSY;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
      return EEXIST;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
      return ENOSPC;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_COMMITMENT_LIMIT:
      return ENOMEM;
    case ERROR_TOO_MANY_OPEN_FILES:
      return EMFILE;
    case ERROR_FILENAME_EXCED_RANGE:
      return ENAMETOOLONG;
    case ERROR_DIRECTORY:
      return ENOTDIR;
    case ERROR_CANT_RESOLVE_FILENAME:
      return ELOOP;
    case ERROR_INVALID_PARAMETER:
    case ERROR_INVALID_HANDLE:
    case ERROR_NEGATIVE_SEEK:
      return EINVAL;
    case ERROR_NOT_SUPPORTED:
      return ENOTSUP;
    default:
      return EIO;
  }
}

std::wstring wide(const std::string& s) {
  if (s.empty()) return std::wstring();
  const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), int(s.size()), nullptr, 0);
  std::wstring w(size_t(n > 0 ? n : 0), L'\0');
  if (n > 0) MultiByteToWideChar(CP_UTF8, 0, s.data(), int(s.size()), &w[0], n);
  return w;
}

OVERLAPPED at(uint64_t offset) noexcept {
  OVERLAPPED o{};
  o.Offset = DWORD(offset & 0xffffffffu);
  o.OffsetHigh = DWORD(offset >> 32);
  return o;
}

// The claim locks one byte far past any data (locks beyond the end of a
// file are allowed): Windows locks are mandatory, and a lock over the data
// would block every reader of the stream.
constexpr uint64_t kClaimOffset = ~uint64_t{0} - 1;

bool set_end(HANDLE h, uint64_t size) noexcept {
  FILE_END_OF_FILE_INFO eof{};
  eof.EndOfFile.QuadPart = LONGLONG(size);
  return SetFileInformationByHandle(h, FileEndOfFileInfo, &eof, sizeof eof) != 0;
}

}  // namespace

SysError last_error(const char* call, const std::string& detail) {
  return sys(call, detail, errno_of(GetLastError()));
}

size_t map_granularity() noexcept {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return size_t(si.dwAllocationGranularity);
}

SysError open_file(const std::string& path, OpenHow how, uint32_t mode, Handle& out) {
  (void)mode;  // Windows files have ACLs, not mode bits: the directory's apply.
  const std::wstring w = wide(path);
  const DWORD share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
  HANDLE h;
  if (how == OpenHow::kStream) {
    h = CreateFileW(w.c_str(), GENERIC_READ | GENERIC_WRITE, share, nullptr, OPEN_ALWAYS,
                    FILE_ATTRIBUTE_NORMAL, nullptr);
  } else {
    // Opens a reparse point (a symbolic link) itself, so it can be refused.
    const DWORD flags = FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT;
    h = how == OpenHow::kStaging
            ? CreateFileW(w.c_str(), GENERIC_READ | GENERIC_WRITE, share, nullptr, OPEN_ALWAYS,
                          flags, nullptr)
            : CreateFileW(w.c_str(), GENERIC_WRITE, share, nullptr, CREATE_NEW, flags, nullptr);
  }
  if (h == INVALID_HANDLE_VALUE) return last_error("open", path);
  if (how != OpenHow::kStream) {
    BY_HANDLE_FILE_INFORMATION bh;
    if (!GetFileInformationByHandle(h, &bh)) {
      SysError e = last_error("open", path);
      CloseHandle(h);
      return e;
    }
    if ((bh.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0) {
      CloseHandle(h);
      return sys("open", path, ELOOP);
    }
  }
  out = reinterpret_cast<Handle>(h);
  return {};
}

void close_file(Handle h) noexcept {
  if (h != kNoHandle) CloseHandle(handle_of(h));
}

SysError file_info(Handle h, const std::string& path, FileInfo& out) {
  BY_HANDLE_FILE_INFORMATION bh;
  if (!GetFileInformationByHandle(handle_of(h), &bh)) return last_error("fstat", path);
  out.regular = GetFileType(handle_of(h)) == FILE_TYPE_DISK &&
                (bh.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) == 0;
  // The file was created in a directory whose ACL decides who may open it
  // (the user's temp directory by default); there are no mode bits to check.
  out.private_to_user = true;
  out.size = (uint64_t(bh.nFileSizeHigh) << 32) | bh.nFileSizeLow;
  const uint64_t created =
      (uint64_t(bh.ftCreationTime.dwHighDateTime) << 32) | bh.ftCreationTime.dwLowDateTime;
  out.id = Identity{uint64_t(bh.dwVolumeSerialNumber),
                    (uint64_t(bh.nFileIndexHigh) << 32) | bh.nFileIndexLow, created * 100};
  return {};
}

SysError file_size(Handle h, const std::string& path, uint64_t& size) {
  LARGE_INTEGER n;
  if (!GetFileSizeEx(handle_of(h), &n)) return last_error("fstat", path);
  size = uint64_t(n.QuadPart);
  return {};
}

bool same_file(Handle h, const std::string& path) noexcept {
  BY_HANDLE_FILE_INFORMATION mine, there;
  if (!GetFileInformationByHandle(handle_of(h), &mine)) return false;
  HANDLE o = CreateFileW(
      wide(path).c_str(), 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
      OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
  if (o == INVALID_HANDLE_VALUE) return false;
  const bool ok = GetFileInformationByHandle(o, &there) != 0;
  CloseHandle(o);
  return ok && mine.dwVolumeSerialNumber == there.dwVolumeSerialNumber &&
         mine.nFileIndexHigh == there.nFileIndexHigh && mine.nFileIndexLow == there.nFileIndexLow;
}

// POSIX semantics first (Windows 10 1709 and later, NTFS): the name goes
// now, even while the file is open, so a new file can take it and nobody
// can open the old one. Else DeleteFileW, whose name stays until the last
// handle closes (and cannot be opened meanwhile).
bool remove_file(const std::string& path) noexcept {
  const std::wstring w = wide(path);
  HANDLE h = CreateFileW(w.c_str(), DELETE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         nullptr, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
  if (h != INVALID_HANDLE_VALUE) {
    FILE_DISPOSITION_INFO_EX d{};
    d.Flags = FILE_DISPOSITION_FLAG_DELETE | FILE_DISPOSITION_FLAG_POSIX_SEMANTICS;
    // FileDispositionInfoEx (21 in the SDK; mingw-w64 hides the name
    // behind an NTDDI-style version test).
    const auto kDispositionEx = static_cast<FILE_INFO_BY_HANDLE_CLASS>(21);
    const bool gone = SetFileInformationByHandle(h, kDispositionEx, &d, sizeof d) != 0;
    CloseHandle(h);
    if (gone) return true;
  }
  return DeleteFileW(w.c_str()) != 0;
}

SysError try_lock(Handle h, const std::string& path) {
  OVERLAPPED o = at(kClaimOffset);
  if (LockFileEx(handle_of(h), LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &o))
    return {};
  const DWORD error = GetLastError();
  return sys("flock", path, error == ERROR_LOCK_VIOLATION ? EBUSY : errno_of(error));
}

void unlock(Handle h) noexcept {
  OVERLAPPED o = at(kClaimOffset);
  (void)UnlockFileEx(handle_of(h), 0, 1, 0, &o);
}

SysError pwrite_all(Handle h, const uint8_t* data, size_t len, uint64_t offset,
                    const std::string& path) {
  while (len > 0) {
    const DWORD chunk = DWORD(len < (size_t{1} << 30) ? len : (size_t{1} << 30));
    OVERLAPPED o = at(offset);
    DWORD n = 0;
    if (!WriteFile(handle_of(h), data, chunk, &n, &o)) return last_error("write", path);
    if (n == 0) return sys("write", path, EIO);
    data += n;
    len -= n;
    offset += n;
  }
  return {};
}

SysError pread_all(Handle h, uint8_t* data, size_t len, uint64_t offset, const std::string& path) {
  while (len > 0) {
    const DWORD chunk = DWORD(len < (size_t{1} << 30) ? len : (size_t{1} << 30));
    OVERLAPPED o = at(offset);
    DWORD n = 0;
    if (!ReadFile(handle_of(h), data, chunk, &n, &o)) {
      if (GetLastError() == ERROR_HANDLE_EOF) return sys("read", path, EIO);
      return last_error("read", path);
    }
    if (n == 0) return sys("read", path, EIO);
    data += n;
    len -= n;
    offset += n;
  }
  return {};
}

SysError reserve(Handle h, uint64_t offset, uint64_t len, const std::string& path) {
  uint64_t size = 0;
  if (SysError e = file_size(h, path, size)) return e;
  if (offset + len <= size) return {};
  // The allocation first (the disk blocks; not every filesystem takes the
  // request, so it is advisory), then the end over it: NTFS files are not
  // sparse unless asked, so extending the end allocates every byte up to
  // it, or fails with ERROR_DISK_FULL.
  FILE_ALLOCATION_INFO alloc{};
  alloc.AllocationSize.QuadPart = LONGLONG(offset + len);
  (void)SetFileInformationByHandle(handle_of(h), FileAllocationInfo, &alloc, sizeof alloc);
  if (!set_end(handle_of(h), offset + len)) {
    const int code = errno_of(GetLastError());
    return sys("fallocate",
               path + ": cannot reserve " + std::to_string(len) +
                   " bytes of staging (its filesystem is full or too small; see stagingPath)",
               code);
  }
  return {};
}

SysError truncate(Handle h, uint64_t size, const std::string& path) {
  if (!set_end(handle_of(h), size)) return last_error("ftruncate", path);
  return {};
}

SysError sync_data(Handle h, const std::string& path) {
  if (!FlushFileBuffers(handle_of(h))) return last_error("fdatasync", path);
  return {};
}

uint8_t* map_shared(Handle h, uint64_t offset, size_t len, bool populate, const std::string& path,
                    SysError& error) {
  // A mapping object the size of the file (reserved up to offset + len);
  // the view keeps it alive after its handle is closed.
  HANDLE m = CreateFileMappingW(handle_of(h), nullptr, PAGE_READWRITE, 0, 0, nullptr);
  if (m == nullptr) {
    error = last_error("mmap", path);
    return nullptr;
  }
  void* p = MapViewOfFile(m, FILE_MAP_WRITE, DWORD(offset >> 32), DWORD(offset & 0xffffffffu), len);
  if (p == nullptr) error = last_error("mmap", path);
  CloseHandle(m);
  if (p != nullptr && populate) {
    // Touches a byte of each page now rather than in the producer's hot path.
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    for (size_t i = 0; i < len; i += si.dwPageSize) (void)static_cast<volatile uint8_t*>(p)[i];
  }
  return static_cast<uint8_t*>(p);
}

void unmap(uint8_t* data, size_t len) noexcept {
  (void)len;
  if (data != nullptr) UnmapViewOfFile(data);
}

// No extended attributes: a stream is walked on every reopen.
long read_attr(Handle, const char*, void*, size_t) noexcept { return -1; }
void write_attr(Handle, const char*, const void*, size_t) noexcept {}
void remove_attr(Handle, const char*) noexcept {}

void lower_thread_priority() noexcept {
  (void)SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL);
}

}  // namespace file_io
}  // namespace flatstream

#endif  // _WIN32
