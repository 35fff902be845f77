// CRC-32 and CRC-32C with the ARMv8 CRC32 instructions (AArch64), for CPUs
// that have them (checked at run time by checksum.cc from cpu_features();
// docs/design.md, "Platforms"). Only these functions are compiled for the
// CRC extension, by target attribute: the rest of the addon stays baseline
// ARMv8-A, so a core without it never meets an instruction it lacks.
#include "checksum_impl.h"

#ifdef FLATSTREAM_ARM_CRC
#include <arm_acle.h>

#include <cstring>

#if defined(__clang__)
#define FLATSTREAM_TARGET_CRC __attribute__((target("crc")))
#else
#define FLATSTREAM_TARGET_CRC __attribute__((target("+crc")))
#endif

namespace flatstream {
namespace detail {
namespace {

// Bytes up to 8-byte alignment, then 8 bytes per instruction, then the tail.
// The instructions take the reflected register (no pre/post inversion).
template <bool kCastagnoli>
FLATSTREAM_TARGET_CRC inline uint32_t crc_reg(uint32_t c, const uint8_t* p, size_t n) noexcept {
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = kCastagnoli ? __crc32cb(c, *p) : __crc32b(c, *p);
    ++p;
    --n;
  }
  while (n >= 32) {
    uint64_t v[4];
    std::memcpy(v, p, 32);
    for (int i = 0; i < 4; ++i) c = kCastagnoli ? __crc32cd(c, v[i]) : __crc32d(c, v[i]);
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = kCastagnoli ? __crc32cd(c, v) : __crc32d(c, v);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = kCastagnoli ? __crc32cb(c, *p) : __crc32b(c, *p);
    ++p;
    --n;
  }
  return c;
}

}  // namespace

FLATSTREAM_TARGET_CRC uint32_t crc32_armv8(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  return ~crc_reg<false>(~crc, data, len);
}

FLATSTREAM_TARGET_CRC uint32_t crc32c_armv8(uint32_t crc, const uint8_t* data,
                                            size_t len) noexcept {
  return ~crc_reg<true>(~crc, data, len);
}

}  // namespace detail
}  // namespace flatstream

#endif  // FLATSTREAM_ARM_CRC
