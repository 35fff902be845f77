// Checksums over frame payloads. Pure C++ (no N-API).
//
// Each algorithm is a fixed, out-of-band agreed strategy (docs/design.md,
// "Wire format and checksums"); the names follow flatstream-rs. `XxHash64` is
// XXH3-64 with seed 0, as in flatstream-rs, despite its name. The best
// implementation for the running CPU is chosen once at run time (nothing is
// built with -march=native).
#pragma once

#include <cstddef>
#include <cstdint>

namespace flatstream {

enum class ChecksumKind : uint8_t {
  kNone = 0,
  kCrc16 = 1,     // CRC-16/XMODEM, 2 bytes, KAT 0x31C3
  kCrc32 = 2,     // CRC-32/ISO-HDLC (zlib's), 4 bytes, KAT 0xCBF43926
  kXxHash64 = 3,  // XXH3-64 seed 0, 8 bytes, KAT 0x72DCB18B67A17DFF
  kCrc32c = 4,    // CRC-32C (Castagnoli), 4 bytes, KAT 0xE3069283
  kCrc64 = 5,     // CRC-64/XZ, 8 bytes, KAT 0x995DC9BBDF1939FA
};
constexpr unsigned kChecksumKindCount = 6;

// True for the values of ChecksumKind above.
constexpr bool is_checksum_kind(unsigned k) noexcept { return k < kChecksumKindCount; }

// Width in bytes of the checksum field on the wire (0, 2, 4 or 8).
unsigned checksum_width(ChecksumKind kind) noexcept;

// Lower-case stable name: "none", "crc16", "crc32", "xxhash64", "crc32c", "crc64".
const char* checksum_name(ChecksumKind kind) noexcept;

// The implementation chosen for this CPU, e.g. "avx2", "pclmul", "sse4.2", "slice8".
const char* checksum_impl(ChecksumKind kind) noexcept;

// One-shot checksum of a payload; the value fits in checksum_width bytes.
uint64_t checksum(ChecksumKind kind, const uint8_t* data, size_t len) noexcept;

// Incremental forms (zlib convention: pass the previous result, 0 to start).
uint16_t crc16_xmodem(uint16_t crc, const uint8_t* data, size_t len) noexcept;
uint32_t crc32(uint32_t crc, const uint8_t* data, size_t len) noexcept;
uint32_t crc32c(uint32_t crc, const uint8_t* data, size_t len) noexcept;
uint64_t crc64_xz(uint64_t crc, const uint8_t* data, size_t len) noexcept;
uint64_t xxh3_64(const uint8_t* data, size_t len) noexcept;

}  // namespace flatstream
