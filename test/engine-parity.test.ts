// Engine parity (docs/design.md "The engine contract"): every call of the
// Backend interface (lib/engine/load.ts) runs on the native addon and on the
// TypeScript engine (lib/engine/js/frame.ts, lib/engine/js/) with the same inputs,
// and must give the same results: return values, index and out arrays,
// memo and slab bytes, and the class of what is thrown. Inputs: the
// verifier fixtures' payloads (test/events.ts builds the same ones as
// native/test/verifier_fixtures.h), the wire corpus (test/corpus), edge
// sizes, and seeded random mutations (bit flips, truncations, length-field
// edits). Needs both engines, so it runs in native mode only.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Builder } from 'flatbuffers';
import { type Backend, type ValidatorChainLike, backend, nativeExport } from '../lib/engine/load';
import {
  CHECKSUM_WIDTH,
  ChecksumKind,
  INDEX_HEADER,
  LENGTH_FIELD,
  RESYNC_OUT,
  RESYNC_STEP_OUT,
} from '../lib/engine/contract';
import { JsValidatorChain, type JsValidatorSpec } from '../lib/engine/js/validator-chain';
import { native } from '../lib/index';
import { jsBackend } from '../lib/engine/js/frame';
import { RICH_INPUTS, buildRich, buildTelemetry } from './events';
import { prng } from './helpers';

type Outcome = { ok: unknown } | { threw: string };

/** What a call returned, or the class of what it threw (messages may differ). */
function outcome(fn: () => unknown): Outcome {
  try {
    const v = fn();
    return { ok: typeof v === 'bigint' ? `${v}n` : v };
  } catch (err) {
    return { threw: (err as Error).constructor.name };
  }
}

const KINDS = [0, 1, 2, 3, 4, 5];
const BUILTINS = [1, 2, 3, 4, 5];

function telemetry(i: number): Uint8Array {
  const b = new Builder(64);
  buildTelemetry(b, i);
  return b.asUint8Array();
}
function rich(i: number): Uint8Array {
  const b = new Builder(64);
  buildRich(b, i, RICH_INPUTS[i % RICH_INPUTS.length]!);
  return b.asUint8Array();
}

/** The fixtures: FlatBuffers the validators accept, and a few they do not. */
const FIXTURES: Uint8Array[] = [
  ...[0, 1, 2, 3].map(telemetry),
  ...[0, 1, 2, 3, 4, 5].map(rich),
  Uint8Array.from([4, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 4, 0, 4, 0]),
  Uint8Array.from([12, 0, 0, 0, 6, 0, 4, 0, 2, 0, 0, 0, 8, 0, 0, 0]),
  new Uint8Array(0),
  new Uint8Array(12),
];

/** The wire corpus shared with flatstream-rs: whole streams. */
const CORPUS: Uint8Array[] = readdirSync(join(__dirname, 'corpus'))
  .filter((f) => f.endsWith('.hex'))
  .map((f) =>
    Uint8Array.from(Buffer.from(readFileSync(join(__dirname, 'corpus', f), 'utf8').trim(), 'hex')),
  );

/** Frames `payloads` for `kind`, sealed by the native engine. */
function stream(payloads: Uint8Array[], kind: number): Uint8Array {
  const header = LENGTH_FIELD + CHECKSUM_WIDTH[kind]!;
  const out = new Uint8Array(payloads.reduce((n, p) => n + header + p.length, 0));
  let pos = 0;
  for (const p of payloads) {
    new DataView(out.buffer).setUint32(pos, p.length, true);
    out.set(p, pos + header);
    pos += header + p.length;
  }
  backend.sealFrames(out, 0, out.length, kind);
  return out;
}

/** A seeded mutation: a bit flip, a truncation, or a length-field edit. */
function mutate(buf: Uint8Array, r: (n: number) => number, header: number): Uint8Array {
  const b = Uint8Array.from(buf);
  if (b.length === 0) return b;
  switch (r(4)) {
    case 0:
      b[r(b.length)]! ^= 1 << r(8);
      return b;
    case 1:
      return b.subarray(0, r(b.length));
    case 2: {
      // A length field: at a frame start when the walk finds one, else anywhere.
      let pos = 0;
      const stops = [0];
      while (pos + header <= b.length) {
        pos += header + new DataView(b.buffer, b.byteOffset).getUint32(pos, true);
        if (pos < b.length) stops.push(pos);
      }
      const at = stops[r(stops.length)]!;
      const lens = [0, 1, 2, 7, 255, 256, 0xffff, 0xffffffff, r(64), r(1 << 20)];
      if (at + 4 <= b.length)
        new DataView(b.buffer, b.byteOffset).setUint32(at, lens[r(lens.length)]!, true);
      return b;
    }
    default:
      b[r(b.length)] = r(256);
      return b;
  }
}

