// StreamReader's contracts (docs/design.md, "Wire format and checksums",
// "Data paths", "Engine contract" and "Error model"), one named test
// (or describe) per contract. reader-sources.test.ts covers each built-in
// checksum from AsyncIterables in chunks of 1/7/4096/random, a Readable and
// files; this file extends that to every source × every deframer (plain,
// built-ins, custom JS checksums, bounded) × every API, and pins the rest.
//
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  createReadStream,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FRAME, FrameCursor, NEED } from '../lib/read/cursor';
import {
  AdaptiveWatermarkPolicy,
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  DefaultDeframer,
  DefaultFramer,
  FlatStreamError,
  InvalidFrameError,
  IoError,
  MemorySink,
  NoChecksum,
  StreamReader,
  StreamWriter,
  UnexpectedEofError,
  XxHash64,
  type Checksum,
  type Deframer,
  type FrameInfo,
  type Framer,
  type ReadSource,
} from '../lib/index';
import { Telemetry, buildTelemetry } from './events';
import { bytes, thrown, writeAll } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'flatstream-reader-contracts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function tmpFile(data: Uint8Array): string {
  const path = join(dir, `s${files++}.fst`);
  writeFileSync(path, data);
  return path;
}

// ---- sources ------------------------------------------------------------------

let seed = 99;
const random = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return 1 + ((seed >>> 16) % 997);
};

function chunkList(buf: Uint8Array, size: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < buf.length;) {
    const n = size();
    out.push(buf.slice(at, at + n)); // fresh memory per chunk, as a socket gives
    at += n;
  }
  return out;
}
function iterable(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      for (const c of chunks) yield c;
    },
  };
}
/** A real Readable (not object mode) that pushes the given chunks as they are asked for. */
function readable(chunks: Uint8Array[]): Readable {
  let i = 0;
  return new Readable({
    highWaterMark: 64,
    read() {
      this.push(i < chunks.length ? chunks[i++] : null);
    },
  });
}

const SIZES: [string, () => number][] = [
  ['1', () => 1],
  ['7', () => 7],
  ['4096', () => 4096],
  ['random', random],
];

interface Source {
  name: string;
  make(stream: Uint8Array, size: () => number): ReadSource;
  sync: boolean;
  /** Files: a read size stands for the chunk size (readSize >= 16). */
  readSize?: (size: () => number) => number;
}

const SOURCES: Source[] = [
  { name: 'bytes', make: (s) => s, sync: true },
  {
    name: 'path, sync API',
    make: (s) => tmpFile(s),
    sync: true,
    readSize: (z) => Math.max(16, z()),
  },
  {
    name: 'path, async API',
    make: (s) => tmpFile(s),
    sync: false,
    readSize: (z) => Math.max(16, z()),
  },
  {
    name: 'URL, sync API',
    make: (s) => new URL(`file://${tmpFile(s)}`),
    sync: true,
    readSize: (z) => Math.max(16, z()),
  },
  { name: 'AsyncIterable', make: (s, z) => iterable(chunkList(s, z)), sync: false },
  { name: 'Readable', make: (s, z) => readable(chunkList(s, z)), sync: false },
  {
    name: 'fs.ReadStream',
    make: (s, z) => createReadStream(tmpFile(s), { highWaterMark: Math.max(16, z()) }),
    sync: false,
  },
];

// ---- deframers ----------------------------------------------------------------

const Sum8: Checksum<number> = {
  name: 'sum8',
  width: 1,
  compute: (p) => p.reduce((a, b) => (a + b) & 0xff, 0),
};
function fnv1a(p: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of p) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}
const Fnv24: Checksum<number> = { name: 'fnv24', width: 3, compute: (p) => fnv1a(p) & 0xffffff };
const Fnv64: Checksum<bigint> = {
  name: 'fnv64',
  width: 8,
  compute: (p) => (BigInt(fnv1a(p)) << 32n) | BigInt(p.length),
};

const PAYLOADS = [
  bytes(0),
  bytes(1, 2),
  bytes(3, 3),
  bytes(48, 4),
  bytes(300, 5),
  bytes(2, 6),
  bytes(5000, 7),
  bytes(0),
  bytes(9, 8),
];
const LARGEST = 5000;

