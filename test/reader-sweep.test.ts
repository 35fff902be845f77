// Every-byte truncation and every-byte flip over a multi-frame stream, for
// every built-in checksum, read from bytes, from a file (sync API, small
// reads) and from chunked AsyncIterables (a split at every position, 1-byte
// chunks). Each outcome is compared EXACTLY with an independent reference
// decoder (`oracle` below): the frames delivered (offset, length, contents,
// frameIndex), then the error class and every field of it, and the reader's
// state after it. Plus: hostile lengths never size a buffer, and a source
// that fails is an IoError wherever it fails.
//
// Budget (~20 s in fallback mode on 2 cores). Exhaustive: every cut and every
// flip (three masks) from bytes; a split at every position of the intact
// stream; for the compact stream (no large payload), every cut × every split
// and every flip × every split, and 1-byte chunks for every mutation. Sampled,
// and said where: mutations and split points inside the 3000-byte payload
// of the full stream (every 149th byte plus its edges; all other bytes are
// covered), since positions inside one payload are all alike to the cursor.
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { xxh3 } from '@node-rs/xxhash';
import { DONE, FRAME, FrameCursor } from '../lib/read/cursor';
import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  FlatStreamError,
  InvalidFrameError,
  IoError,
  NoChecksum,
  StreamReader,
  UnexpectedEofError,
  XxHash64,
  type BuiltinChecksum,
  type Deframer,
} from '../lib/index';
import { bytes, writeAll } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'flatstream-reader-sweep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHECKSUMS: BuiltinChecksum[] = [NoChecksum, Crc16, Crc32, XxHash64, Crc32c, Crc64];
const BIG = 3000;
// Sizes 0, 1, 3, 48 (the telemetry event), a few KiB, and 0 again after it.
const FULL = [
  bytes(0),
  bytes(1, 2),
  bytes(3, 3),
  bytes(48, 4),
  bytes(BIG, 5),
  bytes(0),
  bytes(5, 6),
];
const COMPACT = [bytes(0), bytes(1, 2), bytes(3, 3), bytes(48, 4), bytes(0), bytes(5, 6)];
// A bound that a flipped byte 1–3 of a length field always exceeds (>= 256 * 0x10).
const SMALL_BOUND = 4000;
const MASKS = [0x01, 0x80, 0xff];
const zlibCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;

let seed = 12345;
const rnd = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};

// ---- the reference decoder ------------------------------------------------

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}
function le(b: Uint8Array, at: number, width: number): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]!);
  return v;
}

/** Independent implementations where Node or a dev dependency has one; ours (KAT-tested) otherwise. */
function reference(checksum: BuiltinChecksum, payload: Uint8Array): bigint {
  if (checksum === XxHash64) return xxh3.xxh64(payload);
  if (checksum === Crc32 && typeof zlibCrc32 === 'function') return BigInt(zlibCrc32(payload));
  return BigInt(checksum.compute(payload));
}

/** What reading `buf` to its end must give, as one comparable string. */
function oracle(buf: Uint8Array, checksum: BuiltinChecksum, max: number): string {
  const w = checksum.width;
  const h = 4 + w;
  const n = buf.length;
  const frames: string[] = [];
  let pos = 0;
  let err = '';
  for (let idx = 0; ; idx++) {
    if (pos === n) break;
    const avail = n - pos;
    const at = `off=${pos} idx=${idx}`;
    if (avail < 4) {
      err = `UnexpectedEofError ${at} part=length needed=${h} avail=${avail}`;
      break;
    }
    const len = u32(buf, pos);
    if (len > max) {
      err = `InvalidFrameError ${at} length=${len} limit=${max}`;
      break;
    }
    if (avail < h) {
      err = `UnexpectedEofError ${at} part=checksum needed=${h + len} avail=${avail}`;
      break;
    }
    if (avail - h < len) {
      err = `UnexpectedEofError ${at} part=payload needed=${h + len} avail=${avail}`;
      break;
    }
    if (w > 0) {
      const expected = le(buf, pos + 4, w);
      const calculated = reference(checksum, buf.subarray(pos + h, pos + h + len));
      if (expected !== calculated) {
        err = `ChecksumMismatchError ${at} expected=${expected} calculated=${calculated}`;
        break;
      }
    }
    frames.push(`${pos}:${len}`);
    pos += h + len;
  }
  return `${frames.join(',')} | ${err || 'end'}${err ? ` pos=${pos} next=${frames.length} sticky` : ''}`;
}