interface Chains {
  native: ValidatorChainLike;
  js: ValidatorChainLike;
}
const NativeChain = nativeExport('ValidatorChain') as
  (new (specs: JsValidatorSpec[]) => ValidatorChainLike) | undefined;
function chains(specs: JsValidatorSpec[]): Chains {
  return { native: new NativeChain!(specs), js: new JsValidatorChain(specs) };
}

const tableRoot = (checkAlignment: boolean): JsValidatorSpec => ({
  kind: 'tableRoot',
  maxDepth: 64,
  maxTables: 1_000_000,
  checkAlignment,
});

let mutations = 0;

/** Runs one scanFrames on both engines and asserts the same outcome and index. */
function scanBoth(
  buf: Uint8Array,
  start: number,
  end: number,
  kind: number,
  width: number,
  bound: number,
  slots: number,
  v?: Chains,
): void {
  const idxN = new Uint32Array(slots).fill(0xdeadbeef);
  const idxJ = new Uint32Array(slots).fill(0xdeadbeef);
  const n = outcome(() => backend.scanFrames(buf, start, end, kind, width, bound, idxN, v?.native));
  const j = outcome(() => jsBackend.scanFrames(buf, start, end, kind, width, bound, idxJ, v?.js));
  const what = { kind, width, start, end, bound, slots, len: buf.length };
  expect({ ...what, r: j, idx: Array.from(idxJ) }).toEqual({
    ...what,
    r: n,
    idx: Array.from(idxN),
  });
}

/** Runs the plain resync search on both engines. */
function resyncBoth(
  buf: Uint8Array,
  start: number,
  kind: number,
  bound: number,
  run: number,
  v?: Chains,
): void {
  const outN = new Float64Array(RESYNC_OUT).fill(-7);
  const outJ = new Float64Array(RESYNC_OUT).fill(-7);
  const w = CHECKSUM_WIDTH[kind]!;
  const n = outcome(() =>
    backend.resyncFrames(buf, start, buf.length, kind, w, bound, run, v?.native, outN),
  );
  const j = outcome(() =>
    jsBackend.resyncFrames(buf, start, buf.length, kind, w, bound, run, v?.js, outJ),
  );
  const what = { kind, start, bound, run, len: buf.length };
  expect({ ...what, r: j, out: Array.from(outJ) }).toEqual({
    ...what,
    r: n,
    out: Array.from(outN),
  });
}

/** Runs one step of skip mode's search on both engines, twice (the memo carried). */
function stepBoth(
  buf: Uint8Array,
  start: number,
  kind: number,
  bound: number,
  natural: number,
  eof: boolean,
  v?: Chains,
): void {
  const w = CHECKSUM_WIDTH[kind]!;
  const memoN = new Uint8Array(buf.length);
  const memoJ = new Uint8Array(buf.length);
  const outN = new Float64Array(RESYNC_STEP_OUT);
  const outJ = new Float64Array(RESYNC_STEP_OUT);
  // A first step on a prefix, then one on the whole buffer with the memo and budget kept.
  for (const end of [Math.max(start, buf.length >> 1), buf.length]) {
    const nat = natural <= end ? natural : -1;
    const last = end === buf.length && eof;
    const n = outcome(() =>
      backend.resyncFrames(buf, start, end, kind, w, bound, 1, v?.native, outN, memoN, nat, last),
    );
    const j = outcome(() =>
      jsBackend.resyncFrames(buf, start, end, kind, w, bound, 1, v?.js, outJ, memoJ, nat, last),
    );
    const what = { kind, start, end, bound, natural: nat, eof: last, len: buf.length };
    expect({ ...what, r: j, out: Array.from(outJ), memo: Array.from(memoJ) }).toEqual({
      ...what,
      r: n,
      out: Array.from(outN),
      memo: Array.from(memoN),
    });
  }
}

const describeNative = native ? describe : describe.skip;
if (!native) {
  // Said in the output: this file compares the two engines, which needs the addon.
  test.skip('engine parity needs the native addon (FLATSTREAM_NATIVE=0 runs only the TS engine)', () => {});
}

