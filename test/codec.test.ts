/**
 * Schema-compiled codecs (lib/codec/, issue 12), proven against independent
 * code: flatc's generated C++ verifier and TS (test/codec-flatc.ts), and
 * TypedValidator.fromSchema; property tests over the test schemas; pinned
 * bytes; bad values and bad schemas. Runs in both engine modes.
 */
import * as fc from 'fast-check';
import { Builder } from 'flatbuffers';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChecksumDeframer,
  ChecksumFramer,
  FlatStreamError,
  MemorySink,
  StreamReader,
  StreamWriter,
  TypedValidator,
  XxHash64,
  compileSchema,
  native,
  type TableCodec,
  type TableView,
} from '../lib/index';
import { camel } from '../lib/codec/generate';
import { Base, readSchema, type RSchema } from '../lib/codec/reflection';
import { cppVerify, flatcCoverage, flatcEvents } from './codec-flatc';
import { covArb, richArb, richSample } from './codec-arbs';
import { thrown } from './helpers';

const ROOT = join(__dirname, '..');
const eventsBfbs = readFileSync(join(ROOT, 'test/generated/events.bfbs'));
const coverageBfbs = readFileSync(join(ROOT, 'test/generated/coverage.bfbs'));
const events = compileSchema(eventsBfbs);
const coverage = compileSchema(coverageBfbs);
// The same schema with flatc's built-in attributes (id, required, nested_flatbuffer…) recorded.
const coverageBuiltins = compileSchema(
  flatcBfbs(readFileSync(join(ROOT, 'test/schema/coverage.fbs'), 'utf8'), true),
);
const Telemetry = events.tables['events.Telemetry']!;
const Rich = events.tables['events.RichEvent']!;
const Cov = coverage.tables['covg.Root']!;
const Leaf = coverage.tables['covg.Leaf']!;