const DEFRAMERS: [string, Framer, Deframer][] = [
  ['DefaultDeframer', new DefaultFramer(), new DefaultDeframer()],
  ...[NoChecksum, Crc16, Crc32, XxHash64, Crc32c, Crc64].map(
    (c) =>
      [`ChecksumDeframer(${c.name})`, new ChecksumFramer(c), new ChecksumDeframer(c)] as [
        string,
        Framer,
        Deframer,
      ],
  ),
  ...[Sum8, Fnv24, Fnv64].map(
    (c) =>
      [`custom ${c.name} (width ${c.width})`, new ChecksumFramer(c), new ChecksumDeframer(c)] as [
        string,
        Framer,
        Deframer,
      ],
  ),
  [
    'XxHash64 bounded at the largest payload',
    new ChecksumFramer(XxHash64),
    new ChecksumDeframer(XxHash64).bounded(LARGEST),
  ],
];

// ---- reading helpers -------------------------------------------------------------

interface Got {
  payloads: Buffer[];
  infos: FrameInfo[];
  error: unknown;
}

/** processAll (sync sources) or processAllAsync, with a small carry slab so that it grows. */
async function readWith(r: StreamReader, sync: boolean): Promise<Got> {
  const got: Got = { payloads: [], infos: [], error: null };
  const cb = (p: Uint8Array, info: FrameInfo): void => {
    got.payloads.push(Buffer.from(p));
    got.infos.push({ ...info });
  };
  try {
    if (sync) r.processAll(cb);
    else await r.processAllAsync(cb);
  } catch (e) {
    got.error = e;
  }
  await r.close();
  return got;
}

/** Reads through the pull iterators (messages() for sync sources, for await otherwise). */
async function iterate(r: StreamReader, sync: boolean): Promise<Buffer[]> {
  const out: Buffer[] = [];
  if (sync) for (const p of r.messages()) out.push(Buffer.from(p));
  else for await (const p of r) out.push(Buffer.from(p));
  await r.close();
  return out;
}

const offsetsOf = (payloads: Uint8Array[], header: number): number[] => {
  const out: number[] = [];
  payloads.reduce((at, p) => (out.push(at), at + header + p.length), 0);
  return out;
};

/** Payload lists compared with Buffer#equals (jest's toEqual walks buffers byte by byte: slow). */
function same(got: Uint8Array[], want: Uint8Array[]): void {
  expect(got.map((p) => p.length)).toEqual(want.map((p) => p.length));
  const differ = got.findIndex(
    (p, i) => !Buffer.from(p.buffer, p.byteOffset, p.length).equals(want[i]!),
  );
  expect(differ).toBe(-1);
}

