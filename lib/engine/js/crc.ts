/**
 * Pure-TypeScript CRCs: the fallback used when the native addon cannot load
 * (or FLATSTREAM_NATIVE=0). Results are byte-identical to native/checksum.h.
 *
 * All four CRCs use slicing-by-8: eight 256-entry tables built once at module
 * load, so the inner loop consumes 8 bytes with 8 independent table lookups
 * instead of 8 dependent ones. Tables are Int32Array so that V8 keeps every
 * value in an int32 register (no heap numbers). CRC-64 is kept as two 32-bit
 * halves because BigInt arithmetic allocates and is ~100x slower.
 *
 * Incremental use follows zlib: pass the previous result, 0 to start. Every
 * function reads only data[start..end) and assumes 0 <= start <= end <=
 * data.length (callers validate).
 */

/** Builds 8 slicing tables for a reflected (LSB-first) 32-bit CRC. */
function reflected32Tables(poly: number): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let v = 0; v < 256; v++) {
    let c = v;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[v] = c;
  }
  // Table k: byte v followed by k zero bytes.
  for (let v = 0; v < 256; v++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + v];
      t[k * 256 + v] = (prev >>> 8) ^ t[prev & 0xff];
    }
  }
  return t;
}

/** Builds 8 slicing tables for CRC-16 with polynomial 0x1021, MSB-first. */
function crc16Tables(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let v = 0; v < 256; v++) {
    let c = v << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[v] = c;
  }
  for (let v = 0; v < 256; v++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + v];
      t[k * 256 + v] = ((prev << 8) & 0xffff) ^ t[prev >>> 8];
    }
  }
  return t;
}

/**
 * Builds 8 slicing tables for reflected CRC-64/XZ (ECMA-182 polynomial
 * 0x42F0E1EBA9EA3693, reflected 0xC96C5795D7870F42) as separate low and high
 * 32-bit halves.
 */
function crc64Tables(): [Int32Array, Int32Array] {
  const lo = new Int32Array(8 * 256);
  const hi = new Int32Array(8 * 256);
  for (let v = 0; v < 256; v++) {
    let l = v;
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const odd = l & 1;
      l = (l >>> 1) | (h << 31);
      h = h >>> 1;
      if (odd) {
        l ^= 0xd7870f42;
        h ^= 0xc96c5795;
      }
    }
    lo[v] = l;
    hi[v] = h;
  }
  for (let v = 0; v < 256; v++) {
    for (let k = 1; k < 8; k++) {
      const pl = lo[(k - 1) * 256 + v];
      const ph = hi[(k - 1) * 256 + v];
      const i = pl & 0xff;
      lo[k * 256 + v] = ((pl >>> 8) | (ph << 24)) ^ lo[i];
      hi[k * 256 + v] = (ph >>> 8) ^ hi[i];
    }
  }
  return [lo, hi];
}

const CRC16_T = crc16Tables();
const CRC32_T = reflected32Tables(0xedb88320);
const CRC32C_T = reflected32Tables(0x82f63b78);
const [CRC64_LO, CRC64_HI] = crc64Tables();

/**
 * CRC-16/XMODEM (poly 0x1021, init 0, MSB-first, no final xor) of
 * data[start..end). Pass a previous result as `crc` to continue it.
 * KAT: "123456789" → 0x31C3.
 */
export function crc16Xmodem(data: Uint8Array, start: number, end: number, crc = 0): number {
  const t = CRC16_T;
  let c = crc & 0xffff;
  let i = start;
  for (const last = end - 8; i <= last; i += 8) {
    // The 16-bit register lines up with the first two bytes of the block.
    c =
      t[7 * 256 + ((c >>> 8) ^ data[i])] ^
      t[6 * 256 + ((c & 0xff) ^ data[i + 1])] ^
      t[5 * 256 + data[i + 2]] ^
      t[4 * 256 + data[i + 3]] ^
      t[3 * 256 + data[i + 4]] ^
      t[2 * 256 + data[i + 5]] ^
      t[256 + data[i + 6]] ^
      t[data[i + 7]];
  }
  for (; i < end; i++) c = ((c << 8) & 0xffff) ^ t[(c >>> 8) ^ data[i]];
  return c;
}

