// Node-style system errors for the binding: "ENOSPC: no space left on
// device, write '/path'" with code, errno (negative, as libuv reports it),
// syscall and path, like the errors of node:fs.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "sys_error.h"

namespace flatstream_binding {

// Names of the errno values file and mapping calls report, as Node spells them.
inline const char* errno_name(int code) {
  static const struct {
    int code;
    const char* name;
  } kNames[] = {
      {EACCES, "EACCES"},
      {EAGAIN, "EAGAIN"},
      {EBADF, "EBADF"},
      {EBUSY, "EBUSY"},
#ifdef EDQUOT  // not in the Windows C runtime
      {EDQUOT, "EDQUOT"},
#endif
      {EEXIST, "EEXIST"},
      {EFBIG, "EFBIG"},
      {EINTR, "EINTR"},
      {EINVAL, "EINVAL"},
      {EIO, "EIO"},
      {EISDIR, "EISDIR"},
      {ELOOP, "ELOOP"},
      {EMFILE, "EMFILE"},
      {ENFILE, "ENFILE"},
      {ENODEV, "ENODEV"},
      {ENOENT, "ENOENT"},
      {ENOMEM, "ENOMEM"},
      {ENOSPC, "ENOSPC"},
      {ENOTDIR, "ENOTDIR"},
      {ENOTSUP, "ENOTSUP"},
      {ENAMETOOLONG, "ENAMETOOLONG"},
      {EOVERFLOW, "EOVERFLOW"},
      {EPERM, "EPERM"},
      {EROFS, "EROFS"},
      {ETIMEDOUT, "ETIMEDOUT"},
  };
  for (const auto& n : kNames)
    if (n.code == code) return n.name;
  return "UNKNOWN";
}

// `reason` replaces strerror(code) when given; `path` is quoted after the call.
inline Napi::Error system_error(Napi::Env env, int code, const char* syscall,
                                const char* reason = nullptr, const std::string& path = {}) {
  const char* name = errno_name(code);
  std::string message =
      std::string(name) + ": " + (reason ? reason : std::strerror(code)) + ", " + syscall;
  if (!path.empty()) message += " '" + path + "'";
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", name);
  err.Set("errno", Napi::Number::New(env, -code));
  err.Set("syscall", syscall);
  if (!path.empty()) err.Set("path", path);
  return err;
}

// A flatstream::SysError (native/sys_error.h) as a system error; `detail`
// is its path. A refused recovery also carries `refusal` (1 no intact frame,
// 2 tail too long, 3 not a regular file), `tornBytes`, `offset` and
// `frameIndex`: JS builds its RecoveryRefusedError from them.
inline Napi::Error system_error(Napi::Env env, const flatstream::SysError& e) {
  Napi::Error err = system_error(env, e.code, e.syscall, e.reason, e.detail);
  if (e.refusal != flatstream::kNoRefusal) {
    err.Set("refusal", Napi::Number::New(env, double(e.refusal)));
    err.Set("tornBytes", Napi::Number::New(env, double(e.torn_bytes)));
    err.Set("offset", Napi::Number::New(env, double(e.offset)));
    err.Set("frameIndex", Napi::Number::New(env, double(e.frame_index)));
  }
  return err;
}

}  // namespace flatstream_binding
