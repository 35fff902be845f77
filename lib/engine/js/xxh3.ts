/**
 * Pure-TypeScript XXH3-64 with seed 0 and the default secret: the fallback
 * for the `xxhash64` checksum (flatstream-rs's `XxHash64` is XXH3-64, despite
 * its name) when the native addon is unavailable. Byte-identical to the
 * reference implementation for every input length.
 *
 * Written from the XXH3 algorithm description. JavaScript has no 64-bit
 * integers outside BigInt (which allocates), so every 64-bit value is a pair
 * of unsigned 32-bit halves, multiplied with Math.imul (low 32 bits) and a
 * rounded double product (high 32 bits, see "High half" below). Sums of halves are kept
 * in doubles, exact below 2^53, and carried once at the end. Nothing is
 * allocated per call (inputs over 240 bytes create one DataView when their
 * buffer differs from the previous one's; see lastView).
 */

/** The 192-byte default secret (`kSecret`), a constant of the algorithm. */
// prettier-ignore
const SECRET = new Uint8Array([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]);

/**
 * SEC[o] = little-endian u32 of the secret at byte offset o. XXH3 reads the
 * secret at unaligned offsets (3, 11, 119, 121, ...), so every offset gets a
 * precomputed word and each secret read is a single load.
 */
const SEC = new Uint32Array(SECRET.length - 3);
for (let o = 0; o < SEC.length; o++) {
  SEC[o] = (SECRET[o] | (SECRET[o + 1] << 8) | (SECRET[o + 2] << 16) | (SECRET[o + 3] << 24)) >>> 0;
}

const P32_1 = 0x9e3779b1;
const P32_2 = 0x85ebca77;
const P32_3 = 0xc2b2ae3d;
// 64-bit primes as (low, high) halves.
const P64_1_LO = 0x85ebca87;
const P64_1_HI = 0x9e3779b1;
const P64_2_LO = 0x27d4eb4f;
const P64_2_HI = 0xc2b2ae3d;
const P64_3_LO = 0x9e3779f9;
const P64_3_HI = 0x165667b1;
const P64_4_LO = 0xc2b2ae63;
const P64_4_HI = 0x85ebca77;
const P64_5_LO = 0x165667c5;
const P64_5_HI = 0x27d4eb2f;
const PMX1_LO = 0x9e3779f9;
const PMX1_HI = 0x16566791;
const PMX2_LO = 0x1e98df25;
const PMX2_HI = 0x9fb21c65;

const TWO32 = 4294967296;
const STRIPE = 64;
const STRIPES_PER_BLOCK = (SECRET.length - STRIPE) / 8; // 16
const BLOCK = STRIPE * STRIPES_PER_BLOCK; // 1024

const INV32 = 1 / TWO32;

/*
 * Registers. The helpers take 64-bit operands from, and leave results in,
 * typed arrays instead of parameters, return values or module `let`s: V8
 * passes numbers across a call that it did not inline, and stores them in
 * module variables, as tagged values, so every value above 2^30 would be
 * boxed into a fresh HeapNumber (garbage on every hash). Typed-array slots
 * hold raw 32-bit values and wrap stores modulo 2^32.
 */
/** 64-bit register: R[0] = low half, R[1] = high half. */
const R = new Uint32Array(2);
/** Operands of foldM: (M[1]:M[0]) and (M[3]:M[2]). */
const M = new Uint32Array(4);

/** Little-endian 32-bit word at d[p..p+4), as a signed int32. */
function rd32(d: Uint8Array, p: number): number {
  return d[p] | (d[p + 1] << 8) | (d[p + 2] << 16) | (d[p + 3] << 24);
}

