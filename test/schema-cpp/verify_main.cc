// Verifies payloads with flatc's generated C++ verifiers, for the codec tests
// (test/codec-flatc.ts builds it at test time with Debian's flatc and
// headers). argv[1] names the root table; stdin holds records
// [u32 LE length][payload]; stdout gets one '1' (verified) or '0' per record.
// Default verifier options: depth 64, 1e6 tables, alignment checked.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "arrays_generated.h"
#include "coverage_generated.h"
#include "events_generated.h"

static bool verify(const std::string &root, const uint8_t *p, size_t n) {
  flatbuffers::Verifier v(p, n);
  if (root == "events.Telemetry") return v.VerifyBuffer<events::Telemetry>(nullptr);
  if (root == "events.RichEvent") return v.VerifyBuffer<events::RichEvent>(nullptr);
  if (root == "events.Tag") return v.VerifyBuffer<events::Tag>(nullptr);
  if (root == "covg.Root") return v.VerifyBuffer<covg::Root>("COVG");
  if (root == "covg.Leaf") return v.VerifyBuffer<covg::Leaf>(nullptr);
  if (root == "arr.Holder") return v.VerifyBuffer<arr::Holder>(nullptr);
  std::fprintf(stderr, "unknown root %s\n", root.c_str());
  std::exit(2);
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  std::vector<uint8_t> in;
  uint8_t chunk[65536];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, stdin)) > 0)
    in.insert(in.end(), chunk, chunk + got);
  size_t at = 0;
  while (at + 4 <= in.size()) {
    uint32_t n;
    std::memcpy(&n, &in[at], 4);
    at += 4;
    if (n > in.size() - at) return 3;
    // A copy in memory of its own: heap blocks are 16-aligned, as a reader's buffer would be.
    std::vector<uint64_t> aligned((n + 7) / 8 + 1);
    std::memcpy(aligned.data(), &in[at], n);
    std::putchar(verify(argv[1], reinterpret_cast<const uint8_t *>(aligned.data()), n) ? '1' : '0');
    at += n;
  }
  return at == in.size() ? 0 : 3;
}
