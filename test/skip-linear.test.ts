// onCorrupt: 'skip' does linear work on hostile bytes (issue 10): crafted
// garbage where many offsets declare sane, long frames, from bytes and from a
// Readable in small chunks. Work is counted, not timed: the engine reports
// the payload bytes it checksummed (resyncFrames' out[3]) and the test counts
// its calls. The bound is the one docs/design.md "Skip mode" states: at most
// 64 bytes checksummed per byte of the search, plus 1 MiB.
import { Readable } from 'node:stream';
import { backend } from '../lib/engine/load';
import {
  type Checksum,
  ChecksumDeframer,
  ChecksumFramer,
  Crc16,
  Crc32,
  StreamReader,
  XxHash64,
  type SkippedRange,
} from '../lib/index';
import { bytes, writeAll } from './helpers';

const KIB = 1024;
const MIB = 1024 * KIB;

interface Work {
  checksummed: number;
  calls: number;
}

/** Runs fn with resyncFrames counted. */
async function counted(fn: () => unknown): Promise<Work> {
  const original = backend.resyncFrames;
  const work: Work = { checksummed: 0, calls: 0 };
  backend.resyncFrames = function (...args: Parameters<typeof original>): number {
    const p = original.apply(this, args);
    work.calls++;
    const out = args[8];
    work.checksummed += out && out.length >= 4 ? out[3]! : NaN;
    return p;
  };
  try {
    await fn();
  } finally {
    backend.resyncFrames = original;
  }
  return work;
}

/**
 * Garbage of n bytes (n a multiple of 4) in which every fourth offset
 * declares a 16 KiB frame that is whole and fails its checksum (the others
 * declare 64 bytes, 1 GiB and 4 MiB), between intact frames.
 */
function hostile(checksum: Checksum, n: number, lead = 0): { stream: Buffer; tail: Buffer[] } {
  const framer = new ChecksumFramer(checksum);
  const head = writeAll(framer, [bytes(40, 1)]);
  const bad = Buffer.from(writeAll(framer, [bytes(40, 2)]));
  bad[bad.length - 1]! ^= 1; // a checksum mismatch starts the search
  const garbage = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) garbage.set([0x00, 0x40, 0x00, 0x00], i);
  // `lead`: a candidate right after the bad frame that declares a frame of
  // `lead` bytes, which a chunked stream cannot decide for a long time.
  const first = Buffer.alloc(lead ? 4 : 0);
  if (lead) first.writeUInt32LE(lead);
  const tail = [bytes(100, 3), bytes(60, 4)];
  return {
    stream: Buffer.concat([head, bad, first, garbage, writeAll(framer, tail)]),
    tail,
  };
}

function chunks(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let at = 0; at < buf.length; at += size) parts.push(buf.subarray(at, at + size));
  return Readable.from(parts);
}