/** flatc's .bfbs of a schema text; `builtins`: with the built-in attributes (--bfbs-builtins). */
function flatcBfbs(fbs: string, builtins = false): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'codec-'));
  try {
    writeFileSync(join(dir, 'x.fbs'), fbs);
    const flags = builtins ? ['--bfbs-builtins'] : [];
    execFileSync('flatc', ['-b', '--schema', ...flags, '-o', dir, join(dir, 'x.fbs')]);
    return readFileSync(join(dir, 'x.bfbs'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A canonical form for comparing decoded values of two implementations. */
function norm(x: unknown): unknown {
  if (x === undefined || x === null) return null;
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'number') return Object.is(x, -0) ? '-0' : Number.isNaN(x) ? 'NaN' : x;
  if (typeof x === 'string' || typeof x === 'boolean') return x;
  if (Array.isArray(x) || ArrayBuffer.isView(x)) {
    const a = Array.from(x as ArrayLike<unknown>, norm);
    return a.length ? a : null; // flatc's object API makes [] of an absent vector
  }
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(x as object).sort()) {
    const v = (x as Record<string, unknown>)[k];
    if (typeof v !== 'function') o[k] = norm(v);
  }
  return o;
}

/** The well-formed string TextEncoder/TextDecoder make of s (lone surrogates → U+FFFD). */
const wellFormed = (s: string): string => new TextDecoder().decode(new TextEncoder().encode(s));

/** flatc's object-API `T` of a plain value, built generically from the reflection schema. */
function toFlatcT(
  mod: Record<string, new () => object>,
  schema: RSchema,
  objIndex: number,
  v: Record<string, unknown>,
): object {
  const o = schema.objects[objIndex]!;
  const short = o.name.slice(o.name.lastIndexOf('.') + 1);
  const t = new mod[`${short}T`]!() as Record<string, unknown>;
  for (const f of o.fields) {
    if (f.deprecated) continue;
    const key = camel(f.name);
    const x = v[key];
    if (x === undefined || x === null) continue;
    const ty = f.type;
    const wide = (b: number): boolean => b === Base.Long || b === Base.ULong;
    if (ty.base === Base.Obj)
      t[key] = toFlatcT(mod, schema, ty.index, x as Record<string, unknown>);
    else if (ty.base === Base.Union) {
      const tag = v[camel(f.name) + 'Type'] as number;
      const member = schema.enums[ty.index]!.values.find((m) => Number(m.value) === tag)!;
      t[key] = toFlatcT(mod, schema, member.unionType!.index, x as Record<string, unknown>);
    } else if (ty.base === Base.Vector) {
      const a = Array.from(x as ArrayLike<unknown>);
      t[key] =
        ty.element === Base.Obj
          ? a.map((e) => toFlatcT(mod, schema, ty.index, e as Record<string, unknown>))
          : wide(ty.element)
            ? a.map((e) => BigInt(e as number))
            : a;
    } else if (wide(ty.base)) t[key] = BigInt(x as number);
    else t[key] = x;
  }
  return t;
}

const eventsSchema = readSchema(eventsBfbs);
const coverageSchema = readSchema(coverageBfbs);
const objIndex = (s: RSchema, name: string): number => s.objects.findIndex((o) => o.name === name);

/** Packs v with flatc's builder (object API). */
function flatcPack(
  mod: Record<string, new () => object>,
  schema: RSchema,
  name: string,
  v: Record<string, unknown>,
  ident?: string,
): Uint8Array {
  const t = toFlatcT(mod, schema, objIndex(schema, name), v) as { pack(b: Builder): number };
  const b = new Builder(64);
  b.finish(t.pack(b), ident);
  return b.asUint8Array().slice();
}

/** flatc's unpack() of a payload. */
function flatcUnpack(mod: Record<string, unknown>, name: string, bytes: Uint8Array): unknown {
  const short = name.slice(name.lastIndexOf('.') + 1);
  const cls = mod[short] as Record<string, (bb: unknown) => { unpack(): unknown }>;
  const { ByteBuffer } = require('flatbuffers') as typeof import('flatbuffers');
  return cls[`getRootAs${short}`]!(new ByteBuffer(bytes)).unpack();
}

/** Encodes at `at` inside a larger buffer filled with garbage; returns the payload (a copy). */
function encodeAt<T>(codec: TableCodec<T>, value: T, at: number): Uint8Array {
  const size = codec.sizeOf(value);
  const buf = new Uint8Array(at + size + 16).fill(0xa5);
  const end = codec.encodeInto(value, buf, new DataView(buf.buffer), at, at + size);
  expect(end).toBe(at + size);
  expect(buf.subarray(at + size).every((x) => x === 0xa5)).toBe(true); // nothing past the end
  expect(buf.subarray(0, at).every((x) => x === 0xa5)).toBe(true); // nothing before at
  return buf.slice(at, end);
}

// ---- tests --------------------------------------------------------------

describe('compileSchema', () => {
  test('identity: namespace, root type, file identifier, hash, tables, enums', () => {
    expect(events.namespace).toBe('events');
    expect(events.rootType).toBe('events.RichEvent');
    expect(events.fileIdentifier).toBe('');
    expect(events.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(events.tables).sort()).toEqual([
      'events.Alarm',
      'events.Note',
      'events.RichEvent',
      'events.Tag',
      'events.Telemetry',
    ]);
    expect(events.root).toBe(Rich);
    expect(events.enums['events.Level']).toEqual({ Debug: 0, Info: 1, Warn: 2, Error: 3 });
    expect(events.enums['events.Detail']).toEqual({ NONE: 0, Alarm: 1, Note: 2 });
    expect(coverage.fileIdentifier).toBe('COVG');
    expect(compileSchema(eventsBfbs, { rootType: 'events.Telemetry' }).root!.name).toBe(
      'events.Telemetry',
    );
    const e = thrown(() => compileSchema(eventsBfbs, { rootType: 'events.Vec3' }));
    expect(e).toBeInstanceOf(FlatStreamError);
    expect(e.code).toBe('ERR_FLATSTREAM_SCHEMA');
  });
});

describe('golden encodings (exact bytes)', () => {
  test('telemetry event', () => {
    const b = Telemetry.encode({
      deviceId: 1001,
      timestamp: 1_700_000_000_000_000_000n,
      value: 0.25,
    });
    expect(Buffer.from(b).toString('hex')).toBe(
      '14000000' + // root uoffset → table at 20
        '0a001c00' +
        '04000c001400' + // vtable: 10 bytes, table 28 bytes, slots 4, 12, 20
        '000000000000' + // padding: the table's u64s 8-aligned
        '10000000' + // soffset → vtable at 4
        'e903000000000000' +
        '00002a36fe9c9717' +
        '000000000000d03f',
    );
    // a bigint and a number give the same bytes
    expect(
      Telemetry.encode({ deviceId: 1001n, timestamp: 1_700_000_000_000_000_000n, value: 0.25 }),
    ).toEqual(b);
  });

  test('rich event', () => {
    const b = Rich.encode({ ...richSample, timestamp: 2n ** 63n });
    expect(Buffer.from(b).toString('hex')).toBe(
      '240000001a00370004000c001400180034001c00280035002c003000360000000000000020000000050000000000000000000000000000804c000000580000000000c03f000020c0000040405c00000014000000280000000201000008000c000400080008000000070000000400000004000000626f6f6d0000000003000000010203000a00000068c3a96c6c6fefbfbd78000002000000000000000000f03f000000000000044002000000100000002c000000080010000c00040008000000030000000000000004000000010000006100080010000c00000000000a000000000000000000000004000000010000006200',
    );
    expect(cppVerify('events.RichEvent', [b])).toEqual([true]);
  });
});

describe('encodings are valid FlatBuffers for independent code', () => {
  test('property: rich events pass flatc C++ verifier, decode alike in flatc TS, and re-encode to the same bytes', () => {
    const payloads: Uint8Array[] = [];
    fc.assert(
      fc.property(richArb, fc.integer({ min: 0, max: 15 }), (v, at) => {
        const b = encodeAt(Rich, v, at);
        payloads.push(b);
        const ours = Rich.decode(b);
        expect(norm(ours)).toEqual(norm(flatcUnpack(flatcEvents, 'events.RichEvent', b)));
        expect(Rich.encode(ours)).toEqual(b);
        if (v.label !== undefined) expect(ours.label).toBe(wellFormed(v.label));
        // and what flatc's builder makes of the same value, we read alike
        const theirs = flatcPack(flatcEvents, eventsSchema, 'events.RichEvent', v);
        expect(norm(Rich.decode(theirs))).toEqual(
          norm(flatcUnpack(flatcEvents, 'events.RichEvent', theirs)),
        );
      }),
      { numRuns: 150, seed: 12 },
    );
    expect(cppVerify('events.RichEvent', payloads).every(Boolean)).toBe(true);
    if (native) {
      const v = TypedValidator.fromSchema(eventsBfbs, { rootType: 'events.RichEvent' });
      expect(payloads.map((p) => v.validate(p) ?? null).filter((r) => r !== null)).toEqual([]);
    }
  });

  test('property: the coverage schema (every supported feature) passes flatc C++ verifier and decodes alike', () => {
    const payloads: Uint8Array[] = [];
    fc.assert(
      fc.property(covArb, fc.integer({ min: 0, max: 15 }), (v, at) => {
        const b = encodeAt(Cov, v, at);
        payloads.push(b);
        expect(String.fromCharCode(...b.subarray(4, 8))).toBe('COVG');
        const ours = Cov.decode(b);
        expect(norm(ours)).toEqual(norm(flatcUnpack(flatcCoverage, 'covg.Root', b)));
        expect(Cov.encode(ours)).toEqual(b);
        // with built-in attributes recorded, only the nested buffer's alignment may move it
        const b2 = encodeAt(coverageBuiltins.root!, v, at);
        payloads.push(b2);
        expect(norm(coverageBuiltins.root!.decode(b2))).toEqual(norm(ours));
        const theirs = flatcPack(flatcCoverage, coverageSchema, 'covg.Root', v, 'COVG');
        expect(norm(Cov.decode(theirs))).toEqual(
          norm(flatcUnpack(flatcCoverage, 'covg.Root', theirs)),
        );
      }),
      { numRuns: 150, seed: 34 },
    );
    expect(cppVerify('covg.Root', payloads).every(Boolean)).toBe(true);
    if (native) {
      const v = TypedValidator.fromSchema(coverageBfbs);
      expect(payloads.map((p) => v.validate(p) ?? null).filter((r) => r !== null)).toEqual([]);
    }
  });

  test('edge values read back exactly: NaN, -0, ±Infinity, u64 max, i64 min, lone surrogates, empty vectors, absent fields', () => {
    const v = {
      req: '\ud800',
      reqInner: { a: -32768, b: 127 },
      f64: -0,
      f32: NaN,
      dF64: Infinity,
      dF32: -Infinity,
      u64: 2n ** 64n - 1n,
      i64: -(2n ** 63n),
      dU64: 0, // differs from the default (12345678901234567): written
      vF64: [-0, NaN, -Infinity],
      vStr: ['', 'a\udc00'],
      vLeaf: [],
      opt: 0, // optional: written even though 0
    };
    const b = Cov.encode(v);
    expect(cppVerify('covg.Root', [b])).toEqual([true]);
    const o = Cov.decode(b);
    expect(o.req).toBe('\ufffd');
    expect(Object.is(o.f64, -0)).toBe(true);
    expect(o.f32).toBeNaN();
    expect(o.dF64).toBe(Infinity);
    expect(o.dF32).toBe(-Infinity);
    expect(o.u64).toBe(2n ** 64n - 1n);
    expect(o.i64).toBe(-(2n ** 63n));
    expect(o.dU64).toBe(0n);
    expect(o.dI64).toBe(-(2n ** 63n)); // absent: the schema's default
    expect(o.dI32).toBe(-7);
    expect(o.dB).toBe(true);
    expect(o.color).toBe(2);
    expect(o.vF64).toEqual([-0, NaN, -Infinity]);
    expect(Object.is((o.vF64 as number[])[0], -0)).toBe(true);
    expect(o.vStr).toEqual(['', 'a\ufffd']);
    expect(o.vLeaf).toEqual([]);
    expect(o.vBool).toBeNull();
    expect(o.s).toBeNull();
    expect(o.opt).toBe(0);
    expect(o.optU64).toBeNull();
    expect(JSON.parse(JSON.stringify(Cov.view(b)))).toMatchObject({
      u64: '18446744073709551615',
      i64: '-9223372036854775808',
      f32: null, // NaN has no JSON
      vStr: ['', 'a\ufffd'],
      reqInner: { a: -32768, b: 127 },
    });
    const view = Cov.view(b) as TableView & Record<string, () => unknown>;
    expect(view.u64Number!()).toBe(2 ** 64); // number accessor: exact to 2^53, rounded above
    expect(view.dI64Number!()).toBe(-(2 ** 63));
  });

  test('nesting up to the verifier depth limit (64 tables) verifies; one more is refused naming the field', () => {
    const chain = (n: number): Record<string, unknown> => {
      let v: Record<string, unknown> = { req: 'end', reqInner: { a: 0, b: 0 } };
      for (let i = 1; i < n; i++) v = { req: `${i}`, reqInner: { a: i, b: 0 }, next: v };
      return v;
    };
    const b = Cov.encode(chain(64));
    expect(cppVerify('covg.Root', [b])).toEqual([true]);
    if (native) expect(TypedValidator.fromSchema(coverageBfbs).validate(b) ?? null).toBeNull();
    const e = thrown(() => Cov.encode(chain(65)));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_OUT_OF_RANGE');
    expect(e.message).toBe("covg.Root.next nests tables deeper than 64 (the verifier's limit)");
    const cyclic: Record<string, unknown> = { req: 'x', reqInner: { a: 0, b: 0 } };
    cyclic.next = cyclic;
    expect(thrown(() => Cov.encode(cyclic))).toBeInstanceOf(RangeError);
  });

  test('fixed-size arrays in structs (C++-only schema) pass flatc C++ verifier', () => {
    const s = compileSchema(
      flatcBfbs(readFileSync(join(ROOT, 'test/schema-cpp/arrays.fbs'), 'utf8')),
    );
    const H = s.root!;
    const outer = (i: number) => ({
      x: i + 0.5,
      inner: { a: -i | 0, b: i },
      arr: [i, -i | 0, 2 ** 31 - 1],
      c: 7,
      inners: [
        { a: 1, b: 2 },
        { a: 3, b: 4 },
      ],
      colors: new Uint8Array([0, 2]),
      big: [2n ** 64n - 1n, i],
    });
    const payloads = [0, 1, 2, 3, 5, 7].map((at) =>
      encodeAt(H, { o: outer(at), v: [outer(1), outer(2)] }, at),
    );
    expect(cppVerify('arr.Holder', payloads)).toEqual(payloads.map(() => true));
    const o = H.decode(payloads[0]!) as { o: Record<string, unknown>; v: unknown[] };
    expect(o.o).toEqual({ ...outer(0), colors: [0, 2], big: [2n ** 64n - 1n, 0n] });
    expect(o.v).toHaveLength(2);
    const e = thrown(() => H.encode({ o: { ...outer(0), arr: [1, 2] } }));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toBe('arr.Outer.arr must have exactly 3 elements, got 2');
    expect(thrown(() => H.encode({ o: { ...outer(0), colors: [0, -1] } })).message).toBe(
      'arr.Outer.colors[1] must be an integer in [0, 255], got number -1',
    );
  });

  test('alignment is relative to the payload start: the same bytes at every offset', () => {
    const v = { deviceId: 1, timestamp: 2, value: 3 };
    const base = encodeAt(Telemetry, v, 0);
    for (let at = 1; at < 16; at++) expect(encodeAt(Telemetry, v, at)).toEqual(base);
  });
});

describe('our decoders read what flatc builds', () => {
  test('telemetry from flatc generated code, bigint and number accessors', () => {
    const b = new Builder(64);
    b.finish(flatcEvents.Telemetry.createTelemetry(b, 2n ** 64n - 1n, 2n ** 53n - 1n, -0));
    const view = Telemetry.view(b.asUint8Array()) as TableView & Record<string, () => unknown>;
    expect(view.deviceId!()).toBe(2n ** 64n - 1n);
    expect(view.timestampNumber!()).toBe(2 ** 53 - 1);
    expect(view.value!()).toBe(0); // flatc's builder drops -0 as equal to the default
  });
});

describe('bad values: TypeError/RangeError naming table and field; nothing written past the limit', () => {
  const cases: [string, Record<string, unknown>, typeof TypeError | typeof RangeError, string][] = [
    [
      'string for a number',
      { value: '1' },
      TypeError,
      'events.Telemetry.value must be a number, got string "1"',
    ],
    [
      'bigint for a float',
      { value: 1n },
      TypeError,
      'events.Telemetry.value must be a number, got bigint 1n',
    ],
    [
      'negative u64',
      { deviceId: -1 },
      RangeError,
      'events.Telemetry.device_id must be a bigint in [0, 2^64-1] or a non-negative safe integer, got number -1',
    ],
    [
      'u64 too big',
      { deviceId: 2n ** 64n },
      RangeError,
      'events.Telemetry.device_id must be a bigint in [0, 2^64-1] or a non-negative safe integer, got bigint 18446744073709551616n',
    ],
    [
      'unsafe number u64',
      { deviceId: 2 ** 53 },
      RangeError,
      'events.Telemetry.device_id must be a bigint in [0, 2^64-1] or a non-negative safe integer, got number 9007199254740992',
    ],
    [
      'fraction u64',
      { timestamp: 1.5 },
      RangeError,
      'events.Telemetry.timestamp must be a bigint in [0, 2^64-1] or a non-negative safe integer, got number 1.5',
    ],
  ];
  test.each(cases)('%s', (_, v, cls, message) => {
    const e = thrown(() => Telemetry.encode(v));
    expect(e).toBeInstanceOf(cls);
    expect(e.code).toBe(cls === TypeError ? 'ERR_INVALID_ARG_TYPE' : 'ERR_OUT_OF_RANGE');
    expect(e.message).toBe(message);
  });

  test('rich event: enum, union tag, union value, vector element, struct, required', () => {
    const msg = (v: Record<string, unknown>): [string, string] => {
      const e = thrown(() => Rich.encode(v));
      return [e.constructor.name, e.message];
    };
    expect(msg({ level: 200 })).toEqual([
      'RangeError',
      'events.RichEvent.level must be an integer in [-128, 127], got number 200',
    ]);
    expect(msg({ detailType: 3, detail: {} })).toEqual([
      'RangeError',
      'events.RichEvent.detail_type must be a member of events.Detail (1, 2), got number 3',
    ]);
    expect(msg({ detailType: 'Alarm', detail: {} })).toEqual([
      'TypeError',
      'events.RichEvent.detail_type must be a member of events.Detail (1, 2), got string "Alarm"',
    ]);
    expect(msg({ detail: { text: 'x' } })).toEqual([
      'TypeError',
      'events.RichEvent.detail is set but detailType is NONE (0)',
    ]);
    expect(msg({ detailType: 1 })).toEqual([
      'TypeError',
      'events.RichEvent.detail must be a events.Alarm object, got undefined',
    ]);
    expect(msg({ readings: [1, 'x'] })).toEqual([
      'TypeError',
      'events.RichEvent.readings[1] must be a number, got string "x"',
    ]);
    expect(msg({ flags: [1, 256] })).toEqual([
      'RangeError',
      'events.RichEvent.flags[1] must be an integer in [0, 255], got number 256',
    ]);
    expect(msg({ position: { x: 1, y: 2 } })).toEqual([
      'TypeError',
      'events.Vec3.z must be a number within float32 range, got undefined',
    ]);
    expect(msg({ position: { x: 1, y: 2, z: 1e39 } })).toEqual([
      'RangeError',
      'events.Vec3.z must be a number within float32 range, got number 1e+39',
    ]);
    expect(msg({ tags: [{ key: 5 }] })).toEqual([
      'TypeError',
      'events.Tag.key must be a string, got number 5',
    ]);
    expect(msg({ label: 5 })).toEqual([
      'TypeError',
      'events.RichEvent.label must be a string, got number 5',
    ]);
    expect(msg({ tags: 'ab' })).toEqual([
      'TypeError',
      'events.RichEvent.tags must be an array, got string "ab"',
    ]);
    expect(msg({ active: 1 })).toEqual([
      'TypeError',
      'events.RichEvent.active must be a boolean, got number 1',
    ]);
    expect(thrown(() => Rich.encode(null as never)).message).toBe(
      'events.RichEvent must be a events.RichEvent object, got null',
    );
    const req = thrown(() => Cov.encode({ reqInner: { a: 0, b: 0 } }));
    expect([req.constructor.name, req.code, req.message]).toEqual([
      'TypeError',
      'ERR_INVALID_ARG_TYPE',
      'covg.Root.req is required',
    ]);
    // enums are checked against their underlying type, as flatc's builders do (bit_flags)
    expect(
      thrown(() => Cov.encode({ req: '', reqInner: { a: 0, b: 0 }, color: 256 })).message,
    ).toBe('covg.Root.color must be an integer in [0, 255], got number 256');
    expect(
      Cov.decode(Cov.encode({ req: '', reqInner: { a: 0, b: 0 }, color: 1, flags: 5 })),
    ).toMatchObject({ color: 1, flags: 5 });
  });

  test('a vector longer than any payload is refused at once (no scratch buffer grows for it)', () => {
    const e = thrown(() => Rich.sizeOf({ readings: new Array(2 ** 30) }));
    expect([e.constructor.name, e.code, e.message]).toEqual([
      'RangeError',
      'ERR_OUT_OF_RANGE',
      'events.RichEvent.readings has 1073741824 elements: more than a payload can hold',
    ]);
  });

  test('property: at any limit below its size an encoding returns -1 and writes nothing at or past the limit', () => {
    fc.assert(
      fc.property(
        covArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 7 }),
        (v, f, at) => {
          const size = Cov.sizeOf(v);
          const limit = at + Math.floor(f * size);
          const buf = new Uint8Array(at + size + 8).fill(0xee);
          const view = new DataView(buf.buffer);
          if (limit < at + size) {
            expect(Cov.encodeInto(v, buf, view, at, limit)).toBe(-1);
            expect(buf.subarray(limit).every((x) => x === 0xee)).toBe(true);
            expect(buf.subarray(0, at).every((x) => x === 0xee)).toBe(true);
          }
          expect(Cov.encodeInto(v, buf, view, at, at + size)).toBe(at + size);
        },
      ),
      { numRuns: 200, seed: 56 },
    );
  });

  test('at and limit must be integers with 0 <= at <= limit <= buf.length', () => {
    const buf = new Uint8Array(64);
    const view = new DataView(buf.buffer);
    for (const [at, limit] of [
      [1.5, 64],
      [0, 63.5],
      [-1, 64],
      [8, 4],
      [0, 65],
      [NaN, 64],
    ] as const) {
      const e = thrown(() => Telemetry.encodeInto({}, buf, view, at, limit));
      expect([e.constructor.name, e.code, e.message]).toEqual([
        'RangeError',
        'ERR_OUT_OF_RANGE',
        `events.Telemetry needs integers 0 <= at <= limit <= buf.length, got at ${at}, limit ${limit}`,
      ]);
    }
    expect(buf.every((x) => x === 0)).toBe(true);
  });

  test('a value that does not fit returns -1 and writes nothing at or past the limit', () => {
    const v = {
      label: 'x'.repeat(50),
      readings: [1, 2, 3],
      tags: [{ key: 'k' }],
      detailType: 2,
      detail: { text: 'n' },
    };
    const size = Rich.sizeOf(v);
    for (let limit = 0; limit < size; limit++) {
      const buf = new Uint8Array(size + 8).fill(0xee);
      expect(Rich.encodeInto(v, buf, new DataView(buf.buffer), 0, limit)).toBe(-1);
      expect(buf.subarray(limit).every((x) => x === 0xee)).toBe(true);
    }
    const buf = new Uint8Array(size);
    expect(Rich.encodeInto(v, buf, new DataView(buf.buffer), 0, size)).toBe(size);
  });

  test('a getter that re-enters the encoder gets its own answer; the outer encoding is unchanged', () => {
    const inner = Telemetry.encode({ deviceId: 9 });
    let seen: Uint8Array | null = null;
    const v = {
      deviceId: 1,
      get timestamp() {
        seen = Telemetry.encode({ deviceId: 9 });
        return 2;
      },
      value: 3,
    };
    expect(Telemetry.encode(v)).toEqual(Telemetry.encode({ deviceId: 1, timestamp: 2, value: 3 }));
    expect(seen).toEqual(inner);
  });

  test('a getter whose re-entrant encoding throws leaves the outer encoding intact', () => {
    const v = {
      deviceId: 1,
      get timestamp() {
        expect(() => Telemetry.encode({ deviceId: -1 })).toThrow(RangeError);
        return 2;
      },
      value: 3,
    };
    expect(Telemetry.encode(v)).toEqual(Telemetry.encode({ deviceId: 1, timestamp: 2, value: 3 }));
    // and the encoder is not left busy: the next encoding takes the plain path and is right
    expect(thrown(() => Telemetry.encode({ value: 'x' })).constructor).toBe(TypeError);
    expect(Telemetry.encode({ deviceId: 1, timestamp: 2, value: 3 })).toEqual(
      Telemetry.encode({ deviceId: 1n, timestamp: 2n, value: 3 }),
    );
  });
});