// ---- what the reader does ---------------------------------------------------

/** Records delivered frames, checking each against the bytes it should be a view of. */
function recorder(buf: Uint8Array, h: number) {
  const frames: string[] = [];
  return {
    frames,
    cb: (p: Uint8Array, info: { offset: number; frameIndex: number }): void => {
      const want = buf.subarray(info.offset + h, info.offset + h + p.length);
      const ok = info.frameIndex === frames.length && Buffer.compare(p, want) === 0;
      frames.push(`${info.offset}:${p.length}${ok ? '' : '!'}`);
    },
  };
}

function describeError(e: unknown): string {
  if (!(e instanceof FlatStreamError)) throw e; // a crash, a RangeError, a TypeError: fail loudly
  const at = `off=${e.offset} idx=${e.frameIndex}`;
  if (e instanceof UnexpectedEofError)
    return `UnexpectedEofError ${at} part=${e.part} needed=${e.needed} avail=${e.available}`;
  if (e instanceof InvalidFrameError)
    return `InvalidFrameError ${at} length=${e.length} limit=${e.limit}`;
  if (e instanceof ChecksumMismatchError)
    return `ChecksumMismatchError ${at} expected=${e.expected} calculated=${e.calculated}`;
  return `${e.constructor.name} ${at} ${e.message}`;
}

/** After an error: position and frameIndex stay at the bad frame, the same error object again. */
function afterError(r: StreamReader, e: unknown, again: () => unknown): string {
  let second: unknown = null;
  try {
    again();
  } catch (x) {
    second = x;
  }
  return ` pos=${r.position} next=${r.frameIndex}${second === e && r.error === e ? ' sticky' : ' NOT-sticky'}`;
}

function readBytes(buf: Uint8Array, d: Deframer): string {
  const rec = recorder(buf, d.headerSize);
  const r = new StreamReader(buf, d, { carrySize: 16 });
  try {
    r.processAll(rec.cb);
    return `${rec.frames.join(',')} | end`;
  } catch (e) {
    const s = describeError(e);
    return `${rec.frames.join(',')} | ${s}${afterError(r, e, () => r.processAll(rec.cb))}`;
  }
}

function readFile(path: string, buf: Uint8Array, d: Deframer, readSize: number): string {
  const rec = recorder(buf, d.headerSize);
  const r = new StreamReader(path, d, { readSize, carrySize: 16 });
  try {
    r.processAll(rec.cb);
    return `${rec.frames.join(',')} | end`;
  } catch (e) {
    const s = describeError(e);
    return `${rec.frames.join(',')} | ${s}${afterError(r, e, () => r.processAll(rec.cb))}`;
  } finally {
    void r.close();
  }
}

function iterable(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      for (const c of chunks) yield c;
    },
  };
}

async function readChunks(buf: Uint8Array, chunks: Uint8Array[], d: Deframer): Promise<string> {
  const rec = recorder(buf, d.headerSize);
  const r = new StreamReader(iterable(chunks), d, { carrySize: 16 });
  try {
    await r.processAllAsync(rec.cb);
    return `${rec.frames.join(',')} | end`;
  } catch (e) {
    const s = describeError(e);
    let second: unknown = null;
    await r.processAllAsync(rec.cb).catch((x: unknown) => (second = x));
    const sticky = second === e && r.error === e ? ' sticky' : ' NOT-sticky';
    return `${rec.frames.join(',')} | ${s} pos=${r.position} next=${r.frameIndex}${sticky}`;
  }
}

