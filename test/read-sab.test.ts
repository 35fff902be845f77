// SharedArrayBuffer-backed bytes are Uint8Arrays like any other: accepted
// everywhere a Uint8Array is (reader sources, validators, checksums,
// framers, writePayload), in both engines, with the same answers as the same
// bytes in an ArrayBuffer. Inputs that are not accepted are Node-style
// TypeErrors with a code, from lib/ and from the binding alike.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Builder } from 'flatbuffers';
import {
  ChecksumDeframer,
  ChecksumFramer,
  Crc32,
  MemorySink,
  SizeValidator,
  StreamReader,
  StreamWriter,
  TableRootValidator,
  TypedValidator,
  ValidationFailedError,
  XxHash64,
  native,
  recover,
} from '../lib/index';
import { nativeExport } from '../lib/engine/load';
import { buildTelemetry } from './events';
import { bytes, thrown } from './helpers';

function shared(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(src.length + 8), 8, src.length);
  out.set(src);
  return out;
}

function telemetry(i: number): Uint8Array {
  const b = new Builder(64);
  buildTelemetry(b, i);
  return b.asUint8Array();
}

const bfbs = readFileSync(join(__dirname, 'generated/events.bfbs'));
const PAYLOADS = [telemetry(1), telemetry(2), telemetry(3)];
const validators = [
  new SizeValidator(5, 1000),
  new TableRootValidator(),
  ...(native ? [TypedValidator.fromSchema(shared(bfbs), { rootType: 'events.Telemetry' })] : []),
];

describe('SharedArrayBuffer-backed views', () => {
  test('validators accept and reject them exactly as ArrayBuffer bytes', () => {
    for (const v of validators) {
      for (const p of PAYLOADS) expect(v.validate(shared(p))).toBeNull();
      const short = shared(bytes(4));
      expect(v.validate(short)).toBe(v.validate(Uint8Array.from(short)));
      expect(v.validate(short)).not.toBeNull();
    }
  });

  test('checksums over them equal checksums over the same bytes', () => {
    const data = bytes(1000, 3);
    for (const c of [Crc32, XxHash64]) expect(c.compute(shared(data))).toBe(c.compute(data));
  });

  test('a validated framer frames them, and writePayload writes them', () => {
    let framer = new ChecksumFramer(XxHash64);
    for (const v of validators) framer = framer.withValidator(v);
    const plain = new ChecksumFramer(XxHash64);
    for (const p of PAYLOADS) {
      expect(Buffer.from(framer.frame(shared(p)))).toEqual(Buffer.from(plain.frame(p)));
    }
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer);
    for (const p of PAYLOADS) w.writePayload(shared(p));
    expect(thrown(() => w.writePayload(shared(bytes(4))))).toBeInstanceOf(ValidationFailedError);
    w.close();
    const expected = Buffer.concat(PAYLOADS.map((p) => plain.frame(p)));
    expect(sink.toBuffer()).toEqual(expected);
  });

  test('a reader reads them as a source and as stream chunks, validators in the scan', async () => {
    let deframer = new ChecksumDeframer(XxHash64);
    for (const v of validators) deframer = deframer.withValidator(v);
    const stream = Buffer.concat(PAYLOADS.map((p) => new ChecksumFramer(XxHash64).frame(p)));
    const got: Buffer[] = [];
    expect(
      new StreamReader(shared(stream), deframer).processAll((p) => void got.push(Buffer.from(p))),
    ).toBe(3);
    expect(got).toEqual(PAYLOADS.map((p) => Buffer.from(p)));
    expect(recover(shared(stream), deframer)).toMatchObject({ frames: 3, end: 'clean' });
    // split into SAB chunks: frames crossing chunks are carried, then validated
    const chunks = [5, 30, 61].map((at, i, a) =>
      shared(stream.subarray(at, a[i + 1] ?? stream.length)),
    );
    chunks.unshift(shared(stream.subarray(0, 5)));
    const n = await new StreamReader(Readable.from(chunks), deframer).processAllAsync(
      () => undefined,
    );
    expect(n).toBe(3);
    // a bad frame in SAB bytes: the same error as in ArrayBuffer bytes
    const bad = Buffer.from(stream);
    bad.writeUInt32LE(2, PAYLOADS[0]!.length + 12);
    const e1 = thrown(() => new StreamReader(bad, deframer).processAll(() => undefined));
    const e2 = thrown(() => new StreamReader(shared(bad), deframer).processAll(() => undefined));
    expect(e2).toEqual(e1);
    expect(e2.constructor).toBe(e1.constructor);
  });

  test('what is not accepted is a TypeError with ERR_INVALID_ARG_TYPE', () => {
    const notBytes = [
      new SharedArrayBuffer(8),
      new ArrayBuffer(8),
      new Int8Array(new SharedArrayBuffer(8)),
      new Uint8ClampedArray(8),
      new DataView(new SharedArrayBuffer(8)),
      [1, 2, 3],
      'bytes',
    ];
    const deframer = new ChecksumDeframer(XxHash64);
    for (const x of notBytes) {
      const u = x as unknown as Uint8Array;
      for (const fn of [
        () => new SizeValidator(0, 9).validate(u),
        () => new TableRootValidator().validate(u),
        () => XxHash64.compute(u),
        () => new ChecksumFramer(XxHash64).frame(u),
        ...(typeof x === 'string' ? [] : [() => new StreamReader(u, deframer)]), // a string is a path
        () => recover(u, deframer),
        () => TypedValidator.fromSchema(u),
      ]) {
        const e = thrown(fn);
        expect(e).toBeInstanceOf(TypeError);
        expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
      }
    }
  });
});

