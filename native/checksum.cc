// Public checksum API: lists the implementations the running CPU supports
// once (first use), uses the fastest of each algorithm, and then only looks
// up and calls.
#include "checksum.h"

#include "checksum_impl.h"
#include "cpu.h"

namespace flatstream {
namespace detail {
namespace {

template <typename T, T (*F)(T, const uint8_t*, size_t) noexcept>
uint64_t uniform(uint64_t crc, const uint8_t* data, size_t len) noexcept {
  return F(static_cast<T>(crc), data, len);
}

template <uint64_t (*F)(const uint8_t*, size_t) noexcept>
uint64_t uniform_hash(uint64_t, const uint8_t* data, size_t len) noexcept {
  return F(data, len);
}

#ifdef FLATSTREAM_X86_SIMD
// Up to 240 bytes XXH3 is scalar code whatever the vector unit: the baseline
// copy serves those.
uint64_t xxh3_64_avx2_long(uint64_t, const uint8_t* data, size_t len) noexcept {
  return len <= 240 ? xxh3_64_default(data, len) : xxh3_64_avx2(data, len);
}
#endif

Implementations list() noexcept {
  Implementations l{};
  auto add = [&l](ChecksumKind kind, const char* name, ChecksumFn fn) {
    if (l.size < sizeof(l.item) / sizeof(l.item[0])) l.item[l.size++] = {kind, name, fn};
  };
  add(ChecksumKind::kCrc16, "slice8", uniform<uint16_t, crc16_slice8>);
  add(ChecksumKind::kCrc32, "slice8", uniform<uint32_t, crc32_slice8>);
  add(ChecksumKind::kCrc32c, "slice8", uniform<uint32_t, crc32c_slice8>);
  add(ChecksumKind::kCrc64, "slice8", uniform<uint64_t, crc64_slice8>);
  add(ChecksumKind::kXxHash64, xxh3_default_impl(), uniform_hash<xxh3_64_default>);
#ifdef FLATSTREAM_X86_SIMD
  // Measured on 1 MiB (Zen 4): CRC-32/64 slice8 2.4 GB/s, pclmul 17, 256-bit
  // vpclmul 33, 512-bit 65; CRC-32C sse4.2 11, three streams 33, 512-bit 65.
  const CpuFeatures& cpu = cpu_features();
  if (cpu.sse42) add(ChecksumKind::kCrc32c, "sse4.2", uniform<uint32_t, crc32c_sse42>);
  if (cpu.sse42 && cpu.pclmul) {
    add(ChecksumKind::kCrc32, "pclmul", uniform<uint32_t, crc32_clmul>);
    add(ChecksumKind::kCrc64, "pclmul", uniform<uint64_t, crc64_clmul>);
    add(ChecksumKind::kCrc32c, "sse4.2x3", uniform<uint32_t, crc32c_sse42x3>);
  }
  if (cpu.sse42 && cpu.vpclmulqdq) {
    add(ChecksumKind::kCrc32, "vpclmul-avx2", uniform<uint32_t, crc32_vpclmul256>);
    add(ChecksumKind::kCrc64, "vpclmul-avx2", uniform<uint64_t, crc64_vpclmul256>);
  }
  if (cpu.sse42 && cpu.vpclmulqdq && cpu.avx512) {
    add(ChecksumKind::kCrc32, "vpclmul-avx512", uniform<uint32_t, crc32_vpclmul512>);
    add(ChecksumKind::kCrc64, "vpclmul-avx512", uniform<uint64_t, crc64_vpclmul512>);
    add(ChecksumKind::kCrc32c, "vpclmul-avx512", uniform<uint32_t, crc32c_vpclmul512>);
  }
  if (cpu.avx2) add(ChecksumKind::kXxHash64, "avx2", xxh3_64_avx2_long);
#endif
#ifdef FLATSTREAM_ARM_CRC
  // XXH3 above is xxhash's NEON path (baseline on AArch64); CRC-16 and
  // CRC-64 have no instruction and stay on the tables.
  if (cpu_features().arm_crc32) {
    add(ChecksumKind::kCrc32, "armv8-crc", uniform<uint32_t, crc32_armv8>);
    add(ChecksumKind::kCrc32c, "armv8-crc", uniform<uint32_t, crc32c_armv8>);
  }
#endif
  return l;
}

}  // namespace

const Implementations& implementations() noexcept {
  static const Implementations l = list();
  return l;
}

}  // namespace detail

namespace {

uint64_t no_checksum(uint64_t, const uint8_t*, size_t) noexcept { return 0; }

struct Dispatch {
  detail::ChecksumFn fn[kChecksumKindCount] = {no_checksum};
  const char* name[kChecksumKindCount] = {"none"};
};

Dispatch resolve() noexcept {
  Dispatch d;
  const detail::Implementations& l = detail::implementations();
  for (size_t i = 0; i < l.size; ++i) {
    const unsigned k = static_cast<unsigned>(l.item[i].kind);
    d.fn[k] = l.item[i].fn;
    d.name[k] = l.item[i].name;
  }
  return d;
}

const Dispatch& dispatch() noexcept {
  static const Dispatch d = resolve();
  return d;
}

uint64_t call(ChecksumKind kind, uint64_t crc, const uint8_t* data, size_t len) noexcept {
  return dispatch().fn[static_cast<unsigned>(kind)](crc, data, len);
}

}  // namespace

unsigned checksum_width(ChecksumKind kind) noexcept {
  static const uint8_t kWidths[kChecksumKindCount] = {0, 2, 4, 8, 4, 8};
  const unsigned k = static_cast<unsigned>(kind);
  return is_checksum_kind(k) ? kWidths[k] : 0;
}

const char* checksum_name(ChecksumKind kind) noexcept {
  static const char* const kNames[kChecksumKindCount] = {"none",     "crc16",  "crc32",
                                                         "xxhash64", "crc32c", "crc64"};
  const unsigned k = static_cast<unsigned>(kind);
  return is_checksum_kind(k) ? kNames[k] : "unknown";
}

const char* checksum_impl(ChecksumKind kind) noexcept {
  const unsigned k = static_cast<unsigned>(kind);
  return is_checksum_kind(k) ? dispatch().name[k] : "unknown";
}

uint64_t checksum(ChecksumKind kind, const uint8_t* data, size_t len) noexcept {
  return is_checksum_kind(static_cast<unsigned>(kind)) ? call(kind, 0, data, len) : 0;
}

uint16_t crc16_xmodem(uint16_t crc, const uint8_t* data, size_t len) noexcept {
  return static_cast<uint16_t>(call(ChecksumKind::kCrc16, crc, data, len));
}
uint32_t crc32(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  return static_cast<uint32_t>(call(ChecksumKind::kCrc32, crc, data, len));
}
uint32_t crc32c(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  return static_cast<uint32_t>(call(ChecksumKind::kCrc32c, crc, data, len));
}
uint64_t crc64_xz(uint64_t crc, const uint8_t* data, size_t len) noexcept {
  return call(ChecksumKind::kCrc64, crc, data, len);
}
uint64_t xxh3_64(const uint8_t* data, size_t len) noexcept {
  return call(ChecksumKind::kXxHash64, 0, data, len);
}

}  // namespace flatstream