/** Two chunks [0, k) and [k, n), each a fresh copy (as a socket gives). */
const split = (buf: Uint8Array, k: number): Uint8Array[] =>
  [buf.slice(0, k), buf.slice(k)].filter((c) => c.length > 0);
const ones = (buf: Uint8Array): Uint8Array[] =>
  Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));

/** Collects mismatches and reports the first few (thousands of expects would be slow). */
function collector() {
  const bad: string[] = [];
  let checked = 0;
  return {
    check(what: string, got: string, want: string) {
      checked++;
      if (got !== want && bad.length < 8) bad.push(`${what}\n    got:  ${got}\n    want: ${want}`);
    },
    done(min: number) {
      expect(bad).toEqual([]);
      expect(checked).toBeGreaterThanOrEqual(min);
    },
  };
}

interface Mutation {
  name: string;
  buf: Buffer;
}

function truncations(stream: Buffer, positions: number[]): Mutation[] {
  return positions.map((cut) => ({ name: `cut at ${cut}`, buf: stream.subarray(0, cut) }));
}
function flips(stream: Buffer, positions: number[], mask: (at: number) => number): Mutation[] {
  return positions.map((at) => {
    const buf = Buffer.from(stream);
    buf[at]! ^= mask(at);
    return { name: `flip 0x${mask(at).toString(16)} at ${at}`, buf };
  });
}
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

