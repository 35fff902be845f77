import { Builder, ByteBuffer } from 'flatbuffers';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  AdaptiveWatermarkPolicy,
  ArenaBuilder,
  ChecksumDeframer,
  ChecksumFramer,
  ClosedError,
  Crc32c,
  DefaultDeframer,
  DefaultFramer,
  InvalidFrameError,
  IoError,
  MemorySink,
  StreamWriter,
  UnfinishedBuilderError,
  XxHash64,
  type Sink,
  type MemoryPolicy,
  type StreamSerialize,
} from '../lib/index';
import { RICH_INPUTS, RichEvent, Telemetry, buildRich, buildTelemetry } from './events';
import { bytes, readAll, thrown } from './helpers';

const framer = new ChecksumFramer(XxHash64);
const deframer = new ChecksumDeframer(XxHash64);
const telemetry = (i: number): StreamSerialize => ({ serialize: (b) => buildTelemetry(b, i) });

function stockPayload(build: (b: Builder) => void): Uint8Array {
  const b = new Builder(16);
  build(b);
  return b.asUint8Array();
}

describe('simple mode: write(item)', () => {
  test('StreamSerialize with flatc-generated code: the same frames as the stock builder would give', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer);
    for (let i = 0; i < 50; i++) expect(w.write(telemetry(i))).toBe(true);
    RICH_INPUTS.forEach((input, i) => w.write({ serialize: (b) => buildRich(b, i, input) }));
    w.close();
    const expected = [
      ...Array.from({ length: 50 }, (_, i) => stockPayload((b) => buildTelemetry(b, i))),
      ...RICH_INPUTS.map((input, i) => stockPayload((b) => buildRich(b, i, input))),
    ];
    expect(sink.toBuffer()).toEqual(Buffer.concat(expected.map((p) => framer.frame(p))));
    const { payloads } = readAll(sink.toBuffer(), deframer);
    const t7 = Telemetry.getRootAsTelemetry(new ByteBuffer(payloads[7]!));
    expect([t7.deviceId(), t7.timestamp(), t7.value()]).toEqual([
      1007n,
      1_700_000_000_000_000_007n,
      1.75,
    ]);
    expect(RichEvent.getRootAsRichEvent(new ByteBuffer(payloads[52]!)).label()).toBe(
      'x'.repeat(3000),
    );
  });

  test('a string is a FlatBuffers string root (golden bytes)', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new DefaultFramer());
    w.write('hi');
    w.write('');
    w.close();
    expect(sink.toBuffer().toString('hex')).toBe(
      '0c000000' + '040000000200000068690000' + '0c000000' + '040000000000000000000000',
    );
  });

  test('writeByteVector(bytes) is a [ubyte] vector root (golden bytes)', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new DefaultFramer());
    expect(w.writeByteVector(new Uint8Array([1, 2, 3]))).toBe(true);
    w.close();
    expect(sink.toBuffer().toString('hex')).toBe('0c000000' + '040000000300000001020300');
  });

  test('a serialize() that forgets finish(), throws, or is too large leaves the stream as it was', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer.bounded(64));
    w.write(telemetry(1));
    const unfinished = thrown(() => w.write({ serialize: (b) => void b.createString('x') }));
    expect(unfinished).toBeInstanceOf(UnfinishedBuilderError);
    expect(unfinished.code).toBe('ERR_FLATSTREAM_UNFINISHED');
    expect(() =>
      w.write({
        serialize: () => {
          throw new Error('user bug');
        },
      }),
    ).toThrow('user bug');
    expect(thrown(() => w.write('y'.repeat(100)))).toBeInstanceOf(InvalidFrameError);
    w.write(telemetry(2));
    w.close();
    expect(sink.toBuffer()).toEqual(
      Buffer.concat([1, 2].map((i) => framer.frame(stockPayload((b) => buildTelemetry(b, i))))),
    );
    expect(w.stats().frames).toBe(2);
  });

  test('bad items are TypeErrors', () => {
    const w = new StreamWriter(new MemorySink(), framer);
    for (const bad of [42, null, undefined, {}, { serialize: 1 }]) {
      expect(thrown(() => w.write(bad as never)).code).toBe('ERR_INVALID_ARG_TYPE');
    }
  });
});

