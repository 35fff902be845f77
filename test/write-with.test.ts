// StreamWriter.writeWith: reserve/commit for payload encoders
// (lib/format/encoder.ts; docs/design.md, "Slab protocol"). The encoders are
// hand-written here: a fixed-layout struct, and a byte blob of any size.
// Runs with both engines (FLATSTREAM_NATIVE=0/1); the CaptureSink cases
// with the addon only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CaptureSink,
  ChecksumDeframer,
  ChecksumFramer,
  Crc32,
  DefaultFramer,
  MemorySink,
  ReentrantCallError,
  SizeValidator,
  StreamReader,
  StreamWriter,
  TypedValidator,
  ValidationFailedError,
  XxHash64,
  native,
  type Checksum,
  type Framer,
  type PayloadEncoder,
  type Sink,
} from '../lib/index';
import { bytes, expectSameStreams, prng, readAll, thrown } from './helpers';

interface Sample {
  id: number;
  value: number;
  ts: number;
}

/** [id u32][value f32][ts f64]: 16 bytes, the f64 8-aligned relative to `at`. */
function sampleBytes(s: Sample): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(s.id, 0);
  b.writeFloatLE(s.value, 4);
  b.writeDoubleLE(s.ts, 8);
  return b;
}

/** The struct encoder; `calls` records each encodeInto's (at, limit). */
function sampleEncoder(calls: [number, number][] = []): PayloadEncoder<Sample> {
  return {
    name: 'test.Sample',
    encodeInto(s, _buf, view, at, limit) {
      calls.push([at, limit]);
      if (at + 16 > limit) return -1;
      view.setUint32(at, s.id, true);
      view.setFloat32(at + 4, s.value, true);
      view.setFloat64(at + 8, s.ts, true);
      return at + 16;
    },
    sizeOf: () => 16,
  };
}

/** Bytes of any length, copied in; counts its calls. */
function blobEncoder(counts = { encode: 0, size: 0 }): PayloadEncoder<Uint8Array> {
  return {
    name: 'test.Blob',
    encodeInto(v, buf, _view, at, limit) {
      counts.encode++;
      if (at + v.length > limit) return -1;
      buf.set(v, at);
      return at + v.length;
    },
    sizeOf(v) {
      counts.size++;
      return v.length;
    },
  };
}

const samples: Sample[] = Array.from({ length: 50 }, (_, i) => ({
  id: 1000 + i,
  value: i * 0.25,
  ts: 1.7e12 + i * 1e3,
}));

const sum16: Checksum = {
  name: 'sum16',
  width: 2,
  compute: (p) => p.reduce((a, b) => (a + b) & 0xffff, 0),
};

/** What writePayload would have written: the reference stream. */
function reference(framer: Framer, payloads: Uint8Array[], slabSize: number): Buffer {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, framer, { slabSize });
  for (const p of payloads) w.writePayload(p);
  w.close();
  return sink.toBuffer();
}

describe('the bytes', () => {
  test.each([
    ['no checksum', new DefaultFramer()],
    ['XXH3-64', new ChecksumFramer(XxHash64)],
    ['CRC-32', new ChecksumFramer(Crc32)],
    ['a custom checksum', new ChecksumFramer(sum16)],
  ])(
    '%s: writeWith writes exactly what writePayload of the same payload writes, across slabs',
    (_n, framer) => {
      const sink = new MemorySink();
      const w = new StreamWriter(sink, framer, { slabSize: 100 });
      const enc = sampleEncoder();
      for (const s of samples) expect(w.writeWith(enc, s)).toBe(true);
      w.close();
      const payloads = samples.map(sampleBytes);
      expect(sink.toBuffer()).toEqual(reference(framer, payloads, 100));
      expect(w.stats()).toMatchObject({ frames: 50, bytes: 50 * (framer.headerSize + 16) });
    },
  );

  test('mixed with the other write paths, in order', () => {
    const framer = new ChecksumFramer(XxHash64);
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer, { slabSize: 128 });
    const enc = sampleEncoder();
    const expected: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      w.writeWith(enc, samples[i]!);
      expected.push(sampleBytes(samples[i]!));
      w.writePayload(bytes(i * 3, i));
      expected.push(bytes(i * 3, i));
    }
    w.close();
    expect(readAll(sink.toBuffer(), new ChecksumDeframer(XxHash64)).payloads).toEqual(expected);
  });
});

