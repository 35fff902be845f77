// onCorrupt: 'skip' under hostile callers: validators written in JS that
// fail, an onSkip that throws or re-enters the reader, a custom checksum.
import {
  ChecksumDeframer,
  ChecksumFramer,
  Crc32,
  ReaderBusyError,
  StreamReader,
  TypedValidator,
  XxHash64,
  type SkippedRange,
} from '../lib/index';
import { bytes, thrown, writeAll } from './helpers';

const PAYLOADS = [bytes(10, 1), bytes(20, 2), bytes(30, 3), bytes(40, 4), bytes(50, 5)];
const HEADER = 4 + 8;
const OFFSETS = PAYLOADS.reduce<number[]>(
  (acc, p, i) => (acc.push(i === 0 ? 0 : acc[i - 1]! + HEADER + PAYLOADS[i - 1]!.length), acc),
  [],
);

async function* chunks(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < buf.length; at += size) yield buf.slice(at, at + size);
}

test('a JS validator that fails is skipped by the frame length, from bytes and from a stream', async () => {
  const stream = writeAll(new ChecksumFramer(XxHash64), PAYLOADS);
  const deframer = new ChecksumDeframer(XxHash64).withValidator(
    TypedValidator.fromFunction('no30', (p) => (p.length === 30 ? 'thirty' : null)),
  );
  const want = {
    lengths: [10, 20, 40, 50],
    skips: [
      { offset: OFFSETS[2], length: HEADER + 30, reason: 'validation failed (no30): thirty' },
    ],
  };
  const skips: SkippedRange[] = [];
  const lengths: number[] = [];
  const r = new StreamReader(stream, deframer, {
    onCorrupt: 'skip',
    onSkip: (s) => void skips.push(s),
  });
  r.processAll((p) => void lengths.push(p.length));
  expect({ lengths, skips }).toEqual(want);
  expect(r.skipped).toEqual({ ranges: 1, bytes: HEADER + 30 });

  const s2: SkippedRange[] = [];
  const l2: number[] = [];
  await new StreamReader(chunks(stream, 7), deframer, {
    onCorrupt: 'skip',
    onSkip: (s) => void s2.push(s),
  }).processAllAsync((p) => void l2.push(p.length));
  expect({ lengths: l2, skips: s2 }).toEqual(want);
});

test('onSkip that throws: the error reaches the caller once, the range is counted once, reading goes on after it', () => {
  const stream = Buffer.from(writeAll(new ChecksumFramer(XxHash64), PAYLOADS));
  stream[OFFSETS[1]! + HEADER + 3]! ^= 0x10; // frame 1 damaged
  const boom = new Error('boom');
  let calls = 0;
  const r = new StreamReader(stream, new ChecksumDeframer(XxHash64), {
    onCorrupt: 'skip',
    onSkip: () => {
      calls++;
      throw boom;
    },
  });
  const lengths: number[] = [];
  expect(thrown(() => r.processAll((p) => void lengths.push(p.length)))).toBe(boom);
  expect(lengths).toEqual([10]);
  expect(r.skipped).toEqual({ ranges: 1, bytes: HEADER + 20 });
  expect(r.processAll((p) => void lengths.push(p.length))).toBe(3);
  expect(lengths).toEqual([10, 30, 40, 50]);
  expect(calls).toBe(1);
  expect(r.skipped).toEqual({ ranges: 1, bytes: HEADER + 20 });
});

test('onSkip that re-enters the reader meets ReaderBusyError; the outer read goes on', () => {
  const stream = Buffer.from(writeAll(new ChecksumFramer(Crc32), PAYLOADS));
  stream[4 + 4 + 10 + 4 + 4 + 2]! ^= 0x01; // frame 1's payload
  const inner: unknown[] = [];
  const lengths: number[] = [];
  const r: StreamReader = new StreamReader(stream, new ChecksumDeframer(Crc32), {
    onCorrupt: 'skip',
    onSkip: () => {
      try {
        r.processAll(() => undefined);
      } catch (e) {
        inner.push(e);
      }
      try {
        for (const _ of r.messages()) break;
      } catch (e) {
        inner.push(e);
      }
    },
  });
  expect(r.processAll((p) => void lengths.push(p.length))).toBe(4);
  expect(lengths).toEqual([10, 30, 40, 50]);
  expect(inner.length).toBe(2);
  for (const e of inner) expect(e).toBeInstanceOf(ReaderBusyError);
});

test('skip mode with a custom (JS) checksum is refused (docs/design.md "Skip mode")', () => {
  const custom = {
    name: 'sum8',
    width: 1,
    compute: (p: Uint8Array) => p.reduce((a, b) => (a + b) & 0xff, 0),
  };
  const e = thrown(
    () => new StreamReader(new Uint8Array(0), new ChecksumDeframer(custom), { onCorrupt: 'skip' }),
  );
  expect(e).toBeInstanceOf(TypeError);
  expect(e.message).toMatch(/needs a built-in checksum/);
});
