// libFuzzer target for the deframer: arbitrary bytes, every checksum kind and
// a bound taken from the input. The scan must never read out of bounds (ASan),
// hit UB (UBSan) or report frames that do not lie inside the input.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "frame.h"

using namespace flatstream;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const ChecksumKind kind = ChecksumKind(data[0] % kChecksumKindCount);
  const unsigned custom_width = data[1] % 9;
  const uint64_t bound = data[1] & 0x80 ? kWireMaxFrameLen : uint64_t(data[1]) * 97;
  data += 2;
  size -= 2;
  // Copy to an exactly sized heap buffer so ASan sees any overread.
  std::vector<uint8_t> buf(data, data + size);
  uint32_t index[2 * 16];
  const FrameFormat f = make_format(kind, custom_width, bound);
  size_t pos = 0;
  for (;;) {
    const ScanResult r = scan_frames(buf.data(), buf.size(), pos, f, index, 16);
    for (size_t i = 0; i < r.frames; ++i) {
      const uint64_t off = pos + uint64_t(index[2 * i]);
      if (off + index[2 * i + 1] > buf.size() || index[2 * i + 1] > bound) std::abort();
    }
    if (r.consumed < pos || r.consumed > buf.size()) std::abort();
    if (r.status != ScanStatus::kIndexFull) break;
    pos = r.consumed;
  }
  return 0;
}