test.each([
  ['no checksum', new DefaultFramer()],
  ['XXH3-64', new ChecksumFramer(XxHash64)],
  ['a custom checksum', new ChecksumFramer(sum16)],
])(
  'differential, %s: 2000 random payloads (0-300 bytes, slabs of 24-512 bytes, random flushes) write the same bytes as writePayload',
  (_n, framer) => {
    const rnd = prng(0x5eed);
    for (let round = 0; round < 10; round++) {
      const slabSize = framer.headerSize + 8 + rnd(500);
      const a = new MemorySink();
      const b = new MemorySink();
      const wa = new StreamWriter(a, framer, { slabSize });
      const wb = new StreamWriter(b, framer, { slabSize });
      const enc = blobEncoder();
      for (let i = 0; i < 200; i++) {
        const p = bytes(rnd(301), round * 1000 + i);
        wa.writeWith(enc, p);
        wb.writePayload(p);
        if (rnd(16) === 0) {
          wa.flush();
          wb.flush();
        }
      }
      expectSameStreams(wa, a, wb, b);
    }
  },
);

describe('reserve, retry, oversize', () => {
  test('the encoder gets the free space of the slab; -1 submits the slab and retries once in an empty one', () => {
    const framer = new ChecksumFramer(XxHash64); // 12-byte header
    const chunks: Buffer[] = [];
    const sink: Sink = { write: (c) => void chunks.push(Buffer.from(c)) };
    const calls: [number, number][] = [];
    const w = new StreamWriter(sink, framer, { slabSize: 64 });
    const enc = sampleEncoder(calls);
    w.writeWith(enc, samples[0]!); // 28 bytes at 0
    w.writeWith(enc, samples[1]!); // 28 bytes at 28: 56 used, 8 free
    expect(calls).toEqual([
      [12, 64],
      [40, 64],
    ]);
    expect(chunks).toEqual([]);
    w.writeWith(enc, samples[2]!); // the header does not fit: no call; the slab goes
    expect(calls.slice(2)).toEqual([[12, 64]]);
    expect(chunks.length).toBe(1);
    expect(chunks[0]!.length).toBe(56);
    // A slab with room for the header but not the payload: the encoder says -1.
    const w2 = new StreamWriter(sink, framer, { slabSize: 70 });
    const calls2: [number, number][] = [];
    const enc2 = sampleEncoder(calls2);
    w2.writeWith(enc2, samples[0]!);
    w2.writeWith(enc2, samples[1]!); // 56 used, 14 free: 12 + 16 does not fit
    w2.writeWith(enc2, samples[2]!);
    expect(calls2).toEqual([
      [12, 70],
      [40, 70],
      [68, 70],
      [12, 70],
    ]);
    w.close();
    w2.close();
    // w's first slab, then (after w2's first) w's last frame at its close.
    expect(chunks.map((c) => c.length)).toEqual([56, 56, 28, 28]);
    expect(Buffer.concat([chunks[0]!, chunks[2]!])).toEqual(
      reference(framer, samples.slice(0, 3).map(sampleBytes), 64),
    );
  });

  test('larger than an empty slab: sizeOf, then encoded on its own and staged as a too-large writePayload is', () => {
    for (const framer of [new ChecksumFramer(XxHash64), new ChecksumFramer(sum16)]) {
      const sink = new MemorySink();
      const counts = { encode: 0, size: 0 };
      const w = new StreamWriter(sink, framer, { slabSize: 64 });
      const enc = blobEncoder(counts);
      const big = bytes(200, 7);
      w.writeWith(enc, bytes(10, 1)); // the slab is not empty
      expect(w.writeWith(enc, big)).toBe(true);
      // In the slab (-1), in an empty slab (-1), on its own (200).
      expect(counts).toEqual({ encode: 4, size: 1 });
      w.writeWith(enc, bytes(5, 2));
      w.close();
      expect(sink.toBuffer()).toEqual(reference(framer, [bytes(10, 1), big, bytes(5, 2)], 64));
      expect(w.stats().frames).toBe(3);
    }
  });

  test('encodeInto on its own buffer must return sizeOf: anything else is a TypeError, nothing staged', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new DefaultFramer(), { slabSize: 32 });
    const liar: PayloadEncoder<number> = {
      name: 'test.Liar',
      encodeInto: (_v, _b, _d, at, limit) => (limit - at >= 100 ? at + 50 : -1),
      sizeOf: () => 100,
    };
    const e = thrown(() => w.writeWith(liar, 0));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_RETURN_VALUE');
    expect(e.message).toBe(
      'Expected encodeInto() of the encoder test.Liar to return 100 (its sizeOf()). Received 50',
    );
    w.close();
    expect(sink.length).toBe(0);
    expect(w.stats().frames).toBe(0);
  });
});