describe.each(CHECKSUMS.map((c) => [c.name, c] as const))('%s', (_name, checksum) => {
  const h = 4 + checksum.width;
  const full = writeAll(new ChecksumFramer(checksum), FULL);
  const compact = writeAll(new ChecksumFramer(checksum), COMPACT);
  const bounded = new ChecksumDeframer(checksum, { maxFrameLen: SMALL_BOUND });
  const unbounded = new ChecksumDeframer(checksum); // the default 2 GiB bound
  const n = full.length;
  // The full stream's big payload occupies [bigAt, bigEnd); everything else is "structure".
  const bigAt = FULL.slice(0, 4).reduce((s, p) => s + h + p.length, 0) + h;
  const bigEnd = bigAt + BIG;
  const starts: number[] = [];
  FULL.reduce((at, p) => (starts.push(at), at + h + p.length), 0);
  const sampled = range(0, n + 1).filter(
    (i) => i < bigAt + 2 || i > bigEnd - 2 || (i - bigAt) % 149 === 0,
  );

  test('the oracle agrees with the writer: the intact streams read whole', () => {
    expect(readBytes(full, bounded)).toBe(oracle(full, checksum, SMALL_BOUND));
    expect(oracle(full, checksum, SMALL_BOUND)).toMatch(/^0:0,.*\| end$/);
    expect(oracle(full, checksum, SMALL_BOUND).split(',').length).toBe(FULL.length);
  });

  test('bytes: every cut and every flip; 3 masks outside the big payload, 1 (rotating) inside', () => {
    const c = collector();
    const muts = [
      ...truncations(full, range(0, n + 1)),
      ...flips(full, range(0, n), (at) => MASKS[at % 3]!),
      ...range(0, n)
        .filter((i) => i < bigAt || i >= bigEnd)
        .flatMap((at) => [1, 2].flatMap((j) => flips(full, [at], () => MASKS[(at + j) % 3]!))),
    ];
    for (const { name, buf } of muts) {
      c.check(name, readBytes(buf, bounded), oracle(buf, checksum, SMALL_BOUND));
    }
    c.done(2 * n + 1);
  });

  test('bytes, the default 2 GiB bound: every flip (3 masks) of every length field', () => {
    // Only a length field's value depends on the bound; the rest is the test above.
    const c = collector();
    const lengthBytes = starts.flatMap((s) => [s, s + 1, s + 2, s + 3]);
    for (const m of MASKS) {
      for (const { name, buf } of flips(full, lengthBytes, () => m)) {
        c.check(name, readBytes(buf, unbounded), oracle(buf, checksum, 2 ** 31));
      }
    }
    c.done(3 * 4 * FULL.length);
  });

  test('file, sync API, reads of 16–31 bytes: every cut and flip (sampled inside the big payload)', () => {
    const c = collector();
    const path = join(dir, `${checksum.name}.fst`);
    const fd = openSync(path, 'w');
    try {
      const muts = [
        ...truncations(full, sampled),
        ...flips(
          full,
          sampled.filter((i) => i < n),
          (at) => MASKS[at % 3]!,
        ),
      ];
      muts.forEach(({ name, buf }, i) => {
        ftruncateSync(fd, 0);
        writeSync(fd, buf, 0, buf.length, 0);
        const readSize = 16 + (i % 16);
        c.check(
          `${name}, readSize ${readSize}`,
          readFile(path, buf, bounded, readSize),
          oracle(buf, checksum, SMALL_BOUND),
        );
      });
      c.done(2 * sampled.length - 1);
    } finally {
      closeSync(fd);
    }
  });

  test('AsyncIterable, the intact stream split in two at every position', async () => {
    const c = collector();
    const want = oracle(full, checksum, SMALL_BOUND);
    for (let k = 0; k <= n; k++)
      c.check(`split at ${k}`, await readChunks(full, split(full, k), bounded), want);
    c.done(n + 1);
  });

  test('AsyncIterable, compact stream: every cut × every split, every flip × every split', async () => {
    const c = collector();
    const m = compact.length;
    const muts = [
      ...truncations(compact, range(0, m + 1)),
      ...flips(compact, range(0, m), (at) => MASKS[at % 3]!),
    ];
    for (const { name, buf } of muts) {
      const want = oracle(buf, checksum, SMALL_BOUND);
      for (let k = 0; k <= buf.length; k++)
        c.check(`${name}, split at ${k}`, await readChunks(buf, split(buf, k), bounded), want);
    }
    c.done(m * m);
  });

  test('AsyncIterable, full stream: sampled cuts and flips × sampled splits', async () => {
    const c = collector();
    // Every mutation outside the big payload, every 149th inside; for each, splits at the
    // mutation (±1), at every frame-structure position near it, and at two random points.
    const muts = [
      ...truncations(full, sampled),
      ...flips(
        full,
        sampled.filter((i) => i < n),
        (at) => MASKS[(at + 1) % 3]!,
      ),
    ];
    for (const { name, buf } of muts) {
      const want = oracle(buf, checksum, SMALL_BOUND);
      const m = Number(/\d+$/.exec(name)![0]);
      const ks = new Set([
        m - 1,
        m,
        m + 1,
        bigAt - h,
        bigAt - h + 2,
        bigAt - 1,
        bigAt,
        bigEnd,
        bigEnd + 2,
        bigEnd + h,
        rnd(buf.length + 1),
        rnd(buf.length + 1),
      ]);
      for (const k of ks) {
        if (k < 0 || k > buf.length) continue;
        c.check(`${name}, split at ${k}`, await readChunks(buf, split(buf, k), bounded), want);
      }
    }
    c.done(4 * sampled.length);
  });

  test('AsyncIterable of 1-byte chunks: every mutation of the compact stream, sampled ones of the full', async () => {
    const c = collector();
    const m = compact.length;
    const muts = [
      ...truncations(compact, range(0, m + 1)),
      ...flips(compact, range(0, m), (at) => MASKS[at % 3]!),
      ...truncations(
        full,
        sampled.filter((_, i) => i % 7 === 0),
      ),
      ...flips(
        full,
        sampled.filter((i, j) => i < n && j % 7 === 3),
        (at) => MASKS[at % 3]!,
      ),
    ];
    for (const { name, buf } of muts) {
      c.check(
        `${name}, 1-byte chunks`,
        await readChunks(buf, ones(buf), bounded),
        oracle(buf, checksum, SMALL_BOUND),
      );
    }
    c.done(2 * m);
  });

  test('async file API (read-ahead, 16-byte reads): sampled cuts and flips', async () => {
    const c = collector();
    const muts = [
      ...truncations(
        full,
        sampled.filter((_, i) => i % 5 === 0),
      ),
      ...flips(
        full,
        sampled.filter((i, j) => i < n && j % 5 === 2),
        (at) => MASKS[at % 3]!,
      ),
    ];
    for (const [i, { name, buf }] of muts.entries()) {
      const path = join(dir, `${checksum.name}-async-${i}.fst`);
      const fd = openSync(path, 'w');
      writeSync(fd, buf);
      closeSync(fd);
      const rec = recorder(buf, h);
      const r = new StreamReader(path, bounded, { readSize: 16 });
      let got: string;
      try {
        await r.processAllAsync(rec.cb);
        got = `${rec.frames.join(',')} | end`;
      } catch (e) {
        let second: unknown = null;
        await r.processAllAsync(rec.cb).catch((x: unknown) => (second = x));
        got = `${rec.frames.join(',')} | ${describeError(e)} pos=${r.position} next=${r.frameIndex}${second === e ? ' sticky' : ' NOT-sticky'}`;
      } finally {
        await r.close();
      }
      c.check(name, got, oracle(buf, checksum, SMALL_BOUND));
    }
    c.done(20);
  });
});

