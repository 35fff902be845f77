// Issue 10, defects 2 and 3, and the writer's defined state after any
// throw: expert-mode input is validated completely before the slab is
// touched, a bad call throws a typed error and never poisons the writer, and
// write(bytes) frames the bytes themselves.
import { Builder, ByteBuffer } from 'flatbuffers';
import {
  ArenaBuilder,
  ChecksumDeframer,
  ChecksumFramer,
  DefaultDeframer,
  DefaultFramer,
  IoError,
  MemorySink,
  StreamWriter,
  TypedValidator,
  UnfinishedBuilderError,
  XxHash64,
  type Checksum,
  type Framer,
  type MemoryPolicy,
  type Sink,
} from '../lib/index';
import { Telemetry, buildTelemetry } from './events';
import { bytes, readAll, thrown } from './helpers';

const framer = new ChecksumFramer(XxHash64);
const deframer = new ChecksumDeframer(XxHash64);
const GOOD = [bytes(20, 1), bytes(30, 2), bytes(25, 3)];
const LATER = bytes(17, 4);

function expected(f: Framer, payloads: Uint8Array[]): Buffer {
  return Buffer.concat(payloads.map((p) => f.frame(p)));
}

/** A duck-typed builder whose ByteBuffer says what we want. */
function fakeBuilder(buf: Uint8Array, position: unknown, space: unknown = position): Builder {
  return {
    dataBuffer: () => ({ bytes: () => buf, position: () => position }),
    space,
  } as unknown as Builder;
}

// A real finished buffer of 24 bytes, placed at offset 8 of a 32-byte array.
function finishedAt8(): Uint8Array {
  const b = new Builder(8);
  buildTelemetry(b, 1);
  const fb = b.asUint8Array();
  const out = new Uint8Array(8 + fb.length);
  out.set(fb, 8);
  return out;
}

describe('writeFinished(): a bad builder throws a typed error and never poisons the writer', () => {
  const buf = finishedAt8();
  const cases: [string, () => Builder, new (...a: never[]) => Error, string | undefined][] = [
    [
      'a fractional position()',
      () => fakeBuilder(new Uint8Array(100), 50.5),
      RangeError,
      'ERR_OUT_OF_RANGE',
    ],
    ['a negative position()', () => fakeBuilder(buf, -4), RangeError, 'ERR_OUT_OF_RANGE'],
    [
      'a position() beyond the bytes',
      () => fakeBuilder(buf, buf.length + 4),
      RangeError,
      'ERR_OUT_OF_RANGE',
    ],
    ['a NaN position()', () => fakeBuilder(buf, NaN), RangeError, 'ERR_OUT_OF_RANGE'],
    ['a string position()', () => fakeBuilder(buf, '8'), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [
      'bytes() not a Uint8Array',
      () => fakeBuilder([1, 2, 3, 4] as unknown as Uint8Array, 0),
      TypeError,
      'ERR_INVALID_ARG_TYPE',
    ],
    [
      'dataBuffer() returning null',
      () => ({ dataBuffer: () => null }) as unknown as Builder,
      TypeError,
      'ERR_INVALID_ARG_TYPE',
    ],
    [
      'position() != space (unfinished)',
      () => fakeBuilder(buf, 8, 4),
      UnfinishedBuilderError,
      'ERR_FLATSTREAM_UNFINISHED',
    ],
    [
      'a region shorter than a root offset',
      () => fakeBuilder(buf, buf.length - 2),
      UnfinishedBuilderError,
      'ERR_FLATSTREAM_UNFINISHED',
    ],
    [
      'a root offset outside the region',
      () => fakeBuilder(new Uint8Array([0xff, 0, 0, 0, 0, 0, 0, 0]), 0),
      UnfinishedBuilderError,
      'ERR_FLATSTREAM_UNFINISHED',
    ],
    [
      'a zero root offset',
      () => fakeBuilder(new Uint8Array(16), 0),
      UnfinishedBuilderError,
      'ERR_FLATSTREAM_UNFINISHED',
    ],
  ];
  test.each(cases)('%s', (_name, make, cls, code) => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer, { slabSize: 128 });
    for (const p of GOOD) w.writePayload(p);
    const e = thrown(() => w.writeFinished(make()));
    expect(e).toBeInstanceOf(cls);
    expect(e.code).toBe(code);
    expect(w.stats().frames).toBe(3);
    expect(w.writePayload(LATER)).toBe(true);
    w.close();
    expect(sink.toBuffer()).toEqual(expected(framer, [...GOOD, LATER]));
  });

  test('a duck-typed builder whose dataBuffer() throws: its error, nothing staged, the writer goes on', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer);
    w.writePayload(GOOD[0]!);
    const boom = new Error('boom');
    const b = {
      dataBuffer: () => {
        throw boom;
      },
    } as unknown as Builder;
    expect(thrown(() => w.writeFinished(b))).toBe(boom);
    w.writePayload(LATER);
    w.close();
    expect(sink.toBuffer()).toEqual(expected(framer, [GOOD[0]!, LATER]));
  });

  test('a valid region at an offset of a duck-typed builder is staged exactly', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer);
    w.writeFinished(fakeBuilder(finishedAt8(), 8));
    w.close();
    expect(sink.toBuffer()).toEqual(expected(framer, [finishedAt8().subarray(8)]));
  });

  test('an ArenaBuilder whose buffer was transferred after finish() throws UnfinishedBuilderError', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer);
    const b = new ArenaBuilder();
    b.finish(b.createString('x'));
    const ab = b.backing().buffer as ArrayBuffer;
    structuredClone(ab, { transfer: [ab] });
    expect(thrown(() => w.writeFinished(b))).toBeInstanceOf(UnfinishedBuilderError);
    w.writePayload(LATER);
    w.close();
    expect(sink.toBuffer()).toEqual(expected(framer, [LATER]));
  });
});