describe('an encoder that throws or misbehaves stages nothing', () => {
  // Scribbles over the whole free space first, as a half-done encode would.
  const scribbler = (err: unknown): PayloadEncoder<number> => ({
    name: 'test.Scribbler',
    encodeInto(_v, buf, _view, at, limit) {
      buf.fill(0xa5, at, limit);
      if (err instanceof Error) throw err;
      return err as number;
    },
    sizeOf: () => 8,
  });

  test.each([
    ['throws a RangeError', new RangeError('field id: out of range'), RangeError, undefined],
    ['returns 2.5', 2.5, TypeError, 'ERR_INVALID_RETURN_VALUE'],
    ['returns NaN', NaN, TypeError, 'ERR_INVALID_RETURN_VALUE'],
    ['returns a string', '20', TypeError, 'ERR_INVALID_RETURN_VALUE'],
    ['returns an end before its start', 3, TypeError, 'ERR_INVALID_RETURN_VALUE'],
    ['returns an end past the limit', 1e6, TypeError, 'ERR_INVALID_RETURN_VALUE'],
  ])(
    'owned slabs: an encoder that %s: same chunk bytes, frame count and bytes',
    (_n, err, cls, code) => {
      const framer = new ChecksumFramer(XxHash64);
      const chunks: Buffer[] = [];
      const sink: Sink = { write: (c) => void chunks.push(Buffer.from(c)) };
      const w = new StreamWriter(sink, framer, { slabSize: 256 });
      const enc = sampleEncoder();
      w.writeWith(enc, samples[0]!);
      w.writeWith(enc, samples[1]!);
      const before = w.stats();
      const e = thrown(() => w.writeWith(scribbler(err), 0));
      expect(e).toBeInstanceOf(cls);
      expect(e.code).toBe(code);
      if (err instanceof Error) expect(e).toBe(err);
      expect(w.stats()).toEqual(before);
      expect(chunks).toEqual([]); // nothing was submitted
      w.writeWith(enc, samples[2]!); // the writer goes on, over the scribbles
      w.close();
      expect(Buffer.concat(chunks)).toEqual(
        reference(framer, samples.slice(0, 3).map(sampleBytes), 256),
      );
    },
  );

  test('sizeOf that throws or returns a non-size: its error or a TypeError, nothing staged', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new DefaultFramer(), { slabSize: 32 });
    const boom = new Error('boom');
    for (const size of [boom, -1, 1.5, 2 ** 32, 'x']) {
      const enc: PayloadEncoder<number> = {
        name: 'test.Sized',
        encodeInto: () => -1,
        sizeOf: () => {
          if (size instanceof Error) throw size;
          return size as number;
        },
      };
      const e = thrown(() => w.writeWith(enc, 0));
      if (size instanceof Error) expect(e).toBe(boom);
      else expect([e.constructor, e.code]).toEqual([TypeError, 'ERR_INVALID_RETURN_VALUE']);
    }
    w.writePayload(bytes(3));
    w.close();
    expect(sink.toBuffer()).toEqual(new DefaultFramer().frame(bytes(3)));
  });

  test('validators and observers run on the payload in the slab, and a failing one stages nothing', () => {
    const seen: Buffer[] = [];
    const framer = new ChecksumFramer(XxHash64)
      .withValidator(new SizeValidator(0, 16))
      .observe((p) => void seen.push(Buffer.from(p)));
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer, { slabSize: 256 });
    w.writeWith(sampleEncoder(), samples[0]!);
    const e = thrown(() => w.writeWith(blobEncoder(), bytes(17)));
    expect(e).toBeInstanceOf(ValidationFailedError);
    const js = new ChecksumFramer(XxHash64).withValidator(
      TypedValidator.fromFunction('first byte', (p) => (p[0] === 0 ? 'zero' : null)),
    );
    const w2 = new StreamWriter(new MemorySink(), js);
    expect(thrown(() => w2.writeWith(blobEncoder(), Buffer.from([0, 1])))).toBeInstanceOf(
      ValidationFailedError,
    );
    expect(w2.stats().frames).toBe(0);
    w.close();
    expect(seen).toEqual([sampleBytes(samples[0]!)]); // the failing frame was never observed
    expect(sink.toBuffer()).toEqual(framer.frame(sampleBytes(samples[0]!)));
  });
});