// ---- hostile lengths ---------------------------------------------------------

describe('hostile lengths fail before any buffer is sized from them', () => {
  const header = (len: number, width: number): Buffer => {
    const b = Buffer.alloc(4 + width);
    b.writeUInt32LE(len >>> 0, 0);
    return b;
  };
  const HOSTILE = [0xffffffff, 0x80000001, 0x7fffffff, 0x10000000, 4097];

  test.each(CHECKSUMS.map((c) => [c.name, c] as const))(
    '%s: lengths over a small bound are InvalidFrameError from every source, with the carry slab never above bound + header',
    async (_n, checksum) => {
      const h = 4 + checksum.width;
      const max = 64;
      const d = new ChecksumDeframer(checksum, { maxFrameLen: max });
      const prefix = writeAll(new ChecksumFramer(checksum), [bytes(10), bytes(64, 2)]);
      for (const len of HOSTILE) {
        // The hostile header, then some bytes (a payload that is not there in full).
        const stream = Buffer.concat([prefix, header(len, checksum.width), bytes(100, 9)]);
        const want = { offset: prefix.length, frameIndex: 2, length: len, limit: max };
        const e1 = (() => {
          try {
            new StreamReader(stream, d).processAll(() => undefined);
          } catch (e) {
            return e;
          }
        })();
        expect(e1).toBeInstanceOf(InvalidFrameError);
        expect(e1).toMatchObject(want);
        for (const chunks of [
          ones(stream),
          split(stream, prefix.length + 2),
          split(stream, prefix.length + h - 1),
        ]) {
          let got = 0;
          const e2 = await new StreamReader(iterable(chunks), d, { carrySize: 16 })
            .processAllAsync(() => void got++)
            .catch((e: unknown) => e);
          expect(e2).toBeInstanceOf(InvalidFrameError);
          expect(e2).toMatchObject(want);
          expect(got).toBe(2);
        }
        // The engine itself, driven by hand: its carry slab is observable here.
        const cur = new FrameCursor(d, undefined, 16);
        let frames = 0;
        let err: unknown = null;
        try {
          for (const ch of ones(stream)) {
            let s;
            while ((s = cur.next()) === FRAME) frames++;
            expect(s).not.toBe(DONE);
            cur.push(ch);
            expect(cur.slabSize).toBeLessThanOrEqual(max + h);
          }
          cur.end();
          while (cur.next() === FRAME) frames++;
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(InvalidFrameError);
        expect(frames).toBe(2);
        expect(cur.slabSize).toBeLessThanOrEqual(max + h);
      }
    },
  );

  test('a length within the 2^32-1 ceiling that is not backed by bytes: the slab grows with the bytes that arrived, never to the declared length', async () => {
    const d = new ChecksumDeframer(XxHash64, { maxFrameLen: 2 ** 32 - 1 });
    const sent = 1 << 20;
    const stream = Buffer.concat([header(0xffffffff, 8), bytes(sent - 12)]);
    const cur = new FrameCursor(d, undefined, 16);
    let peak = 0;
    for (let at = 0; at < stream.length; at += 65536) {
      expect(cur.next()).toBe(1); // NEED
      cur.push(stream.subarray(at, at + 65536));
      peak = Math.max(peak, cur.slabSize);
    }
    cur.end();
    expect(() => cur.next()).toThrow(UnexpectedEofError);
    expect(cur.error).toMatchObject({ part: 'payload', needed: 12 + 0xffffffff, available: sent });
    // Geometric growth: at most twice what arrived (a slab sized from the length would be 4 GiB).
    expect(peak).toBeLessThanOrEqual(2 * sent);

    // Through the public reader: ArrayBuffer memory grows by a few MiB at most.
    const before = process.memoryUsage().arrayBuffers;
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += 4096) chunks.push(stream.subarray(at, at + 4096));
    const e = await new StreamReader(iterable(chunks), d, { carrySize: 16 })
      .processAllAsync(() => undefined)
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnexpectedEofError);
    expect(e).toMatchObject({ offset: 0, frameIndex: 0, needed: 12 + 0xffffffff, available: sent });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * sent);
  });

  test('the default bound (2 GiB): 0x80000001 is InvalidFrameError; 0x7fffffff in a short file is UnexpectedEofError with a slab no bigger than the file', () => {
    const d = new ChecksumDeframer(Crc32);
    for (const [len, cls] of [
      [0x80000001, InvalidFrameError],
      [0xffffffff, InvalidFrameError],
      [0x7fffffff, UnexpectedEofError],
    ] as const) {
      const stream = Buffer.concat([header(len, 4), bytes(5000)]);
      const path = join(dir, `hostile-${len}.fst`);
      const fd = openSync(path, 'w');
      writeSync(fd, stream);
      closeSync(fd);
      const before = process.memoryUsage().arrayBuffers;
      const r = new StreamReader(path, d, { readSize: 16, carrySize: 16 });
      expect(() => r.processAll(() => undefined)).toThrow(cls);
      expect(r.error).toMatchObject({ offset: 0, frameIndex: 0 });
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
      void r.close();
    }
  });
});

