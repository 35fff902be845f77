// Reflected CRCs (CRC-32, CRC-32C, CRC-64/XZ) by carry-less multiplication:
// one folding engine, parameterised by constants derived here from each
// polynomial, with a 128-bit (PCLMULQDQ), a 256-bit and a 512-bit
// (VPCLMULQDQ) main loop; and CRC-32C by the SSE4.2 crc32 instruction where
// that beats folding.
//
// Representation: a 16-byte block loaded little-endian is a polynomial with
// bit j holding the coefficient of x^(127-j) (reflected CRCs feed the least
// significant bit first). Its low qword H carries x^127..x^64, its high qword
// L carries x^63..x^0. Moving the block D bits further on multiplies it by
// x^D; modulo P that is H*(x^(D+64) mod P) + L*(x^D mod P), a product of
// degree < 128 again, which is XORed into the block found D bits later. A
// reflected carry-less multiply returns product*x, so the constants are
// x^(D+63) mod P and x^(D-1) mod P. What remains after folding is one 16-byte
// block congruent to everything before it: the byte-wise CRC finishes it and
// the tail. No Barrett reduction is needed for that.
#include "checksum_impl.h"

#ifdef FLATSTREAM_X86_SIMD
#include <immintrin.h>

#include <cstring>

#define FLATSTREAM_CLMUL __attribute__((target("pclmul,sse4.2")))
#define FLATSTREAM_VPCLMUL256 __attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2")))
#define FLATSTREAM_VPCLMUL512 __attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2")))