describe('re-entrancy and arguments', () => {
  test('an encoder that calls back into the writer gets ReentrantCallError; the outer call completes', () => {
    const sink = new MemorySink();
    const framer = new DefaultFramer();
    const w = new StreamWriter(sink, framer, { slabSize: 32 });
    const inner: unknown[] = [];
    const attempt = (fn: () => unknown) => {
      try {
        fn();
        inner.push('returned');
      } catch (e) {
        inner.push(e instanceof ReentrantCallError ? e.code : e);
      }
    };
    const enc: PayloadEncoder<Uint8Array> = {
      name: 'test.Reentrant',
      encodeInto(v, buf, _view, at, limit) {
        attempt(() => w.writePayload(bytes(2)));
        attempt(() => w.writeWith(enc, v));
        attempt(() => w.flush());
        if (at + v.length > limit) return -1;
        buf.set(v, at);
        return at + v.length;
      },
      sizeOf(v) {
        attempt(() => w.close());
        return v.length;
      },
    };
    w.writeWith(enc, bytes(4, 1));
    w.writeWith(enc, bytes(40, 2)); // -1 in an empty slab, sizeOf, on its own
    w.close();
    expect(new Set(inner)).toEqual(new Set(['ERR_FLATSTREAM_REENTRANT_CALL']));
    expect(inner.length).toBe(3 + 3 * 2 + 1 + 3);
    expect(sink.toBuffer()).toEqual(
      Buffer.concat([framer.frame(bytes(4, 1)), framer.frame(bytes(40, 2))]),
    );
  });

  test('an encoder that is not one is a TypeError ERR_INVALID_ARG_TYPE; a closed writer says ClosedError', () => {
    const w = new StreamWriter(new MemorySink(), new DefaultFramer());
    for (const bad of [null, undefined, 3, {}, { encodeInto() {} }, { sizeOf() {} }]) {
      const e = thrown(() => w.writeWith(bad as unknown as PayloadEncoder<number>, 0));
      expect([e.constructor, e.code]).toEqual([TypeError, 'ERR_INVALID_ARG_TYPE']);
    }
    w.close();
    expect(thrown(() => w.writeWith(sampleEncoder(), samples[0]!)).code).toBe(
      'ERR_FLATSTREAM_CLOSED',
    );
  });
});

