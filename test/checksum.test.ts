import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  NoChecksum,
  XxHash64,
  checksums,
  type Checksum,
} from '../lib/index';
import { bytes, readAll, thrown, writeAll } from './helpers';

const KAT = Buffer.from('123456789');

describe('built-in checksums', () => {
  test.each([
    [Crc16, 2, 0x31c3],
    [Crc32, 4, 0xcbf43926],
    [Crc32c, 4, 0xe3069283],
  ])('%o: width and known answer', (c: Checksum, width, kat) => {
    expect(c.width).toBe(width);
    expect(c.compute(KAT)).toBe(kat);
  });

  test('XxHash64 is XXH3-64 with seed 0 (the flatstream-rs name), as a bigint', () => {
    expect(XxHash64.width).toBe(8);
    expect(XxHash64.compute(KAT)).toBe(0x72dcb18b67a17dffn);
  });

  test('Crc64 is CRC-64/XZ, as a bigint', () => {
    expect(Crc64.width).toBe(8);
    expect(Crc64.compute(KAT)).toBe(0x995dc9bbdf1939fan);
  });

  test('empty input gives each algorithm its empty value', () => {
    const empty = new Uint8Array(0);
    expect(Crc16.compute(empty)).toBe(0);
    expect(Crc32.compute(empty)).toBe(0);
    expect(Crc32c.compute(empty)).toBe(0);
    expect(Crc64.compute(empty)).toBe(0n);
    expect(XxHash64.compute(empty)).toBe(0x2d06800538d394c2n);
    expect(NoChecksum.compute(empty)).toBe(0);
  });

  test('computes over a view, not its whole ArrayBuffer', () => {
    const big = Buffer.concat([Buffer.from('xx'), KAT, Buffer.from('yy')]);
    expect(Crc32.compute(big.subarray(2, 11))).toBe(0xcbf43926);
    expect(XxHash64.compute(new Uint8Array(big.buffer, big.byteOffset + 2, 9))).toBe(
      0x72dcb18b67a17dffn,
    );
  });

  test('the registry names every built-in', () => {
    expect(Object.keys(checksums)).toEqual([
      'none',
      'crc16',
      'crc32',
      'xxhash64',
      'crc32c',
      'crc64',
    ]);
    for (const [name, c] of Object.entries(checksums)) expect(c.name).toBe(name);
  });

  test('rejects non-bytes with a TypeError carrying ERR_INVALID_ARG_TYPE', () => {
    for (const bad of [
      '123',
      123,
      null,
      undefined,
      [1, 2],
      new Uint16Array(2),
      new ArrayBuffer(4),
    ]) {
      const e = thrown(() => Crc32.compute(bad as unknown as Uint8Array));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
      expect(e.message).toMatch(/"payload" argument must be a Uint8Array or Buffer/);
    }
  });
});

describe('custom checksums', () => {
  // Sum of bytes, in `width` bytes: simple enough to compute by hand.
  const sum = (width: number): Checksum => ({
    name: `sum${width}`,
    width,
    compute: (p) => {
      let s = 0n;
      for (const b of p) s += BigInt(b);
      return s & ((1n << BigInt(8 * width)) - 1n);
    },
  });

  test.each([0, 1, 2, 3, 4, 5, 6, 7, 8])('width %i: exact bytes and round trip', (width) => {
    const c = sum(width);
    const payload = Buffer.from([200, 100, 50]); // sum 350 = 0x15e
    const frame = new ChecksumFramer(c).frame(payload);
    const field = Buffer.alloc(width);
    let v = 350n & ((1n << BigInt(8 * width)) - 1n);
    for (let i = 0; i < width; i++, v >>= 8n) field[i] = Number(v & 0xffn);
    expect(frame).toEqual(Buffer.concat([Buffer.from([3, 0, 0, 0]), field, payload]));
    const stream = writeAll(new ChecksumFramer(c), [payload, bytes(40)]);
    expect(readAll(stream, new ChecksumDeframer(c)).payloads).toEqual([payload, bytes(40)]);
  });

  test('a corrupted custom-checksummed frame fails with the frame offset', () => {
    const c = sum(2);
    const stream = writeAll(new ChecksumFramer(c), [bytes(5, 1), bytes(6, 2)]);
    stream[stream.length - 1] ^= 1;
    const e = thrown(() => readAll(stream, new ChecksumDeframer(c)));
    expect(e).toBeInstanceOf(ChecksumMismatchError);
    expect(e.offset).toBe(11);
    expect(e.frameIndex).toBe(1);
  });

  test('a number checksum must be a safe unsigned integer that fits the width', () => {
    const mk = (v: unknown): Checksum => ({ name: 'bad', width: 1, compute: () => v as number });
    for (const [v, type] of [
      [256, RangeError],
      [-1, RangeError],
      [1.5, TypeError],
      ['1', TypeError],
      [2n ** 8n, RangeError],
    ] as const) {
      const e = thrown(() => new ChecksumFramer(mk(v)).frame(Buffer.from('a')));
      expect(e).toBeInstanceOf(type);
    }
  });

  test('an invalid checksum object is rejected up front', () => {
    expect(() => new ChecksumFramer({ name: 'w', width: 9, compute: () => 0 })).toThrow(RangeError);
    expect(() => new ChecksumFramer({ name: 'w', width: 1.5, compute: () => 0 })).toThrow(
      RangeError,
    );
    expect(() => new ChecksumFramer({ name: 'w', width: 1 } as unknown as Checksum)).toThrow(
      TypeError,
    );
    expect(() => new ChecksumFramer(null as unknown as Checksum)).toThrow(TypeError);
  });
});
