// The read side under hostile use: a reader re-entered from every kind of
// callback it runs, a file that shrinks or grows while it is read, and
// schema validators given garbage schemas and payloads that cost more to
// verify than they have bytes.
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Builder, ByteBuffer } from 'flatbuffers';
import {
  ChecksumDeframer,
  ChecksumFramer,
  type Deframer,
  FlatStreamError,
  InvalidFrameError,
  ReaderBusyError,
  StreamReader,
  TypedValidator,
  UnexpectedEofError,
  XxHash64,
  native,
} from '../lib/index';
import { bytes, thrown, writeAll } from './helpers';

const framer = new ChecksumFramer(XxHash64);
const PAYLOADS = Array.from({ length: 20 }, (_, i) => bytes(40 + i, i));
const stream = writeAll(framer, PAYLOADS);
const dir = mkdtempSync(join(tmpdir(), 'flatstream-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a reader re-entered from its own callbacks: ReaderBusyError from every entry point', () => {
  type Hook = () => void;
  const callbacks: [string, (hook: Hook) => Deframer, boolean][] = [
    ['the frame callback', () => new ChecksumDeframer(XxHash64), true],
    ['an observer', (hook) => new ChecksumDeframer(XxHash64).observe(() => hook()), false],
    [
      'a validator',
      (hook) =>
        new ChecksumDeframer(XxHash64).withValidator(
          TypedValidator.fromFunction('v', () => {
            hook();
            return true;
          }),
        ),
      false,
    ],
    [
      'a custom checksum',
      (hook) =>
        new ChecksumDeframer({
          name: 'crc32-js',
          width: 8,
          compute: (p) => {
            hook();
            return XxHash64.compute(p);
          },
        }),
      false,
    ],
  ];
  const entries: [string, (r: StreamReader) => unknown][] = [
    ['processAll', (r) => r.processAll(() => undefined)],
    [
      'processTyped',
      (r) =>
        r.processTyped(
          (bb: ByteBuffer) => bb,
          () => undefined,
        ),
    ],
    ['messages().next()', (r) => r.messages().next()],
    ['[Symbol.iterator]().next()', (r) => r[Symbol.iterator]().next()],
    ['processAllAsync', (r) => r.processAllAsync(() => undefined)],
    [
      'processTypedAsync',
      (r) =>
        r.processTypedAsync(
          (bb: ByteBuffer) => bb,
          () => undefined,
        ),
    ],
    ['[Symbol.asyncIterator]().next()', (r) => r[Symbol.asyncIterator]().next()],
  ];
  for (const [where, make, inCb] of callbacks) {
    for (const [name, call] of entries) {
      test(`${name} from ${where}, over bytes and over a stream`, async () => {
        for (const source of [(): Uint8Array => stream, (): Readable => Readable.from([stream])]) {
          let inner: unknown = 'not called';
          let reader: StreamReader | undefined;
          const hook = (): void => {
            if (inner !== 'not called' || !reader) return;
            try {
              const r = call(reader);
              inner = r instanceof Promise ? r.catch((e: unknown) => e) : r;
            } catch (e) {
              inner = e;
            }
          };
          reader = new StreamReader(source(), make(hook));
          const n = await reader.processAllAsync(() => {
            if (inCb) hook();
          });
          // the inner call was refused and changed nothing: every frame arrived once
          expect(n).toBe(PAYLOADS.length);
          expect(await inner).toBeInstanceOf(ReaderBusyError);
          expect(await inner).toMatchObject({ code: 'ERR_FLATSTREAM_BUSY' });
        }
      });
    }
  }
});

describe('crafted lengths near 2^32', () => {
  const head = (len: number): Buffer => {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(len, 0);
    return h;
  };
  test.each([0xffffffff, 0xfffffff4, 0x80000001])(
    'declared length %d: InvalidFrameError under the default bound; a torn frame at the ceiling, nothing sized from it',
    async (len) => {
      const data = Buffer.concat([stream.subarray(0, 52), head(len), bytes(100)]);
      const d = new ChecksumDeframer(XxHash64);
      for (const source of [
        (): Uint8Array => data,
        (): Readable => Readable.from([data.subarray(0, 60), data.subarray(60)]),
      ]) {
        const e = await new StreamReader(source(), d)
          .processAllAsync(() => undefined)
          .catch((x: unknown) => x);
        expect(e).toBeInstanceOf(InvalidFrameError);
        expect(e).toMatchObject({ length: len, limit: 2 ** 31, offset: 52, frameIndex: 1 });
        const c = await new StreamReader(source(), d.withMaxFrameLen(2 ** 32 - 1))
          .processAllAsync(() => undefined)
          .catch((x: unknown) => x);
        expect(c).toBeInstanceOf(UnexpectedEofError);
        expect(c).toMatchObject({ part: 'payload', needed: 12 + len, available: 112, offset: 52 });
      }
    },
  );
});

describe('a file that changes while it is read', () => {
  const starts: number[] = [];
  PAYLOADS.reduce((at, p) => (starts.push(at), at + 12 + p.length), 0);

  test('truncated mid-frame under a sync reader: a torn frame at the exact offset, after every whole one', () => {
    const file = join(dir, 'shrinks.fst');
    writeFileSync(file, stream);
    const cut = starts[12]! + 7;
    const seen: number[] = [];
    const r = new StreamReader(file, new ChecksumDeframer(XxHash64), { readSize: 64 });
    const e = thrown(() =>
      r.processAll((_p, info) => {
        seen.push(info.frameIndex);
        if (info.frameIndex === 2) truncateSync(file, cut);
      }),
    );
    expect(e).toBeInstanceOf(UnexpectedEofError);
    expect(e).toMatchObject({ offset: starts[12], frameIndex: 12, available: 7 });
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  test('grown under an async reader: the appended frames are read too', async () => {
    const file = join(dir, 'grows.fst');
    writeFileSync(file, stream.subarray(0, starts[10]));
    const r = new StreamReader(file, new ChecksumDeframer(XxHash64), { readSize: 64 });
    let n = 0;
    const total = await r.processAllAsync(() => {
      if (++n === 2) appendFileSync(file, stream.subarray(starts[10]));
    });
    expect(total).toBe(PAYLOADS.length);
  });
});

(native ? describe : describe.skip)('schema validators on hostile input', () => {
  // flatc -b --schema of: namespace t; table Node { kids: [Node]; } root_type Node;
  const TREE = Buffer.from(
    'GAAAAEJGQlMQABwABAAIAAwAEAAUABgAEAAAADAAAAAoAAAAHAAAABAAAAA8AAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAAAAYAAAAFAAUAAQACAAAAAwAAAAAAAAAEAAUAAAAIAAAABQAAAABAAAABAAAAAAAAAAAAAAAAQAAACwAAAAGAAAAdC5Ob2RlAAAcABAACAAMAAAABgAAAAAAAAAAAAAAAAAAAAUAHAAAAAABBAAoAAAAFAAAABAAEAAGAAcACAAAAAAADAAQAAAAAAAODwAAAAAEAAAABAAAAGtpZHMAAAAA',
    'base64',
  );

  // Each level's kids vector holds `fan` references to the same child: a DAG
  // whose expansion has fan^depth tables in a few hundred bytes.
  function dag(depth: number, fan: number): Uint8Array {
    const b = new Builder(1024);
    b.startObject(1);
    let node = b.endObject();
    for (let d = 0; d < depth; d++) {
      b.startVector(4, fan, 4);
      for (let i = 0; i < fan; i++) b.addOffset(node);
      const vec = b.endVector();
      b.startObject(1);
      b.addFieldOffset(0, vec, 0);
      node = b.endObject();
    }
    b.finish(node);
    return b.asUint8Array();
  }

  function tree(depth: number): Uint8Array {
    // the same shape without sharing: every table distinct
    const b = new Builder(1024);
    const build = (d: number): number => {
      const kids = d === 0 ? [] : [build(d - 1), build(d - 1)];
      const vec = d === 0 ? 0 : vecOf(kids);
      b.startObject(1);
      if (d > 0) b.addFieldOffset(0, vec, 0);
      return b.endObject();
    };
    const vecOf = (kids: number[]): number => {
      b.startVector(4, kids.length, 4);
      for (let i = kids.length; i-- > 0;) b.addOffset(kids[i]!);
      return b.endVector();
    };
    b.finish(build(depth));
    return b.asUint8Array();
  }

  test('a DAG that expands to more tables than it has bytes is rejected, with work bounded by its bytes', () => {
    const v = TypedValidator.fromSchema(TREE);
    for (const [depth, fan] of [
      [10, 2], // 2047 visits in 220 bytes: accepted before, at 65,535 visits (depth 16) too
      [16, 2],
      [20, 2], // a million visits, 10 ms for 420 bytes before
      [30, 2],
      [8, 6],
    ] as const) {
      const p = dag(depth, fan);
      expect(p.length).toBeLessThan(700);
      expect(v.validate(p)).toBe('Node.kids: table limit exceeded');
    }
    // without sharing, every table is visited once: accepted
    const t = tree(10);
    expect(t.length).toBeGreaterThan(2047 * 4);
    expect(v.validate(t)).toBeNull();
    expect(v.validate(dag(3, 2))).toBeNull(); // 15 visits in ~100 bytes
  });

  test('garbage and mutated schemas are refused with ERR_FLATSTREAM_SCHEMA or build a working validator, never crash', () => {
    const bfbs = TREE;
    let x = 7;
    const rnd = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8;
    let built = 0;
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(bfbs);
      for (let k = 1 + (rnd() % 4); k > 0; k--) b[rnd() % b.length] = rnd() & 255;
      const garbage = Buffer.from(Array.from({ length: rnd() % 300 }, () => rnd() & 255));
      for (const schema of [b, garbage]) {
        try {
          const v = TypedValidator.fromSchema(schema);
          built++;
          v.validate(dag(6, 2));
          v.validate(bytes(64, i));
        } catch (e) {
          expect(e).toBeInstanceOf(FlatStreamError);
          expect((e as FlatStreamError).code).toBe('ERR_FLATSTREAM_SCHEMA');
        }
      }
    }
    expect(built).toBeGreaterThan(0);
  });

  test('resolving nested_flatbuffer names costs at most a budget linear in the schema', () => {
    // 300 tables in a 1000-level namespace, each naming a root-namespace
    // table: resolving each walks 1000 scopes of 2000-byte names. Before,
    // every lookup also scanned every table (0.85 MB, 4000 tables: 1.4 s).
    const fbs = [
      'table Top { x: int; }',
      `namespace ${Array(1000).fill('a').join('.')};`,
      ...Array.from(
        { length: 300 },
        (_, i) =>
          `table T${i} { blob: [ubyte] (nested_flatbuffer: "Top");${i < 299 ? ` next: T${i + 1};` : ''} }`,
      ),
      'root_type T0;',
    ].join('\n');
    const out = mkdtempSync(join(dir, 'deep-'));
    writeFileSync(join(out, 'deep.fbs'), fbs);
    execFileSync('flatc', ['-b', '--schema', '--bfbs-builtins', '-o', out, join(out, 'deep.fbs')]);
    const e = thrown(() => TypedValidator.fromSchema(readFileSync(join(out, 'deep.bfbs'))));
    expect(e).toMatchObject({ code: 'ERR_FLATSTREAM_SCHEMA' });
    expect(e.message).toMatch(/T\d+\.blob: nested_flatbuffer names cost too much to resolve$/);
    // a shallow schema with the same attributes resolves them all
    const shallow = fbs.replace(/^namespace .*$/m, 'namespace a.b;');
    writeFileSync(join(out, 'shallow.fbs'), shallow);
    execFileSync('flatc', [
      '-b',
      '--schema',
      '--bfbs-builtins',
      '-o',
      out,
      join(out, 'shallow.fbs'),
    ]);
    expect(TypedValidator.fromSchema(readFileSync(join(out, 'shallow.bfbs'))).name).toBe('schema');
  });

  test('a vector or string length near 2^32 is rejected without reading past the payload', () => {
    const v = TypedValidator.fromSchema(TREE);
    const p = Buffer.from(dag(2, 2));
    // the root's kids vector length field: follow root -> field 0 -> vector
    const root = p.readUInt32LE(0);
    const vt = root - p.readInt32LE(root);
    const field = p.readUInt16LE(vt + 4);
    const vec = root + field + p.readUInt32LE(root + field);
    for (const len of [0xffffffff, 0x80000000, 0x3fffffff]) {
      const q = Buffer.from(p);
      q.writeUInt32LE(len, vec);
      expect(v.validate(q)).toMatch(/vector|out of bounds|too/);
    }
  });
});
