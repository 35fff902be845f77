// Internal: every implementation behind checksum.h, one entry point per
// algorithm and instruction set, so that tests and benchmarks can run each
// path directly (checksum.cc picks one per CPU). All take and return the
// public (zlib-convention) value unless named *_raw.
#pragma once

#include <cstddef>
#include <cstdint>

#include "checksum.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define FLATSTREAM_X86_SIMD 1  // the pclmul / sse4.2 / avx2 paths are compiled
#endif
#if defined(__aarch64__) && defined(__GNUC__) && defined(__AARCH64EL__)
#define FLATSTREAM_ARM_CRC 1  // the ARMv8 CRC32 instruction paths are compiled
#endif

namespace flatstream {
namespace detail {

// One implementation behind a uniform signature: the running value widened
// to 64 bits (XXH3 ignores it).
using ChecksumFn = uint64_t (*)(uint64_t crc, const uint8_t* data, size_t len) noexcept;
struct Implementation {
  ChecksumKind kind;
  const char* name;  // what checksum_impl() reports when it is the one chosen
  ChecksumFn fn;
};
struct Implementations {
  Implementation item[16];  // 15 on a CPU with every feature
  size_t size;
};
// Those the running CPU supports, each kind's slowest first (checksum.cc):
// the public functions use the last of each kind, tests and benchmarks all.
const Implementations& implementations() noexcept;

// Portable table-driven paths (checksum_table.cc).
uint16_t crc16_slice8(uint16_t crc, const uint8_t* data, size_t len) noexcept;
uint32_t crc32_slice8(uint32_t crc, const uint8_t* data, size_t len) noexcept;
uint32_t crc32c_slice8(uint32_t crc, const uint8_t* data, size_t len) noexcept;
uint64_t crc64_slice8(uint64_t crc, const uint8_t* data, size_t len) noexcept;

// The reflected CRCs on the bare register (no pre/post inversion), which is
// what the folding engine needs to finish its last block and the tail.
uint32_t crc32_raw_slice8(uint32_t reg, const uint8_t* data, size_t len) noexcept;
uint32_t crc32c_raw_slice8(uint32_t reg, const uint8_t* data, size_t len) noexcept;
uint64_t crc64_raw_slice8(uint64_t reg, const uint8_t* data, size_t len) noexcept;

// Reflected polynomials (x^0 in bit w-1 ... x^(w-1) in bit 0, x^w implied).
constexpr uint32_t kCrc32Poly = 0xEDB88320u;
constexpr uint32_t kCrc32cPoly = 0x82F63B78u;
constexpr uint64_t kCrc64Poly = 0xC96C5795D7870F42ull;

#ifdef FLATSTREAM_X86_SIMD
// checksum_clmul.cc. Folding with PCLMULQDQ (needs pclmul + sse4.2), with
// 256-bit VPCLMULQDQ (+ avx2, vpclmulqdq) or with 512-bit (+ avx512f); each
// hands inputs too short for it to the narrower one.
uint32_t crc32_clmul(uint32_t crc, const uint8_t* data, size_t len) noexcept;
uint32_t crc32_vpclmul256(uint32_t crc, const uint8_t* data, size_t len) noexcept;
uint32_t crc32_vpclmul512(uint32_t crc, const uint8_t* data, size_t len) noexcept;
uint64_t crc64_clmul(uint64_t crc, const uint8_t* data, size_t len) noexcept;
uint64_t crc64_vpclmul256(uint64_t crc, const uint8_t* data, size_t len) noexcept;
uint64_t crc64_vpclmul512(uint64_t crc, const uint8_t* data, size_t len) noexcept;
// The SSE4.2 crc32 instruction, one stream; needs sse4.2.
uint32_t crc32c_sse42(uint32_t crc, const uint8_t* data, size_t len) noexcept;
// Three interleaved crc32 streams merged with PCLMULQDQ; needs sse4.2 + pclmul.
uint32_t crc32c_sse42x3(uint32_t crc, const uint8_t* data, size_t len) noexcept;
// The above below 512 bytes, 512-bit folding from there; needs avx512f + vpclmulqdq.
uint32_t crc32c_vpclmul512(uint32_t crc, const uint8_t* data, size_t len) noexcept;

// XXH3 with AVX2 (checksum_xxh3_avx2.cc); needs avx2.
uint64_t xxh3_64_avx2(const uint8_t* data, size_t len) noexcept;
#endif

#ifdef FLATSTREAM_ARM_CRC
// checksum_arm.cc: the ARMv8 CRC32 / CRC32C instructions, 8 bytes each;
// need cpu_features().arm_crc32.
uint32_t crc32_armv8(uint32_t crc, const uint8_t* data, size_t len) noexcept;
uint32_t crc32c_armv8(uint32_t crc, const uint8_t* data, size_t len) noexcept;
#endif

// XXH3 as built for the baseline target (checksum_xxh3.cc): SSE2 on x86-64,
// NEON on arm64, scalar elsewhere; xxh3_default_impl() names it.
uint64_t xxh3_64_default(const uint8_t* data, size_t len) noexcept;
const char* xxh3_default_impl() noexcept;

}  // namespace detail
}  // namespace flatstream