describe("string reads through the decoders' string cache", () => {
  // Strings of up to 32 bytes are looked up by their bytes in a direct-mapped
  // cache of 1024 entries (docs/design.md "Schema-compiled codecs"): 5000
  // distinct strings must collide, and every read must still be exact.
  const Note = events.tables['events.Note']!;
  const read = (p: Uint8Array): string => (Note.view(p) as unknown as { text(): string }).text();

  test('5000 distinct strings (0-40 bytes, ASCII and not), read in interleaved rounds, each exactly', () => {
    const rnd = fc.sample(fc.string({ unit: 'binary', maxLength: 14 }), { numRuns: 5000, seed: 7 });
    const texts = [...new Set(rnd.map(wellFormed))];
    for (let n = 0; n <= 40; n++) texts.push('x'.repeat(n), 'x'.repeat(Math.max(0, n - 1)) + 'y');
    const payloads = texts.map((t) => Note.encode({ text: t }));
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < texts.length; i++) {
        const k = (i * 7919 + round * 104729) % texts.length;
        expect(read(payloads[k]!)).toBe(texts[k]);
      }
    }
    expect(texts.length).toBeGreaterThan(2000);
  });

  test('strings that differ only in their length or trailing bytes (zero bytes included) are told apart', () => {
    const texts = [
      'ab',
      'ab\0',
      'ab\0\0',
      'abcd',
      'abcd\0',
      'abce',
      'abc',
      '',
      '\0',
      'a'.repeat(32),
      'a'.repeat(31) + 'b',
      'é',
      'é\0',
    ];
    const payloads = texts.map((t) => Note.encode({ text: t }));
    for (let round = 0; round < 4; round++)
      texts.forEach((t, i) =>
        expect(read(payloads[(i + round) % texts.length]!)).toBe(texts[(i + round) % texts.length]),
      );
    // 3025 strings with the same leading word and different trailing bytes:
    // they share cache entries, and the trailing bytes must tell them apart.
    const abc = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012';
    const tails = [...abc].flatMap((x) => [...abc].map((y) => `wxyz${x}${y}`));
    const tp = tails.map((t) => Note.encode({ text: t }));
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < tails.length; i++) {
        const k = (i * 7919 + round * 13) % tails.length;
        expect(read(tp[k]!)).toBe(tails[k]);
      }
    // The same bytes at another offset of another buffer: the same string.
    const big = new Uint8Array(64 + payloads[3]!.length);
    big.set(payloads[3]!, 64);
    expect((Note.view(big, 64) as unknown as { text(): string }).text()).toBe('abcd');
  });

  test('bytes that change while a string is read cannot poison the cache for later reads', () => {
    // Bytes that change while a string is read (simulated: the view's bytes
    // and its DataView see two payloads of the same layout, 'aaaa' and
    // 'bbbb') must not leave an entry that pairs one's bytes with the
    // other's string: a later read of 'aaaa' is 'aaaa'.
    const pa = Note.encode({ text: 'aaaa' });
    const pb = Note.encode({ text: 'bbbb' });
    const torn = Note.createView() as unknown as {
      $bind(b: Uint8Array, dv: DataView, at: number): { text(): string };
    };
    torn.$bind(pb, new DataView(pa.buffer, pa.byteOffset, pa.byteLength), 0).text();
    expect(read(pa)).toBe('aaaa');
    expect(read(pb)).toBe('bbbb');
  });
});

