// XXH3-64 (seed 0) with AVX2, for CPUs that have it (checked at run time by
// checksum.cc). The whole translation unit is compiled for AVX2 by pragma,
// because binding.gyp cannot give one file its own flags; everything here is
// reached only through xxh3_64_avx2.
#include "checksum_impl.h"

#ifdef FLATSTREAM_X86_SIMD
// System headers before the pragma: the intrinsics carry their own targets,
// and libc declarations must not be re-declared with a different target.
#include <assert.h>
#include <immintrin.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

namespace flatstream {
namespace detail {

uint64_t xxh3_64_avx2(const uint8_t* data, size_t len) noexcept { return XXH3_64bits(data, len); }

}  // namespace detail
}  // namespace flatstream

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // FLATSTREAM_X86_SIMD