namespace flatstream {
namespace detail {
namespace {

constexpr int kLanes = 8;                   // 8 accumulators of 16 bytes hide the multiply latency
constexpr int kMaxBlocks = 2 * kLanes - 1;  // the most blocks ever folded onto the last
constexpr int kMaxDistance = 16;            // the 512-bit loop's stride, in blocks

// k[d] moves a block on by d blocks (D = 128*d bits): {x^(D+63) mod P,
// x^(D-1) mod P}, bit-reflected into 64 bits (x^j in bit 63-j). k[0] is unused.
struct FoldConstants {
  uint64_t k[kMaxDistance + 1][2];
};

constexpr uint64_t bit_reverse(uint64_t v, unsigned width) {
  uint64_t r = 0;
  for (unsigned i = 0; i < width; ++i) r |= ((v >> i) & 1) << (width - 1 - i);
  return r;
}

// x^e mod P in the normal (x^0 in bit 0) representation, P given reflected.
constexpr uint64_t xpow_mod(unsigned e, uint64_t reflected_poly, unsigned width) {
  const uint64_t poly = bit_reverse(reflected_poly, width);
  const uint64_t top = uint64_t{1} << (width - 1);
  const uint64_t mask = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  uint64_t r = 1;
  for (unsigned i = 0; i < e; ++i) r = ((r << 1) & mask) ^ ((r & top) ? poly : 0);
  return r;
}

constexpr FoldConstants fold_constants(uint64_t reflected_poly, unsigned width) {
  FoldConstants c{};
  for (unsigned d = 1; d <= kMaxDistance; ++d) {
    c.k[d][0] = bit_reverse(xpow_mod(128 * d + 63, reflected_poly, width), 64);
    c.k[d][1] = bit_reverse(xpow_mod(128 * d - 1, reflected_poly, width), 64);
  }
  return c;
}

constexpr FoldConstants kCrc32Fold = fold_constants(kCrc32Poly, 32);
constexpr FoldConstants kCrc32cFold = fold_constants(kCrc32cPoly, 32);
constexpr FoldConstants kCrc64Fold = fold_constants(kCrc64Poly, 64);

FLATSTREAM_CLMUL inline __m128i load(const uint8_t* p) noexcept {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

FLATSTREAM_CLMUL inline __m128i constant(const FoldConstants& c, int d) noexcept {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(c.k[d]));
}

FLATSTREAM_CLMUL inline __m128i fold(__m128i x, const FoldConstants& c, int d) noexcept {
  const __m128i k = constant(c, d);
  return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

// Shared end of every variant: blocks v[0..m) are loaded (the register
// already XORed into the first), p/n is the rest; needs m + n/16 <= 15.
// Finish(reg, p, n) is the byte-wise CRC of the same polynomial.
template <typename T, T (*Finish)(T, const uint8_t*, size_t)>
FLATSTREAM_CLMUL T fold_finish(const FoldConstants& c, __m128i* v, int m, const uint8_t* p,
                               size_t n) noexcept {
  for (; n >= 16; p += 16, n -= 16) v[m++] = load(p);
  // Every block moved onto the last one: independent multiplies, no chain.
  __m128i last = v[m - 1];
  for (int i = 0; i < m - 1; ++i) last = _mm_xor_si128(last, fold(v[i], c, m - 1 - i));
  uint8_t bytes[16];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(bytes), last);
  return Finish(Finish(0, bytes, 16), p, n);
}

// 128-bit main loop; needs n >= 32.
template <typename T, T (*Finish)(T, const uint8_t*, size_t)>
FLATSTREAM_CLMUL T fold128(const FoldConstants& c, T reg, const uint8_t* p, size_t n) noexcept {
  const __m128i init = _mm_set_epi64x(0, static_cast<long long>(reg));  // meets the first bits
  __m128i v[kMaxBlocks];
  if (n < 2 * 16 * kLanes) {
    v[0] = _mm_xor_si128(load(p), init);
    return fold_finish<T, Finish>(c, v, 1, p + 16, n - 16);
  }
  __m128i x[kLanes];
  for (int i = 0; i < kLanes; ++i) x[i] = load(p + 16 * i);
  x[0] = _mm_xor_si128(x[0], init);
  for (p += 16 * kLanes, n -= 16 * kLanes; n >= 16 * kLanes; p += 16 * kLanes, n -= 16 * kLanes) {
#pragma GCC unroll 8
    for (int i = 0; i < kLanes; ++i) x[i] = _mm_xor_si128(fold(x[i], c, kLanes), load(p + 16 * i));
  }
  for (int i = 0; i < kLanes; ++i) v[i] = x[i];
  return fold_finish<T, Finish>(c, v, kLanes, p, n);
}

// vlddqu, not vmovdqu: GCC's generic tuning splits unaligned 256-bit loads
// into two halves, and the first loads then stall on store forwarding
// (+20 ns per call measured). lddqu loads the same at the same speed.
FLATSTREAM_VPCLMUL256 inline __m256i load256(const uint8_t* p) noexcept {
  return _mm256_lddqu_si256(reinterpret_cast<const __m256i*>(p));
}

// Two blocks at once moved on by d blocks each, XORed with y.
FLATSTREAM_VPCLMUL256 inline __m256i fold_x2(__m256i x, const FoldConstants& c, int d,
                                             __m256i y) noexcept {
  const __m256i k = _mm256_broadcastsi128_si256(constant(c, d));
  return _mm256_xor_si256(
      _mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00), _mm256_clmulepi64_epi128(x, k, 0x11)),
      y);
}

// 256-bit main loop, 4 accumulators of 2 blocks; needs n >= 128.
template <typename T, T (*Finish)(T, const uint8_t*, size_t)>
FLATSTREAM_VPCLMUL256 T fold256(const FoldConstants& c, T reg, const uint8_t* p,
                                size_t n) noexcept {
  __m256i x[4];
  for (int i = 0; i < 4; ++i) x[i] = load256(p + 32 * i);
  const __m128i init = _mm_set_epi64x(0, static_cast<long long>(reg));
  x[0] = _mm256_xor_si256(x[0], _mm256_zextsi128_si256(init));
  for (p += 128, n -= 128; n >= 128; p += 128, n -= 128)
    for (int i = 0; i < 4; ++i) x[i] = fold_x2(x[i], c, 8, load256(p + 32 * i));
  __m256i acc = fold_x2(x[0], c, 6, fold_x2(x[1], c, 4, fold_x2(x[2], c, 2, x[3])));
  for (; n >= 32; p += 32, n -= 32) acc = fold_x2(acc, c, 2, load256(p));
  __m128i v[kMaxBlocks];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(v), acc);
  return fold_finish<T, Finish>(c, v, 2, p, n);
}