describe('write(bytes) frames the bytes themselves (flatstream-rs has no byte-vector impl)', () => {
  test('a finished FlatBuffer given as bytes reads back as itself', () => {
    const b = new Builder(16);
    buildTelemetry(b, 7);
    const fb = Buffer.from(b.asUint8Array());
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer);
    expect(w.write(fb)).toBe(true);
    w.write(new Uint8Array(0));
    w.close();
    expect(sink.toBuffer()).toEqual(expected(framer, [fb, new Uint8Array(0)]));
    const { payloads } = readAll(sink.toBuffer(), deframer);
    const t = Telemetry.getRootAsTelemetry(new ByteBuffer(payloads[0]!));
    expect([t.deviceId(), t.value()]).toEqual([1007n, 1.75]);
  });

  test('writeByteVector() keeps the [ubyte] root form, explicitly', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new DefaultFramer());
    w.writeByteVector(new Uint8Array([9]));
    w.close();
    expect(sink.toBuffer().toString('hex')).toBe('0c000000' + '040000000100000009000000');
    expect(thrown(() => w.writeByteVector(new Uint8Array(1))).code).toBe('ERR_FLATSTREAM_CLOSED');
    const w2 = new StreamWriter(new MemorySink(), new DefaultFramer());
    expect(thrown(() => w2.writeByteVector('x' as unknown as Uint8Array)).code).toBe(
      'ERR_INVALID_ARG_TYPE',
    );
    expect(readAll(sink.toBuffer(), new DefaultDeframer()).payloads).toHaveLength(1);
  });
});