describe('expert mode', () => {
  test('writeFinished takes stock builders and ArenaBuilders; they stay reusable', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer);
    const small = new Builder(64);
    const big = new ArenaBuilder(undefined, { initialSize: 4096 });
    for (let i = 0; i < 10; i++) {
      small.clear();
      buildTelemetry(small, i);
      w.writeFinished(small);
      big.clear();
      buildRich(big, i, RICH_INPUTS[i % 3]!);
      w.writeFinished(big);
    }
    w.close();
    const { payloads } = readAll(sink.toBuffer(), deframer);
    expect(payloads.length).toBe(20);
    expect(payloads[4]).toEqual(Buffer.from(stockPayload((b) => buildTelemetry(b, 2))));
    expect(payloads[5]).toEqual(Buffer.from(stockPayload((b) => buildRich(b, 2, RICH_INPUTS[2]!))));
  });

  test('an unfinished builder is refused and nothing is staged', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer);
    const b = new Builder(64);
    expect(thrown(() => w.writeFinished(b))).toBeInstanceOf(UnfinishedBuilderError);
    b.createString('pending');
    expect(thrown(() => w.writeFinished(b))).toBeInstanceOf(UnfinishedBuilderError);
    expect(thrown(() => w.writeFinished(new ArenaBuilder()))).toBeInstanceOf(
      UnfinishedBuilderError,
    );
    expect(thrown(() => w.writeFinished({} as Builder)).code).toBe('ERR_INVALID_ARG_TYPE');
    w.close();
    expect(sink.length).toBe(0);
  });
});

