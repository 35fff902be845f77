// Issue 10, defect 5: every growth of an ArenaBuilder makes progress or
// throws a typed error. Each case runs in a child process with a timeout, so
// a regression (an endless loop) fails the test instead of hanging jest.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  ArenaBuilder,
  ChecksumDeframer,
  ChecksumFramer,
  DefaultFramer,
  IoError,
  StreamWriter,
  XxHash64,
  type Checksum,
  type Framer,
  type Sink,
} from '../lib/index';
import { bytes, readAll, thrown } from './helpers';

const DIST = join(__dirname, '..', 'dist', 'cjs', 'index.js');

/** Runs `body` (with `fs` = the built package) in a child; returns what it printed as JSON. */
function child(body: string): unknown {
  const script = `const fs = require(${JSON.stringify(DIST)});
    const out = (() => { ${body} })();
    process.stdout.write(JSON.stringify(out));`;
  const stdout = execFileSync(process.execPath, ['-e', script], {
    env: process.env,
    timeout: 30_000,
  });
  return JSON.parse(stdout.toString());
}

const CATCH = `catch (e) { return { name: e.constructor.name, code: e.code, message: e.message }; }`;

describe('ArenaBuilder growth always progresses or throws', () => {
  test('a BlockSource returning a zero-length block: TypeError ERR_INVALID_RETURN_VALUE', () => {
    const r = child(`
      let calls = 0;
      const src = { block: (n) => (calls++ === 0 ? new Uint8Array(n) : new Uint8Array(0)) };
      const b = new fs.ArenaBuilder(src, { initialSize: 8 });
      try { b.createString('x'.repeat(100)); return 'no error'; } ${CATCH}`);
    expect(r).toEqual({
      name: 'TypeError',
      code: 'ERR_INVALID_RETURN_VALUE',
      message:
        'ArenaBuilder: the block source returned a block of 0 bytes when asked for 128 bytes',
    });
  });

  test('a BlockSource returning something else, or nothing at construction: TypeError', () => {
    const r = child(`
      const res = [];
      for (const bad of [null, [1, 2], new Uint8Array(3)]) {
        try { new fs.ArenaBuilder({ block: () => bad }, { initialSize: 8 }); res.push('no error'); }
        catch (e) { res.push(e.code); }
      }
      return res;`);
    expect(r).toEqual([
      'ERR_INVALID_RETURN_VALUE',
      'ERR_INVALID_RETURN_VALUE',
      'ERR_INVALID_RETURN_VALUE',
    ]);
  });

  test('after useBlock() with an empty buffer: the builder grows and builds the same bytes', () => {
    const r = child(`
      const b = new fs.ArenaBuilder(undefined, { initialSize: 8 });
      b.useBlock(new Uint8Array(0));
      b.finish(b.createString('hello'));
      const ref = new fs.ArenaBuilder();
      ref.finish(ref.createString('hello'));
      return [Buffer.from(b.asUint8Array()).toString('hex'), Buffer.from(ref.asUint8Array()).toString('hex')];`);
    const [got, want] = r as [string, string];
    expect(got).toBe(want);
    expect(got).toBe('0400000005000000' + '68656c6c6f000000');
  });

  test('after its buffer was detached between messages: clear() and build again works', () => {
    const r = child(`
      const b = new fs.ArenaBuilder(undefined, { initialSize: 64 });
      b.finish(b.createString('first'));
      const ab = b.backing().buffer;
      structuredClone(ab, { transfer: [ab] });
      b.clear();
      b.finish(b.createString('second'));
      return Buffer.from(b.asUint8Array()).toString('hex');`);
    expect(r).toBe('0400000006000000' + '7365636f6e640000');
  });

  test('after its buffer was detached in the middle of a message: growth throws Error ERR_INVALID_STATE, finishing throws', () => {
    const r = child(`
      const b = new fs.ArenaBuilder(undefined, { initialSize: 64 });
      const s = b.createString('abc');
      const ab = b.backing().buffer;
      structuredClone(ab, { transfer: [ab] });
      const res = [];
      try { b.createString('x'.repeat(200)); res.push('no error'); } catch (e) { res.push(e.code); }
      try { b.finish(s); res.push('no error'); } catch (e) { res.push(e.constructor.name); }
      res.push(b.finished);
      return res;`);
    expect(r).toEqual(['ERR_INVALID_STATE', 'TypeError', false]);
  });

  test("a writer's internal builder with an arena returning short blocks: the write throws, the writer goes on", () => {
    const r = child(`
      const sink = new fs.MemorySink();
      let short = true;
      const arena = { block: (n) => new Uint8Array(short ? 1 : n) };
      const w = new fs.StreamWriter(sink, new fs.DefaultFramer(), { arena, builderSize: 16 });
      let code;
      try { w.write('y'.repeat(100)); } catch (e) { code = e.code; }
      short = false;
      w.write('ok');
      w.close();
      return { code, frames: w.stats().frames, bytes: sink.length };`);
    expect(r).toEqual({ code: 'ERR_INVALID_RETURN_VALUE', frames: 1, bytes: 16 });
  });
});

