// mapFile(fd, maxLength, flags) over flatstream::MappedFile (native/file_map.h).
// Argument checks and the fallback live in lib/file-map.ts; this file converts
// and owns the mapping's lifetime.
//
// The mapping reaches JS as ONE external ArrayBuffer that owns it: the
// finalizer (run by Node on the JS thread, in the event-loop turn after the
// buffer is collected) unmaps. V8 counts the ArrayBuffer's length as external
// memory by itself (measured: process.memoryUsage().external grows by the
// file's size), so dropped mappings of large files prompt collections like
// Buffers of the same size would; adding napi_adjust_external_memory on top
// would count them twice.
#include "file_map.h"

#include <napi.h>

#include <cstdint>
#include <utility>

#include "arg_error.h"
#include "system_error.h"

namespace {

using flatstream::MapError;
using flatstream::MappedFile;

// Bits of mapFile's `flags`, as in lib/file-map.ts.
enum Flag : uint32_t { kSequential = 1, kPopulate = 2 };

Napi::Error system_error(Napi::Env env, const MapError& e) {
  return flatstream_binding::system_error(env, e.code, e.syscall, e.reason);
}

void unmap(napi_env, void*, void* hint) { delete static_cast<MappedFile*>(hint); }

// mapFile(fd, maxLength, flags) -> ArrayBuffer over the whole file, or null
// where the host forbids external ArrayBuffers; throws a system error.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double fd = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  const double max = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!info[0].IsNumber()) throw flatstream_binding::arg_type_error(env, "fd", "of type number");
  if (!info[1].IsNumber())
    throw flatstream_binding::arg_type_error(env, "maxLength", "of type number");
  if (!(fd >= 0 && fd <= INT32_MAX && fd == double(int(fd))))
    throw flatstream_binding::arg_range_error(env, "fd");
  if (!(max >= 0)) throw flatstream_binding::arg_range_error(env, "maxLength");
  if (!info[2].IsUndefined() && !info[2].IsNumber())
    throw flatstream_binding::arg_type_error(env, "flags", "of type number");
  const uint32_t flags = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;

  flatstream::MapOptions options;
  options.sequential = (flags & kSequential) != 0;
  options.populate = (flags & kPopulate) != 0;
  options.max_size = max >= 18446744073709551615.0 ? UINT64_MAX : uint64_t(max);
  MappedFile mapped;
  const MapError e = mapped.map(int(fd), options);
  if (e) throw system_error(env, e);
  if (mapped.size() == 0) return Napi::ArrayBuffer::New(env, 0);

  MappedFile* owned = new MappedFile(std::move(mapped));
  napi_value ab = nullptr;
  const napi_status status = napi_create_external_arraybuffer(
      env, const_cast<uint8_t*>(owned->data()), owned->size(), unmap, owned, &ab);
  if (status != napi_ok) {
    delete owned;
    if (status == napi_no_external_buffers_allowed) return env.Null();
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  return Napi::Value(env, ab);
}

}  // namespace

void InitFileMap(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("mapFileSupported", Napi::Boolean::New(env, MappedFile::supported()));
}
