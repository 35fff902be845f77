// onCorrupt: 'skip': corruption at every byte of a multi-frame stream; the
// delivered payloads are exactly the uncorrupted frames, and the report
// names what was lost.
import {
  ChecksumDeframer,
  ChecksumFramer,
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  DefaultDeframer,
  SizeValidator,
  StreamReader,
  XxHash64,
  type SkippedRange,
} from '../lib/index';
import { bytes, writeAll } from './helpers';

const PAYLOADS = [
  bytes(3, 1),
  bytes(40, 2),
  bytes(1, 3),
  bytes(200, 4),
  bytes(17, 5),
  bytes(64, 6),
];

async function* chunks(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < buf.length; at += size) yield buf.slice(at, at + size);
}

describe.each([Crc32, XxHash64, Crc32c, Crc64].map((c) => [c.name, c] as const))(
  '%s',
  (_n, checksum) => {
    const stream = writeAll(new ChecksumFramer(checksum), PAYLOADS);
    const header = 4 + checksum.width;
    const starts: number[] = [];
    PAYLOADS.reduce((at, p) => (starts.push(at), at + header + p.length), 0);
    const frameAt = (pos: number): number => starts.filter((s) => s <= pos).length - 1;
    const deframer = new ChecksumDeframer(checksum, { maxFrameLen: 4096 });

    test('every flipped byte: exactly the other frames are delivered, and the damaged one is reported', () => {
      for (let at = 0; at < stream.length; at++) {
        for (const mask of [0x01, 0x80]) {
          const bad = Buffer.from(stream);
          bad[at]! ^= mask;
          const skips: SkippedRange[] = [];
          const got: Buffer[] = [];
          const r = new StreamReader(bad, deframer, {
            onCorrupt: 'skip',
            onSkip: (s) => void skips.push(s),
          });
          r.processAll((p) => void got.push(Buffer.from(p)));
          const k = frameAt(at);
          expect(got).toEqual(PAYLOADS.filter((_, i) => i !== k));
          expect(skips.length).toBe(1);
          expect(skips[0]!.offset).toBe(starts[k]);
          expect(skips[0]!.length).toBe(header + PAYLOADS[k]!.length);
          expect(r.skipped).toEqual({ ranges: 1, bytes: header + PAYLOADS[k]!.length });
        }
      }
    });

    test('the same through a chunked stream, chunk boundaries everywhere', async () => {
      for (const size of [1, 7, 64]) {
        for (let at = 0; at < stream.length; at++) {
          const bad = Buffer.from(stream);
          bad[at]! ^= 0x40;
          const got: Buffer[] = [];
          const skips: SkippedRange[] = [];
          await new StreamReader(chunks(bad, size), deframer, {
            onCorrupt: 'skip',
            onSkip: (s) => void skips.push(s),
          }).processAllAsync((p) => void got.push(Buffer.from(p)));
          const k = frameAt(at);
          expect(got).toEqual(PAYLOADS.filter((_, i) => i !== k));
          expect(skips.map((s) => [s.offset, s.length])).toEqual([
            [starts[k], header + PAYLOADS[k]!.length],
          ]);
        }
      }
    });

    test('a torn tail is reported, not thrown; garbage between frames is skipped up to the next good run', () => {
      const skips: SkippedRange[] = [];
      const torn = stream.subarray(0, stream.length - 5);
      const got: number[] = [];
      new StreamReader(torn, deframer, {
        onCorrupt: 'skip',
        onSkip: (s) => void skips.push(s),
      }).processAll((p) => void got.push(p.length));
      expect(got).toEqual(PAYLOADS.slice(0, -1).map((p) => p.length));
      expect(skips).toEqual([
        { offset: starts[5], length: header + 64 - 5, reason: 'torn frame at the end' },
      ]);

      const garbage = Buffer.concat([
        stream.subarray(0, starts[2]),
        bytes(333, 77),
        stream.subarray(starts[2]),
      ]);
      const s2: SkippedRange[] = [];
      const got2: number[] = [];
      new StreamReader(garbage, deframer, {
        onCorrupt: 'skip',
        onSkip: (s) => void s2.push(s),
      }).processAll((p) => void got2.push(p.length));
      expect(got2).toEqual(PAYLOADS.map((p) => p.length));
      expect(s2.map((s) => [s.offset, s.length])).toEqual([[starts[2], 333]]);
    });
  },
);

test('a frame that verified but fails a validator is skipped by its length', () => {
  const stream = writeAll(new ChecksumFramer(Crc32), PAYLOADS);
  const skips: SkippedRange[] = [];
  const got: number[] = [];
  new StreamReader(stream, new ChecksumDeframer(Crc32).withValidator(new SizeValidator(2, 100)), {
    onCorrupt: 'skip',
    onSkip: (s) => void skips.push(s),
  }).processAll((p) => void got.push(p.length));
  expect(got).toEqual([3, 40, 17, 64]);
  expect(skips.map((s) => s.reason)).toEqual([
    'validation failed (size): payload of 1 bytes is shorter than 2',
    'validation failed (size): payload of 200 bytes is longer than 100',
  ]);
});

test('skip mode refuses a stream without a (built-in) checksum', () => {
  expect(
    () => new StreamReader(new Uint8Array(0), new DefaultDeframer(), { onCorrupt: 'skip' }),
  ).toThrow(/needs a built-in checksum/);
  expect(
    () =>
      new StreamReader(new Uint8Array(0), new ChecksumDeframer(Crc16), {
        onCorrupt: 'bogus' as 'skip',
      }),
  ).toThrow(TypeError);
});