describe('slabs', () => {
  test('steady state allocates no slab and asks the arena for nothing after warm-up', () => {
    let asked = 0;
    const arena = { block: (n: number) => (asked++, new Uint8Array(n)) };
    const w = StreamWriter.withArena({ write() {} }, framer, arena, { slabSize: 4096 });
    for (let i = 0; i < 1000; i++) w.write(telemetry(i));
    const warm = { ...w.stats(), asked };
    for (let i = 0; i < 100_000; i++) w.write(telemetry(i));
    w.write('and a string');
    expect(w.stats().slabsAllocated).toBe(warm.slabsAllocated);
    expect(w.stats().slabsAllocated).toBe(1);
    expect(asked).toBe(warm.asked);
    expect(w.stats().flushes).toBeGreaterThan(warm.flushes + 1000);
  });

  test('withArena() without an arena grows the builder inside a new Arena', () => {
    const sink = new MemorySink();
    const w = StreamWriter.withArena(sink, framer);
    w.write({ serialize: (b) => buildRich(b, 1, RICH_INPUTS[2]!) });
    w.write(telemetry(1));
    w.close();
    expect(readAll(sink.toBuffer(), deframer).payloads.length).toBe(2);
  });

  test('a frame larger than a slab gets its own chunk; frames stay in order', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new ChecksumFramer(Crc32c), { slabSize: 256 });
    w.writePayload(bytes(10, 1));
    w.writePayload(bytes(5000, 2));
    w.write('z'.repeat(600));
    w.writePayload(bytes(7, 3));
    w.close();
    expect(sink.chunks.map((c) => c.length)).toEqual([18, 5008, 8 + 612, 15]);
    const { payloads } = readAll(sink.toBuffer(), new ChecksumDeframer(Crc32c));
    expect(payloads.map((p) => p.length)).toEqual([10, 5000, 612, 7]);
  });

  test('flushIntervalMs seals and hands over on a timer', () => {
    jest.useFakeTimers();
    try {
      const sink = new MemorySink();
      const w = new StreamWriter(sink, framer, { flushIntervalMs: 50 });
      w.writePayload(bytes(3));
      expect(sink.length).toBe(0);
      jest.advanceTimersByTime(60);
      expect(sink.length).toBe(15);
      w.close();
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('memory policy', () => {
  test('AdaptiveWatermarkPolicy shrinks after `count` consecutive small messages, not before', () => {
    const policy = new AdaptiveWatermarkPolicy({ count: 3, ratio: 4, baseline: 1024 });
    expect(policy.shouldShrink(100, 1024)).toBe(false); // at baseline: nothing to give back
    expect([policy.shouldShrink(100, 8192), policy.shouldShrink(100, 8192)]).toEqual([
      false,
      false,
    ]);
    expect(policy.shouldShrink(5000, 8192)).toBe(false); // large: the run restarts
    expect([
      policy.shouldShrink(100, 8192),
      policy.shouldShrink(100, 8192),
      policy.shouldShrink(100, 8192),
    ]).toEqual([false, false, true]);
    expect(() => new AdaptiveWatermarkPolicy({ ratio: 0.5 })).toThrow(RangeError);
    expect(() => new AdaptiveWatermarkPolicy({ count: 0 })).toThrow(RangeError);
  });

  test('the internal builder grows for a big message and gives the memory back', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer).withMemoryPolicy(
      new AdaptiveWatermarkPolicy({ count: 5, ratio: 4, baseline: 1024 }),
    );
    w.write({ serialize: (b) => buildRich(b, 0, RICH_INPUTS[2]!) }); // ~7 KiB: grows
    for (let i = 0; i < 4; i++) w.write(telemetry(i));
    expect(w.stats().builderShrinks).toBe(0);
    w.write(telemetry(4));
    expect(w.stats().builderShrinks).toBe(1);
    for (let i = 0; i < 20; i++) w.write(telemetry(i));
    expect(w.stats().builderShrinks).toBe(1); // back at baseline: nothing more to give
    w.close();
    expect(readAll(sink.toBuffer(), deframer).payloads.length).toBe(26);
  });

  // A policy that records the capacity it is shown and shrinks when told.
  function recording(baseline: number) {
    const state = { seen: [] as number[], shrinkNext: false };
    const policy: MemoryPolicy = {
      baseline,
      shouldShrink: (_len, capacity) => {
        state.seen.push(capacity);
        const s = state.shrinkNext;
        state.shrinkNext = false;
        return s;
      },
    };
    return { policy, state };
  }

  test.each([
    [8192, 1024, 8192],
    [512, 1024, 1024],
    [0, 2048, 2048],
  ])(
    'policy.baseline %i with builderSize %i: a shrink goes back to a capacity of %i (the larger of the two)',
    (baseline, builderSize, want) => {
      const { policy, state } = recording(baseline);
      const sink = new MemorySink();
      const w = new StreamWriter(sink, framer, { builderSize }).withMemoryPolicy(policy);
      w.write(telemetry(0));
      expect(state.seen).toEqual([builderSize]);
      w.write({ serialize: (b) => buildRich(b, 0, RICH_INPUTS[2]!) }); // ~7 KiB: grows
      const grown = state.seen[1]!;
      expect(grown).toBeGreaterThan(Math.max(8192, builderSize) - 1);
      state.shrinkNext = true;
      w.write(telemetry(1));
      expect(w.stats().builderShrinks).toBe(1);
      w.write(telemetry(2));
      expect(state.seen.slice(2)).toEqual([grown, want]);
      w.close();
      expect(readAll(sink.toBuffer(), deframer).payloads.length).toBe(4);
    },
  );

  test('a baseline block the arena cannot supply: TypeError ERR_INVALID_RETURN_VALUE, nothing of the message staged', () => {
    const { policy, state } = recording(8192);
    let short = false; // growth asks for 8192 bytes too: short only for the shrink
    const arena = { block: (n: number) => new Uint8Array(n === 8192 && short ? 16 : n) };
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer, { arena }).withMemoryPolicy(policy);
    w.write({ serialize: (b) => buildRich(b, 0, RICH_INPUTS[2]!) });
    state.shrinkNext = true;
    short = true;
    const e = thrown(() => w.write(telemetry(1)));
    expect([e.constructor, e.code]).toEqual([TypeError, 'ERR_INVALID_RETURN_VALUE']);
    expect(w.stats()).toMatchObject({ frames: 1, builderShrinks: 0 });
    short = false;
    state.shrinkNext = true;
    w.write(telemetry(2));
    expect(w.stats()).toMatchObject({ frames: 2, builderShrinks: 1 });
    w.close();
    expect(readAll(sink.toBuffer(), deframer).payloads.length).toBe(2);
  });

  test('a policy whose baseline is not a size is refused by withMemoryPolicy', () => {
    const w = new StreamWriter(new MemorySink(), framer);
    const shouldShrink = () => false;
    for (const [baseline, cls, code] of [
      [undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
      ['1024', TypeError, 'ERR_INVALID_ARG_TYPE'],
      [-1, RangeError, 'ERR_OUT_OF_RANGE'],
      [1.5, RangeError, 'ERR_OUT_OF_RANGE'],
      [2 ** 31 + 1, RangeError, 'ERR_OUT_OF_RANGE'],
    ] as const) {
      const e = thrown(() =>
        w.withMemoryPolicy({ baseline, shouldShrink } as unknown as MemoryPolicy),
      );
      expect([e.constructor, e.code]).toEqual([cls, code]);
    }
    w.close();
  });
});

describe('sink targets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flatstream-writer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a path is a FileSink (append by default, truncate on request)', () => {
    const file = join(dir, 'a.fst');
    for (const i of [1, 2]) {
      const w = new StreamWriter(file, framer);
      w.write(telemetry(i));
      w.close();
    }
    expect(readAll(readFileSync(file), deframer).payloads.length).toBe(2);
    const t = new StreamWriter(file, framer, { append: false });
    t.write(telemetry(3));
    t.close();
    expect(readAll(readFileSync(file), deframer).payloads.length).toBe(1);
  });

  test('a Writable gets the slabs without copies and with backpressure; finished() waits for it', async () => {
    const seen: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        seen.push(Buffer.from(chunk));
        setTimeout(cb, 1);
      },
    });
    const w = new StreamWriter(slow, new DefaultFramer(), { slabSize: 512 });
    let waits = 0;
    for (let i = 0; i < 200; i++) {
      if (!w.writePayload(bytes(40, i))) {
        waits++;
        await w.drain();
      }
    }
    w.close();
    await w.finished();
    expect(waits).toBeGreaterThan(0);
    expect(w.stats().slabsInFlight).toBe(0);
    const { payloads } = readAll(Buffer.concat(seen), new DefaultDeframer());
    expect(payloads).toEqual(Array.from({ length: 200 }, (_, i) => bytes(40, i)));
    expect(w.stats().slabsAllocated).toBeLessThan(10);
  });
});

