#include "cpu.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#define FLATSTREAM_HAVE_CPUID 1
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)  // the arm64 kernel ABI's value
#endif
#endif

namespace flatstream {
namespace {

#ifdef FLATSTREAM_HAVE_CPUID
// XCR0 tells which register states the OS saves on context switch: a CPU
// flag alone is not enough to use AVX registers. Inline asm because
// _xgetbv would need the xsave target enabled for this file.
unsigned long long xgetbv0() noexcept {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

CpuFeatures detect() noexcept {
  CpuFeatures f;
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  f.sse42 = (ecx & bit_SSE4_2) != 0;
  f.pclmul = (ecx & bit_PCLMUL) != 0;
  const bool osxsave = (ecx & bit_OSXSAVE) != 0;
  const bool avx = (ecx & bit_AVX) != 0;
  const unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymm_os = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool zmm_os = (xcr0 & 0xe6) == 0xe6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  f.avx2 = avx && ymm_os && (ebx & bit_AVX2) != 0;
  f.avx512 = f.avx2 && zmm_os && (ebx & bit_AVX512F) != 0;
  f.vpclmulqdq = f.avx2 && f.pclmul && (ecx & bit_VPCLMULQDQ) != 0;
  return f;
}
#elif defined(__aarch64__)
CpuFeatures detect() noexcept {
  CpuFeatures f;
#if defined(__linux__)
  f.arm_crc32 = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#elif defined(__APPLE__)
  f.arm_crc32 = true;
#endif
  return f;
}
#else
CpuFeatures detect() noexcept { return CpuFeatures{}; }
#endif

}  // namespace

const CpuFeatures& cpu_features() noexcept {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace flatstream
