import { MemorySink, StreamReader, StreamWriter, type Deframer, type Framer } from '../lib/index';

/** Deterministic bytes (an LCG), so failures reproduce. */
export function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Writes payloads with a StreamWriter into memory and returns the stream. */
export function writeAll(framer: Framer, payloads: Uint8Array[], slabSize?: number): Buffer {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, framer, slabSize ? { slabSize } : undefined);
  for (const p of payloads) w.writePayload(p);
  w.close();
  return sink.toBuffer();
}

/** Reads every payload (copied) and its offset; rethrows the reader's error. */
export function readAll(
  bytes: Uint8Array,
  deframer: Deframer,
): { payloads: Buffer[]; offsets: number[] } {
  const payloads: Buffer[] = [];
  const offsets: number[] = [];
  new StreamReader(bytes, deframer).processAll((p, info) => {
    payloads.push(Buffer.from(p));
    offsets.push(info.offset);
  });
  return { payloads, offsets };
}

/** Runs fn and returns what it threw (fails the test if nothing was thrown). */
export function thrown(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error('expected an exception');
}

export const MODE = process.env.FLATSTREAM_NATIVE === '0' ? 'fallback' : 'native';

/** A seeded PRNG (xorshift32): integers in [0, n). */
export function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

/**
 * Closes two writers over MemorySinks and expects the same stream from both:
 * the same bytes, cut into chunks of the same sizes, and the same stats.
 */
export function expectSameStreams(
  wa: StreamWriter,
  a: MemorySink,
  wb: StreamWriter,
  b: MemorySink,
): void {
  wa.close();
  wb.close();
  expect(a.toBuffer()).toEqual(b.toBuffer());
  expect(a.chunks.map((c) => c.length)).toEqual(b.chunks.map((c) => c.length));
  expect(wa.stats()).toEqual(wb.stats());
}