describe('failures', () => {
  test('a sink failure is an IoError, sticky, and frames handed over before it are intact', () => {
    const good: Buffer[] = [];
    let fail = false;
    const sink: Sink = {
      write(chunk) {
        if (fail)
          throw Object.assign(new Error('i/o error'), { code: 'EIO', errno: -5, syscall: 'write' });
        good.push(Buffer.from(chunk));
      },
    };
    const w = new StreamWriter(sink, framer);
    w.write(telemetry(1));
    w.flush();
    fail = true;
    w.write(telemetry(2));
    const e = thrown(() => w.flush());
    expect(e).toBeInstanceOf(IoError);
    expect(e).toMatchObject({ systemCode: 'EIO', errno: -5 });
    expect(thrown(() => w.write(telemetry(3)))).toBe(e);
    expect(readAll(Buffer.concat(good), deframer).payloads.length).toBe(1);
  });

  test('a Writable that fails surfaces as IoError from finished() and the next call', async () => {
    const broken = new Writable({
      write(_c, _e, cb) {
        cb(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
      },
    });
    const w = new StreamWriter(broken, framer);
    w.write(telemetry(1));
    w.flush();
    await expect(w.finished()).rejects.toBeInstanceOf(IoError);
    expect(thrown(() => w.write(telemetry(2)))).toBeInstanceOf(IoError);
  });

  test('close is idempotent and writing after it is a ClosedError', () => {
    const w = new StreamWriter(new MemorySink(), framer);
    w.close();
    w.close();
    expect(thrown(() => w.write('x'))).toBeInstanceOf(ClosedError);
    expect(thrown(() => w.writeFinished(new Builder(8)))).toBeInstanceOf(ClosedError);
  });
});
