// Skip mode's search gives the same answer in both engines: the addon's
// resync_step and the TypeScript fallback's resyncStep, called directly on
// damaged streams with every checksum, with and without a validator chain,
// from many starts, with and without a natural candidate and the end of the
// stream. Everything they report is compared: the offset, keep, need, whether
// the natural candidate is pending, the bytes checksummed, the budget, and
// the memo of evidence they leave. (In fallback mode both sides are the
// fallback, and the test checks it against itself.)
import { INDEX_HEADER, RESYNC_STEP_OUT, backend } from '../lib/engine/load';
import { jsBackend } from '../lib/engine/js/frame';
import {
  type Checksum,
  ChecksumDeframer,
  ChecksumFramer,
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  SizeValidator,
  XxHash64,
} from '../lib/index';
import { bytes, prng, writeAll } from './helpers';

const KINDS: readonly Checksum[] = [Crc16, Crc32, Crc32c, XxHash64, Crc64];

test.each(KINDS.map((c) => [c.name, c] as const))(
  '%s: both engines answer every step alike',
  (_n, checksum) => {
    const deframers = [
      new ChecksumDeframer(checksum, { maxFrameLen: 600 }),
      new ChecksumDeframer(checksum).withValidator(new SizeValidator(2, 300)),
    ];
    let found = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const rnd = prng(seed * 31 + checksum.width);
      const payloads = Array.from({ length: 12 }, (_, i) =>
        bytes(rnd(6) === 0 ? 0 : 1 + rnd(120), seed * 100 + i),
      );
      const s = Buffer.from(writeAll(new ChecksumFramer(checksum), payloads));
      for (let k = 1 + rnd(6); k > 0; k--) {
        const at = rnd(s.length);
        if (rnd(3) === 0) s.fill(0, at, Math.min(s.length, at + 1 + rnd(30)));
        else s[at]! ^= 1 + rnd(255);
      }
      for (const d of deframers) {
        const kind = d.kind;
        const chain = d.compiled?.batch ?? undefined;
        for (let start = 0; start < s.length; start += 1 + rnd(9)) {
          const cut = start + rnd(s.length - start + 1);
          const natural = rnd(2) ? -1 : start + rnd(cut - start + 1);
          for (const eof of [false, true]) {
            const run = (engine: typeof backend) => {
              const out = new Float64Array(RESYNC_STEP_OUT);
              const memo = new Uint8Array(cut);
              const p = engine.resyncFrames(
                s.subarray(0, cut),
                start,
                cut,
                kind,
                checksum.width,
                d.maxFrameLen,
                1,
                chain,
                out,
                memo,
                natural,
                eof,
              );
              return JSON.stringify([p, Array.from(out), Buffer.from(memo).toString('hex')]);
            };
            const a = run(backend);
            const b = run(jsBackend);
            if (a !== b)
              expect([seed, start, natural, cut, eof, a]).toEqual([
                seed,
                start,
                natural,
                cut,
                eof,
                b,
              ]);
            if (!a.startsWith('[-1,')) found++;
          }
        }
      }
    }
    expect(found).toBeGreaterThan(50); // the comparison saw real answers, not only "not found"
  },
);

test('bad arguments: both engines refuse them alike', () => {
  const s = writeAll(new ChecksumFramer(Crc32), [bytes(10)]);
  const kind = new ChecksumDeframer(Crc32).kind;
  const errorOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      return (e as Error).name;
    }
    return 'none';
  };
  for (const engine of [backend, jsBackend]) {
    const call = (out: unknown, memo: unknown, natural: unknown) =>
      errorOf(() =>
        engine.resyncFrames(
          s,
          0,
          s.length,
          kind,
          4,
          4096,
          1,
          undefined,
          out as Float64Array,
          memo as Uint8Array,
          natural as number,
          true,
        ),
      );
    const out = new Float64Array(RESYNC_STEP_OUT);
    expect(call(out, new Uint8Array(s.length), -1)).toBe('none');
    expect(call(new Float64Array(INDEX_HEADER - 2), new Uint8Array(s.length), -1)).toBe(
      'TypeError',
    );
    expect(call(out, new Uint8Array(s.length - 1), -1)).toBe('RangeError');
    expect(call(out, new Uint16Array(s.length), -1)).toBe('TypeError');
    expect(call(out, new Uint8Array(s.length), s.length + 1)).toBe('RangeError');
    out[4] = -1;
    expect(call(out, new Uint8Array(s.length), -1)).toBe('RangeError');
  }
});
