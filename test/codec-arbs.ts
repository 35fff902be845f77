/**
 * fast-check arbitraries over the test schemas (test/schema/events.fbs,
 * test/schema/coverage.fbs): shared by the codec suites (codec.test.ts,
 * codec-write.test.ts), and one hand-made rich event (codec.test.ts,
 * codec-gen.test.ts).
 */
import * as fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSchema } from '../lib/index';

const Leaf = compileSchema(readFileSync(join(__dirname, 'generated/coverage.bfbs'))).tables[
  'covg.Leaf'
]!;

export const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constantFrom(0n, 2n ** 64n - 1n, 2n ** 63n, 0, 2 ** 53 - 1, 2 ** 32),
  fc.maxSafeNat(),
);
export const i64 = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, -1, -(2 ** 53) + 1, -(2 ** 32)),
  fc.maxSafeInteger(),
);
export const str = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom('', '\ud800', 'a\udc00b', '\udbff\udfff', 'é'.repeat(40), 'x'.repeat(100)),
);
const int = (min: number, max: number): fc.Arbitrary<number> => fc.integer({ min, max });
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 16 }),
  fc.array(int(0, 255), { maxLength: 8 }),
);

export const richArb = fc
  .record(
    {
      deviceId: u64,
      timestamp: u64,
      label: str,
      readings: fc.array(fc.double(), { maxLength: 6 }),
      level: fc.constantFrom(0, 1, 2, 3),
      position: fc.record({ x: fc.float(), y: fc.float(), z: fc.float() }),
      tags: fc.array(fc.record({ key: str, value: i64 }, { requiredKeys: [] }), { maxLength: 4 }),
      flags: bytesArb,
      active: fc.boolean(),
    },
    { requiredKeys: [] },
  )
  .chain((r) =>
    fc
      .oneof(
        fc.constant({}),
        fc.record({
          detailType: fc.constant(1),
          detail: fc.record(
            { code: int(-(2 ** 31), 2 ** 31 - 1), text: str },
            { requiredKeys: [] },
          ),
        }),
        fc.record({
          detailType: fc.constant(2),
          detail: fc.record({ text: str }, { requiredKeys: [] }),
        }),
      )
      .map((d) => ({ ...r, ...d })),
  );

const innerArb = fc.record({ a: int(-32768, 32767), b: int(-128, 127) });
const leafArb = fc.record({ s: str, n: int(-(2 ** 31), 2 ** 31 - 1) }, { requiredKeys: [] });
const covNode = fc
  .record(
    {
      b: fc.boolean(),
      i8: int(-128, 127),
      u8: int(0, 255),
      i16: int(-32768, 32767),
      u16: int(0, 65535),
      i32: int(-(2 ** 31), 2 ** 31 - 1),
      u32: int(0, 2 ** 32 - 1),
      i64,
      u64,
      f32: fc.float(),
      f64: fc.double(),
      dI32: int(-(2 ** 31), 2 ** 31 - 1),
      dF64: fc.double(),
      dB: fc.boolean(),
      dU64: u64,
      dI64: i64,
      dF32: fc.float(),
      color: fc.constantFrom(0, 2, 7),
      flags: int(0, 7),
      s: str,
      req: str,
      outer: fc.record({ x: fc.double(), inner: innerArb, c: fc.constantFrom(0, 2, 7) }),
      leaf: leafArb,
      vBool: fc.array(fc.boolean(), { maxLength: 5 }),
      vI8: fc.oneof(fc.array(int(-128, 127), { maxLength: 5 }), fc.int8Array({ maxLength: 5 })),
      vU8: bytesArb,
      vI16: fc.array(int(-32768, 32767), { maxLength: 5 }),
      vU16: fc.array(int(0, 65535), { maxLength: 5 }),
      vI32: fc.array(int(-(2 ** 31), 2 ** 31 - 1), { maxLength: 5 }),
      vU32: fc.array(int(0, 2 ** 32 - 1), { maxLength: 5 }),
      vI64: fc.array(i64, { maxLength: 4 }),
      vU64: fc.oneof(fc.array(u64, { maxLength: 4 }), fc.bigUint64Array({ maxLength: 3 })),
      vF32: fc.oneof(fc.array(fc.float(), { maxLength: 4 }), fc.float32Array({ maxLength: 3 })),
      vF64: fc.oneof(fc.array(fc.double(), { maxLength: 4 }), fc.float64Array({ maxLength: 3 })),
      vColor: fc.array(fc.constantFrom(0, 2, 7), { maxLength: 4 }),
      vStr: fc.array(str, { maxLength: 4 }),
      vOuter: fc.array(
        fc.record({ x: fc.double(), inner: innerArb, c: fc.constantFrom(0, 2, 7) }),
        { maxLength: 3 },
      ),
      vInner: fc.array(innerArb, { maxLength: 3 }),
      vLeaf: fc.array(leafArb, { maxLength: 3 }),
      nested: leafArb.map((l) => Leaf.encode(l)),
      opt: int(-(2 ** 31), 2 ** 31 - 1),
      reqInner: innerArb,
      ids: fc.record({ a: str, b: fc.double(), c: int(-5, 5) }, { requiredKeys: [] }),
      optU64: u64,
    },
    { requiredKeys: ['req', 'reqInner'] },
  )
  .chain((r) =>
    fc
      .oneof(
        fc.constant({}),
        fc.record({ anyType: fc.constant(1), any: leafArb }),
        fc.record({
          anyType: fc.constant(2),
          any: fc.record({ x: i64, y: fc.array(str, { maxLength: 3 }) }, { requiredKeys: [] }),
        }),
      )
      .map((d) => ({ ...r, ...d }) as Record<string, unknown>),
  );
export const covArb = fc.array(covNode, { minLength: 1, maxLength: 3 }).map((chain) => {
  for (let i = 0; i + 1 < chain.length; i++) chain[i]!.next = chain[i + 1];
  return chain[0]!;
});

/** Telemetry values: u64s as bigint or as safe-integer numbers, any double. */
export const telemetryArb = fc.record(
  { deviceId: u64, timestamp: u64, value: fc.double() },
  { requiredKeys: [] },
);

/** A RichEvent with every kind of field set (a union, a struct, strings with a lone surrogate). */
export const richSample = {
  deviceId: 5,
  label: 'héllo\ud800x',
  readings: [1, 2.5],
  level: 2,
  position: { x: 1.5, y: -2.5, z: 3 },
  tags: [{ key: 'a', value: 3n }, { key: 'b' }],
  detailType: 1,
  detail: { code: 7, text: 'boom' },
  flags: new Uint8Array([1, 2, 3]),
  active: false,
};