describeNative('engine parity: native addon vs TypeScript engine', () => {
  const engines: [string, Backend][] = [
    ['native', backend],
    ['js', jsBackend],
  ];
  test('the native engine is the addon, the other the TS engine', () => {
    expect(backend).not.toBe(jsBackend);
    expect(jsBackend.checksumImpl(1)).toBe('js');
    expect(engines.map(([, e]) => e.checksumImpl(2) === 'js')).toEqual([false, true]);
  });

  test('checksum and checksumImpl: every kind, edge sizes, random data, bad kinds', () => {
    const r = prng(11);
    const sizes = [
      0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 240, 241, 1000, 4096,
    ];
    for (const kind of KINDS) {
      for (const size of sizes) {
        for (let rep = 0; rep < 4; rep++) {
          const data = Uint8Array.from({ length: size }, () => r(256));
          expect([kind, size, outcome(() => jsBackend.checksum(kind, data))]).toEqual([
            kind,
            size,
            outcome(() => backend.checksum(kind, data)),
          ]);
        }
      }
    }
    for (const bad of [6, 7, 255, -1, 1.5, NaN]) {
      expect(outcome(() => jsBackend.checksum(bad, new Uint8Array(1)))).toEqual(
        outcome(() => backend.checksum(bad, new Uint8Array(1))),
      );
      expect(outcome(() => jsBackend.checksumImpl(bad))).toEqual(
        outcome(() => backend.checksumImpl(bad)),
      );
    }
  });

  test('sealFrames: staged streams, mutated staging, edge sizes', () => {
    const r = prng(12);
    for (const kind of KINDS) {
      const header = LENGTH_FIELD + CHECKSUM_WIDTH[kind]!;
      const staged = stream(FIXTURES, ChecksumKind.None).slice(); // lengths only
      const bodies = [
        // re-staged for this kind's header: length + blank checksum + payload
        (() => {
          const s = new Uint8Array(FIXTURES.reduce((n, p) => n + header + p.length, 0));
          let pos = 0;
          for (const p of FIXTURES) {
            new DataView(s.buffer).setUint32(pos, p.length, true);
            s.set(p, pos + header);
            pos += header + p.length;
          }
          return s;
        })(),
        staged,
        new Uint8Array(0),
        new Uint8Array(1),
        new Uint8Array(header - 1),
        new Uint8Array(header),
        new Uint8Array(header + 1),
      ];
      for (let i = 0; i < 1500; i++) {
        const base = bodies[i % bodies.length]!;
        const b = i < bodies.length ? base : mutate(base, r, header);
        mutations += i < bodies.length ? 0 : 1;
        const start = r(4) === 0 ? r(b.length + 1) : 0;
        const sN = Uint8Array.from(b);
        const sJ = Uint8Array.from(b);
        const n = outcome(() => backend.sealFrames(sN, start, sN.length, kind));
        const j = outcome(() => jsBackend.sealFrames(sJ, start, sJ.length, kind));
        expect({ kind, i, r: j, slab: Buffer.from(sJ).toString('hex') }).toEqual({
          kind,
          i,
          r: n,
          slab: Buffer.from(sN).toString('hex'),
        });
      }
    }
  });

  test('scanFrames: fixtures and corpus, every kind, with and without validators, mutated', () => {
    const r = prng(13);
    const validatorSets: (Chains | undefined)[] = [
      undefined,
      chains([tableRoot(true)]),
      chains([tableRoot(false)]),
      chains([{ kind: 'size', min: 12, max: 200 }, tableRoot(true)]),
    ];
    const bounds = [64, 256, 2 ** 31, 2 ** 32 - 1];
    for (const kind of KINDS) {
      const width = CHECKSUM_WIDTH[kind]!;
      const header = LENGTH_FIELD + width;
      const base = stream(FIXTURES, kind);
      const inputs = [base, ...CORPUS];
      for (let i = 0; i < 6000; i++) {
        const src = inputs[i % inputs.length]!;
        const b = i < inputs.length ? src : mutate(src, r, header);
        if (i >= inputs.length) mutations++;
        const start = r(3) === 0 ? r(b.length + 1) : 0;
        const end = r(3) === 0 ? start + r(b.length - start + 1) : b.length;
        const slots = INDEX_HEADER + 2 * (1 + r(20));
        scanBoth(b, start, end, kind, width, bounds[r(bounds.length)]!, slots, validatorSets[r(4)]);
      }
      // A custom checksum: kind None with another width, the field skipped.
      for (const w of [1, 3, 5, 8]) {
        const s = stream(FIXTURES, ChecksumKind.None);
        scanBoth(s, 0, s.length, ChecksumKind.None, w, 2 ** 31, INDEX_HEADER + 64);
      }
    }
  });

  test('scanFrames: edge sizes around the header and the bound', () => {
    const bound = 40;
    for (const kind of KINDS) {
      const width = CHECKSUM_WIDTH[kind]!;
      const header = LENGTH_FIELD + width;
      for (const size of [0, 1, header - 1, header]) {
        scanBoth(new Uint8Array(size), 0, size, kind, width, bound, INDEX_HEADER + 2);
      }
      for (const len of [0, 1, bound - 1, bound, bound + 1, 2 ** 32 - 1]) {
        const payload = new Uint8Array(Math.min(len, bound + 1)).fill(7);
        const s = stream([payload], kind);
        if (len > bound + 1) new DataView(s.buffer).setUint32(0, len, true);
        for (const cut of [s.length, s.length - 1, header, header - 1]) {
          scanBoth(s, 0, Math.max(0, cut), kind, width, bound, INDEX_HEADER + 2);
        }
        scanBoth(s, 0, s.length, kind, width, bound, INDEX_HEADER + 2, chains([tableRoot(true)]));
      }
      // Bad arguments: the same class thrown.
      scanBoth(new Uint8Array(8), 0, 8, kind, width, bound, INDEX_HEADER + 1);
      scanBoth(new Uint8Array(8), 0, 8, 9, width, bound, INDEX_HEADER + 2);
    }
  });

  test('resyncFrames, the plain search: mutated streams, runs, bad arguments', () => {
    const r = prng(14);
    for (const kind of BUILTINS) {
      const header = LENGTH_FIELD + CHECKSUM_WIDTH[kind]!;
      const base = stream([...FIXTURES, ...FIXTURES.slice(0, 4)], kind);
      for (let i = 0; i < 1500; i++) {
        const b = i === 0 ? base : mutate(base, r, header);
        if (i > 0) mutations++;
        const v = r(3) === 0 ? chains([tableRoot(r(2) === 0)]) : undefined;
        resyncBoth(b, r(Math.max(1, b.length)), kind, [64, 512, 2 ** 31][r(3)]!, 1 + r(3), v);
      }
      for (const size of [0, 1, header - 1, header, header + 1]) {
        resyncBoth(new Uint8Array(size), 0, kind, 64, 1);
      }
    }
    // Kind 0 and a run of 0 are refused by both.
    resyncBoth(stream(FIXTURES, 0), 0, 0, 64, 1);
    resyncBoth(stream(FIXTURES, 2), 0, 2, 64, 0);
    const short = new Float64Array(1);
    expect(
      outcome(() => jsBackend.resyncFrames(new Uint8Array(8), 0, 8, 2, 4, 64, 1, undefined, short)),
    ).toEqual(
      outcome(() => backend.resyncFrames(new Uint8Array(8), 0, 8, 2, 4, 64, 1, undefined, short)),
    );
  });

  test('resyncFrames, one step of skip mode: mutated streams, natural candidates, eof', () => {
    const r = prng(15);
    for (const kind of BUILTINS) {
      const header = LENGTH_FIELD + CHECKSUM_WIDTH[kind]!;
      // Short streams: a step may checksum every frame its buffer declares.
      const base = stream([...FIXTURES.slice(0, 4), ...FIXTURES.slice(10, 12)], kind);
      for (let i = 0; i < 1500; i++) {
        const b = i === 0 ? base : mutate(base, r, header);
        if (i > 0) mutations++;
        const start = r(Math.max(1, b.length));
        const natural = r(2) === 0 ? -1 : start + r(b.length - start + 1);
        const v = r(3) === 0 ? chains([tableRoot(true)]) : undefined;
        stepBoth(b, start, kind, [64, 512, 2 ** 31][r(3)]!, natural, r(2) === 0, v);
      }
      for (const size of [0, 1, header - 1, header, header + 1]) {
        stepBoth(new Uint8Array(size), 0, kind, 64, -1, true);
      }
    }
  });

  test('the validator chain check: fixtures and mutated payloads, every reason', () => {
    const r = prng(16);
    const sets = [
      chains([tableRoot(true)]),
      chains([tableRoot(false)]),
      chains([{ kind: 'size', min: 12, max: 100 }, tableRoot(true)]),
      chains([{ kind: 'tableRoot', maxDepth: 1, maxTables: 1, checkAlignment: true }]),
    ];
    const reasons = new Set<string>();
    for (let i = 0; i < 60_000; i++) {
      const f = FIXTURES[i % FIXTURES.length]!;
      const p = i < FIXTURES.length ? f : mutate(f, r, 4);
      if (i >= FIXTURES.length) mutations++;
      // At an offset inside a larger buffer too: alignment is the payload's own.
      const pad = r(3) === 0 ? 1 + r(7) : 0;
      const buf = new Uint8Array(pad + p.length + r(3));
      buf.set(p, pad);
      const c = sets[i % sets.length]!;
      const n = c.native.check(buf, pad, p.length);
      expect({ i, r: c.js.check(buf, pad, p.length) }).toEqual({ i, r: n });
      if (n) reasons.add(n.reason);
    }
    // The mutations reach the checks, not just the first one.
    expect(reasons.size).toBeGreaterThanOrEqual(10);
  });

  test('at least 100 k seeded mutations ran across the calls (runs last)', () => {
    expect(mutations).toBeGreaterThanOrEqual(100_000);
  });
});