describe('decoders over bytes that are not a valid message', () => {
  const good = (): Uint8Array =>
    Rich.encode({
      label: 'abc',
      readings: [1, 2],
      tags: [{ key: 'k' }],
      flags: [1, 2, 3],
      detailType: 2,
      detail: { text: 'n' },
    });

  test('a corrupt vector length is a RangeError naming the field, not a loop past the bytes', () => {
    const b = good();
    const v = Rich.view(b) as TableView & Record<string, () => number>;
    expect(v.flagsLength!()).toBe(3);
    // the flags vector's length field: find it through the view's own offsets
    const at = Buffer.from(b).indexOf(Buffer.from([3, 0, 0, 0, 1, 2, 3]));
    new DataView(b.buffer).setUint32(at, 0xfffffff0, true);
    const e = thrown(() => Rich.decode(b));
    expect([e.constructor.name, e.code, e.message]).toEqual([
      'RangeError',
      'ERR_OUT_OF_RANGE',
      'events.RichEvent.flags has 4294967280 elements, past the end of the buffer',
    ]);
  });

  test('a corrupt string length is a RangeError', () => {
    const b = good();
    const at = Buffer.from(b).indexOf(Buffer.from([3, 0, 0, 0, 0x61, 0x62, 0x63]));
    new DataView(b.buffer).setUint32(at, 1000, true);
    expect(thrown(() => Rich.decode(b)).message).toBe(
      'string of 1000 bytes at ' + (at + 4) + ' runs past the end of the buffer',
    );
  });

  test('random corruptions of valid messages: a value or a RangeError, never a hang (both schemas)', () => {
    let x = 7;
    const rnd = (n: number): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x % n;
    };
    const samples = [
      good(),
      Cov.encode({
        req: 'r',
        reqInner: { a: 1, b: 2 },
        vStr: ['a', 'bb'],
        vLeaf: [{ s: 'x' }],
        next: { req: 'q', reqInner: { a: 0, b: 0 } },
        anyType: 1,
        any: { s: 'z' },
        outer: { x: 1, inner: { a: 1, b: 1 }, c: 2 },
      }),
    ];
    const counts = { ok: 0, range: 0 };
    for (let i = 0; i < 4000; i++) {
      const base = samples[i & 1]!;
      const codec = i & 1 ? Cov : Rich;
      const b = base.slice();
      for (let k = 1 + rnd(4); k > 0; k--) b[rnd(b.length)] = rnd(256);
      try {
        codec.decode(b);
        counts.ok++;
      } catch (err) {
        expect({ i, cls: (err as Error).constructor.name }).toEqual({ i, cls: 'RangeError' });
        counts.range++;
      }
    }
    expect(counts.ok + counts.range).toBe(4000);
    expect(counts.range).toBeGreaterThan(0);
  });
});