// Four blocks at once moved on by d blocks each, XORed with y.
FLATSTREAM_VPCLMUL512 inline __m512i fold_x4(__m512i x, const FoldConstants& c, int d,
                                             __m512i y) noexcept {
  // (_mm512_broadcast_i32x4 trips GCC 12's -Wuninitialized through its
  // _mm512_undefined_epi32.)
  const auto lo = static_cast<long long>(c.k[d][0]), hi = static_cast<long long>(c.k[d][1]);
  const __m512i k = _mm512_set4_epi64(hi, lo, hi, lo);
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                   _mm512_clmulepi64_epi128(x, k, 0x11), y, 0x96);  // a^b^c
}

// 512-bit main loop, 4 accumulators of 4 blocks; needs n >= 256.
template <typename T, T (*Finish)(T, const uint8_t*, size_t)>
FLATSTREAM_VPCLMUL512 T fold512(const FoldConstants& c, T reg, const uint8_t* p,
                                size_t n) noexcept {
  __m512i x[4];
  for (int i = 0; i < 4; ++i) x[i] = _mm512_loadu_si512(p + 64 * i);
  const __m128i init = _mm_set_epi64x(0, static_cast<long long>(reg));
  x[0] = _mm512_xor_si512(x[0], _mm512_zextsi128_si512(init));
  for (p += 256, n -= 256; n >= 256; p += 256, n -= 256)
    for (int i = 0; i < 4; ++i)
      x[i] = fold_x4(x[i], c, kMaxDistance, _mm512_loadu_si512(p + 64 * i));
  __m512i acc = fold_x4(x[0], c, 12, fold_x4(x[1], c, 8, fold_x4(x[2], c, 4, x[3])));
  for (; n >= 64; p += 64, n -= 64) acc = fold_x4(acc, c, 4, _mm512_loadu_si512(p));
  __m128i v[kMaxBlocks];
  _mm512_storeu_si512(v, acc);
  return fold_finish<T, Finish>(c, v, 4, p, n);
}

inline uint64_t load64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

FLATSTREAM_CLMUL uint32_t crc32c_hw_raw(uint32_t reg, const uint8_t* p, size_t n) noexcept {
  uint64_t r = reg;
  for (; n >= 8; n -= 8, p += 8) r = _mm_crc32_u64(r, load64(p));
  uint32_t r32 = static_cast<uint32_t>(r);
  for (; n > 0; --n, ++p) r32 = _mm_crc32_u8(r32, *p);
  return r32;
}

// The crc32 instruction has a latency of 3 cycles and a throughput of 1, so
// three independent streams over three consecutive L-byte pieces run 3x as
// fast as one (on 1 MiB: 33 GB/s against 11, and against 17 for 128-bit
// folding). The streams are merged by moving each register over the bytes
// that follow it: reg*x^(8*bytes) mod P is a carry-less multiply by
// x^(8*bytes-33) mod P (the product carries one x, the crc32 reduction x^32),
// reduced by crc32 itself, and linear, so both moves share one reduction.
template <size_t L>
FLATSTREAM_CLMUL uint32_t crc32c_hw3_raw(uint32_t reg, const uint8_t*& p, size_t& n) noexcept {
  static_assert(L % 8 == 0, "whole words per stream");
  constexpr auto kL =
      static_cast<long long>(bit_reverse(xpow_mod(8 * L - 33, kCrc32cPoly, 32), 32));
  constexpr auto k2L =
      static_cast<long long>(bit_reverse(xpow_mod(16 * L - 33, kCrc32cPoly, 32), 32));
  uint64_t a = reg;
  for (; n >= 3 * L; p += 3 * L, n -= 3 * L) {
    uint64_t b = 0, c = 0;
    for (size_t i = 0; i < L; i += 8) {
      a = _mm_crc32_u64(a, load64(p + i));
      b = _mm_crc32_u64(b, load64(p + L + i));
      c = _mm_crc32_u64(c, load64(p + 2 * L + i));
    }
    const __m128i moved =
        _mm_xor_si128(_mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<long long>(a)),
                                           _mm_cvtsi64_si128(k2L), 0),
                      _mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<long long>(b)),
                                           _mm_cvtsi64_si128(kL), 0));
    a = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(moved))) ^ c;
  }
  return static_cast<uint32_t>(a);
}