async function caught(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

// =============================================================================

describe('every source × every deframer × chunk sizes 1, 7, 4096, random; every API', () => {
  describe.each(DEFRAMERS)('%s', (_name, framer, deframer) => {
    const stream = writeAll(framer, PAYLOADS);
    const offsets = offsetsOf(PAYLOADS, deframer.headerSize);
    const infos = offsets.map((offset, frameIndex) => ({ offset, frameIndex }));

    test.each(SOURCES.map((s) => [s.name, s] as const))('%s', async (_s, src) => {
      for (const [label, size] of SIZES) {
        if (src.name === 'bytes' && label !== '1') continue; // one size is the whole buffer
        const readSize = src.readSize?.(size);
        const opts = { carrySize: 16, ...(readSize ? { readSize } : {}) };
        const got = await readWith(
          new StreamReader(src.make(stream, size), deframer, opts),
          src.sync,
        );
        expect([label, got.error]).toEqual([label, null]);
        same(got.payloads, PAYLOADS);
        expect(got.infos).toEqual(infos);
        const it = await iterate(
          new StreamReader(src.make(stream, size), deframer, opts),
          src.sync,
        );
        same(it, PAYLOADS);
      }
    });
  });
});

describe('read order per frame: bound check → checksum field → payload → checksum verify → user code', () => {
  const d = new ChecksumDeframer(Crc32, { maxFrameLen: 100 });
  const good = writeAll(new ChecksumFramer(Crc32), [bytes(10), bytes(20, 2)]);
  // A frame whose length is over the bound AND whose checksum is wrong.
  const over = writeAll(new ChecksumFramer(Crc32), [bytes(150, 3)]);
  over[10]! ^= 0xff; // payload byte: the checksum no longer matches either
  const both = Buffer.concat([good, over]);

  test.each([
    ['bytes', (s: Uint8Array): ReadSource => s],
    ['path', (s: Uint8Array): ReadSource => tmpFile(s)],
    ['1-byte chunks', (s: Uint8Array): ReadSource => iterable(chunkList(s, () => 1))],
    ['one chunk', (s: Uint8Array): ReadSource => iterable([s])],
  ])(
    'a frame with a bad checksum AND a length over the bound is InvalidFrameError (%s)',
    async (_l, make) => {
      const got = await readWith(new StreamReader(make(both), d, { readSize: 16 }), false);
      expect(got.payloads).toEqual([bytes(10), bytes(20, 2)]);
      expect(got.error).toBeInstanceOf(InvalidFrameError);
      expect(got.error).toMatchObject({
        offset: good.length,
        frameIndex: 2,
        length: 150,
        limit: 100,
      });
    },
  );

  test('a length over the bound is reported even when the rest of the header and the payload are missing', async () => {
    for (const keep of [4, 5, 7]) {
      const cut = both.subarray(0, good.length + keep);
      for (const src of [cut, iterable(chunkList(cut, () => 1))]) {
        const got = await readWith(new StreamReader(src, d), false);
        expect(got.error).toBeInstanceOf(InvalidFrameError);
        expect(got.error).toMatchObject({ offset: good.length, length: 150 });
      }
    }
  });

  test("a torn length, checksum field and payload are UnexpectedEofError parts 'length', 'checksum', 'payload'", async () => {
    const bad = Buffer.concat([good, writeAll(new ChecksumFramer(Crc32), [bytes(40, 4)])]);
    for (const [keep, part, needed] of [
      [3, 'length', 8],
      [4, 'checksum', 48],
      [7, 'checksum', 48],
      [8, 'payload', 48],
      [47, 'payload', 48],
    ] as const) {
      const cut = bad.subarray(0, good.length + keep);
      for (const src of [cut, iterable(chunkList(cut, () => 3)), iterable([cut])]) {
        const got = await readWith(new StreamReader(src, d), false);
        expect(got.payloads.length).toBe(2);
        expect(got.error).toBeInstanceOf(UnexpectedEofError);
        expect(got.error).toMatchObject({
          part,
          needed,
          available: keep,
          offset: good.length,
          frameIndex: 2,
        });
      }
    }
  });

  test('a payload is verified before user code sees it: the bad frame never reaches the callback, getRoot or an iterator', async () => {
    const frames = Array.from({ length: 10 }, (_, i) => bytes(48, i + 1));
    const bad = writeAll(new ChecksumFramer(XxHash64), frames);
    bad[5 * 60 + 12 + 7]! ^= 4; // frame 5's payload
    const xd = new ChecksumDeframer(XxHash64);
    const seen: number[] = [];
    const e1 = thrown(() =>
      new StreamReader(bad, xd).processAll((_p, i) => void seen.push(i.frameIndex)),
    );
    expect(e1).toBeInstanceOf(ChecksumMismatchError);
    expect(seen).toEqual([0, 1, 2, 3, 4]); // every good frame before it was delivered first
    let roots = 0;
    const r = new StreamReader(bad, xd);
    expect(
      thrown(() =>
        r.processTyped(
          (bb) => (roots++, Telemetry.getRootAsTelemetry(bb)),
          () => undefined,
        ),
      ),
    ).toBeInstanceOf(ChecksumMismatchError);
    expect(roots).toBe(5);
    const it: Uint8Array[] = [];
    const e3 = await caught(async () => {
      for await (const p of new StreamReader(iterable(chunkList(bad, () => 100)), xd)) it.push(p);
    });
    expect(e3).toBeInstanceOf(ChecksumMismatchError);
    expect(it.length).toBe(5);
  });
});

describe('clean EOF only between frames', () => {
  test.each(DEFRAMERS.slice(0, 8))(
    '%s: every source ends cleanly at each frame boundary and with UnexpectedEofError one byte short of it',
    async (_n, framer, d) => {
      const stream = writeAll(framer, PAYLOADS);
      const ends = offsetsOf(PAYLOADS, d.headerSize).slice(1).concat(stream.length);
      for (const [i, end] of [[-1, 0] as const, ...ends.map((e, i) => [i, e] as const)].filter(
        (_, j) => j % 3 === 0 || j === ends.length,
      )) {
        for (const src of [SOURCES[0]!, SOURCES[1]!, SOURCES[2]!, SOURCES[4]!]) {
          const whole = stream.subarray(0, end);
          const ok = await readWith(
            new StreamReader(
              src.make(whole, () => 7),
              d,
              { readSize: 16 },
            ),
            src.sync,
          );
          expect([src.name, end, ok.error]).toEqual([src.name, end, null]);
          expect(ok.payloads.length).toBe(i + 1);
          if (end === 0) continue;
          const short = await readWith(
            new StreamReader(
              src.make(stream.subarray(0, end - 1), () => 7),
              d,
              { readSize: 16 },
            ),
            src.sync,
          );
          expect(short.error).toBeInstanceOf(UnexpectedEofError);
          expect(short.payloads.length).toBe(i);
        }
      }
    },
  );
});

describe('the first error stops processing and carries offset and frameIndex', () => {
  const frames = Array.from({ length: 6000 }, (_, i) => bytes(i % 50, i)); // > 4096: two scan batches
  const d = new ChecksumDeframer(Crc32c);
  const stream = writeAll(new ChecksumFramer(Crc32c), frames);
  const offsets = offsetsOf(frames, 8);

  test.each([10, 4095, 4096, 4097, 5999])(
    'a bad frame at index %i, from bytes, a file and a stream',
    async (k) => {
      const bad = Buffer.from(stream);
      bad[offsets[k]! + 4]! ^= 1; // its checksum field
      if (k + 1 < frames.length) bad[offsets[k + 1]! + 4]! ^= 1; // and the next one's: never reached
      for (const [src, sync] of [
        [bad, true],
        [tmpFile(bad), true],
        [iterable(chunkList(bad, random)), false],
      ] as const) {
        const got = await readWith(new StreamReader(src, d, { readSize: 1000 }), sync);
        expect(got.payloads.length).toBe(k);
        expect(got.error).toBeInstanceOf(ChecksumMismatchError);
        expect(got.error).toMatchObject({ offset: offsets[k], frameIndex: k });
        expect((got.error as Error).message).toContain(`(frame ${k} at offset ${offsets[k]})`);
      }
    },
  );
});

describe('state after an error: sticky, position stays at the bad frame, the same error object again', () => {
  const d = new ChecksumDeframer(Crc16);
  const frames = Array.from({ length: 8 }, (_, i) => bytes(30 + i, i));
  const bad = writeAll(new ChecksumFramer(Crc16), frames);
  const offsets = offsetsOf(frames, 6);
  bad[offsets[3]! + 6]! ^= 0x40;

  type Api = (r: StreamReader) => Promise<unknown>;
  const noop = (): void => undefined;
  const syncApis: [string, Api][] = [
    ['processAll', async (r) => r.processAll(noop)],
    ['messages()', async (r) => [...r.messages()]],
    ['for…of', async (r) => [...r]],
    ['processTyped', async (r) => r.processTyped(Telemetry.getRootAsTelemetry, noop)],
  ];
  const asyncApis: [string, Api][] = [
    ['processAllAsync', (r) => r.processAllAsync(noop)],
    ['processTypedAsync', (r) => r.processTypedAsync(Telemetry.getRootAsTelemetry, noop)],
    [
      'for await',
      async (r) => {
        for await (const p of r) void p;
      },
    ],
  ];

  test.each([...syncApis, ...asyncApis])(
    'first error from %s, then every API again',
    async (_n, first) => {
      for (const [src, sync] of [
        [bad, true],
        [tmpFile(bad), true],
        [iterable(chunkList(bad, () => 13)), false],
      ] as const) {
        if (!sync && syncApis.some(([, api]) => api === first)) continue;
        const r = new StreamReader(src, d, { readSize: 16 });
        const e = await caught(first(r));
        expect(e).toBeInstanceOf(ChecksumMismatchError);
        expect(e).toMatchObject({ offset: offsets[3], frameIndex: 3 });
        for (const [name, api] of [...(sync ? syncApis : []), ...asyncApis]) {
          expect([name, await caught(api(r))]).toEqual([name, e]);
          expect(await caught(api(r))).toBe(e);
          expect([r.position, r.frameIndex, r.error]).toEqual([offsets[3], 3, e]);
        }
      }
    },
  );

  test('toStream() of a reader in error is destroyed with that error', async () => {
    const r = new StreamReader(bad, d);
    const e = thrown(() => r.processAll(noop));
    const e2 = await caught(async () => {
      for await (const x of r.toStream()) void x;
    });
    expect(e2).toBe(e);
  });
});

describe('early stop, then resume', () => {
  const d = new ChecksumDeframer(Crc32);
  const frames = Array.from({ length: 12 }, (_, i) => bytes(40 + i, i + 1));
  const stream = writeAll(new ChecksumFramer(Crc32), frames);
  const offsets = offsetsOf(frames, 8);
  const want = frames.map((p) => p.length);

  type Mode = 'sync' | 'async' | 'both';
  const sources: [string, () => ReadSource, Mode][] = [
    ['bytes', () => stream, 'both'],
    ['path, sync API', () => tmpFile(stream), 'sync'],
    ['path, async API', () => tmpFile(stream), 'async'],
    ['fd (both APIs share its file position)', () => openSync(tmpFile(stream), 'r'), 'both'],
    ['AsyncIterable, 7-byte chunks', () => iterable(chunkList(stream, () => 7)), 'async'],
    ['Readable, 50-byte chunks', () => readable(chunkList(stream, () => 50)), 'async'],
  ];

  test.each(sources)(
    '%s: return false from each callback API, break from each iterator, resume with the next API',
    async (_n, make, mode) => {
      const src = make();
      const r = new StreamReader(src, d, { readSize: 64 });
      const got: number[] = [];
      const stop =
        (k: number) =>
        (p: Uint8Array): boolean => (got.push(p.length), got.length < k);
      const typedStop =
        (k: number) =>
        (_t: Telemetry, info: FrameInfo): boolean => (
          got.push(frames[info.frameIndex]!.length),
          got.length < k
        );
      const at = (k: number): void => {
        expect(got.length).toBe(k);
        expect([r.position, r.frameIndex]).toEqual([offsets[k], k]);
      };
      const syncSteps = [
        () => expect(r.processAll(stop(got.length + 2))).toBe(2),
        () =>
          expect(r.processTyped(Telemetry.getRootAsTelemetry, typedStop(got.length + 2))).toBe(2),
        () => {
          const k = got.length + 1;
          for (const p of r.messages()) if (got.push(p.length) === k) break;
        },
        () => {
          const k = got.length + 1;
          for (const p of r) if (got.push(p.length) === k) break;
        },
      ];
      const asyncSteps = [
        async () => expect(await r.processAllAsync(stop(got.length + 1))).toBe(1),
        async () =>
          expect(
            await r.processTypedAsync(Telemetry.getRootAsTelemetry, typedStop(got.length + 1)),
          ).toBe(1),
        async () => {
          const k = got.length + 1;
          for await (const p of r) if (got.push(p.length) === k) break;
        },
      ];
      let k = 0;
      if (mode !== 'async') {
        for (const step of syncSteps) {
          const before = got.length;
          step();
          k += got.length - before;
          at(k);
        }
      } else if (typeof src === 'object' && !(src instanceof URL)) {
        expect(() => r.processAll(() => undefined)).toThrow(/use processAllAsync/);
      }
      if (mode !== 'sync') {
        for (const step of asyncSteps) {
          const before = got.length;
          await step();
          k += got.length - before;
          at(k);
        }
        expect(await r.processAllAsync((p) => void got.push(p.length))).toBe(frames.length - k);
        expect(await r.processAllAsync(() => undefined)).toBe(0); // a clean end stays a clean end
      } else {
        expect(r.processAll((p) => void got.push(p.length))).toBe(frames.length - k);
        expect(r.processAll(() => undefined)).toBe(0);
      }
      expect(got).toEqual(want);
      await r.close();
      if (typeof src === 'number') closeSync(src);
    },
  );

  test('a path source read with the sync API and then the async API continues where it stopped', async () => {
    // Both APIs share one file source and its offset (a bug once re-read from 0).
    const path = tmpFile(stream);
    const r = new StreamReader(path, d, { readSize: 64 });
    const got: number[] = [];
    r.processAll((p) => (got.push(p.length), got.length < 3));
    await r.processAllAsync((p) => void got.push(p.length));
    expect(got).toEqual(want);
  });

  test('the async API, then the sync API, on a path', async () => {
    const r = new StreamReader(tmpFile(stream), d, { readSize: 64 });
    const got: number[] = [];
    await r.processAllAsync((p) => (got.push(p.length), got.length < 3));
    r.processAll((p) => void got.push(p.length));
    expect(got).toEqual(want);
  });
});

describe('zero copy within chunks; only a frame split across chunks is copied', () => {
  test('payload views share the chunk memory unless the frame crosses a chunk boundary', async () => {
    const frames = Array.from({ length: 500 }, (_, i) => bytes(48, i));
    const stream = writeAll(new ChecksumFramer(XxHash64), frames);
    const chunks = chunkList(stream, () => 4096);
    const buffers = new Set(chunks.map((c) => c.buffer));
    let inChunk = 0;
    let copied = 0;
    await new StreamReader(iterable(chunks), new ChecksumDeframer(XxHash64)).processAllAsync(
      (p) => {
        if (buffers.has(p.buffer as ArrayBuffer)) inChunk++;
        else copied++;
      },
    );
    const crossing = offsetsOf(frames, 12).filter(
      (o) => Math.floor(o / 4096) !== Math.floor((o + 59) / 4096),
    ).length;
    expect(copied).toBe(crossing);
    expect(inChunk).toBe(500 - crossing);
  });
});

describe('typed reading with flatc-generated code', () => {
  const N = 3000;
  const check = (t: Telemetry, i: number): void => {
    if (
      t.deviceId() !== BigInt(1000 + i) ||
      t.timestamp() !== 1_700_000_000_000_000_000n + BigInt(i) ||
      t.value() !== i * 0.25
    )
      throw new Error(`event ${i} reads wrong`);
  };
  let path = '';
  beforeAll(() => {
    path = join(dir, 'telemetry.fst');
    const w = new StreamWriter(path, new ChecksumFramer(XxHash64));
    for (let i = 0; i < N; i++) w.write({ serialize: (b) => buildTelemetry(b, i) });
    w.close();
  });
  const d = new ChecksumDeframer(XxHash64);

  test('processTyped over a file (sync API; 100-byte reads put most events across two reads)', () => {
    let i = 0;
    const n = new StreamReader(path, d, { readSize: 100 }).processTyped(
      Telemetry.getRootAsTelemetry,
      (t, info) => {
        expect(info.frameIndex).toBe(i);
        check(t, i++);
      },
    );
    expect([n, i]).toEqual([N, N]);
  });

  test.each([
    ['a file (async API)', (): ReadSource => path],
    [
      'an fs.ReadStream in 97-byte chunks',
      (): ReadSource => createReadStream(path, { highWaterMark: 97 }),
    ],
    [
      'an AsyncIterable in 1-byte chunks',
      (): ReadSource => iterable(chunkList(readFileSync(path), () => 1)),
    ],
  ])('processTypedAsync over %s', async (_n, make) => {
    let i = 0;
    const r = new StreamReader(make(), d, { readSize: 100, carrySize: 16 });
    expect(await r.processTypedAsync(Telemetry.getRootAsTelemetry, (t) => check(t, i++))).toBe(N);
    expect(i).toBe(N);
    await r.close();
  });
});

describe('files written by StreamWriter (path target) read back with every checksum', () => {
  test.each(
    [NoChecksum, Crc16, Crc32, XxHash64, Crc32c, Crc64, Sum8, Fnv64].map(
      (c) => [c.name, c] as const,
    ),
  )('%s: sync, async, fd and URL', async (_n, c) => {
    const path = join(dir, `writer-${c.name}.fst`);
    const payloads = [...PAYLOADS, bytes(200_000, 11), bytes(7, 12)]; // one larger than the slabs
    const w = new StreamWriter(path, new ChecksumFramer(c), { slabSize: 4096 });
    for (const p of payloads) w.writePayload(p);
    w.close();
    const d = new ChecksumDeframer(c);
    const sync: Buffer[] = [];
    new StreamReader(path, d, { readSize: 4096, carrySize: 1024 }).processAll(
      (p) => void sync.push(Buffer.from(p)),
    );
    same(sync, payloads);
    const r = await readWith(new StreamReader(path, d), false);
    expect(r.error).toBeNull();
    same(r.payloads, payloads);
    const fd = openSync(path, 'r');
    try {
      expect((await readWith(new StreamReader(fd, d, { readSize: 333 }), false)).payloads).toEqual(
        payloads,
      );
    } finally {
      closeSync(fd);
    }
    same(await iterate(new StreamReader(new URL(`file://${path}`), d), true), payloads);
  });
});

describe('files the reader opened are closed at the end of the stream', () => {
  const openFds = (): number => readdirSync('/proc/self/fd').length;
  const linux = process.platform === 'linux' ? test : test.skip;
  const stream = writeAll(new ChecksumFramer(Crc32), PAYLOADS);
  const d = new ChecksumDeframer(Crc32);

  linux('the sync API closes the file when it reaches the end', () => {
    const path = tmpFile(stream);
    const before = openFds();
    new StreamReader(path, d).processAll(() => undefined);
    expect(openFds()).toBe(before);
  });

  (process.platform === 'linux' ? test : test.skip)(
    'the async API closes the file it opened at the end of the stream, before close()',
    async () => {
      // Otherwise the fd would stay open until close() or GC.
      const path = tmpFile(stream);
      const before = openFds();
      const r = new StreamReader(path, d);
      await r.processAllAsync(() => undefined);
      expect(openFds()).toBe(before);
      await r.close();
    },
  );
});

describe('a source that fails is an IoError', () => {
  const d = new ChecksumDeframer(XxHash64);
  const frames = [bytes(20), bytes(30, 2), bytes(40, 3)];
  const stream = writeAll(new ChecksumFramer(XxHash64), frames);
  const failing = (upTo: number, boom: Error): Readable => {
    let sent = false;
    return new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(stream.subarray(0, upTo));
        } else this.destroy(boom);
      },
    });
  };
  const midFrame = 32 + 12 + 5; // inside frame 1's payload

  test('a Readable that errors mid-frame: the whole frames before it, then IoError with the cause (not UnexpectedEofError)', async () => {
    const boom = Object.assign(new Error('read ECONNRESET'), {
      code: 'ECONNRESET',
      errno: -104,
      syscall: 'read',
    });
    const got = await readWith(new StreamReader(failing(midFrame, boom), d), false);
    expect(got.payloads).toEqual([frames[0]]);
    expect(got.error).toBeInstanceOf(IoError);
    expect(got.error).toMatchObject({
      cause: boom,
      code: 'ERR_FLATSTREAM_IO',
      systemCode: 'ECONNRESET',
      errno: -104,
      syscall: 'read',
    });
  });

  test('a file that cannot be read (a directory): IoError with errno and syscall, from both APIs', async () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { recursive: true });
    expect(thrown(() => new StreamReader(sub, d).processAll(() => undefined))).toMatchObject({
      systemCode: 'EISDIR',
      syscall: 'read',
    });
    expect(await caught(new StreamReader(sub, d).processAllAsync(() => undefined))).toBeInstanceOf(
      IoError,
    );
    expect(
      thrown(() => new StreamReader(join(dir, 'missing'), d).processAll(() => undefined)),
    ).toMatchObject({ systemCode: 'ENOENT' });
  });

  test('after an IoError every later call throws it again', async () => {
    // Otherwise the next call would see an end: a torn tail mid-frame, or a clean end
    // between frames — a failed connection read as a complete stream.
    const boom = new Error('read ECONNRESET');
    const r = new StreamReader(failing(midFrame, boom), d);
    const e = await caught(r.processAllAsync(() => undefined));
    expect(e).toBeInstanceOf(IoError);
    expect(await caught(r.processAllAsync(() => undefined))).toBe(e);
    expect(r.error).toBe(e);
  });

  test('a source that fails between frames must not read as a clean end on the next call', async () => {
    const r = new StreamReader(failing(32, new Error('reset')), d); // exactly after frame 0
    expect(await caught(r.processAllAsync(() => undefined))).toBeInstanceOf(IoError);
    await expect(r.processAllAsync(() => undefined)).rejects.toBeInstanceOf(FlatStreamError);
  });

  test('a file that failed to read throws the same IoError on the next async call (never an empty stream)', async () => {
    const sub = join(dir, 'another-directory');
    mkdirSync(sub, { recursive: true });
    const r = new StreamReader(sub, d);
    const e = await caught(r.processAllAsync(() => undefined));
    expect(e).toBeInstanceOf(IoError);
    await expect(r.processAllAsync(() => undefined)).rejects.toBe(e);
  });

  test('an IoError while reading carries the offset and frameIndex where reading stopped', async () => {
    const e = await caught(
      new StreamReader(failing(midFrame, new Error('x')), d).processAllAsync(() => undefined),
    );
    expect(e).toMatchObject({ offset: 32, frameIndex: 1 });
  });
});