describe('malformed or unsupported schemas', () => {
  test('every truncation and many byte flips of a .bfbs: a schema error or a schema, never a crash or a hang', () => {
    for (let n = 0; n < coverageBfbs.length; n += 7) {
      const e = thrown(() => compileSchema(coverageBfbs.subarray(0, n)));
      expect(e).toBeInstanceOf(FlatStreamError);
      expect(e.code).toBe('ERR_FLATSTREAM_SCHEMA');
    }
    let x = 1;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(coverageBfbs);
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      b[x % b.length] ^= 1 << (x >>> 29);
      try {
        compileSchema(b);
      } catch (err) {
        expect({
          i,
          cls: (err as Error).constructor.name,
          code: (err as FlatStreamError).code,
        }).toEqual({
          i,
          cls: 'FlatStreamError',
          code: 'ERR_FLATSTREAM_SCHEMA',
        });
      }
    }
  });

  test('a name that is not an identifier is refused (names never become code)', () => {
    const b = Buffer.from(eventsBfbs);
    const at = b.indexOf('device_id');
    b[at + 6] = 0x27; // device'id
    const e = thrown(() => compileSchema(b));
    expect(e).toBeInstanceOf(FlatStreamError);
    expect(e.code).toBe('ERR_FLATSTREAM_SCHEMA');
    expect(e.message).toBe(
      `malformed .bfbs: events.RichEvent field name "device'id" is not an identifier`,
    );
  });

  test.each([
    [
      'a vector of unions',
      'table A { x: int; } union U { A } table R { u: [U]; } root_type R;',
      'unsupported schema: R.u: a vector of unions',
    ],
    [
      'a union of a struct',
      'struct S { x: int; } table A { x: int; } union U { A, S } table R { u: U; } root_type R;',
      'unsupported schema: R.u: union member S is not a table (unions of structs or strings)',
    ],
    [
      'flexbuffer',
      'table R { f: [ubyte] (flexbuffer); } root_type R;',
      'unsupported schema: R.f: the flexbuffer attribute',
    ],
    [
      'colliding names',
      'table R { a_b: int; aB: int; } root_type R;',
      'unsupported schema: R.a_b: the name aB collides',
    ],
  ])('refuses %s, naming the feature and the field', (_, fbs, message) => {
    const e = thrown(() => compileSchema(flatcBfbs(fbs, true)));
    expect(e).toBeInstanceOf(FlatStreamError);
    expect(e.code).toBe('ERR_FLATSTREAM_SCHEMA');
    expect(e.message).toBe(message);
  });
});

