/**
 * The schema-compiled codecs through the writer's in-slab path
 * (`StreamWriter.writeWith(codec, value)`, docs/design.md "Schema-compiled
 * codecs" and "Slab protocol"): exactly the bytes `encodeInto` +
 * `writePayload` write, for every test schema, random values, random slab
 * sizes (a message that does not fit the rest of a slab, or any slab), and
 * through a CaptureSink; a bad value stages nothing. Runs in both engine
 * modes; the CaptureSink cases with the addon only.
 */
import * as fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CaptureSink,
  ChecksumDeframer,
  ChecksumFramer,
  Crc32,
  DefaultDeframer,
  DefaultFramer,
  MemorySink,
  StreamReader,
  StreamWriter,
  XxHash64,
  compileSchema,
  native,
  type Deframer,
  type Framer,
  type TableCodec,
} from '../lib/index';
import { covArb, richArb, telemetryArb } from './codec-arbs';
import { expectSameStreams, thrown } from './helpers';

const gen = (f: string): Buffer => fs.readFileSync(path.join(__dirname, 'generated', f));
const events = compileSchema(gen('events.bfbs'));
const coverage = compileSchema(gen('coverage.bfbs'));
const Telemetry = events.tables['events.Telemetry']! as TableCodec<unknown>;
const Rich = events.tables['events.RichEvent']! as TableCodec<unknown>;
const Cov = coverage.tables['covg.Root']! as TableCodec<unknown>;

// Every root of the test schemas, with random values of it.
const schemas: [string, TableCodec<unknown>, fc.Arbitrary<unknown>][] = [
  ['events.Telemetry', Telemetry, telemetryArb],
  ['events.RichEvent', Rich, richArb],
  ['covg.Root', Cov, covArb],
];
const framers: [string, Framer, Deframer][] = [
  ['no checksum', new DefaultFramer(), new DefaultDeframer()],
  ['XXH3-64', new ChecksumFramer(XxHash64), new ChecksumDeframer(XxHash64)],
  ['CRC-32', new ChecksumFramer(Crc32), new ChecksumDeframer(Crc32)],
];

/** The README's former path: encodeInto a buffer of the payload's size, then writePayload. */
function writeViaPayload(w: StreamWriter, codec: TableCodec<unknown>, v: unknown): void {
  const size = codec.sizeOf(v);
  const buf = new Uint8Array(size);
  expect(codec.encodeInto(v, buf, new DataView(buf.buffer), 0, size)).toBe(size);
  w.writePayload(buf);
}

describe.each(schemas)(
  '%s: writeWith(codec) against encodeInto + writePayload',
  (_n, codec, arb) => {
    test.each(framers)(
      '%s: property over random values, slab sizes and flushes: same bytes, same chunks, same stats',
      (_f, framer, deframer) => {
        const h = framer.headerSize;
        let oversize = 0; // frames larger than any slab: the sizeOf path
        let retried = 0; // frames that did not fit the rest of a slab
        fc.assert(
          fc.property(
            fc.array(fc.tuple(arb, fc.integer({ min: 0, max: 15 })), {
              minLength: 1,
              maxLength: 30,
            }),
            fc.integer({ min: h + 16, max: 1024 }),
            (items, slabSize) => {
              const a = new MemorySink();
              const b = new MemorySink();
              const wa = new StreamWriter(a, framer, { slabSize });
              const wb = new StreamWriter(b, framer, { slabSize });
              let big = 0;
              for (const [v, flush] of items) {
                const before = wa.stats().flushes;
                expect(wa.writeWith(codec, v)).toBe(true);
                writeViaPayload(wb, codec, v);
                if (h + codec.sizeOf(v) > slabSize) big++;
                else if (wa.stats().flushes > before) retried++;
                if (flush === 0) {
                  wa.flush();
                  wb.flush();
                }
              }
              expectSameStreams(wa, a, wb, b);
              expect(wa.stats().frames).toBe(items.length);
              // Each frame larger than a slab went out as a chunk of its own.
              expect(a.chunks.filter((c) => c.length > slabSize).length).toBe(big);
              oversize += big;
              // The payloads read back are the codec's own encodings.
              const got: Buffer[] = [];
              new StreamReader(a.toBuffer(), deframer).processAll(
                (p) => void got.push(Buffer.from(p)),
              );
              expect(got).toEqual(items.map(([v]) => Buffer.from(codec.encode(v))));
            },
          ),
          { numRuns: 40, seed: 0x12c0dec },
        );
        // The property exercised both paths, not only the easy one.
        expect(oversize).toBeGreaterThan(0);
        expect(retried).toBeGreaterThan(0);
      },
    );
  },
);

// Bad values of each schema, with the error each must raise.
const bad: [string, TableCodec<unknown>, unknown, ErrorConstructor, string, RegExp][] = [
  [
    'a negative u64',
    Telemetry,
    { deviceId: -1 },
    RangeError,
    'ERR_OUT_OF_RANGE',
    /Telemetry\.device_id/,
  ],
  [
    'a string for a double',
    Telemetry,
    { value: 'x' },
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    /Telemetry\.value/,
  ],
  [
    'a bigint for a double',
    Telemetry,
    { value: 1n },
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    /Telemetry\.value/,
  ],
  [
    'an unknown union tag after a long string',
    Rich,
    { label: 'x'.repeat(300), detailType: 9, detail: {} },
    RangeError,
    'ERR_OUT_OF_RANGE',
    /RichEvent\.detail/,
  ],
  [
    'a bad vector element after the vector started',
    Rich,
    { readings: [1, 2, 3, 'x'] },
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    /RichEvent\.readings/,
  ],
  [
    'a missing required field',
    Cov,
    { reqInner: { a: 1, b: 2 } },
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    /Root\.req/,
  ],
];