describe('custom checksums', () => {
  const frames = Array.from({ length: 6 }, (_, i) => Buffer.alloc(10, i + 1));
  const stream = writeAll(new ChecksumFramer(Sum8), frames);

  test('a mismatch inside a frame carried across chunks is reported at that frame, sticky', async () => {
    const bad = Buffer.from(stream);
    bad[3 * 15 + 7]! ^= 1;
    for (const size of [1, 7, 20, 100]) {
      const r = new StreamReader(iterable(chunkList(bad, () => size)), new ChecksumDeframer(Sum8));
      const got = await readWith(r, false);
      expect(got.payloads.length).toBe(3);
      expect(got.error).toBeInstanceOf(ChecksumMismatchError);
      expect(got.error).toMatchObject({
        offset: 45,
        frameIndex: 3,
        expected: 40n,
        calculated: 41n,
      });
      expect([r.position, r.frameIndex]).toEqual([45, 3]);
    }
  });

  test('a custom checksum that throws must not make the reader skip that frame', () => {
    // A throwing compute() (a user bug, or a bad return value) leaves the frame to be
    // retried: it is never skipped, and offsets and indexes stay in step.
    let calls = 0;
    const Flaky: Checksum<number> = {
      name: 'flaky',
      width: 1,
      compute: (p) => {
        if (++calls === 3) throw new Error('flaky');
        return Sum8.compute(p);
      },
    };
    const r = new StreamReader(stream, new ChecksumDeframer(Flaky));
    const seen: string[] = [];
    const cb = (p: Uint8Array, i: FrameInfo): void =>
      void seen.push(`${i.frameIndex}@${i.offset}:${p[0]}`);
    expect(() => r.processAll(cb)).toThrow('flaky');
    expect([r.position, r.frameIndex]).toEqual([30, 2]);
    r.processAll(cb);
    expect(seen).toEqual(['0@0:1', '1@15:2', '2@30:3', '3@45:4', '4@60:5', '5@75:6']);
  });
});