/** Shared slicing-by-8 loop of the two reflected 32-bit CRCs. */
function reflected32(
  t: Int32Array,
  data: Uint8Array,
  start: number,
  end: number,
  crc: number,
): number {
  let c = ~crc;
  let i = start;
  for (const last = end - 8; i <= last; i += 8) {
    const a = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    c =
      t[7 * 256 + (a & 0xff)] ^
      t[6 * 256 + ((a >>> 8) & 0xff)] ^
      t[5 * 256 + ((a >>> 16) & 0xff)] ^
      t[4 * 256 + (a >>> 24)] ^
      t[3 * 256 + data[i + 4]] ^
      t[2 * 256 + data[i + 5]] ^
      t[256 + data[i + 6]] ^
      t[data[i + 7]];
  }
  for (; i < end; i++) c = (c >>> 8) ^ t[(c ^ data[i]) & 0xff];
  return ~c >>> 0;
}

/**
 * CRC-32/ISO-HDLC (zlib's crc32, poly 0xEDB88320 reflected) of
 * data[start..end), unsigned. Pass a previous result to continue it.
 * KAT: "123456789" → 0xCBF43926.
 */
export function crc32(data: Uint8Array, start: number, end: number, crc = 0): number {
  return reflected32(CRC32_T, data, start, end, crc);
}

/**
 * CRC-32C (Castagnoli, poly 0x82F63B78 reflected) of data[start..end),
 * unsigned, same conventions as {@link crc32}. KAT: "123456789" → 0xE3069283.
 */
export function crc32c(data: Uint8Array, start: number, end: number, crc = 0): number {
  return reflected32(CRC32C_T, data, start, end, crc);
}

/**
 * CRC-64/XZ of data[start..end), written as out[0] = low 32 bits and
 * out[1] = high 32 bits (unsigned). `crc` is a previous result as
 * [low, high] to continue it (default [0, 0], i.e. a fresh start; the
 * all-ones init and final xor are applied inside, as in xz's lzma_crc64).
 * KAT: "123456789" → 0x995DC9BBDF1939FA.
 */
export function crc64Xz(
  data: Uint8Array,
  start: number,
  end: number,
  out: Uint32Array,
  crc?: readonly [lo: number, hi: number],
): void {
  const tl = CRC64_LO;
  const th = CRC64_HI;
  let lo = crc === undefined ? -1 : ~crc[0];
  let hi = crc === undefined ? -1 : ~crc[1];
  let i = start;
  for (const last = end - 8; i <= last; i += 8) {
    // A whole 8-byte block overlaps the 64-bit register: all 8 indices
    // come from register ^ data.
    const a = lo ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    const b = hi ^ (data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24));
    const i7 = 7 * 256 + (a & 0xff);
    const i6 = 6 * 256 + ((a >>> 8) & 0xff);
    const i5 = 5 * 256 + ((a >>> 16) & 0xff);
    const i4 = 4 * 256 + (a >>> 24);
    const i3 = 3 * 256 + (b & 0xff);
    const i2 = 2 * 256 + ((b >>> 8) & 0xff);
    const i1 = 256 + ((b >>> 16) & 0xff);
    const i0 = b >>> 24;
    lo = tl[i7] ^ tl[i6] ^ tl[i5] ^ tl[i4] ^ tl[i3] ^ tl[i2] ^ tl[i1] ^ tl[i0];
    hi = th[i7] ^ th[i6] ^ th[i5] ^ th[i4] ^ th[i3] ^ th[i2] ^ th[i1] ^ th[i0];
  }
  for (; i < end; i++) {
    const x = (lo ^ data[i]) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ tl[x];
    hi = (hi >>> 8) ^ th[x];
  }
  out[0] = ~lo;
  out[1] = ~hi;
}

const scratch64 = new Uint32Array(2);

/** CRC-64/XZ of a whole buffer as a bigint (convenience; not for hot paths). */
export function crc64XzBig(data: Uint8Array): bigint {
  crc64Xz(data, 0, data.length, scratch64);
  return (BigInt(scratch64[1]) << 32n) | BigInt(scratch64[0]);
}