describe('StreamReader.processWith', () => {
  function stream(values: Record<string, unknown>[], codec: TableCodec): Buffer {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    const buf = new Uint8Array(4096);
    const dv = new DataView(buf.buffer);
    values.forEach((v, i) => {
      const at = i % 8; // the payload's alignment does not depend on where it sits
      const end = codec.encodeInto(v, buf, dv, at, buf.length);
      w.writePayload(buf.subarray(at, end));
    });
    w.close();
    return sink.toBuffer();
  }

  test('reads every frame through one reused view, in both engines', () => {
    const values = Array.from({ length: 1000 }, (_, i) => ({
      deviceId: i,
      timestamp: 2n ** 63n + BigInt(i),
      value: i / 4,
    }));
    const bytes = stream(values, Telemetry);
    const views = new Set<unknown>();
    const got: [number, bigint, number, number][] = [];
    const n = new StreamReader(bytes, new ChecksumDeframer(XxHash64)).processWith(
      Telemetry,
      (t, info) => {
        const v = t as TableView & Record<string, () => number & bigint>;
        views.add(t);
        got.push([v.deviceIdNumber!(), v.timestamp!(), v.value!(), info.frameIndex]);
      },
    );
    expect(n).toBe(1000);
    expect(views.size).toBe(1);
    expect(got).toEqual(values.map((v, i) => [v.deviceId, v.timestamp, v.value, i]));
  });

  test('async twin over a stream split into small chunks (frames carried across chunks)', async () => {
    const values = Array.from({ length: 50 }, (_, i) => ({
      label: `l${i}`,
      readings: [i],
      tags: [{ key: 'k', value: BigInt(i) }],
      detailType: 2,
      detail: { text: 'n' },
    }));
    const bytes = stream(values, Rich);
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 13) yield bytes.subarray(i, i + 13);
    }
    const labels: unknown[] = [];
    const n = await new StreamReader(chunks(), new ChecksumDeframer(XxHash64)).processWithAsync(
      Rich,
      (r) => {
        const o = r.toObject();
        labels.push([
          o.label,
          (o.detail as { text: string }).text,
          (o.tags as { value: bigint }[])[0]!.value,
        ]);
      },
    );
    expect(n).toBe(50);
    expect(labels).toEqual(values.map((v, i) => [v.label, 'n', BigInt(i)]));
  });

  test('stops on false; refuses a decoder that is not one', () => {
    const bytes = stream([{ deviceId: 1 }, { deviceId: 2 }], Telemetry);
    const r = new StreamReader(bytes, new ChecksumDeframer(XxHash64));
    expect(r.processWith(Telemetry, () => false)).toBe(1);
    const e = thrown(() => r.processWith({} as never, () => undefined));
    expect([e.constructor.name, e.code]).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
  });
});