describe('memory policy: a huge frame grows the carry slab, AdaptiveWatermarkPolicy shrinks it back', () => {
  const d = new ChecksumDeframer(Crc32c);
  const big = bytes(1 << 20, 3);
  const small = Array.from({ length: 40 }, (_, i) => bytes(100, i));
  const stream = writeAll(new ChecksumFramer(Crc32c), [big, ...small]);

  function drive(policy: AdaptiveWatermarkPolicy | undefined, chunk: number): number[] {
    const cur = new FrameCursor(d, policy, 4096);
    const sizes: number[] = [];
    let at = 0;
    for (;;) {
      const s = cur.next();
      if (s === FRAME) {
        sizes.push(cur.slabSize);
        continue;
      }
      if (s !== NEED) break;
      if (at >= stream.length) cur.end();
      else cur.push(stream.subarray(at, (at += chunk)));
    }
    return sizes;
  }

  test('the engine: the slab grows to hold the 1 MiB frame, and after `count` carried small frames it is back at its baseline', () => {
    const policy = new AdaptiveWatermarkPolicy({ count: 4, ratio: 4, baseline: 4096 });
    const grown = drive(policy, 150); // every small frame (108 B) lands across a 150-byte chunk boundary often
    expect(grown[0]).toBeGreaterThanOrEqual((1 << 20) + 8);
    expect(grown[grown.length - 1]).toBe(4096);
    const kept = drive(undefined, 150);
    expect(kept[kept.length - 1]).toBe(grown[0]); // NoShrinkPolicy keeps it
  });

  test('through the public reader, in its own process: ArrayBuffer memory after reading (reader alive) returns to baseline only with the policy', () => {
    const script = `
      const fs = require(${JSON.stringify(join(__dirname, '../dist/cjs/index.js'))});
      const d = new fs.ChecksumDeframer(fs.Crc32c);
      const payloads = [Buffer.alloc(${1 << 22}, 1), ...Array.from({ length: 200 }, () => Buffer.alloc(100, 2))];
      const sink = new fs.MemorySink();
      const w = new fs.StreamWriter(sink, new fs.ChecksumFramer(fs.Crc32c));
      for (const p of payloads) w.writePayload(p);
      w.close();
      let stream = sink.toBuffer();
      async function* chunks() { for (let at = 0; at < stream.length; at += 150) yield stream.slice(at, at + 150); }
      (async () => {
        const out = {};
        for (const name of ['none', 'adaptive']) {
          const policy = name === 'adaptive' ? new fs.AdaptiveWatermarkPolicy({ count: 8, baseline: 4096 }) : undefined;
          global.gc();
          const before = process.memoryUsage().arrayBuffers;
          const r = new fs.StreamReader(chunks(), d, { carrySize: 4096, memoryPolicy: policy });
          const n = await r.processAllAsync(() => undefined);
          global.gc(); global.gc();
          out[name] = { n, grown: process.memoryUsage().arrayBuffers - before };
          r.close();
        }
        process.stdout.write(JSON.stringify(out));
      })();`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--expose-gc', '-e', script]).toString(),
    ) as Record<string, { n: number; grown: number }>;
    expect(out.none!.n).toBe(201);
    expect(out.adaptive!.n).toBe(201);
    expect(out.none!.grown).toBeGreaterThan(4 << 20); // the 4 MiB frame's slab is still held
    expect(out.adaptive!.grown).toBeLessThan(1 << 20); // given back
  });
});
