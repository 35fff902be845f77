// The slab protocol (lib/sinks/slab-source.ts; docs/design.md, "Slab
// protocol") through a SlabSource written here: what the writer calls, with
// which arguments, and what it refuses. The owned and the CaptureSink
// implementations are tested through the writer's own suites.
import {
  DefaultFramer,
  IoError,
  MemorySink,
  StreamWriter,
  type SlabFormat,
  type SlabSource,
  type SlabUnit,
} from '../lib/index';
import { bytes, thrown } from './helpers';

const framer = new DefaultFramer();

/** A lending source: `slabs` units of `slabSize` + 64 bytes of scratch; records every call. */
class Lender implements SlabSource {
  readonly slabSize: number;
  readonly flushIntervalMs = undefined;
  readonly commits: Int32Array;
  drops = 0;
  needsDrain = false;
  calls: string[] = [];
  submitted: Buffer[] = [];
  free: SlabUnit[] = [];
  format: SlabFormat | null = null;
  lending = true;
  constructor(slabSize: number, slabs: number) {
    this.slabSize = slabSize;
    this.commits = new Int32Array(slabs + 1);
    for (let i = 0; i < slabs; i++) {
      const all = new Uint8Array(slabSize + 64);
      this.free.push({
        all,
        slab: all.subarray(0, slabSize),
        view: new DataView(all.buffer, 0, slabSize),
        scratch: all.subarray(slabSize),
        cell: i + 1,
      });
    }
  }
  bind(format: SlabFormat): void {
    this.calls.push('bind');
    this.format = format;
  }
  acquire(): SlabUnit | null {
    this.calls.push('acquire');
    return this.lending ? (this.free.pop() ?? null) : null;
  }
  submit(unit: SlabUnit, end: number, frames: number): void {
    this.calls.push(`submit ${unit.cell} ${end} ${frames} (commit ${this.commits[unit.cell]})`);
    this.submitted.push(Buffer.from(unit.slab.subarray(0, end)));
    this.free.unshift(unit);
  }
  dropped(bytes: number): void {
    this.calls.push(`dropped ${bytes}`);
    this.drops++;
  }
  onFailure(): void {
    this.calls.push('onFailure');
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    this.calls.push('close');
  }
}

test('a SlabSource of your own: bind once, acquire, a commit after every frame, submit with the exact end and count, dropped when none is lent', () => {
  const source = new Lender(32, 2);
  const w = new StreamWriter(source, framer);
  expect(w.sink).toBe(source);
  expect(source.format).toEqual({ kind: framer.kind, headerSize: 4 });
  const commitsSeen: number[] = [];
  for (let i = 0; i < 5; i++) {
    w.writePayload(bytes(10, i)); // 14 bytes: two per 32-byte slab
    commitsSeen.push(source.commits[2]!, source.commits[1]!);
  }
  // Unit 2 first (popped), then 1, then 2 again (given back first in line).
  expect(commitsSeen.slice(0, 4)).toEqual([14, 0, 28, 0]);
  source.lending = false; // nothing lent any more
  w.writePayload(bytes(10, 5)); // still fits the current unit
  w.writePayload(bytes(10, 9)); // submits it; none lent: dropped
  w.writePayload(bytes(10, 9)); // none lent: dropped
  expect(w.stats()).toMatchObject({ frames: 6, drops: 2 });
  w.close();
  expect(source.calls).toEqual([
    'bind',
    'onFailure',
    'acquire',
    'submit 2 28 2 (commit 28)',
    'acquire',
    'submit 1 28 2 (commit 28)',
    'acquire',
    'submit 2 28 2 (commit 28)',
    'acquire',
    'dropped 14',
    'acquire',
    'dropped 14',
    'close',
  ]);
  expect(Buffer.concat(source.submitted)).toEqual(
    Buffer.concat([0, 1, 2, 3, 4, 5].map((i) => framer.frame(bytes(10, i)))),
  );
});

describe('a unit that is not laid out as the protocol says is refused, never staged into', () => {
  const all = new Uint8Array(96);
  const good = (): SlabUnit => ({
    all,
    slab: all.subarray(0, 32),
    view: new DataView(all.buffer, 0, 32),
    scratch: all.subarray(32),
    cell: 0,
  });
  const cases: [string, () => unknown][] = [
    ['a short slab', () => ({ ...good(), slab: all.subarray(0, 16) })],
    ['a scratch in another buffer', () => ({ ...good(), scratch: new Uint8Array(64) })],
    ['a scratch not right after the slab', () => ({ ...good(), scratch: all.subarray(40) })],
    ['a view over another buffer', () => ({ ...good(), view: new DataView(new ArrayBuffer(32)) })],
    ['a view over more than the slab', () => ({ ...good(), view: new DataView(all.buffer) })],
    ['a commit cell outside commits', () => ({ ...good(), cell: 1 })],
    ['a fractional commit cell', () => ({ ...good(), cell: 0.5 })],
    ['not an object', () => 7],
  ];
  test.each(cases)('%s: TypeError ERR_INVALID_RETURN_VALUE at construction', (_n, unit) => {
    const source = new Lender(32, 0);
    Object.assign(source, { commits: new Int32Array(1), acquire: unit });
    const e = thrown(() => new StreamWriter(source, framer));
    expect([e.constructor, e.code]).toEqual([TypeError, 'ERR_INVALID_RETURN_VALUE']);
  });

  test('from a later acquire: the writer fails with IoError for good; the frames before are intact', () => {
    const source = new Lender(32, 1);
    Object.assign(source, { commits: new Int32Array(2) });
    const w = new StreamWriter(source, framer);
    w.writePayload(bytes(20, 1));
    source.free.push({ ...good(), cell: 5 });
    const e = thrown(() => w.writePayload(bytes(20, 2))); // submits the first slab, acquires the bad unit
    expect(e).toBeInstanceOf(IoError);
    expect((e.cause as { code?: string }).code).toBe('ERR_INVALID_RETURN_VALUE');
    expect(thrown(() => w.writePayload(bytes(1)))).toBe(e);
    expect(Buffer.concat(source.submitted)).toEqual(framer.frame(bytes(20, 1)));
    expect(() => w.close()).toThrow(e);
  });
});

test('a plain Sink is not mistaken for a SlabSource, and a SlabSource is not asked to write()', () => {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, framer);
  expect(w.sink).toBe(sink);
  w.writePayload(bytes(3));
  w.close();
  expect(sink.toBuffer()).toEqual(framer.frame(bytes(3)));
});