function bswap32(x: number): number {
  return ((x << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/*
 * High half of a 32x32-bit product, used inline below as
 *   hi = Math.round((a * b - lo) * INV32),  lo = Math.imul(a, b) >>> 0.
 * The double product a * b (< 2^64) is off by at most 2^10 and the
 * subtraction adds at most 2^11 more, far below 2^31, so rounding to the
 * nearest integer recovers the exact high half.
 */

/** R = low 64 bits of R * (bHi:bLo). */
function mulR(bLo: number, bHi: number): void {
  const aLo = R[0];
  const aHi = R[1];
  const lo = Math.imul(aLo, bLo) >>> 0;
  R[0] = lo;
  R[1] = Math.round((aLo * bLo - lo) * INV32) + Math.imul(aLo, bHi) + Math.imul(aHi, bLo);
}

/** R = the 128-bit product of M's two 64-bit operands, folded as low64 ^ high64 (mul128_fold64). */
function foldM(): void {
  const aLo = M[0];
  const aHi = M[1];
  const bLo = M[2];
  const bHi = M[3];
  const w0 = Math.imul(aLo, bLo) >>> 0;
  const p1 = Math.imul(aLo, bHi) >>> 0;
  const p2 = Math.imul(aHi, bLo) >>> 0;
  const p3 = Math.imul(aHi, bHi) >>> 0;
  // Column sums of the four partial products stay below 2^34, exact; their
  // high parts are the carries into the next column.
  const s1 = Math.round((aLo * bLo - w0) * INV32) + p1 + p2;
  const s2 =
    Math.round((aLo * bHi - p1) * INV32) +
    Math.round((aHi * bLo - p2) * INV32) +
    p3 +
    Math.floor(s1 * INV32);
  const w3 = Math.round((aHi * bHi - p3) * INV32) + Math.floor(s2 * INV32);
  R[0] = w0 ^ s2;
  R[1] = s1 ^ w3;
}

/** R = XXH64's final avalanche of R (used by the 0..3-byte paths). */
function avalancheXxh64(): void {
  R[0] ^= R[1] >>> 1;
  mulR(P64_2_LO, P64_2_HI);
  R[0] ^= (R[0] >>> 29) | (R[1] << 3);
  R[1] ^= R[1] >>> 29;
  mulR(P64_3_LO, P64_3_HI);
  R[0] ^= R[1];
}

/** R = XXH3's avalanche of R: h ^= h >> 37; h *= PRIME_MX1; h ^= h >> 32. */
function avalanche3(): void {
  R[0] ^= R[1] >>> 5;
  mulR(PMX1_LO, PMX1_HI);
  R[0] ^= R[1];
}

/** R = XXH3's rrmxmx finalizer of R, for the 4..8-byte path. */
function rrmxmx(len: number): void {
  const lo = R[0];
  const hi = R[1];
  // h ^= rotl(h, 49) ^ rotl(h, 24)
  R[0] = lo ^ ((hi << 17) | (lo >>> 15)) ^ ((lo << 24) | (hi >>> 8));
  R[1] = hi ^ ((lo << 17) | (hi >>> 15)) ^ ((hi << 24) | (lo >>> 8));
  mulR(PMX2_LO, PMX2_HI);
  // h ^= (h >> 35) + len: no carry, since h >> 35 < 2^29.
  R[0] ^= (R[1] >>> 3) + len;
  mulR(PMX2_LO, PMX2_HI);
  R[0] ^= (R[0] >>> 28) | (R[1] << 4);
  R[1] ^= R[1] >>> 28;
}

function len0to16(d: Uint8Array, s: number, len: number): void {
  if (len > 8) {
    const aLo = rd32(d, s) ^ SEC[24] ^ SEC[32];
    const aHi = rd32(d, s + 4) ^ SEC[28] ^ SEC[36];
    M[0] = aLo;
    M[1] = aHi;
    M[2] = rd32(d, s + len - 8) ^ SEC[40] ^ SEC[48];
    M[3] = rd32(d, s + len - 4) ^ SEC[44] ^ SEC[52];
    foldM();
    // len + bswap64(a) + b + fold(a, b), carried through double sums.
    const lo = len + bswap32(aHi) + M[2] + R[0];
    R[1] = bswap32(aLo) + M[3] + R[1] + Math.floor(lo * INV32);
    R[0] = lo;
    avalanche3();
  } else if (len >= 4) {
    R[0] = rd32(d, s + len - 4) ^ SEC[8] ^ SEC[16];
    R[1] = rd32(d, s) ^ SEC[12] ^ SEC[20];
    rrmxmx(len);
  } else if (len > 0) {
    const combined = (d[s] << 16) | (d[s + (len >>> 1)] << 24) | d[s + len - 1] | (len << 8);
    R[0] = combined ^ SEC[0] ^ SEC[4];
    R[1] = 0;
    avalancheXxh64();
  } else {
    R[0] = SEC[56] ^ SEC[64];
    R[1] = SEC[60] ^ SEC[68];
    avalancheXxh64();
  }
}

/** R = mix16B: fold((in[p..p+8) ^ secret[o..o+8)) * (in[p+8..p+16) ^ secret[o+8..o+16))). */
function mix16(d: Uint8Array, p: number, o: number): void {
  M[0] = rd32(d, p) ^ SEC[o];
  M[1] = rd32(d, p + 4) ^ SEC[o + 4];
  M[2] = rd32(d, p + 8) ^ SEC[o + 8];
  M[3] = rd32(d, p + 12) ^ SEC[o + 12];
  foldM();
}

/** 17..240 bytes. The running sums of halves stay below 2^37 (exact). */
function len17to240(d: Uint8Array, s: number, len: number): void {
  const end = s + len;
  R[0] = len;
  R[1] = 0;
  mulR(P64_1_LO, P64_1_HI);
  let lo = R[0];
  let hi = R[1];
  if (len <= 128) {
    // Pairs of 16-byte lanes from both ends, inner pairs first.
    for (let i = (len - 1) >>> 5; i >= 0; i--) {
      mix16(d, s + 16 * i, 32 * i);
      lo += R[0];
      hi += R[1];
      mix16(d, end - 16 * (i + 1), 32 * i + 16);
      lo += R[0];
      hi += R[1];
    }
  } else {
    for (let i = 0; i < 8; i++) {
      mix16(d, s + 16 * i, 16 * i);
      lo += R[0];
      hi += R[1];
    }
    R[1] = hi + Math.floor(lo * INV32);
    R[0] = lo;
    avalanche3();
    lo = R[0];
    hi = R[1];
    const rounds = len >>> 4;
    for (let i = 8; i < rounds; i++) {
      mix16(d, s + 16 * i, 16 * (i - 8) + 3); // XXH3_MIDSIZE_STARTOFFSET
      lo += R[0];
      hi += R[1];
    }
    mix16(d, end - 16, 136 - 17); // XXH3_SECRET_SIZE_MIN - XXH3_MIDSIZE_LASTOFFSET
    lo += R[0];
    hi += R[1];
  }
  R[1] = hi + Math.floor(lo * INV32);
  R[0] = lo;
  avalanche3();
}

/**
 * The eight 64-bit lanes of the long-input accumulator as (lo, hi) pairs of
 * doubles. Carries are applied lazily: between two normalisations at most 16
 * stripes each add below 2^33 to a half, so the halves stay far below 2^53.
 */
const ACC = new Float64Array(16);
// prettier-ignore
const ACC_INIT = [
  P32_3, 0, P64_1_LO, P64_1_HI, P64_2_LO, P64_2_HI, P64_3_LO, P64_3_HI,
  P64_4_LO, P64_4_HI, P32_2, 0, P64_5_LO, P64_5_HI, P32_1, 0,
];

/**
 * Per lane i: acc[i ^ 1] += data64; acc[i] += lo32(data64 ^ key64) * hi32(data64 ^ key64).
 * `p` is an offset in the view's buffer. DataView reads make the long path
 * ~1.6x faster than assembling each word from four byte loads.
 */
function accumulate512(v: DataView, p: number, o: number): void {
  const acc = ACC;
  for (let i = 0; i < 16; i += 2, p += 8, o += 8) {
    const dLo = v.getUint32(p, true);
    const dHi = v.getUint32(p + 4, true);
    const kLo = (dLo ^ SEC[o]) >>> 0;
    const kHi = (dHi ^ SEC[o + 4]) >>> 0;
    acc[i ^ 2] += dLo;
    acc[(i ^ 2) + 1] += dHi;
    const pLo = Math.imul(kLo, kHi) >>> 0;
    acc[i] += pLo;
    acc[i + 1] += Math.round((kLo * kHi - pLo) * INV32);
  }
}

/** Carries every lane's low half into its high half; both end up below 2^32. */
function normalize(): void {
  const acc = ACC;
  for (let i = 0; i < 16; i += 2) {
    const carry = Math.floor(acc[i] * INV32);
    acc[i] -= carry * TWO32;
    acc[i + 1] = (acc[i + 1] + carry) % TWO32;
  }
}

/** Per lane: acc ^= acc >> 47; acc ^= key64; acc *= PRIME32_1. */
function scramble(): void {
  const acc = ACC;
  normalize();
  for (let i = 0, o = SECRET.length - STRIPE; i < 16; i += 2, o += 8) {
    const hi = acc[i + 1];
    const lo = (acc[i] ^ (hi >>> 15) ^ SEC[o]) >>> 0;
    const pLo = Math.imul(lo, P32_1) >>> 0;
    acc[i] = pLo;
    acc[i + 1] = (Math.round((lo * P32_1 - pLo) * INV32) + Math.imul(hi ^ SEC[o + 4], P32_1)) >>> 0;
  }
}

/**
 * A DataView on the whole buffer of the last long input, reused while callers
 * keep hashing the same buffer (flatstream hashes payloads in place in its
 * slabs), so the long path allocates nothing per call. Creating a view per
 * call costs ~15-50 ns and garbage; a WeakRef cache costs as much (deref) and
 * would keep every buffer seen in the current job alive. The price: this
 * module keeps the most recently hashed (> 240-byte) ArrayBuffer reachable
 * until another buffer is hashed.
 */
let lastView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** More than 240 bytes: 1 KiB blocks of 16 stripes, the rest, the last stripe. */
function hashLong(d: Uint8Array, s: number, len: number): void {
  const acc = ACC;
  acc.set(ACC_INIT);
  let v = lastView;
  if (v.buffer !== d.buffer) lastView = v = new DataView(d.buffer);
  s += d.byteOffset;
  const blocks = Math.floor((len - 1) / BLOCK);
  let p = s;
  for (let n = 0; n < blocks; n++) {
    for (let k = 0; k < STRIPES_PER_BLOCK; k++, p += STRIPE) accumulate512(v, p, 8 * k);
    scramble();
  }
  const stripes = ((len - 1 - BLOCK * blocks) / STRIPE) >>> 0;
  for (let k = 0; k < stripes; k++, p += STRIPE) accumulate512(v, p, 8 * k);
  // The last stripe always ends exactly at the end of the input.
  accumulate512(v, s + len - STRIPE, SECRET.length - STRIPE - 7); // XXH_SECRET_LASTACC_START
  normalize();
  // Merge the lanes pairwise with the secret at XXH_SECRET_MERGEACCS_START (11).
  R[0] = len;
  R[1] = 0;
  mulR(P64_1_LO, P64_1_HI);
  let lo = R[0];
  let hi = R[1];
  for (let i = 0, o = 11; i < 16; i += 4, o += 16) {
    M[0] = acc[i] ^ SEC[o];
    M[1] = acc[i + 1] ^ SEC[o + 4];
    M[2] = acc[i + 2] ^ SEC[o + 8];
    M[3] = acc[i + 3] ^ SEC[o + 12];
    foldM();
    lo += R[0];
    hi += R[1];
  }
  R[1] = hi + Math.floor(lo * INV32);
  R[0] = lo;
  avalanche3();
}

/**
 * XXH3-64 (seed 0, default secret) of data[start..end), written as
 * out[0] = low 32 bits and out[1] = high 32 bits. Reads only
 * data[start..end); callers guarantee 0 <= start <= end <= data.length.
 * Allocates nothing. KAT: "123456789" → 0x72DCB18B67A17DFF.
 */
export function xxh3_64(data: Uint8Array, start: number, end: number, out: Uint32Array): void {
  const len = end - start;
  if (len <= 16) len0to16(data, start, len);
  else if (len <= 240) len17to240(data, start, len);
  else hashLong(data, start, len);
  out[0] = R[0];
  out[1] = R[1];
}

const scratch = new Uint32Array(2);

/** XXH3-64 of a whole buffer as a bigint (convenience; not for hot paths). */
export function xxh3_64Big(data: Uint8Array): bigint {
  xxh3_64(data, 0, data.length, scratch);
  return (BigInt(scratch[1]) << 32n) | BigInt(scratch[0]);
}
