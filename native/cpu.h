// Runtime CPU feature detection for the checksum dispatch. Nothing in the
// build uses -march=native, so the SIMD paths are chosen from these flags.
#pragma once

namespace flatstream {

struct CpuFeatures {
  bool sse42 = false;       // SSE4.2 (implies SSE4.1): the crc32 instruction.
  bool pclmul = false;      // PCLMULQDQ: carry-less multiply for CRC folding.
  bool avx2 = false;        // AVX2 with the OS saving the YMM state.
  bool avx512 = false;      // AVX-512 F with the OS saving the ZMM state.
  bool vpclmulqdq = false;  // VPCLMULQDQ (carry-less multiply on YMM/ZMM), with AVX2.
  bool arm_crc32 = false;   // ARMv8 CRC32/CRC32C instructions (AArch64).
};

// Detected once, on first use (docs/design.md, "Platforms"): x86 from cpuid
// (GCC-style compilers); AArch64 from the kernel's HWCAP_CRC32 on Linux,
// always on macOS (every Apple core has CRC32); otherwise all false, and
// the portable table paths serve.
const CpuFeatures& cpu_features() noexcept;

}  // namespace flatstream
