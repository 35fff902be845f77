// Portable table-driven CRCs: slicing-by-8 (eight 256-entry tables, one load
// of 8 input bytes per step, eight independent lookups). This is the path on
// CPUs without carry-less multiply and the finisher of the folding engine.
// Tables are built at compile time from the polynomial.
#include "checksum_impl.h"

namespace flatstream {
namespace detail {
namespace {

template <typename T>
struct Tables {
  T t[8][256];  // t[k][b]: the register contribution of byte b followed by k zero bytes
};

// Reflected (LSB-first) CRC: the register shifts right, the byte enters at
// the bottom.
template <typename T>
constexpr Tables<T> reflected_tables(T poly) {
  Tables<T> tab{};
  for (unsigned b = 0; b < 256; ++b) {
    T r = static_cast<T>(b);
    for (int i = 0; i < 8; ++i) r = (r & 1) ? static_cast<T>((r >> 1) ^ poly) : (r >> 1);
    tab.t[0][b] = r;
  }
  for (unsigned k = 1; k < 8; ++k)
    for (unsigned b = 0; b < 256; ++b)
      tab.t[k][b] = static_cast<T>((tab.t[k - 1][b] >> 8) ^ tab.t[0][tab.t[k - 1][b] & 0xff]);
  return tab;
}

// Non-reflected (MSB-first) 16-bit CRC: the register shifts left, the byte
// enters at the top.
constexpr Tables<uint16_t> msb_first_tables16(uint16_t poly) {
  Tables<uint16_t> tab{};
  for (unsigned b = 0; b < 256; ++b) {
    unsigned r = b << 8;
    for (int i = 0; i < 8; ++i) r = (r & 0x8000) ? ((r << 1) ^ poly) : (r << 1);
    tab.t[0][b] = static_cast<uint16_t>(r);
  }
  for (unsigned k = 1; k < 8; ++k)
    for (unsigned b = 0; b < 256; ++b) {
      const unsigned prev = tab.t[k - 1][b];
      tab.t[k][b] = static_cast<uint16_t>((prev << 8) ^ tab.t[0][prev >> 8]);
    }
  return tab;
}

constexpr Tables<uint32_t> kCrc32 = reflected_tables<uint32_t>(kCrc32Poly);
constexpr Tables<uint32_t> kCrc32c = reflected_tables<uint32_t>(kCrc32cPoly);
constexpr Tables<uint64_t> kCrc64 = reflected_tables<uint64_t>(kCrc64Poly);
constexpr Tables<uint16_t> kCrc16 = msb_first_tables16(0x1021);

// Byte by byte, so that the byte order of the host does not matter; GCC and
// clang turn each into one load (plus a bswap for big-endian order).
inline uint64_t load_le64(const uint8_t* p) noexcept {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline uint64_t load_be64(const uint8_t* p) noexcept {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// Works for 32- and 64-bit registers alike: the register is XORed into the
// first bytes of the little-endian word.
template <typename T>
T reflected_slice8(const Tables<T>& tab, T reg, const uint8_t* p, size_t n) noexcept {
  const auto& t = tab.t;
  uint64_t r = reg;
  for (; n >= 8; n -= 8, p += 8) {
    const uint64_t v = load_le64(p) ^ r;
    r = t[7][v & 0xff] ^ t[6][(v >> 8) & 0xff] ^ t[5][(v >> 16) & 0xff] ^ t[4][(v >> 24) & 0xff] ^
        t[3][(v >> 32) & 0xff] ^ t[2][(v >> 40) & 0xff] ^ t[1][(v >> 48) & 0xff] ^ t[0][v >> 56];
  }
  for (; n > 0; --n, ++p) r = (r >> 8) ^ t[0][(r ^ *p) & 0xff];
  return static_cast<T>(r);
}

}  // namespace

uint32_t crc32_raw_slice8(uint32_t reg, const uint8_t* data, size_t len) noexcept {
  return reflected_slice8(kCrc32, reg, data, len);
}
uint32_t crc32c_raw_slice8(uint32_t reg, const uint8_t* data, size_t len) noexcept {
  return reflected_slice8(kCrc32c, reg, data, len);
}
uint64_t crc64_raw_slice8(uint64_t reg, const uint8_t* data, size_t len) noexcept {
  return reflected_slice8(kCrc64, reg, data, len);
}

uint32_t crc32_slice8(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  return ~crc32_raw_slice8(~crc, data, len);
}
uint32_t crc32c_slice8(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  return ~crc32c_raw_slice8(~crc, data, len);
}
uint64_t crc64_slice8(uint64_t crc, const uint8_t* data, size_t len) noexcept {
  return ~crc64_raw_slice8(~crc, data, len);
}

// CRC-16/XMODEM: init 0, no inversion, MSB-first. The register meets the
// first two bytes of the big-endian word.
uint16_t crc16_slice8(uint16_t crc, const uint8_t* p, size_t n) noexcept {
  const auto& t = kCrc16.t;
  unsigned r = crc;
  for (; n >= 8; n -= 8, p += 8) {
    const uint64_t v = load_be64(p) ^ (static_cast<uint64_t>(r) << 48);
    r = t[7][v >> 56] ^ t[6][(v >> 48) & 0xff] ^ t[5][(v >> 40) & 0xff] ^ t[4][(v >> 32) & 0xff] ^
        t[3][(v >> 24) & 0xff] ^ t[2][(v >> 16) & 0xff] ^ t[1][(v >> 8) & 0xff] ^ t[0][v & 0xff];
  }
  for (; n > 0; --n, ++p) r = ((r << 8) & 0xffff) ^ t[0][(r >> 8) ^ *p];
  return static_cast<uint16_t>(r);
}

}  // namespace detail
}  // namespace flatstream