const Chain = nativeExport('ValidatorChain') as
  (new (spec: unknown) => { check(b: unknown, o: unknown, l: unknown): unknown }) | undefined;
(native ? describe : describe.skip)('the binding: SAB accepted, argument errors coded', () => {
  test('ValidatorChain.check over SAB bytes, and its argument errors', () => {
    const chain = new Chain!([{ kind: 'tableRoot' }, { kind: 'size', min: 1, max: 100 }]);
    expect(chain.check(shared(PAYLOADS[0]!), 0, PAYLOADS[0]!.length)).toBeNull();
    expect(
      chain.check(new DataView(shared(PAYLOADS[0]!).buffer, 8), 0, PAYLOADS[0]!.length),
    ).toBeNull();
    const cases: [() => unknown, string, string, string][] = [
      [
        () => chain.check([], 0, 0),
        'TypeError',
        'ERR_INVALID_ARG_TYPE',
        'The "buf" argument must be a TypedArray or DataView',
      ],
      [
        () => chain.check(shared(bytes(8)), 9, 0),
        'RangeError',
        'ERR_OUT_OF_RANGE',
        'The value of "offset" is out of range',
      ],
      [
        () => chain.check(shared(bytes(8)), 0, 9),
        'RangeError',
        'ERR_OUT_OF_RANGE',
        'The value of "length" is out of range',
      ],
      [
        () => chain.check(shared(bytes(8)), '0', 1),
        'TypeError',
        'ERR_INVALID_ARG_TYPE',
        'The "offset" argument must be of type number',
      ],
      [
        () => new Chain!({}),
        'TypeError',
        'ERR_INVALID_ARG_TYPE',
        'The "validators" argument must be an array',
      ],
      [
        () => new Chain!([{ kind: 'size', min: '1' }]),
        'TypeError',
        'ERR_INVALID_ARG_TYPE',
        'The "min" argument must be of type number',
      ],
      [
        () => new Chain!([{ kind: 'tableRoot', maxDepth: 0 }]),
        'RangeError',
        'ERR_OUT_OF_RANGE',
        'The value of "maxDepth" is out of range',
      ],
      [
        () => new Chain!([{ kind: 'schema', bfbs: 'x' }]),
        'TypeError',
        'ERR_INVALID_ARG_TYPE',
        'The "bfbs" argument must be a TypedArray or DataView',
      ],
    ];
    for (const [fn, name, code, message] of cases) {
      const e = thrown(fn);
      expect({ name: e.name, code: e.code, message: e.message }).toEqual({ name, code, message });
    }
    // a schema from SAB bytes builds and verifies
    const schema = new Chain!([
      { kind: 'schema', bfbs: shared(bfbs), rootType: 'events.Telemetry' },
    ]);
    expect(schema.check(shared(PAYLOADS[1]!), 0, PAYLOADS[1]!.length)).toBeNull();
  });

  test('the engine calls: argument errors coded, SAB accepted', () => {
    const b = nativeExport('checksum') as (k: unknown, d: unknown) => unknown;
    expect(b(3, shared(bytes(10)))).toBe(XxHash64.compute(bytes(10)));
    for (const [fn, name, code] of [
      [() => b(3, 'x'), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => b('3', bytes(1)), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => b(99, bytes(1)), 'RangeError', 'ERR_OUT_OF_RANGE'],
    ] as const) {
      expect(thrown(fn)).toMatchObject({ name, code });
    }
  });
});
