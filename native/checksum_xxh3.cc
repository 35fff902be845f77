// XXH3-64 (seed 0) for the baseline target, inlined from the system xxhash.h
// (Debian libxxhash-dev) so that the addon has no runtime dependency on it.
// xxhash picks its vector unit from the compiler's target: SSE2 on x86-64.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "checksum_impl.h"

namespace flatstream {
namespace detail {

uint64_t xxh3_64_default(const uint8_t* data, size_t len) noexcept {
  return XXH3_64bits(data, len);
}

const char* xxh3_default_impl() noexcept {
  switch (XXH_VECTOR) {
    case XXH_SSE2:
      return "sse2";
    case XXH_AVX2:
      return "avx2";
    case XXH_AVX512:
      return "avx512";
    case XXH_NEON:
      return "neon";
    case XXH_VSX:
      return "vsx";
    default:
      return "scalar";
  }
}

}  // namespace detail
}  // namespace flatstream
