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

#include "args.h"
#include "binding.h"
#include "system_error.h"

namespace {

using flatstream::MappedFile;
using flatstream::SysError;

// Bits of mapFile's `flags`, as in lib/file-map.ts.
enum Flag : uint32_t { kSequential = 1, kPopulate = 2 };

void unmap(napi_env, void*, void* hint) { delete static_cast<MappedFile*>(hint); }

// mapFile(fd, maxLength, flags) -> ArrayBuffer over the whole file, or null
// where the host forbids external ArrayBuffers; throws a system error.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  using namespace flatstream_binding;
  const int fd = int(integer_arg(info[0], "fd", 0, INT32_MAX));
  // maxLength: Infinity (no bound) or a byte count.
  const bool unbounded = info[1].IsNumber() && info[1].As<Napi::Number>().DoubleValue() == INFINITY;
  const uint64_t max =
      unbounded ? UINT64_MAX : integer_arg(info[1], "maxLength", 0, kMaxSafeInteger);
  const uint32_t flags =
      uint32_t(optional_integer_arg(info[2], "flags", 0, kSequential | kPopulate, 0));

  flatstream::MapOptions options;
  options.sequential = (flags & kSequential) != 0;
  options.populate = (flags & kPopulate) != 0;
  options.max_size = max;
  MappedFile mapped;
  const SysError e = mapped.map(fd, options);
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

void flatstream_binding::InitFileMap(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("mapFileSupported", Napi::Boolean::New(env, MappedFile::supported()));
}
