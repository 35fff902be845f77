/**
 * Checksums over frame payloads. The algorithm is agreed out of band: a stream
 * written with one must be read with the same. The built-ins run in C++ with
 * the CPU's best path chosen at run time; any object implementing
 * {@link Checksum} can be used as a custom one.
 */
import { checkBytes, checkFunction, checkInteger, typeError, rangeError } from './args';
import { backend } from '../engine/load';
import { KIND_WIDTH, Kind } from './kinds';

/**
 * A checksum strategy: `width` bytes (0–8) stored little-endian after the
 * length field, computed over the payload only.
 *
 * @example
 * ```ts
 * const Sum8: Checksum = { name: 'sum8', width: 1, compute: (p) => p.reduce((a, b) => (a + b) & 0xff, 0) };
 * const writer = new StreamWriter(new MemorySink(), new ChecksumFramer(Sum8));
 * ```
 */
export interface Checksum<T extends number | bigint = number | bigint> {
  /** A name for error messages and stats. */
  readonly name: string;
  /** Bytes in the checksum field, 0..8. */
  readonly width: number;
  /**
   * The checksum of `payload`, an unsigned integer below 2^(8·width): a
   * number (exact up to 2^53) or a bigint.
   */
  compute(payload: Uint8Array): T;
}

/** A checksum implemented natively, batched per slab. */
export interface BuiltinChecksum<T extends number | bigint = number | bigint> extends Checksum<T> {
  /** Id shared with the native core. */
  readonly kind: number;
  /** The implementation in use on this machine, e.g. `"avx2"`, `"pclmul"` or `"js"`. */
  readonly impl: string;
}

function builtin<T extends number | bigint>(name: string, kind: number): BuiltinChecksum<T> {
  const compute = (payload: Uint8Array): T => {
    checkBytes(payload, 'payload');
    return backend.checksum(kind, payload) as T;
  };
  return Object.freeze({
    name,
    kind,
    width: KIND_WIDTH[kind]!,
    get impl() {
      return backend.checksumImpl(kind);
    },
    compute,
  });
}

/** No checksum: a zero-width field. */
export const NoChecksum: BuiltinChecksum<number> = builtin('none', Kind.None);
/** CRC-16/XMODEM (2 bytes). Check value for "123456789": 0x31C3. */
export const Crc16: BuiltinChecksum<number> = builtin('crc16', Kind.Crc16);
/** CRC-32/ISO-HDLC, zlib's CRC-32 (4 bytes), not CRC-32C. Check value: 0xCBF43926. */
export const Crc32: BuiltinChecksum<number> = builtin('crc32', Kind.Crc32);
/**
 * XXH3-64 with seed 0 (8 bytes). Named `XxHash64` after flatstream-rs, whose
 * `XxHash64` is XXH3 too; it is NOT the classic XXH64. Check value: 0x72DCB18B67A17DFF.
 */
export const XxHash64: BuiltinChecksum<bigint> = builtin('xxhash64', Kind.XxHash64);
/** CRC-32C, Castagnoli (4 bytes); an extra strategy, not in flatstream-rs. Check value: 0xE3069283. */
export const Crc32c: BuiltinChecksum<number> = builtin('crc32c', Kind.Crc32c);
/** CRC-64/XZ (8 bytes); an extra strategy, not in flatstream-rs. Check value: 0x995DC9BBDF1939FA. */
export const Crc64: BuiltinChecksum<bigint> = builtin('crc64', Kind.Crc64);

/** All built-ins by name. */
export const checksums = {
  none: NoChecksum,
  crc16: Crc16,
  crc32: Crc32,
  xxhash64: XxHash64,
  crc32c: Crc32c,
  crc64: Crc64,
} as const;

/** True for the built-in checksum objects. */
export function isBuiltin(c: Checksum): c is BuiltinChecksum {
  return (Object.values(checksums) as Checksum[]).includes(c);
}

/** Throws a TypeError/RangeError unless `c` is a usable checksum. */
export function checkChecksum(c: unknown, name = 'checksum'): asserts c is Checksum {
  if (typeof c !== 'object' || c === null) {
    throw typeError(
      `The "${name}" argument must be a Checksum object. Received ${c === null ? 'null' : typeof c}`,
    );
  }
  const { width, compute } = c as Checksum;
  checkInteger(width, `${name}.width`, 0, 8);
  checkFunction(compute, `${name}.compute`);
}

/**
 * A custom checksum's value as an unsigned bigint, checked against its width.
 * (Built-ins never go through here: they are filled and verified natively.)
 */
export function customValue(c: Checksum, payload: Uint8Array, width: number = c.width): bigint {
  const v = c.compute(payload);
  let big: bigint;
  if (typeof v === 'bigint') big = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) big = BigInt(v);
  else
    throw typeError(
      `checksum "${c.name}" returned ${String(v)}; expected an unsigned integer (number or bigint)`,
    );
  if (big < 0n || big >> BigInt(8 * width) !== 0n) {
    throw rangeError(`checksum "${c.name}" returned ${big}, which does not fit in ${width} bytes`);
  }
  return big;
}
