import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Arena, type NativeArenaClass } from '../lib/write/arena';
import { MODE, thrown } from './helpers';

const KiB = 1024;

/** Deterministic sizes (an LCG), so failures reproduce. */
function sizes(n: number, max: number, seed = 7): number[] {
  const out: number[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push((x >>> 8) % max);
  }
  return out;
}

describe(`Arena (${MODE})`, () => {
  test('uses native chunks exactly when the addon is in use', () => {
    expect(new Arena().native).toBe(MODE === 'native');
  });

  test('blocks never overlap, start on 8-byte boundaries and keep their bytes', () => {
    const arena = new Arena({ chunkSize: 4 * KiB });
    const blocks = sizes(3000, 700).map((n) => arena.block(n));
    blocks.forEach((b, i) => b.fill(i & 0xff));
    const byChunk = new Map<ArrayBufferLike, Uint8Array[]>();
    for (const b of blocks) {
      expect(b.byteOffset % 8).toBe(0);
      byChunk.set(b.buffer, [...(byChunk.get(b.buffer) ?? []), b]);
    }
    for (const list of byChunk.values()) {
      list.sort((a, b) => a.byteOffset - b.byteOffset);
      for (let i = 1; i < list.length; i++) {
        expect(list[i]!.byteOffset).toBeGreaterThanOrEqual(
          list[i - 1]!.byteOffset + list[i - 1]!.length,
        );
      }
    }
    blocks.forEach((b, i) => expect(b.every((v) => v === (i & 0xff))).toBe(true));
    // One ArrayBuffer per chunk, shared by all its blocks.
    expect(byChunk.size).toBe(arena.stats().chunks);
  });

  test('the same calls give the same blocks and stats in both modes', () => {
    const arena = new Arena({ chunkSize: KiB });
    const got = [100, 900, 24, 5000, 1, 0].map((n) => {
      const b = arena.block(n);
      return [b.byteOffset, b.length, b.buffer.byteLength];
    });
    expect(got).toEqual([
      [0, 100, 1024],
      [104, 900, 1024], // aligned up from 100
      [0, 24, 1024], // 1008 + 24 > 1024: a new chunk
      [0, 5000, 5000], // larger than a chunk: its own
      [0, 1, 1024],
      [8, 0, 1024],
    ]);
    expect(arena.stats()).toEqual({
      capacity: 3 * KiB + 5000,
      inUse: 100 + 904 + 24 + 5000 + 1 + 7,
      highWaterMark: 6036,
      chunks: 4,
      chunksAllocated: 4,
    });
  });

  test('the high-water mark keeps the peak across resets', () => {
    const arena = new Arena({ chunkSize: KiB });
    for (let i = 0; i < 3; i++) arena.block(100); // [0,100) [104,204) [208,308)
    arena.reset();
    arena.block(8);
    expect(arena.stats()).toMatchObject({ inUse: 8, highWaterMark: 308 });
    for (let i = 0; i < 20; i++) arena.block(100); // the peak moves up, across chunks
    // 9 blocks end at 940 in the first chunk, 9 at 932 in a second, 2 at 204 in a third.
    expect(arena.stats()).toMatchObject({ highWaterMark: 940 + 932 + 204, chunks: 3 });
  });

  test('reset reuses the same memory: no new chunk after warm-up', () => {
    const arena = new Arena({ chunkSize: 16 * KiB });
    const plan = sizes(200, 2000, 3).concat([40 * KiB, 16, 100 * KiB, 8]);
    const first = plan.map((n) => arena.block(n));
    const warm = arena.stats();
    expect(warm.chunksAllocated).toBeGreaterThan(3);
    for (let round = 0; round < 200; round++) {
      arena.reset();
      expect(arena.stats().inUse).toBe(0);
      for (let i = 0; i < plan.length; i++) {
        const b = arena.block(plan[i]!);
        if (b.buffer !== first[i]!.buffer || b.byteOffset !== first[i]!.byteOffset) {
          throw new Error(`round ${round}: block ${i} moved`);
        }
      }
    }
    expect(arena.stats()).toEqual(warm);
  });

  test('a block larger than a chunk gets a chunk of its own, reused after reset', () => {
    const arena = new Arena({ chunkSize: 4 * KiB });
    const small = arena.block(10);
    const big = arena.block(3 * 4 * KiB + 5);
    expect(big.buffer.byteLength).toBe(3 * 4 * KiB + 5);
    expect(big.buffer).not.toBe(small.buffer);
    const huge = arena.block(8 * 1024 * KiB);
    huge.fill(0xab);
    expect(huge[huge.length - 1]).toBe(0xab);
    arena.reset();
    // A big block first skips the small chunk and takes a big one that fits.
    expect(arena.block(5 * 1024 * KiB).buffer).toBe(huge.buffer);
    expect(arena.stats().chunksAllocated).toBe(3);
  });

  test('new chunks are zero-filled', () => {
    const arena = new Arena({ chunkSize: 4 * KiB });
    for (let i = 0; i < 10; i++) expect(arena.block(3 * KiB).every((v) => v === 0)).toBe(true);
    expect(arena.block(256 * KiB).every((v) => v === 0)).toBe(true);
  });

  test('shrink frees chunks down to the baseline, keeping those in use', () => {
    const arena = new Arena({ chunkSize: KiB, baseline: 2 * KiB });
    expect(arena.baseline).toBe(2 * KiB);
    const blocks = Array.from({ length: 10 }, () => arena.block(1000));
    arena.block(50 * KiB);
    expect(arena.stats().chunks).toBe(11);
    arena.shrink(); // every chunk has a block in use since the last reset
    expect(arena.stats().chunks).toBe(11);
    arena.reset();
    arena.shrink();
    expect(arena.stats()).toEqual({
      capacity: 2 * KiB,
      inUse: 0,
      highWaterMark: 0,
      chunks: 2,
      chunksAllocated: 11,
    });
    // Views of freed chunks stay usable memory.
    for (const b of blocks) b.fill(1);
    expect(blocks[9]!.every((v) => v === 1)).toBe(true);
    // The kept chunks serve first, then the arena grows again.
    expect(arena.block(1000).buffer).toBe(blocks[0]!.buffer);
    arena.block(1000);
    arena.block(1000);
    expect(arena.stats().chunksAllocated).toBe(12);
    expect(arena.stats().highWaterMark).toBe(3000);
  });

  test('the default baseline is one chunk; baseline 0 frees everything', () => {
    const a = new Arena();
    expect(a.chunkSize).toBe(64 * KiB);
    expect(a.baseline).toBe(64 * KiB);
    for (let i = 0; i < 5; i++) a.block(60 * KiB);
    a.reset();
    a.shrink();
    expect(a.stats().capacity).toBe(64 * KiB);
    const b = new Arena({ chunkSize: 256, baseline: 0 });
    b.block(100);
    b.reset();
    b.shrink();
    expect(b.stats()).toMatchObject({ capacity: 0, chunks: 0 });
    expect(b.block(8).length).toBe(8);
  });

  test('bad arguments throw Node-style errors', () => {
    const bad: [() => unknown, string, string][] = [
      [() => new Arena(5 as never), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => new Arena({ chunkSize: '1024' as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => new Arena({ chunkSize: 63 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => new Arena({ chunkSize: 1.5 * KiB + 0.5 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => new Arena({ chunkSize: 2 ** 31 + 1 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => new Arena({ baseline: -1 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => new Arena({ baseline: NaN }), 'RangeError', 'ERR_OUT_OF_RANGE'],
    ];
    const arena = new Arena();
    for (const size of [-1, 1.5, NaN, Infinity, 2 ** 31 + 1]) {
      bad.push([() => arena.block(size), 'RangeError', 'ERR_OUT_OF_RANGE']);
    }
    for (const size of ['8', undefined, 8n, null]) {
      bad.push([() => arena.block(size as never), 'TypeError', 'ERR_INVALID_ARG_TYPE']);
    }
    for (const [fn, name, code] of bad) {
      const e = thrown(fn);
      expect([e.name, e.code]).toEqual([name, code]);
    }
    expect(arena.stats().chunksAllocated).toBe(0);
  });
});

describe('Arena engine selection', () => {
  const realBackend = jest.requireActual<typeof import('../lib/engine/load')>('../lib/engine/load');

  /** lib/write/arena.ts loaded against an addon whose Arena class is `cls`. */
  function arenaWith(cls: unknown): typeof import('../lib/write/arena') {
    let mod: typeof import('../lib/write/arena') | undefined;
    jest.isolateModules(() => {
      jest.doMock('../lib/engine/load', () => ({
        ...realBackend,
        nativeExport: (name: string) => (name === 'Arena' ? cls : realBackend.nativeExport(name)),
      }));
      mod = require('../lib/write/arena') as typeof import('../lib/write/arena');
    });
    jest.dontMock('../lib/engine/load');
    return mod!;
  }

  test('a host that forbids external ArrayBuffers gets JS chunks, not a failure', () => {
    const Forbidden = Object.assign(
      function () {
        throw new Error('must not be constructed');
      },
      { externalBuffers: false },
    );
    const { Arena: A } = arenaWith(Forbidden);
    const arena = new A({ chunkSize: KiB });
    expect(arena.native).toBe(false);
    expect(arena.block(100).byteLength).toBe(100);
  });

  test('an addon without Arena (an older build) gets JS chunks', () => {
    expect(new (arenaWith(undefined).Arena)().native).toBe(false);
  });

  test('running out of memory is an ERR_MEMORY_ALLOCATION_FAILED error', () => {
    class Exhausted {
      static externalBuffers = true;
      readonly state = new Float64Array(7);
      block(): null {
        return null;
      }
    }
    const arena = new (arenaWith(Exhausted).Arena)();
    expect(arena.native).toBe(true);
    const e = thrown(() => arena.block(64));
    expect(e.code).toBe('ERR_MEMORY_ALLOCATION_FAILED');
    expect(e.message).toMatch(/64 bytes/);
  });
});

// Chunk lifetime across GC needs --expose-gc, hence its own Node process
// (running lib/write/arena.ts through the TypeScript compiler).
const lifetimeScript = `
const fs = require('node:fs');
const ts = require('typescript');
require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'), {
  compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 }, fileName: file,
}).outputText, file);
const { Arena } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'write', 'arena.ts'))});
const { nativeExport } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'engine', 'load.ts'))});
const live = () => nativeExport('Arena').liveChunks();
const settle = async (done) => {
  for (let i = 0; i < 50 && !done(); i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
};
const same = (view, v) => view.every((x) => x === v);
// If freed chunks were reused, these allocations would overwrite them. (A
// function of its own: an async frame would keep its last arena reachable.)
function churn() {
  for (let i = 0; i < 50; i++) {
    const a = new Arena({ chunkSize: 4096 });
    for (let k = 0; k < 30; k++) a.block(4000).fill(0xee);
    a.block(100000).fill(0xee);
  }
}
(async () => {
  const base = live();
  let arena = new Arena({ chunkSize: 4096, baseline: 0 });
  let small = arena.block(1000).fill(0x5a);
  let big = arena.block(100000).fill(0xa5);
  const whileHeld = live() - base;
  arena.reset();
  arena.shrink();
  const capacity = arena.stats().capacity;
  await settle(() => false);
  const afterShrink = live() - base;
  churn();
  const intactAfterShrink = same(small, 0x5a) && same(big, 0xa5);
  arena = null;
  await settle(() => live() - base === 2);
  const afterDrop = live() - base;
  small.fill(1); big.fill(2);
  const writableAfterDrop = same(small, 1) && same(big, 2);
  small = big = null;
  await settle(() => live() === base);
  console.log(JSON.stringify({ whileHeld, capacity, afterShrink, intactAfterShrink, afterDrop,
    writableAfterDrop, afterViewsDropped: live() - base }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

(MODE === 'native' ? describe : describe.skip)('Arena chunk lifetime (native)', () => {
  test('a view stays valid after shrink() and after the Arena is collected; then the chunk is freed', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '-e', lifetimeScript], {
      cwd: join(__dirname, '..'),
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({
      whileHeld: 2,
      capacity: 0,
      afterShrink: 2, // the arena let go, the views' ArrayBuffers did not
      intactAfterShrink: true,
      afterDrop: 2, // the Arena was collected, the chunks were not
      writableAfterDrop: true,
      afterViewsDropped: 0, // the last view gone: both chunks freed, nothing leaked
    });
  });
});
