// Node-style argument errors for the binding, so that every entry point of
// addon.cc, validator.cc and file_map.cc refuses bad arguments the way lib/
// and Node do: a TypeError with code ERR_INVALID_ARG_TYPE for a wrong type,
// a RangeError with code ERR_OUT_OF_RANGE for a value out of range, and the
// same message for the same mistake ('The "x" argument must be ...',
// 'The value of "x" is out of range'). lib/ checks arguments first; these
// only refuse what would make C++ misbehave.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace flatstream_binding {

inline Napi::Error arg_type_error(Napi::Env env, const std::string& name,
                                  const std::string& expected) {
  Napi::Error e = Napi::TypeError::New(env, "The \"" + name + "\" argument must be " + expected);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  return e;
}

// `detail`, when given, says what the range is ("It must be ...").
inline Napi::Error arg_range_error(Napi::Env env, const std::string& name,
                                   const std::string& detail = "") {
  Napi::Error e = Napi::RangeError::New(
      env, "The value of \"" + name + "\" is out of range" + (detail.empty() ? "" : ". " + detail));
  e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  return e;
}

struct ByteView {
  uint8_t* data = nullptr;
  size_t len = 0;
};

// Any TypedArray or DataView as raw bytes, over an ArrayBuffer or a
// SharedArrayBuffer alike: the pointer comes from napi_get_typedarray_info /
// napi_get_dataview_info, never from the buffer object (napi_get_arraybuffer_info
// refuses a SharedArrayBuffer with "Invalid argument"). A TypeError otherwise.
inline ByteView bytes_of(const Napi::Value& v, const char* name) {
  napi_env env = v.Env();
  ByteView b;
  bool is = false;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    NAPI_THROW_IF_FAILED(
        env, napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr), b);
    static constexpr size_t kElementSize[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
    b.data = static_cast<uint8_t*>(data);
    b.len = length *
            (size_t(type) < sizeof kElementSize / sizeof *kElementSize ? kElementSize[type] : 1);
    return b;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    void* data = nullptr;
    NAPI_THROW_IF_FAILED(env, napi_get_dataview_info(env, v, &b.len, &data, nullptr, nullptr), b);
    b.data = static_cast<uint8_t*>(data);
    return b;
  }
  throw arg_type_error(Napi::Env(env), name, "a TypedArray or DataView");
}

}  // namespace flatstream_binding