// Crossovers measured on Zen 4 (CRC-32, ns per call): slice8 vs 128-bit
// folding 14 vs 12 at 32 B; 128 vs 256-bit 14 vs 11 at 128 B; 256 vs 512-bit
// 18 vs 18 at 384 B, 22 vs 18 at 512 B.
constexpr size_t kMinFold128 = 32;
constexpr size_t kMinFold256 = 128;
constexpr size_t kMinFold512 = 512;

}  // namespace

uint32_t crc32_clmul(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  if (len < kMinFold128) return crc32_slice8(crc, data, len);
  return ~fold128<uint32_t, crc32_raw_slice8>(kCrc32Fold, ~crc, data, len);
}
uint32_t crc32_vpclmul256(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  if (len < kMinFold256) return crc32_clmul(crc, data, len);
  return ~fold256<uint32_t, crc32_raw_slice8>(kCrc32Fold, ~crc, data, len);
}
uint32_t crc32_vpclmul512(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  if (len < kMinFold512) return crc32_vpclmul256(crc, data, len);
  return ~fold512<uint32_t, crc32_raw_slice8>(kCrc32Fold, ~crc, data, len);
}

uint64_t crc64_clmul(uint64_t crc, const uint8_t* data, size_t len) noexcept {
  if (len < kMinFold128) return crc64_slice8(crc, data, len);
  return ~fold128<uint64_t, crc64_raw_slice8>(kCrc64Fold, ~crc, data, len);
}
uint64_t crc64_vpclmul256(uint64_t crc, const uint8_t* data, size_t len) noexcept {
  if (len < kMinFold256) return crc64_clmul(crc, data, len);
  return ~fold256<uint64_t, crc64_raw_slice8>(kCrc64Fold, ~crc, data, len);
}
uint64_t crc64_vpclmul512(uint64_t crc, const uint8_t* data, size_t len) noexcept {
  if (len < kMinFold512) return crc64_vpclmul256(crc, data, len);
  return ~fold512<uint64_t, crc64_raw_slice8>(kCrc64Fold, ~crc, data, len);
}

uint32_t crc32c_sse42(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  return ~crc32c_hw_raw(~crc, data, len);
}

// Large pieces first (each merge costs ~15 cycles), smaller ones for what is
// left, then one stream. Measured (ns, 3 streams vs 1): 384 B 8.5 vs 14,
// 768 B 15 vs 36, 4 KiB 123 vs 318; ladders 4096/256 and 2048/256 were
// slower between 384 and 1 KiB and no faster above.
uint32_t crc32c_sse42x3(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  if (len < 3 * 128) return ~crc32c_hw_raw(~crc, data, len);
  uint32_t reg = ~crc;
  reg = crc32c_hw3_raw<4096>(reg, data, len);
  reg = crc32c_hw3_raw<512>(reg, data, len);
  reg = crc32c_hw3_raw<128>(reg, data, len);
  return ~crc32c_hw_raw(reg, data, len);
}

// 512-bit folding outruns three crc32 streams from 512 B on (ns: 11 vs 14
// at 512 B, 18 vs 31 at 1 KiB, 64 vs 125 at 4 KiB).
uint32_t crc32c_vpclmul512(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  if (len < 512) return crc32c_sse42x3(crc, data, len);
  return ~fold512<uint32_t, crc32c_hw_raw>(kCrc32cFold, ~crc, data, len);
}

}  // namespace detail
}  // namespace flatstream

#endif  // FLATSTREAM_X86_SIMD