describe('custom checksums that misbehave: a typed error, nothing staged, the writer goes on', () => {
  const cases: [string, unknown, new (...a: never[]) => Error, string][] = [
    ['NaN', NaN, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['a fraction', 1.5, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['a negative number', -1, RangeError, 'ERR_OUT_OF_RANGE'],
    ['a number beyond the width', 0x10000, RangeError, 'ERR_OUT_OF_RANGE'],
    ['a negative bigint', -1n, RangeError, 'ERR_OUT_OF_RANGE'],
    ['a bigint beyond the width', 1n << 16n, RangeError, 'ERR_OUT_OF_RANGE'],
    ['a string', '12', TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['undefined', undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ];
  test.each(cases)('compute() returns %s', (_name, value, cls, code) => {
    let bad = false;
    const sum: Checksum = {
      name: 'sum16',
      width: 2,
      compute: (p) => (bad ? (value as number) : p.reduce((a, b) => (a + b) & 0xffff, 0)),
    };
    const f = new ChecksumFramer(sum);
    const sink = new MemorySink();
    const w = new StreamWriter(sink, f, { slabSize: 64 });
    w.writePayload(GOOD[0]!);
    bad = true;
    for (const p of [bytes(10), bytes(100)]) {
      // in a slab, and oversized
      const e = thrown(() => w.writePayload(p));
      expect(e).toBeInstanceOf(cls);
      expect(e.code).toBe(code);
    }
    bad = false;
    w.writePayload(LATER);
    w.close();
    expect(w.stats().frames).toBe(2);
    expect(sink.toBuffer()).toEqual(expected(f, [GOOD[0]!, LATER]));
  });

  test('compute() throws: its error, nothing staged', () => {
    let bad = false;
    const boom = new Error('boom');
    const sum: Checksum = {
      name: 'sum8',
      width: 1,
      compute: (p) => {
        if (bad) throw boom;
        return p.length & 0xff;
      },
    };
    const f = new ChecksumFramer(sum);
    const sink = new MemorySink();
    const w = new StreamWriter(sink, f);
    w.writePayload(GOOD[0]!);
    bad = true;
    expect(thrown(() => w.writePayload(GOOD[1]!))).toBe(boom);
    bad = false;
    w.writePayload(LATER);
    w.close();
    expect(sink.toBuffer()).toEqual(expected(f, [GOOD[0]!, LATER]));
  });
});

describe('callbacks that throw leave the writer in a defined state', () => {
  test.each([
    ['in a slab', 256],
    ['oversized', 32],
  ])('an observer that throws (%s): nothing of the frame is staged or counted', (_n, slabSize) => {
    let bad = false;
    const boom = new Error('observer');
    const seen: number[] = [];
    const f = framer.observe((p) => {
      if (bad) throw boom;
      seen.push(p.length);
    });
    const sink = new MemorySink();
    const w = new StreamWriter(sink, f, { slabSize });
    w.writePayload(GOOD[0]!);
    bad = true;
    expect(thrown(() => w.writePayload(GOOD[1]!))).toBe(boom);
    expect(w.stats().frames).toBe(1);
    bad = false;
    w.writePayload(LATER);
    w.close();
    expect(seen).toEqual([20, 17]);
    expect(sink.toBuffer()).toEqual(expected(framer, [GOOD[0]!, LATER]));
  });

  test('a JS validator that throws: its error, nothing staged', () => {
    let bad = false;
    const boom = new Error('validator');
    const f = framer.withValidator(
      TypedValidator.fromFunction('v', () => {
        if (bad) throw boom;
        return true;
      }),
    );
    const sink = new MemorySink();
    const w = new StreamWriter(sink, f);
    w.writePayload(GOOD[0]!);
    bad = true;
    expect(thrown(() => w.writePayload(GOOD[1]!))).toBe(boom);
    bad = false;
    w.writePayload(LATER);
    w.close();
    expect(sink.toBuffer()).toEqual(expected(framer, [GOOD[0]!, LATER]));
  });

  test('a memory policy that throws: nothing of the message is staged', () => {
    let bad = false;
    const boom = new Error('policy');
    const policy: MemoryPolicy = {
      baseline: 8,
      shouldShrink: () => {
        if (bad) throw boom;
        return false;
      },
    };
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer).withMemoryPolicy(policy);
    w.write('a');
    bad = true;
    expect(thrown(() => w.write('b'))).toBe(boom);
    bad = false;
    w.write('c');
    w.close();
    const { payloads } = readAll(sink.toBuffer(), deframer);
    expect(payloads.map((p) => new ByteBuffer(p).__string(0))).toEqual(['a', 'c']);
  });

  test('a sink whose write throws once: the writer fails with IoError for good; close() closes the sink', () => {
    let calls = 0;
    let closed = 0;
    const got: Buffer[] = [];
    const sink: Sink = {
      write: (c) => {
        if (calls++ === 0) throw new Error('EIO once');
        got.push(Buffer.from(c));
      },
      close: () => void closed++,
    };
    const w = new StreamWriter(sink, framer);
    w.writePayload(GOOD[0]!);
    const e = thrown(() => w.flush());
    expect(e).toBeInstanceOf(IoError);
    expect(e.message).toBe('sink failed: EIO once');
    // The writer does not guess what the sink kept: every later call fails the same.
    expect(thrown(() => w.writePayload(LATER))).toBe(e);
    expect(thrown(() => w.flush())).toBe(e);
    expect(thrown(() => w.close())).toBe(e);
    expect(closed).toBe(1);
    expect(w.closed).toBe(true);
    expect(thrown(() => w.writePayload(LATER))).toBe(e); // after a failed close: the same error
    expect(() => w.close()).not.toThrow(); // idempotent
    expect(got).toEqual([]);
  });

  test('a sink whose write throws inside close(): close() throws its IoError and still closes the sink', () => {
    let closed = 0;
    const sink: Sink = {
      write: () => {
        throw new Error('EIO at close');
      },
      close: () => void closed++,
    };
    const w = new StreamWriter(sink, framer);
    w.writePayload(GOOD[0]!);
    const e = thrown(() => w.close());
    expect(e).toBeInstanceOf(IoError);
    expect(e.message).toBe('sink failed: EIO at close');
    expect(closed).toBe(1);
    expect(w.closed).toBe(true);
    expect(thrown(() => w.writePayload(LATER))).toBe(e);
  });

  test('a sink whose promise rejects: the next call throws its IoError; finished() rejects', async () => {
    const sink: Sink = { write: () => Promise.reject(new Error('late EIO')) };
    const w = new StreamWriter(sink, framer);
    w.writePayload(GOOD[0]!);
    w.flush();
    await new Promise((r) => setImmediate(r));
    const e = thrown(() => w.writePayload(LATER));
    expect(e).toBeInstanceOf(IoError);
    expect(e.message).toBe('sink failed: late EIO');
    expect(thrown(() => w.close())).toBe(e);
    await expect(w.finished()).rejects.toBe(e);
  });

  test('a sink whose promises never settle: write*() returns false at 8 slabs held, drain() waits for a release', async () => {
    const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const sink: Sink = {
      write: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
    };
    const w = new StreamWriter(sink, framer, { slabSize: 64 });
    const results: boolean[] = [];
    for (let i = 0; i < 9; i++) {
      results.push(w.writePayload(bytes(40, i))); // 52 bytes: one slab each
    }
    // The 9th write sealed the 8th slab: the sink now holds 8.
    expect(results).toEqual([true, true, true, true, true, true, true, true, false]);
    expect(w.stats().slabsInFlight).toBe(8);
    expect(w.stats().slabsAllocated).toBe(9);
    expect(w.needsDrain).toBe(true);
    let drained = false;
    const d = w.drain().then(() => (drained = true));
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    pending[0]!.resolve();
    await d;
    expect(w.needsDrain).toBe(false);
    // A rejection fails waiting drains with the IoError.
    w.writePayload(bytes(40, 9));
    expect(w.writePayload(bytes(40, 10))).toBe(false);
    const d2 = w.drain();
    pending[1]!.reject(new Error('stuck'));
    await expect(d2).rejects.toMatchObject({
      code: 'ERR_FLATSTREAM_IO',
      message: 'sink failed: stuck',
    });
  });

  test('a sink returning a thenable that settles twice, both ways: the slab is released once', async () => {
    const got: Buffer[] = [];
    const sink: Sink = {
      write: (c) => {
        got.push(Buffer.from(c));
        return {
          then(ok: () => void, fail: (e: unknown) => void) {
            ok();
            ok();
            fail(new Error('late'));
          },
        } as unknown as Promise<void>;
      },
    };
    const w = new StreamWriter(sink, framer, { slabSize: 64 });
    const payloads = Array.from({ length: 6 }, (_, i) => bytes(40, i));
    for (const p of payloads) {
      w.writePayload(p);
      await new Promise((r) => setImmediate(r));
    }
    w.close();
    await w.finished();
    expect(w.stats().slabsInFlight).toBe(0);
    expect(w.stats().slabsAllocated).toBe(2); // released once each: two slabs alternate
    expect(Buffer.concat(got)).toEqual(expected(framer, payloads));
  });

  test('a sink returning an object whose then getter throws: the writer fails with IoError', () => {
    const sink: Sink = {
      write: () =>
        ({
          get then() {
            throw new Error('hostile');
          },
        }) as unknown as Promise<void>,
    };
    const w = new StreamWriter(sink, framer);
    w.writePayload(GOOD[0]!);
    const e = thrown(() => w.flush());
    expect(e).toBeInstanceOf(IoError);
    expect(e.message).toBe('sink failed: hostile');
    expect(thrown(() => w.writePayload(LATER))).toBe(e);
  });

  test.each([
    ['custom checksum, in a slab', true, 256],
    ['custom checksum, oversized', true, 32],
    ['built-in checksum, oversized', false, 32],
  ])(
    'an observer that writes into its view (%s): the frame stays consistent with what it left',
    (_n, custom, slabSize) => {
      const sum: Checksum = {
        name: 'sum16',
        width: 2,
        compute: (p) => p.reduce((a, b) => (a + b) & 0xffff, 0),
      };
      const base = custom ? new ChecksumFramer(sum) : framer;
      const f = base.observe((p) => {
        p[0] = 0xee;
      });
      const sink = new MemorySink();
      const w = new StreamWriter(sink, f, { slabSize });
      w.writePayload(bytes(20, 1));
      w.close();
      const seen = Buffer.from(bytes(20, 1));
      seen[0] = 0xee;
      expect(sink.toBuffer()).toEqual(base.frame(seen));
      expect(readAll(sink.toBuffer(), new ChecksumDeframer(base.checksum)).payloads).toEqual([
        seen,
      ]);
    },
  );

  test('a custom checksum whose width changes after the framer was made: frames keep the width fixed then', () => {
    let reads = 0;
    const shifty = {
      name: 'shifty',
      get width() {
        return reads++ < 2 ? 2 : 8;
      },
      compute: (p: Uint8Array) => p.length,
    } as Checksum;
    const f = new ChecksumFramer(shifty);
    expect(f.headerSize).toBe(6);
    const sink = new MemorySink();
    const w = new StreamWriter(sink, f);
    w.writePayload(bytes(20, 1));
    w.close();
    expect(sink.toBuffer()).toEqual(
      Buffer.concat([Buffer.from([20, 0, 0, 0, 20, 0]), bytes(20, 1)]),
    );
  });
});
