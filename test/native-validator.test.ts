// Validators inside the batch scan, and resynchronisation after corruption:
// the native ValidatorChain class (native/binding/validator.cc), the
// `validators` argument of scanFrames, and resyncFrames, in both engines. The
// TypeScript engine (lib/engine/js/frame.ts) runs in both modes, and is held to the
// addon's results whenever the addon is loaded; under FLATSTREAM_NATIVE=0 the
// native class is absent and the fallback path is what is tested.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Builder } from 'flatbuffers';
import {
  type Backend,
  type ChainFailure,
  INDEX_HEADER,
  IndexSlot,
  RESYNC_OUT,
  ScanStatus,
  type ValidatorChainLike,
  backend,
  native,
  nativeExport,
} from '../lib/engine/load';
import { jsBackend } from '../lib/engine/js/frame';
import { KIND_WIDTH, Kind } from '../lib/format/kinds';
import { buildTelemetry } from './events';
import { bytes } from './helpers';

interface NativeChain extends ValidatorChainLike {
  readonly length: number;
}
type ChainSpec = Record<string, unknown>;
const NativeChainClass = nativeExport('ValidatorChain') as
  (new (spec: ChainSpec[]) => NativeChain) | undefined;
const bfbs = readFileSync(join(__dirname, 'generated/events.bfbs'));

const CHECKSUMS = [Kind.Crc16, Kind.Crc32, Kind.XxHash64, Kind.Crc32c, Kind.Crc64];
const BOUND = 4096;

function telemetry(i: number): Uint8Array {
  const b = new Builder(64);
  buildTelemetry(b, i);
  return b.asUint8Array().slice();
}

// A RichEvent whose label (field 2, a string) points far outside the buffer:
// a sound table, so only the schema walk sees the lie.
function lyingRich(): Uint8Array {
  const b = new Builder(64);
  b.startObject(3);
  b.addFieldInt64(0, 7n, 0n);
  b.addFieldInt32(2, 0x7ffffff0, 0);
  b.finish(b.endObject());
  return b.asUint8Array().slice();
}

/** Frames and seals `payloads`; returns the stream and each frame's start (and the end). */
function frames(kind: number, payloads: Uint8Array[]): { buf: Uint8Array; at: number[] } {
  const header = 4 + KIND_WIDTH[kind]!;
  const at: number[] = [];
  let size = 0;
  for (const p of payloads) {
    at.push(size);
    size += header + p.length;
  }
  at.push(size);
  const buf = new Uint8Array(size);
  payloads.forEach((p, i) => {
    new DataView(buf.buffer).setUint32(at[i]!, p.length, true);
    buf.set(p, at[i]! + header);
  });
  backend.sealFrames(buf, 0, size, kind);
  return { buf, at };
}

function scan(
  engine: Backend,
  buf: Uint8Array,
  kind: number,
  validators?: ValidatorChainLike,
  start = 0,
): Uint32Array {
  const index = new Uint32Array(INDEX_HEADER + 2 * 64);
  engine.scanFrames(buf, start, buf.length, kind, KIND_WIDTH[kind]!, BOUND, index, validators);
  return index;
}

function resync(
  engine: Backend,
  buf: Uint8Array,
  start: number,
  kind: number,
  run: number,
  validators?: ValidatorChainLike,
  bound = BOUND,
): [number, number, number] {
  const out = new Float64Array(RESYNC_OUT);
  const p = engine.resyncFrames(
    buf,
    start,
    buf.length,
    kind,
    KIND_WIDTH[kind]!,
    bound,
    run,
    validators,
    out,
  );
  return [p, out[0]!, out[1]!];
}

// A Telemetry whose `value` (a double) is one byte: a sound table that the
// Telemetry schema rejects.
function shortValueTelemetry(): Uint8Array {
  const b = new Builder(64);
  b.startObject(3);
  b.addFieldInt8(2, 1, 0);
  b.finish(b.endObject());
  return b.asUint8Array().slice();
}

/** The error `fn` throws. Checked by name: the addon's errors come from another realm than jest's. */
function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

/** A JS chain: payloads of at least `min` bytes, recording what it was shown. */
function minSize(min: number, seen: [number, number][] = []): ValidatorChainLike {
  return {
    check(_buf, offset, length): ChainFailure | null {
      seen.push([offset, length]);
      return length < min
        ? { index: 3, reason: `payload of ${length} bytes is shorter than ${min}` }
        : null;
    },
  };
}

