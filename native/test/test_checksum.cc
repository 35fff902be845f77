// Checksums: known answers, and every implementation the CPU can run against
// a plain bitwise reference over many lengths, offsets and split points.
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#include "check.h"
#include "checksum.h"
#include "checksum_impl.h"
#include "cpu.h"

// An independent XXH3 to compare against: xxhash's portable scalar code.
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_SCALAR
#include <xxhash.h>

using namespace flatstream;

namespace {

// Bit-at-a-time references, written straight from the CRC definitions.
uint64_t ref_reflected(uint64_t poly, uint64_t mask, uint64_t crc, const uint8_t* p, size_t n) {
  uint64_t r = ~crc & mask;
  for (size_t i = 0; i < n; ++i) {
    r ^= p[i];
    for (int b = 0; b < 8; ++b) r = (r & 1) ? (r >> 1) ^ poly : r >> 1;
  }
  return ~r & mask;
}
uint32_t ref_crc32(uint32_t c, const uint8_t* p, size_t n) {
  return static_cast<uint32_t>(ref_reflected(0xEDB88320u, 0xffffffffu, c, p, n));
}
uint32_t ref_crc32c(uint32_t c, const uint8_t* p, size_t n) {
  return static_cast<uint32_t>(ref_reflected(0x82F63B78u, 0xffffffffu, c, p, n));
}
uint64_t ref_crc64(uint64_t c, const uint8_t* p, size_t n) {
  return ref_reflected(0xC96C5795D7870F42ull, ~0ull, c, p, n);
}
uint16_t ref_crc16(uint16_t c, const uint8_t* p, size_t n) {
  unsigned r = c;
  for (size_t i = 0; i < n; ++i) {
    r ^= unsigned{p[i]} << 8;
    for (int b = 0; b < 8; ++b) r = (r & 0x8000) ? ((r << 1) ^ 0x1021) & 0xffff : (r << 1) & 0xffff;
  }
  return static_cast<uint16_t>(r);
}
uint64_t ref_xxh3(const uint8_t* p, size_t n) { return XXH3_64bits(p, n); }

uint64_t reference(ChecksumKind kind, uint64_t crc, const uint8_t* p, size_t n) {
  switch (kind) {
    case ChecksumKind::kCrc16:
      return ref_crc16(static_cast<uint16_t>(crc), p, n);
    case ChecksumKind::kCrc32:
      return ref_crc32(static_cast<uint32_t>(crc), p, n);
    case ChecksumKind::kXxHash64:
      return ref_xxh3(p, n);
    case ChecksumKind::kCrc32c:
      return ref_crc32c(static_cast<uint32_t>(crc), p, n);
    case ChecksumKind::kCrc64:
      return ref_crc64(crc, p, n);
    default:
      return 0;
  }
}

// Every implementation the CPU runs, then the public functions (dispatch
// included), all with the uniform signature.
struct Impl {
  std::string name;
  ChecksumKind kind;
  detail::ChecksumFn fn;
  bool incremental() const { return kind != ChecksumKind::kXxHash64; }
};

std::vector<Impl> impls() {
  std::vector<Impl> v;
  const detail::Implementations& l = detail::implementations();
  for (size_t i = 0; i < l.size; ++i)
    v.push_back({std::string(checksum_name(l.item[i].kind)) + "/" + l.item[i].name, l.item[i].kind,
                 l.item[i].fn});
  v.push_back({"crc16_xmodem()", ChecksumKind::kCrc16,
               [](uint64_t c, const uint8_t* p, size_t n) noexcept -> uint64_t {
                 return crc16_xmodem(static_cast<uint16_t>(c), p, n);
               }});
  v.push_back({"crc32()", ChecksumKind::kCrc32,
               [](uint64_t c, const uint8_t* p, size_t n) noexcept -> uint64_t {
                 return crc32(static_cast<uint32_t>(c), p, n);
               }});
  v.push_back({"crc32c()", ChecksumKind::kCrc32c,
               [](uint64_t c, const uint8_t* p, size_t n) noexcept -> uint64_t {
                 return crc32c(static_cast<uint32_t>(c), p, n);
               }});
  v.push_back({"crc64_xz()", ChecksumKind::kCrc64,
               [](uint64_t c, const uint8_t* p, size_t n) noexcept -> uint64_t {
                 return crc64_xz(c, p, n);
               }});
  v.push_back(
      {"xxh3_64()", ChecksumKind::kXxHash64,
       [](uint64_t, const uint8_t* p, size_t n) noexcept -> uint64_t { return xxh3_64(p, n); }});
  return v;
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// A heap block of exactly off+n bytes holding src at offset off: any read
// past the end is caught by ASan, and off varies the alignment.
struct Exact {
  uint8_t* block;
  const uint8_t* data;
  Exact(const uint8_t* src, size_t n, size_t off)
      : block(static_cast<uint8_t*>(std::malloc(off + n + (off + n == 0)))), data(block + off) {
    if (n) std::memcpy(block + off, src, n);
  }
  ~Exact() { std::free(block); }
};

bool check_impl(const Impl& im, const uint8_t* p, size_t n, uint64_t seed_crc) {
  const uint64_t c = im.incremental() ? seed_crc : 0;
  const uint64_t got = im.fn(c, p, n), want = reference(im.kind, c, p, n);
  if (got == want) return true;
  std::fprintf(stderr, "%s: len %zu crc %llx: got %llx want %llx\n", im.name.c_str(), n,
               (unsigned long long)c, (unsigned long long)got, (unsigned long long)want);
  return false;
}

}  // namespace

TEST_CASE(known_answers) {
  const auto* kat = reinterpret_cast<const uint8_t*>("123456789");
  CHECK_EQ(checksum(ChecksumKind::kXxHash64, kat, 9), 0x72DCB18B67A17DFFull);
  CHECK_EQ(checksum(ChecksumKind::kCrc32, kat, 9), 0xCBF43926ull);
  CHECK_EQ(checksum(ChecksumKind::kCrc16, kat, 9), 0x31C3ull);
  CHECK_EQ(checksum(ChecksumKind::kCrc32c, kat, 9), 0xE3069283ull);
  CHECK_EQ(checksum(ChecksumKind::kCrc64, kat, 9), 0x995DC9BBDF1939FAull);
  CHECK_EQ(checksum(ChecksumKind::kNone, kat, 9), 0ull);
  // The references themselves, so a wrong reference cannot hide a wrong path.
  CHECK_EQ(ref_crc16(0, kat, 9), 0x31C3);
  CHECK_EQ(ref_crc32(0, kat, 9), 0xCBF43926u);
  CHECK_EQ(ref_crc32c(0, kat, 9), 0xE3069283u);
  CHECK_EQ(ref_crc64(0, kat, 9), 0x995DC9BBDF1939FAull);
  CHECK_EQ(ref_xxh3(kat, 9), 0x72DCB18B67A17DFFull);
  for (const Impl& im : impls()) CHECK_EQ(im.fn(0, kat, 9), reference(im.kind, 0, kat, 9));
}

TEST_CASE(empty_input) {
  CHECK_EQ(checksum(ChecksumKind::kCrc16, nullptr, 0), 0ull);
  CHECK_EQ(checksum(ChecksumKind::kCrc32, nullptr, 0), 0ull);
  CHECK_EQ(checksum(ChecksumKind::kCrc32c, nullptr, 0), 0ull);
  CHECK_EQ(checksum(ChecksumKind::kCrc64, nullptr, 0), 0ull);
  CHECK_EQ(checksum(ChecksumKind::kXxHash64, nullptr, 0), 0x2D06800538D394C2ull);
  CHECK_EQ(checksum(ChecksumKind::kNone, nullptr, 0), 0ull);
  // An empty update keeps the running value.
  for (const Impl& im : impls()) {
    CHECK_EQ(im.fn(0, nullptr, 0), reference(im.kind, 0, nullptr, 0));
    if (im.incremental()) CHECK_EQ(im.fn(0x1234, nullptr, 0), 0x1234ull);
  }
}

TEST_CASE(names_widths_impls) {
  const unsigned widths[] = {0, 2, 4, 8, 4, 8};
  const char* names[] = {"none", "crc16", "crc32", "xxhash64", "crc32c", "crc64"};
  const detail::Implementations& l = detail::implementations();
  for (unsigned k = 0; k < kChecksumKindCount; ++k) {
    const auto kind = static_cast<ChecksumKind>(k);
    CHECK_EQ(checksum_width(kind), widths[k]);
    CHECK(std::strcmp(checksum_name(kind), names[k]) == 0);
    // The one chosen is the last (fastest) listed for the kind.
    const char* best = k == 0 ? "none" : nullptr;
    for (size_t i = 0; i < l.size; ++i)
      if (l.item[i].kind == kind) best = l.item[i].name;
    CHECK(best != nullptr && std::strcmp(checksum_impl(kind), best) == 0);
    std::printf("  %-8s -> %s\n", checksum_name(kind), checksum_impl(kind));
  }
  std::printf("  runnable:");
  for (size_t i = 0; i < l.size; ++i)
    std::printf(" %s/%s", checksum_name(l.item[i].kind), l.item[i].name);
  std::printf("\n");
  CHECK(!is_checksum_kind(kChecksumKindCount));
  CHECK_EQ(checksum_width(static_cast<ChecksumKind>(200)), 0u);
  CHECK(std::strcmp(checksum_name(static_cast<ChecksumKind>(200)), "unknown") == 0);
  CHECK(std::strcmp(checksum_impl(static_cast<ChecksumKind>(200)), "unknown") == 0);
  CHECK_EQ(checksum(static_cast<ChecksumKind>(200), nullptr, 0), 0ull);
}

TEST_CASE(cpu_features_consistent) {
  const CpuFeatures& f = cpu_features();
  std::printf("  sse4.2 %d pclmul %d avx2 %d avx512 %d vpclmulqdq %d\n", f.sse42, f.pclmul, f.avx2,
              f.avx512, f.vpclmulqdq);
  CHECK(!f.avx512 || f.avx2);
  CHECK(!f.vpclmulqdq || (f.avx2 && f.pclmul));
}

// The AArch64 dispatch (docs/design.md, "Platforms"): the CRC32 instructions
// exactly when the kernel says the CPU has them, XXH3 on xxhash's NEON path;
// no ARM path anywhere else.
TEST_CASE(arm_dispatch) {
  const CpuFeatures& f = cpu_features();
  std::printf("  arm_crc32 %d\n", f.arm_crc32);
  const bool armv8 = std::strcmp(checksum_impl(ChecksumKind::kCrc32c), "armv8-crc") == 0;
  CHECK_EQ(std::strcmp(checksum_impl(ChecksumKind::kCrc32), "armv8-crc") == 0, armv8);
#if defined(__aarch64__)
#if defined(__linux__)
  CHECK_EQ(f.arm_crc32, (getauxval(AT_HWCAP) & (1ul << 7)) != 0);  // HWCAP_CRC32
#endif
  CHECK_EQ(armv8, f.arm_crc32);
  if (!f.arm_crc32) CHECK(std::strcmp(checksum_impl(ChecksumKind::kCrc32c), "slice8") == 0);
  CHECK(std::strcmp(checksum_impl(ChecksumKind::kXxHash64), "neon") == 0);
#else
  CHECK(!f.arm_crc32);
  CHECK(!armv8);
  const detail::Implementations& l = detail::implementations();
  for (size_t i = 0; i < l.size; ++i) CHECK(std::strcmp(l.item[i].name, "armv8-crc") != 0);
#endif
}

// Every length across all the block and threshold boundaries, at random
// alignments and with random running values.
TEST_CASE(all_paths_match_reference_small) {
  const std::vector<uint8_t> src = random_bytes(1100, 1);
  std::mt19937 rng(2);
  for (const Impl& im : impls()) {
    int bad = 0;
    for (size_t n = 0; n <= 1100 && bad < 5; ++n) {
      const Exact buf(src.data() + (n * 7) % (1100 - n + 1), n, rng() % 64);
      const uint64_t c = (uint64_t{rng()} << 32) | rng();
      if (!check_impl(im, buf.data, n, c)) ++bad;
    }
    CHECK_EQ(bad, 0);
  }
}

TEST_CASE(all_paths_match_reference_large) {
  const size_t sizes[] = {4096, 65536 + 7, 100003, (1u << 20), (1u << 20) + 13};
  const std::vector<uint8_t> src = random_bytes((1u << 20) + 13, 3);
  for (const Impl& im : impls())
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
      const Exact buf(src.data(), sizes[i], i * 5 % 16);
      CHECK(check_impl(im, buf.data, sizes[i], 0xdeadbeef));
    }
}

// Incremental: any split point gives the one-shot value.
TEST_CASE(incremental_chaining) {
  const std::vector<uint8_t> src = random_bytes(600, 4);
  const size_t n = src.size();
  for (const Impl& im : impls()) {
    if (!im.incremental()) continue;
    const uint64_t whole = im.fn(0, src.data(), n);
    int bad = 0;
    for (size_t cut = 0; cut <= n; ++cut) {
      const Exact a(src.data(), cut, 3), b(src.data() + cut, n - cut, 5);
      if (im.fn(im.fn(0, a.data, cut), b.data, n - cut) != whole) ++bad;
    }
    CHECK_EQ(bad, 0);
    if (bad) std::fprintf(stderr, "%s: %d bad split points\n", im.name.c_str(), bad);
  }
}

CHECK_MAIN()