(native ? describe : describe.skip)('through a CaptureSink (lent slabs)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-writewith-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const open = (options: object = {}) =>
    new CaptureSink(path.join(dir, 'e.fst'), {
      stagingPath: path.join(dir, 'e.staging'),
      ...options,
    });
  const payloadsOf = (file: string): Buffer[] => {
    const out: Buffer[] = [];
    new StreamReader(file, new ChecksumDeframer(XxHash64)).processAll((p) => {
      out.push(Buffer.from(p));
    });
    return out;
  };

  test('the stream holds exactly the encoded payloads, across slabs', async () => {
    const sink = open({ slabSize: 256 });
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    for (const s of samples) w.writeWith(sampleEncoder(), s);
    w.close();
    await w.finished();
    expect(payloadsOf(path.join(dir, 'e.fst'))).toEqual(samples.map(sampleBytes));
  });

  test('an encoder that throws: the committed bytes in the staging file, the commit cells and the frame count are exactly as before', async () => {
    const sink = open({ slabSize: 4096 });
    const framer = new ChecksumFramer(XxHash64);
    const w = new StreamWriter(sink, framer);
    const enc = sampleEncoder();
    w.writeWith(enc, samples[0]!);
    w.writeWith(enc, samples[1]!);
    const stagingFile = path.join(dir, 'e.staging');
    const before = fs.readFileSync(stagingFile);
    const commits = Int32Array.from(sink.commits);
    const stats = w.stats();
    // The committed frames, found where the writer staged them.
    const staged = Buffer.concat(
      [samples[0]!, samples[1]!].map((s) => {
        const f = Buffer.from(framer.frame(sampleBytes(s)));
        f.fill(0, 4, 12); // built-in checksum fields are blank until the thread seals
        return f;
      }),
    );
    const at = before.indexOf(staged);
    expect(at).toBeGreaterThan(0);
    expect(Array.from(commits).filter((c) => c !== 0)).toContain(staged.length);
    const boom = new RangeError('field ts: not finite');
    const e = thrown(() =>
      w.writeWith(
        {
          name: 'test.Boom',
          encodeInto(_v: number, buf: Uint8Array, _d: DataView, from: number, limit: number) {
            buf.fill(0xa5, from, limit);
            throw boom;
          },
          sizeOf: () => 8,
        },
        0,
      ),
    );
    expect(e).toBe(boom);
    const after = fs.readFileSync(stagingFile);
    expect(after.subarray(0, at + staged.length)).toEqual(before.subarray(0, at + staged.length));
    expect(Int32Array.from(sink.commits)).toEqual(commits);
    expect(w.stats()).toEqual(stats);
    w.writeWith(enc, samples[2]!);
    w.close();
    await w.finished();
    expect(payloadsOf(path.join(dir, 'e.fst'))).toEqual(samples.slice(0, 3).map(sampleBytes));
  });

  test('larger than a slab: RangeError ERR_OUT_OF_RANGE, nothing staged', async () => {
    const sink = open({ slabSize: 64 });
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    w.writeWith(blobEncoder(), bytes(10, 1));
    const e = thrown(() => w.writeWith(blobEncoder(), bytes(60, 2)));
    expect([e.constructor, e.code]).toEqual([RangeError, 'ERR_OUT_OF_RANGE']);
    expect(w.stats().frames).toBe(1);
    w.close();
    await w.finished();
    expect(payloadsOf(path.join(dir, 'e.fst'))).toEqual([bytes(10, 1)]);
  });

  test("'drop': a frame with no slab free is dropped and counted with its sizeOf", async () => {
    const sink = open({ slabSize: 256, slabs: 2, policy: 'drop', maxBytes: 512 });
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    sink._injectFault({ delayMs: 50 });
    const kept: number[] = [];
    for (let i = 0; i < 200; i++) {
      const before = w.stats().drops;
      w.writeWith(sampleEncoder(), { id: i, value: 0, ts: 0 });
      if (w.stats().drops === before) kept.push(i);
    }
    expect(kept.length).toBeLessThan(200);
    sink._injectFault({});
    w.close();
    await w.finished();
    expect(payloadsOf(path.join(dir, 'e.fst')).map((p) => p.readUInt32LE(0))).toEqual(kept);
    expect(sink.stats().droppedBytes).toBe((200 - kept.length) * (12 + 16));
  });
});