// ---- a source that fails ---------------------------------------------------

describe('a source that fails after k bytes is an IoError, for every k', () => {
  const checksum = Crc32c;
  const stream = writeAll(new ChecksumFramer(checksum), COMPACT);
  const d = new ChecksumDeframer(checksum);
  const ends: number[] = [];
  COMPACT.reduce((at, p) => (ends.push(at + 8 + p.length), at + 8 + p.length), 0);

  test('an AsyncIterable that throws: whole frames before k are delivered, then IoError with the cause', async () => {
    for (let k = 0; k <= stream.length; k++) {
      const boom = new Error(`reset at ${k}`);
      const src = {
        async *[Symbol.asyncIterator]() {
          if (k > 0) yield stream.slice(0, k);
          throw boom;
        },
      };
      let got = 0;
      const e = await new StreamReader(src, d)
        .processAllAsync(() => void got++)
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(IoError);
      expect((e as IoError).cause).toBe(boom);
      expect(got).toBe(ends.filter((x) => x <= k).length);
    }
  });

  test('a Readable destroyed with an error after k bytes: IoError, never a clean end or a torn-tail error', async () => {
    for (let k = 0; k <= stream.length; k += 3) {
      const boom = new Error('ECONNRESET');
      let sent = false;
      const src = new Readable({
        read() {
          if (!sent && k > 0) {
            sent = true;
            this.push(stream.subarray(0, k));
          } else this.destroy(boom);
        },
      });
      let got = 0;
      const e = await new StreamReader(src, d)
        .processAllAsync(() => void got++)
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(IoError);
      expect((e as IoError).cause).toBe(boom);
      expect(got).toBe(ends.filter((x) => x <= k).length);
    }
  });
});