describe.each([XxHash64, Crc32, Crc16].map((c) => [c.name, c] as const))('%s', (_n, checksum) => {
  const deframer = new ChecksumDeframer(checksum);
  const bound = (n: number): number => 64 * n + MIB + n; // plus one frame, at most the data
  const h = 4 + checksum.width;

  test('from bytes: long failing candidates at every fourth offset cost at most 64 bytes checksummed per byte', async () => {
    const seen: number[] = [];
    for (const n of [1 * MIB, 2 * MIB]) {
      const { stream } = hostile(checksum, n);
      const skips: SkippedRange[] = [];
      const got: number[] = [];
      const work = await counted(() =>
        new StreamReader(stream, deframer, {
          onCorrupt: 'skip',
          onSkip: (s) => void skips.push(s),
        }).processAll((p) => void got.push(p.length)),
      );
      expect(work.calls).toBe(1);
      expect(work.checksummed).toBeGreaterThan(0);
      expect(work.checksummed).toBeLessThanOrEqual(bound(stream.length));
      seen.push(work.checksummed);
      // Exactly the intact frames, and the garbage (with the bad frame) as one range.
      expect(got).toEqual([40, 100, 60]);
      expect(skips.map((x) => [x.offset, x.length])).toEqual([
        [h + 40, stream.length - (h + 40) - 2 * h - 160],
      ]);
    }
    // Twice the bytes, at most about twice the work (not four times).
    expect(seen[1]! / seen[0]!).toBeLessThan(2.5);
  });

  test('from a Readable in 64 KiB chunks: a candidate that waits for data is not re-walked as data grows', async () => {
    const n = 2 * MIB;
    const { stream, tail } = hostile(checksum, n, 0x00f00000);
    const skips: SkippedRange[] = [];
    const got: number[] = [];
    const work = await counted(() =>
      new StreamReader(chunks(stream, 64 * KIB), deframer, {
        onCorrupt: 'skip',
        onSkip: (s) => void skips.push(s),
      }).processAllAsync((p) => void got.push(p.length)),
    );
    // One call when the search starts, one when the data it waits for
    // (here: the end of the stream) is there; not one per chunk.
    expect(work.calls).toBeLessThanOrEqual(2);
    expect(work.checksummed).toBeLessThanOrEqual(bound(stream.length));
    expect(got).toEqual([40, ...tail.map((t) => t.length)]);
    expect(skips.map((x) => [x.offset, x.length])).toEqual([
      [h + 40, stream.length - (h + 40) - 2 * h - 160],
    ]);
  });

  test('length damage in a large stream: offsets that declare long whole frames stay within the budget; nothing invented', async () => {
    // Length damage in a large stream: the offsets inside the damaged frame
    // read lengths that fit in the data (here every fourth declares 3 MiB),
    // as do about one offset in 1400 of the 3 MiB frame after it. The first
    // is checked; after it the search checks nothing until 64 bytes of
    // budget per byte have paid for it, so the intact frames within
    // 3 MiB / 64 of the damage are lost too (docs/design.md "Skip mode"):
    // the price of linear work with a loose maxFrameLen. Nothing invented.
    const framer = new ChecksumFramer(checksum);
    const big = bytes(3 * MIB + 4096, 9);
    const damaged = Buffer.alloc(256);
    for (let i = 0; i < 256; i += 4) damaged.writeUInt32LE(3 * MIB, i);
    const bad = Buffer.from(writeAll(framer, [damaged]));
    bad.writeUInt32LE(200, 0); // its length: sane, but wrong
    const stream = Buffer.concat([bad, writeAll(framer, [bytes(50, 1), big])]);
    const got: number[] = [];
    const skips: SkippedRange[] = [];
    const work = await counted(() =>
      new StreamReader(stream, deframer, {
        onCorrupt: 'skip',
        onSkip: (x) => void skips.push(x),
      }).processAll((p) => void got.push(p.length)),
    );
    expect(got).toEqual([]);
    expect(skips.map((x) => [x.offset, x.length])).toEqual([[0, stream.length]]);
    expect(work.checksummed).toBeGreaterThanOrEqual(3 * MIB);
    expect(work.checksummed).toBeLessThanOrEqual(bound(stream.length));
  });

  test('from a Readable in 1 KiB chunks: calls stay bounded by the decisions, not the chunks', async () => {
    const n = 256 * KIB;
    const { stream } = hostile(checksum, n);
    const fromBytes = await counted(() =>
      new StreamReader(stream, deframer, { onCorrupt: 'skip' }).processAll(() => undefined),
    );
    const got: number[] = [];
    const work = await counted(() =>
      new StreamReader(chunks(stream, KIB), deframer, { onCorrupt: 'skip' }).processAllAsync(
        (p) => void got.push(p.length),
      ),
    );
    // The same answers cost the same checksum work, however the bytes arrive.
    expect(Number.isFinite(work.checksummed) && work.checksummed > 0).toBe(true);
    expect(work.checksummed).toBe(fromBytes.checksummed);
    expect(work.calls).toBeLessThanOrEqual(stream.length / KIB + 2);
  });
});
