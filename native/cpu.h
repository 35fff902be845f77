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
};

// Detected once, on first use; all false on non-x86 targets and compilers
// without GCC-style cpuid support.
const CpuFeatures& cpu_features() noexcept;

}  // namespace flatstream