/** Deterministic integers in [0, n). */
function lcg(seed: number): (n: number) => number {
  return (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
}

/** Intact frames, frames cut short, garbage and zeros, mixed. */
function randomStream(rnd: (n: number) => number, kind: number): Buffer {
  const parts: Uint8Array[] = [];
  for (let i = 2 + rnd(6); i > 0; i--) {
    const what = rnd(4);
    if (what <= 1) {
      const sizes = Array.from({ length: 1 + rnd(4) }, () => (rnd(3) ? rnd(40) : 0));
      const f = frames(
        kind,
        sizes.map((n) => bytes(n, 1 + rnd(1000))),
      );
      parts.push(f.buf.subarray(0, f.buf.length - (what === 1 ? rnd(6) : 0)));
    } else {
      parts.push(what === 2 ? bytes(rnd(30), 1 + rnd(1000)) : new Uint8Array(rnd(12)));
    }
  }
  return Buffer.concat(parts);
}

type Verdict = 'valid' | 'ruled out' | 'undecided';
/** What resync must say of offset q, by scanning `run` frames from it. */
function oracle(
  engine: Backend,
  buf: Uint8Array,
  q: number,
  kind: number,
  run: number,
  chain: ValidatorChainLike | undefined,
  bound: number,
): Verdict {
  const index = new Uint32Array(INDEX_HEADER + 2 * run);
  engine.scanFrames(buf, q, buf.length, kind, KIND_WIDTH[kind]!, bound, index, chain);
  const status = index[IndexSlot.status];
  const n = index[IndexSlot.frames]!;
  if (n >= run || (status === ScanStatus.End && n > 0)) return 'valid';
  if (status === ScanStatus.Partial || status === ScanStatus.End) return 'undecided';
  return 'ruled out';
}

// Engines under test: the fallback always, and the addon when it loads, each
// with a chain it accepts that fails payloads below `min` bytes at `index`.
type MinChain = (min: number) => { chain: ValidatorChainLike; index: number };
const engines: [string, Backend, MinChain][] = [
  ['typescript', jsBackend, (min) => ({ chain: minSize(min), index: 3 })],
];
if (native) {
  engines.push([
    'native',
    backend,
    (min) => ({
      chain: new NativeChainClass!([
        { kind: 'size', max: 2 ** 32 },
        { kind: 'size', min },
      ]),
      index: 1,
    }),
  ]);
}

describe('engine selection', () => {
  test('the index header has 6 slots; slots 0..3 keep their meaning', () => {
    expect(INDEX_HEADER).toBe(6);
    expect(IndexSlot).toEqual({
      status: 0,
      frames: 1,
      consumed: 2,
      length: 3,
      validator: 4,
      reserved: 5,
    });
    expect(ScanStatus.ValidationFailed).toBe(5);
  });

  if (process.env.FLATSTREAM_NATIVE === '0') {
    test('under the fallback the native chain class is absent', () => {
      expect(native).toBe(false);
      expect(NativeChainClass).toBeUndefined();
    });
  } else {
    test('the addon exports ValidatorChain and resyncFrames', () => {
      expect(typeof NativeChainClass).toBe('function');
      expect(typeof backend.resyncFrames).toBe('function');
    });
  }
});

describe.each(engines)('%s engine', (name, engine, minChain) => {
  test('a failing validator stops the scan at its frame (status 5, validator in slot 4)', () => {
    for (const kind of [Kind.None, ...CHECKSUMS]) {
      const { buf, at } = frames(kind, [
        telemetry(0),
        telemetry(1),
        new Uint8Array(5),
        telemetry(3),
      ]);
      const { chain, index: failing } = minChain(12);
      const index = scan(engine, buf, kind, chain);
      const header = 4 + KIND_WIDTH[kind]!;
      expect(Array.from(index.subarray(0, INDEX_HEADER))).toEqual([
        ScanStatus.ValidationFailed,
        2,
        at[2],
        5,
        failing,
        0,
      ]);
      expect(Array.from(index.subarray(INDEX_HEADER, INDEX_HEADER + 4))).toEqual([
        at[0]! + header,
        telemetry(0).length,
        at[1]! + header,
        telemetry(1).length,
      ]);
      // Past the failing frame the scan goes on; without validators it runs to the end.
      expect(scan(engine, buf, kind, chain, at[3])[IndexSlot.status]).toBe(ScanStatus.End);
      expect(scan(engine, buf, kind)[IndexSlot.status]).toBe(ScanStatus.End);
    }
  });

  test('the checksum is verified before the validators', () => {
    const { buf, at } = frames(Kind.Crc32c, [telemetry(0), new Uint8Array(5)]);
    buf[at[1]! + 8 + 2]! ^= 1;
    const index = scan(engine, buf, Kind.Crc32c, minChain(12).chain);
    expect(index[IndexSlot.status]).toBe(ScanStatus.ChecksumMismatch);
    expect(index[IndexSlot.consumed]).toBe(at[1]);
    expect(index[IndexSlot.validator]).toBe(0);
  });

  test('resync refuses a stream without a checksum', () => {
    const { buf } = frames(Kind.None, [telemetry(0)]);
    expect(errorOf(() => resync(engine, buf, 0, Kind.None, 1)).name).toBe('RangeError');
  });

  test('after every single-byte corruption, resync lands on the next intact frame', () => {
    const payloads = [0, 3, 1, 300, 48, 7].map((n, i) => bytes(n, i + 1));
    for (const kind of CHECKSUMS) {
      const { buf, at } = frames(kind, payloads);
      for (let i = 0; i < buf.length; i++) {
        const bad = buf.slice();
        bad[i]! ^= 0x80;
        let frame = 0;
        while (at[frame + 1]! <= i) frame++;
        const index = scan(engine, bad, kind);
        expect(index[IndexSlot.consumed]).toBe(at[frame]);
        const [p, keep, n] = resync(engine, bad, at[frame]!, kind, 2);
        if (frame + 1 < payloads.length) {
          expect(p).toBe(at[frame + 1]);
          expect(n).toBe(Math.min(2, payloads.length - frame - 1));
          expect(keep).toBeGreaterThan(at[frame]!);
          expect(keep).toBeLessThanOrEqual(p);
        } else {
          expect(p).toBe(-1);
        }
      }
    }
  });

  test('resync skips frames whose payloads fail the validators', () => {
    const { buf, at } = frames(Kind.XxHash64, [
      bytes(30),
      new Uint8Array(5),
      telemetry(1),
      telemetry(2),
    ]);
    buf[at[0]! + 14]! ^= 1;
    expect(resync(engine, buf, 0, Kind.XxHash64, 2)[0]).toBe(at[1]);
    expect(resync(engine, buf, 0, Kind.XxHash64, 2, minChain(12).chain)[0]).toBe(at[2]);
  });

  test('resync keeps the bytes of a frame that may still complete', () => {
    const next = frames(Kind.Crc32, [bytes(20)]).buf;
    const buf = new Uint8Array(16 + next.length - 5).fill(0xff);
    buf.set([8, 0, 0, 0], 0);
    buf.set(next.subarray(0, next.length - 5), 16);
    expect(resync(engine, buf, 0, Kind.Crc32, 1, undefined, 64)).toEqual([-1, 16, 0]);
  });

  test('resync finds the smallest offset whose run verifies; everything before keep is ruled out', () => {
    const rnd = lcg(11);
    for (let round = 0; round < 12; round++) {
      const kind = CHECKSUMS[rnd(CHECKSUMS.length)]!;
      const buf = randomStream(rnd, kind);
      const bound = rnd(2) ? 64 : 2 ** 31;
      for (const chain of [undefined, minChain(1).chain]) {
        for (const run of [1, 2, 3]) {
          for (let start = 0; start <= buf.length; start += 1 + rnd(8)) {
            const [p, keep, n] = resync(engine, buf, start, kind, run, chain, bound);
            const limit = p >= 0 ? p : buf.length;
            const verdicts: Verdict[] = [];
            for (let q = start + 1; q < limit; q++) {
              verdicts.push(oracle(engine, buf, q, kind, run, chain, bound));
            }
            expect(verdicts).not.toContain('valid');
            expect(verdicts.slice(0, keep - start - 1)).not.toContain('undecided');
            expect(keep).toBeGreaterThan(start);
            if (p >= 0) {
              expect(oracle(engine, buf, p, kind, run, chain, bound)).toBe('valid');
              expect(n).toBeGreaterThanOrEqual(1);
              expect(n).toBeLessThanOrEqual(run);
              expect(keep).toBeLessThanOrEqual(p);
            }
            if (keep < limit) {
              expect(oracle(engine, buf, keep, kind, run, chain, bound)).toBe('undecided');
            }
          }
        }
      }
    }
  });

  if (name === 'typescript') {
    test('a JS chain is shown each payload exactly, after its checksum', () => {
      const { buf, at } = frames(Kind.Crc32, [telemetry(0), telemetry(1), new Uint8Array(5)]);
      const seen: [number, number][] = [];
      scan(engine, buf, Kind.Crc32, minSize(12, seen));
      expect(seen).toEqual([0, 1, 2].map((i) => [at[i]! + 8, i === 2 ? 5 : telemetry(i).length]));
      seen.length = 0;
      buf[at[1]! + 9]! ^= 1;
      expect(scan(engine, buf, Kind.Crc32, minSize(12, seen))[IndexSlot.status]).toBe(
        ScanStatus.ChecksumMismatch,
      );
      expect(seen).toEqual([[8, telemetry(0).length]]);
    });
  }
});

// The TypeScript engine gives the addon's results, byte for byte.
(native ? describe : describe.skip)('the TypeScript engine matches the addon', () => {
  test('resync on random mixtures of frames, garbage and zeros, from every start', () => {
    const rnd = lcg(7);
    for (let round = 0; round < 40; round++) {
      const kind = CHECKSUMS[rnd(CHECKSUMS.length)]!;
      const buf = randomStream(rnd, kind);
      const bound = rnd(2) ? 64 : 2 ** 31;
      for (const chain of [undefined, new NativeChainClass!([{ kind: 'size', min: 1 }])]) {
        for (let run = 1; run <= 4; run++) {
          for (let start = 0; start <= buf.length; start += 1 + rnd(3)) {
            expect(resync(jsBackend, buf, start, kind, run, chain, bound)).toEqual(
              resync(backend, buf, start, kind, run, chain, bound),
            );
          }
        }
      }
    }
  });

  test('scans with the native chain stop at the same frame with the same header', () => {
    const chain = new NativeChainClass!([{ kind: 'size', min: 1 }, { kind: 'tableRoot' }]);
    const { buf } = frames(Kind.Crc64, [telemetry(0), telemetry(1), bytes(20), telemetry(2)]);
    const a = scan(jsBackend, buf, Kind.Crc64, chain);
    const b = scan(backend, buf, Kind.Crc64, chain);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(b[IndexSlot.status]).toBe(ScanStatus.ValidationFailed);
    expect(b[IndexSlot.validator]).toBe(1);
  });
});

(NativeChainClass ? describe : describe.skip)('ValidatorChain (native)', () => {
  const Chain = NativeChainClass!;

  test('check: null, or the failing validator and its reason', () => {
    const chain = new Chain([
      { kind: 'size', min: 1, max: 1024 },
      { kind: 'tableRoot', maxDepth: 8 },
      { kind: 'schema', bfbs },
    ]);
    expect(chain.length).toBe(3);
    const rich = lyingRich();
    expect(chain.check(rich, 0, rich.length)).toEqual({
      index: 2,
      reason: expect.stringMatching(/^RichEvent\.label: /),
    });
    expect(chain.check(new Uint8Array(3), 0, 0)).toEqual({
      index: 0,
      reason: 'payload of 0 bytes is shorter than 1',
    });
    expect(chain.check(new Uint8Array(3), 0, 3)).toEqual({ index: 1, reason: 'buffer too small' });
    const t = telemetry(1);
    const tele = new Chain([
      { kind: 'tableRoot' },
      { kind: 'schema', bfbs, rootType: 'Telemetry' },
    ]);
    expect(tele.check(t, 0, t.length)).toBeNull();
    // At an offset, in any view.
    const shifted = new Uint8Array(t.length + 8);
    shifted.set(t, 8);
    expect(tele.check(shifted, 8, t.length)).toBeNull();
    expect(
      tele.check(new DataView(shifted.buffer) as unknown as Uint8Array, 8, t.length),
    ).toBeNull();
    expect(new Chain([]).check(t, 0, 0)).toBeNull();
  });

  test('a bad spec is a TypeError or RangeError; a bad schema an Error saying why', () => {
    const cases: [ChainSpec[], string][] = [
      [{} as unknown as ChainSpec[], 'TypeError'],
      [[{ kind: 'crc' }], 'TypeError'],
      [[null as unknown as ChainSpec], 'TypeError'],
      [[{ kind: 'size', min: 5, max: 4 }], 'RangeError'],
      [[{ kind: 'size', min: -1 }], 'RangeError'],
      [[{ kind: 'size', min: '1' }], 'TypeError'],
      [[{ kind: 'tableRoot', maxDepth: 0 }], 'RangeError'],
      [[{ kind: 'tableRoot', maxDepth: 1.5 }], 'RangeError'],
      [[{ kind: 'tableRoot', maxDepth: 257 }], 'RangeError'],
      [[{ kind: 'tableRoot', checkAlignment: 1 }], 'TypeError'],
      [[{ kind: 'schema' }], 'TypeError'],
      [[{ kind: 'schema', bfbs, rootType: 3 }], 'TypeError'],
      [[{ kind: 'schema', bfbs: new Uint8Array(16) }], 'Error'],
      [[{ kind: 'schema', bfbs, rootType: 'Nope' }], 'Error'],
    ];
    for (const [spec, error] of cases)
      expect([spec, errorOf(() => new Chain(spec)).name]).toEqual([spec, error]);
    expect(
      errorOf(() => new Chain([{ kind: 'schema', bfbs: new Uint8Array(16) }])).message,
    ).toMatch(/binary schema/);
    expect(errorOf(() => new Chain([{ kind: 'schema', bfbs, rootType: 'Nope' }])).message).toMatch(
      /Nope/,
    );
    expect(errorOf(() => (Chain as unknown as () => unknown)()).name).toBe('TypeError');
  });

  test('check refuses a range outside the buffer', () => {
    const chain = new Chain([{ kind: 'tableRoot' }]);
    const buf = new Uint8Array(16);
    expect(errorOf(() => chain.check(buf, 17, 0)).name).toBe('RangeError');
    expect(errorOf(() => chain.check(buf, 8, 9)).name).toBe('RangeError');
    expect(errorOf(() => chain.check(buf, -1, 1)).name).toBe('RangeError');
    expect(errorOf(() => chain.check([] as unknown as Uint8Array, 0, 0)).name).toBe('TypeError');
  });

  test('scanFrames and resyncFrames take only a ValidatorChain', () => {
    const { buf } = frames(Kind.Crc32, [telemetry(0)]);
    const index = new Uint32Array(INDEX_HEADER + 8);
    const Arena = nativeExport('Arena') as new (chunk: number) => object;
    // A JS chain, another class's object (an Arena is an ObjectWrap too), other values.
    for (const bad of [{ check: () => null }, new Arena(4096), 1, 'chain']) {
      expect(
        errorOf(() =>
          backend.scanFrames(buf, 0, buf.length, Kind.Crc32, 4, BOUND, index, bad as never),
        ).name,
      ).toBe('TypeError');
      expect(
        errorOf(() =>
          backend.resyncFrames(buf, 0, buf.length, Kind.Crc32, 4, BOUND, 1, bad as never),
        ).name,
      ).toBe('TypeError');
    }
    expect(backend.scanFrames(buf, 0, buf.length, Kind.Crc32, 4, BOUND, index, undefined)).toBe(1);
    expect(
      errorOf(() => backend.resyncFrames(buf, 0, buf.length, Kind.Crc32, 4, BOUND, 0)).name,
    ).toBe('RangeError');
    const short = new Float64Array(1);
    expect(
      errorOf(() =>
        backend.resyncFrames(buf, 0, buf.length, Kind.Crc32, 4, BOUND, 1, undefined, short),
      ).name,
    ).toBe('TypeError');
    expect(
      errorOf(() =>
        backend.scanFrames(buf, 0, buf.length, Kind.Crc32, 4, BOUND, new Uint32Array(7)),
      ).name,
    ).toBe('RangeError');
  });

  test('inside the batch: a schema failure stops the scan; check() then says why', () => {
    const tele = new Chain([
      { kind: 'tableRoot' },
      { kind: 'schema', bfbs, rootType: 'Telemetry' },
    ]);
    const lie = shortValueTelemetry();
    const { buf, at } = frames(Kind.Crc32c, [telemetry(0), telemetry(1), lie, telemetry(3)]);
    // Sound as a table: TableRoot alone lets it through.
    expect(
      scan(backend, buf, Kind.Crc32c, new Chain([{ kind: 'tableRoot' }]))[IndexSlot.status],
    ).toBe(ScanStatus.End);
    const index = scan(backend, buf, Kind.Crc32c, tele);
    expect(Array.from(index.subarray(0, INDEX_HEADER))).toEqual([
      ScanStatus.ValidationFailed,
      2,
      at[2],
      lie.length,
      1,
      0,
    ]);
    // The slow path names the reason for the error.
    expect(tele.check(buf, index[IndexSlot.consumed]! + 8, index[IndexSlot.length]!)).toEqual({
      index: 1,
      reason: 'Telemetry.value: scalar misaligned',
    });
  });
});