describe('a sink that detaches (transfers) the slab it was lent', () => {
  const framer = new ChecksumFramer(XxHash64);

  test('synchronously, without a promise: the writer fails with IoError, nothing is written from freed memory', () => {
    const got: Uint8Array[] = [];
    const sink: Sink = {
      write: (c) => {
        const [ab, at, n] = [c.buffer as ArrayBuffer, c.byteOffset, c.length];
        got.push(new Uint8Array(structuredClone(ab, { transfer: [ab] }), at, n));
      },
    };
    const w = new StreamWriter(sink, framer);
    w.writePayload(bytes(10));
    const e = thrown(() => w.flush());
    expect(e).toBeInstanceOf(IoError);
    expect(thrown(() => w.writePayload(bytes(3)))).toBe(e);
    // What the sink took is whole.
    expect(readAll(Buffer.concat(got), new ChecksumDeframer(XxHash64)).payloads).toEqual([
      bytes(10),
    ]);
  });

  test('with a promise: the slab is not reused, the message being built beside it is refused, later writes are exact', async () => {
    const got: Buffer[] = [];
    const sink: Sink = {
      write: (c) => {
        const [ab, at, n] = [c.buffer as ArrayBuffer, c.byteOffset, c.length];
        const moved = new Uint8Array(structuredClone(ab, { transfer: [ab] }), at, n);
        got.push(Buffer.from(moved));
        return Promise.resolve();
      },
    };
    const w = new StreamWriter(sink, framer, { slabSize: 64 });
    w.writePayload(bytes(40, 1));
    // A string built in the scratch beside the slab: the seal before it
    // detaches both, so it cannot be staged.
    const e = thrown(() => w.write('z'.repeat(30)));
    expect(e).toBeInstanceOf(IoError);
    await expect(w.finished()).rejects.toBe(e);
    expect(readAll(Buffer.concat(got), new ChecksumDeframer(XxHash64)).payloads).toEqual([
      bytes(40, 1),
    ]);
  });

  test('with a promise, writePayload only: every frame arrives, none from detached memory', async () => {
    const got: Buffer[] = [];
    const sink: Sink = {
      write: (c) => {
        const [ab, at, n] = [c.buffer as ArrayBuffer, c.byteOffset, c.length];
        got.push(Buffer.from(new Uint8Array(structuredClone(ab, { transfer: [ab] }), at, n)));
        return Promise.resolve();
      },
    };
    const w = new StreamWriter(sink, framer, { slabSize: 64 });
    const payloads = Array.from({ length: 20 }, (_, i) => bytes(20 + i, i));
    for (const p of payloads) {
      w.writePayload(p);
      await Promise.resolve();
    }
    w.close();
    await w.finished();
    expect(readAll(Buffer.concat(got), new ChecksumDeframer(XxHash64)).payloads).toEqual(payloads);
  });
});

describe('user code that detaches (transfers) the slab it sees: IoError at that call, for good; nothing written from detached memory', () => {
  const framer = new DefaultFramer();
  const transfer = (view: Uint8Array) =>
    structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
  const sum8: Checksum = {
    name: 'sum8',
    width: 1,
    compute: (p) => {
      if (p[0] === 0x64) transfer(p);
      return p.length & 0xff;
    },
  };
  const cases: [string, Framer, (w: StreamWriter, v: string) => unknown][] = [
    [
      'serialize (the builder builds beside the slab)',
      framer,
      (w, v) =>
        w.write({
          serialize: (b) => {
            b.finish(b.createString(v));
            if (v === 'd') transfer(b.asUint8Array());
          },
        }),
    ],
    [
      'an observer',
      framer.observe((p) => {
        if (p[0] === 0x64) transfer(p);
      }),
      (w, v) => w.writePayload(Buffer.from(v)),
    ],
    ['a custom checksum', new ChecksumFramer(sum8), (w, v) => w.writePayload(Buffer.from(v))],
    [
      'an encoder',
      framer,
      (w, v) =>
        w.writeWith(
          {
            name: 'test.Detacher',
            encodeInto: (_v: string, buf: Uint8Array, _d: DataView, at: number, limit: number) => {
              if (v === 'd') transfer(buf);
              return at + 1 <= limit ? at + 1 : -1;
            },
            sizeOf: () => 1,
          },
          v,
        ),
    ],
  ];
  test.each(cases)('%s', (_n, f, write) => {
    const got: Buffer[] = [];
    const sink: Sink = { write: (c) => void got.push(Buffer.from(c)) };
    const w = new StreamWriter(sink, f, {
      slabSize: 256,
    });
    expect(write(w, 'a')).toBe(true);
    const e = thrown(() => write(w, 'd'));
    expect(e).toBeInstanceOf(IoError);
    expect(e.message).toBe(
      'the slab being staged into was detached (transferred) by user code (serialize, an observer, a custom checksum or an encoder): the frames staged in it are lost',
    );
    expect(thrown(() => write(w, 'b'))).toBe(e);
    expect(thrown(() => w.close())).toBe(e);
    expect(w.stats().frames).toBe(1);
    expect(got).toEqual([]);
  });
});

test('a BlockSource returning Uint8Arrays from another realm is accepted', () => {
  const { runInNewContext } = require('node:vm') as typeof import('node:vm');
  const src = { block: (n: number) => runInNewContext(`new Uint8Array(${n})`) as Uint8Array };
  const b = new ArenaBuilder(src, { initialSize: 8 });
  b.finish(b.createString('x'.repeat(50)));
  const ref = new ArenaBuilder();
  ref.finish(ref.createString('x'.repeat(50)));
  expect(Buffer.from(b.asUint8Array())).toEqual(Buffer.from(ref.asUint8Array()));
});