// What a message allocates, counted in a fresh `node --expose-gc` process per
// scenario. The codecs make no object, BigInt or view per message; what V8
// may still box is a double passed across a call it chose not to inline
// (measured 0-4 minor GCs per million, varying with the JIT, as for the
// builder paths in gc.test.ts). One boxed double per message would be 16 B
// and ~30 GCs per million; an object per message, 24 B and more.
describe('no per-message allocation (a fresh node --expose-gc process per scenario)', () => {
  const N = 1_000_000;
  test.each(['encode-telemetry', 'encode-rich', 'read'])(
    '%s: 1M messages with number-valued u64s: under 4 B of heap per message, at most 10 GCs',
    (scenario) => {
      const out = execFileSync(process.execPath, [
        '--expose-gc',
        join(__dirname, 'codec-gc-child.js'),
        scenario,
        String(N),
      ]);
      const r = JSON.parse(out.toString()) as {
        gcs: number;
        heapBytesPerMessage: number;
        sum: boolean;
      };
      expect(r.sum).toBe(true);
      expect(r.gcs).toBeLessThanOrEqual(10);
      expect(r.heapBytesPerMessage).toBeLessThan(4);
    },
  );

  // Every field of 1 M rich events, four strings each (labels and keys that
  // repeat): the decoders' string cache returns the strings made before, so
  // reading allocates no string (a fresh string per read: ~29 GCs here).
  test('read-rich: 1M rich events, every field and string read: at most 10 GCs', () => {
    const out = execFileSync(process.execPath, [
      '--expose-gc',
      join(__dirname, 'codec-gc-child.js'),
      'read-rich',
      String(N),
    ]);
    const r = JSON.parse(out.toString()) as { gcs: number; sum: boolean };
    expect(r.sum).toBe(true);
    expect(r.gcs).toBeLessThanOrEqual(10);
  });
});
