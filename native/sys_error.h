// SysError: the one error type of the native core's system calls, used by
// the capture (native/capture/) (docs/design.md, "The native core: capture and binding"). Pure C++;
// the binding turns it into a Node-style system error
// (native/binding/system_error.h).
#pragma once

#include <cstdint>
#include <string>

namespace flatstream {

// Why recovery left a file untouched (docs/design.md, "Recovery").
enum Refusal : int32_t {
  kNoRefusal = 0,
  kNoIntactFrame = 1,  // no intact frame precedes the torn tail
  kTailTooLong = 2,    // the tail is longer than one slab
  kNotRegular = 3,     // a FIFO, a device, a socket
};

// A failed system call: errno value (0: none), its name, and context.
struct SysError {
  int code = 0;
  const char* syscall = "";
  std::string detail;  // e.g. the path
  // A better explanation than strerror(code) when there is one, else nullptr.
  const char* reason = nullptr;
  // Recovery refused (code EINVAL): why, the bytes after the last intact
  // frame, and where the torn frame starts.
  Refusal refusal = kNoRefusal;
  uint64_t torn_bytes = 0, offset = 0, frame_index = 0;
  explicit operator bool() const noexcept { return code != 0; }
};

// A SysError without detail (constructs nothing that can throw).
inline SysError sys_error(int code, const char* syscall, const char* reason = nullptr) noexcept {
  SysError e;
  e.code = code;
  e.syscall = syscall;
  e.reason = reason;
  return e;
}

}  // namespace flatstream