describe('a bad value stages nothing', () => {
  const good = [
    { deviceId: 1, timestamp: 2, value: 0.5 },
    { deviceId: 3n, timestamp: 4, value: -0 },
  ];
  test.each(bad)(
    '%s: the error names table and field; the staged bytes and the stats are exactly as before',
    (_n, codec, v, cls, code, field) => {
      const framer = new ChecksumFramer(XxHash64);
      const sink = new MemorySink();
      const w = new StreamWriter(sink, framer, { slabSize: 4096 });
      for (const g of good) w.writeWith(Telemetry, g);
      const stats = w.stats();
      const e = thrown(() => w.writeWith(codec, v));
      expect(e).toBeInstanceOf(cls);
      expect(e.code).toBe(code);
      expect(e.message).toMatch(field);
      expect(w.stats()).toEqual(stats);
      expect(sink.chunks).toEqual([]);
      // What the slab holds is exactly the two good frames, byte for byte.
      w.flush();
      const ref = new MemorySink();
      const wr = new StreamWriter(ref, framer, { slabSize: 4096 });
      for (const g of good) writeViaPayload(wr, Telemetry, g);
      wr.close();
      expect(sink.chunks).toEqual([ref.toBuffer()]);
      // And the writer goes on.
      w.writeWith(Telemetry, good[0]);
      w.close();
      expect(w.stats().frames).toBe(3);
    },
  );

  test.each(bad)(
    '%s, not fitting the rest of the slab or any slab: nothing staged, no frame counted',
    (_n, codec, v, cls) => {
      const framer = new ChecksumFramer(XxHash64);
      for (const slabSize of [48, 64, 96]) {
        const sink = new MemorySink();
        const w = new StreamWriter(sink, framer, { slabSize });
        w.writeWith(Telemetry, good[0]);
        const { frames, bytes } = w.stats();
        expect(thrown(() => w.writeWith(codec, v))).toBeInstanceOf(cls);
        expect(w.stats()).toMatchObject({ frames, bytes });
        w.writeWith(Telemetry, good[1]);
        w.close();
        const ref = new MemorySink();
        const wr = new StreamWriter(ref, framer, { slabSize });
        for (const g of good) writeViaPayload(wr, Telemetry, g);
        wr.close();
        expect(sink.toBuffer()).toEqual(ref.toBuffer());
      }
    },
  );
});

(native ? describe : describe.skip)('through a CaptureSink (lent slabs)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-codec-write-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const open = (slabSize: number): CaptureSink =>
    new CaptureSink(path.join(dir, 'e.fst'), {
      stagingPath: path.join(dir, 'e.staging'),
      slabSize,
      policy: 'block',
    });
  const payloadsOf = (file: string): Buffer[] => {
    const out: Buffer[] = [];
    new StreamReader(file, new ChecksumDeframer(XxHash64)).processAll((p) => {
      out.push(Buffer.from(p));
    });
    return out;
  };

  test.each(schemas)(
    '%s: 300 random values across 4 KiB slabs read back after close as exactly the codec encodings',
    async (_n, codec, arb) => {
      const values = fc
        .sample(arb, { numRuns: 1000, seed: 0xcab7 })
        .filter((v) => 12 + codec.sizeOf(v) <= 4096)
        .slice(0, 300);
      expect(values.length).toBe(300);
      const sink = open(4096);
      const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
      for (const v of values) w.writeWith(codec, v);
      w.close();
      await w.finished();
      expect(w.stats().frames).toBe(300);
      expect(payloadsOf(path.join(dir, 'e.fst'))).toEqual(
        values.map((v) => Buffer.from(codec.encode(v))),
      );
    },
  );

  test.each(bad)(
    '%s: the committed bytes in the staging file, the commit cells and the stats are exactly as before',
    async (_n, codec, v, cls) => {
      const sink = open(4096);
      const framer = new ChecksumFramer(XxHash64);
      const w = new StreamWriter(sink, framer);
      const good = [{ deviceId: 1, timestamp: 2, value: 0.5 }, { deviceId: 3 }];
      for (const g of good) w.writeWith(Telemetry, g);
      const stagingFile = path.join(dir, 'e.staging');
      const before = fs.readFileSync(stagingFile);
      const commits = Int32Array.from(sink.commits);
      const stats = w.stats();
      const staged = Buffer.concat(
        good.map((g) => {
          const f = Buffer.from(framer.frame(Telemetry.encode(g)));
          f.fill(0, 4, 12); // built-in checksum fields are blank until the thread seals
          return f;
        }),
      );
      const at = before.indexOf(staged);
      expect(at).toBeGreaterThan(0);
      expect(Array.from(commits)).toContain(staged.length);
      expect(thrown(() => w.writeWith(codec, v))).toBeInstanceOf(cls);
      const after = fs.readFileSync(stagingFile);
      expect(after.subarray(0, at + staged.length)).toEqual(before.subarray(0, at + staged.length));
      expect(Int32Array.from(sink.commits)).toEqual(commits);
      expect(w.stats()).toEqual(stats);
      w.close();
      await w.finished();
      expect(payloadsOf(path.join(dir, 'e.fst'))).toEqual(
        good.map((g) => Buffer.from(Telemetry.encode(g))),
      );
    },
  );
});
