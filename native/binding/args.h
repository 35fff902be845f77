// Typed argument helpers for every binding entry point (docs/design.md, "The
// native core: capture and binding"): each entry point reads each of its
// arguments through one of these, so a wrong argument is refused the way lib/
// and Node refuse it, with the same message for the same mistake everywhere:
//   a wrong type:         TypeError  ERR_INVALID_ARG_TYPE  'The "x" argument must be ...'
//   a value out of range: RangeError ERR_OUT_OF_RANGE      'The value of "x" is out of range'
// lib/ checks arguments first; these stop whatever reaches C++ regardless.
#pragma once

#include <napi.h>

#include <cmath>
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

// The largest integer a double holds exactly (Number.MAX_SAFE_INTEGER).
constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;

// An integer in [min, max] (max <= kMaxSafeInteger): TypeError if not a
// number, RangeError if not an integer or out of range.
inline uint64_t integer_arg(const Napi::Value& v, const std::string& name, uint64_t min,
                            uint64_t max) {
  if (!v.IsNumber()) throw arg_type_error(v.Env(), name, "of type number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= double(min) && d <= double(max)) || d != std::floor(d))
    throw arg_range_error(v.Env(), name);
  return uint64_t(d);
}

inline uint32_t u32_arg(const Napi::Value& v, const std::string& name, uint32_t max = UINT32_MAX) {
  return uint32_t(integer_arg(v, name, 0, max));
}

// As integer_arg, but undefined gives `dflt`.
inline uint64_t optional_integer_arg(const Napi::Value& v, const std::string& name, uint64_t min,
                                     uint64_t max, uint64_t dflt) {
  return v.IsUndefined() ? dflt : integer_arg(v, name, min, max);
}

inline bool bool_arg(const Napi::Value& v, const std::string& name) {
  if (!v.IsBoolean()) throw arg_type_error(v.Env(), name, "of type boolean");
  return v.As<Napi::Boolean>().Value();
}

inline bool optional_bool_arg(const Napi::Value& v, const std::string& name, bool dflt) {
  return v.IsUndefined() ? dflt : bool_arg(v, name);
}

inline std::string string_arg(const Napi::Value& v, const std::string& name) {
  if (!v.IsString()) throw arg_type_error(v.Env(), name, "of type string");
  return v.As<Napi::String>().Utf8Value();
}

inline Napi::Function function_arg(const Napi::Value& v, const std::string& name) {
  if (!v.IsFunction()) throw arg_type_error(v.Env(), name, "of type function");
  return v.As<Napi::Function>();
}

inline Napi::Object object_arg(const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray() || v.IsFunction())
    throw arg_type_error(v.Env(), name, "an object");
  return v.As<Napi::Object>();
}

// Properties of an options object, checked like arguments named after them.
inline uint64_t integer_prop(const Napi::Object& o, const char* name, uint64_t min, uint64_t max,
                             uint64_t dflt) {
  return optional_integer_arg(o.Get(name), name, min, max, dflt);
}

inline bool bool_prop(const Napi::Object& o, const char* name, bool dflt) {
  return optional_bool_arg(o.Get(name), name, dflt);
}

struct ByteView {
  uint8_t* data = nullptr;
  size_t len = 0;
};

// Any TypedArray or DataView as raw bytes, over an ArrayBuffer or a
// SharedArrayBuffer alike: the pointer comes from napi_get_typedarray_info /
// napi_get_dataview_info, never from the buffer object (napi_get_arraybuffer_info
// refuses a SharedArrayBuffer with "Invalid argument"). A TypeError otherwise.
inline ByteView bytes_arg(const Napi::Value& v, const std::string& name) {
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

// A typed array of `type` with at least `min_len` elements, as a pointer to
// its first element (an out-parameter JS reads after the call); a TypeError
// naming the expected type and length otherwise.
template <typename T>
inline T* typed_out_arg(const Napi::Value& v, const std::string& name, napi_typedarray_type type,
                        const char* type_name, size_t min_len) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type ||
      v.As<Napi::TypedArray>().ElementLength() < min_len)
    throw arg_type_error(v.Env(), name,
                         std::string("a ") + type_name + " of at least " + std::to_string(min_len));
  const ByteView b = bytes_arg(v, name);
  if (reinterpret_cast<uintptr_t>(b.data) % alignof(T) != 0) throw arg_range_error(v.Env(), name);
  return reinterpret_cast<T*>(b.data);
}

inline double* float64_out_arg(const Napi::Value& v, const std::string& name, size_t min_len) {
  return typed_out_arg<double>(v, name, napi_float64_array, "Float64Array", min_len);
}

inline uint32_t* uint32_out_arg(const Napi::Value& v, const std::string& name, size_t min_len) {
  return typed_out_arg<uint32_t>(v, name, napi_uint32_array, "Uint32Array", min_len);
}

inline uint8_t* uint8_arg(const Napi::Value& v, const std::string& name, size_t min_len = 0) {
  return typed_out_arg<uint8_t>(v, name, napi_uint8_array, "Uint8Array", min_len);
}

}  // namespace flatstream_binding
