// A reader lets go of its source however it is abandoned: destroyed,
// failed or ended toStream() Readables, a sticky error, close() from its own
// callback, and (through garbage collection) a break never resumed, an
// iterator's return(), a callback that threw. File descriptors are counted
// in /proc/self/fd; the GC cases run in a child with --expose-gc.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import vm from 'node:vm';
import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  ClosedError,
  IoError,
  ReaderBusyError,
  StreamReader,
  XxHash64,
} from '../lib/index';
import { bytes, thrown, writeAll } from './helpers';

const framer = new ChecksumFramer(XxHash64);
const deframer = new ChecksumDeframer(XxHash64);
const PAYLOADS = Array.from({ length: 50 }, (_, i) => bytes(100 + i, i));
const stream = writeAll(framer, PAYLOADS);
const dir = mkdtempSync(join(tmpdir(), 'flatstream-release-'));
const file = join(dir, 'events.fst');
writeFileSync(file, stream);
const damaged = join(dir, 'damaged.fst');
const bad = Buffer.from(stream);
bad[stream.length - 10]! ^= 1; // inside the last payload
writeFileSync(damaged, bad);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DIST = JSON.stringify(join(__dirname, '..', 'dist', 'cjs', 'index.js'));
const fds = (): number => readdirSync('/proc/self/fd').length;

// Closing an fd waits for a read in flight: give those a bounded number of turns.
async function settledFds(expected: number): Promise<number> {
  for (let i = 0; i < 500 && fds() !== expected; i++) await new Promise((r) => setTimeout(r, 10));
  return fds();
}

function closed(s: Readable): Promise<void> {
  return new Promise((resolve) => s.once('close', () => resolve()));
}

describe('toStream() closes the source', () => {
  test('destroyed after one payload: 200 streams, no fd left behind', async () => {
    const before = fds();
    for (let i = 0; i < 200; i++) {
      const s = new StreamReader(file, deframer, { readSize: 1024 }).toStream();
      await new Promise<void>((resolve) => s.once('data', () => resolve()));
      const done = closed(s);
      s.destroy();
      await done;
    }
    expect(await settledFds(before)).toBe(before);
  });

  test('on an error (a damaged frame) and at the end', async () => {
    const before = fds();
    for (let i = 0; i < 20; i++) {
      const s = new StreamReader(damaged, deframer).toStream();
      const err = await new Promise<Error>((resolve) => {
        s.on('data', () => undefined);
        s.once('error', resolve);
      });
      expect(err).toBeInstanceOf(ChecksumMismatchError);
      const t = new StreamReader(file, deframer).toStream();
      let n = 0;
      for await (const _ of t) n++;
      expect(n).toBe(50);
    }
    expect(await settledFds(before)).toBe(before);
  });

  test('a Readable source is destroyed with the toStream() Readable', async () => {
    const src = Readable.from([stream.subarray(0, 500), stream.subarray(500)], {
      objectMode: false,
    });
    const s = new StreamReader(src, deframer).toStream();
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    const done = closed(s);
    s.destroy();
    await done;
    expect(src.destroyed).toBe(true);
  });
});

test('a toStream() Readable refused with ReaderBusyError leaves the reader to the call that reads it', async () => {
  const r = new StreamReader(file, deframer, { readSize: 1024 });
  let err: unknown = null;
  let n = 0;
  const total = await r.processAllAsync(() => {
    if (++n !== 2) return;
    const s = r.toStream();
    s.once('error', (e) => (err = e));
    s.resume();
  });
  expect(total).toBe(50);
  expect(err).toBeInstanceOf(ReaderBusyError);
});

describe('sticky errors and close() release at once', () => {
  test('a reader stopped by a bad frame closes its file (sync and async)', async () => {
    const before = fds();
    const r = new StreamReader(damaged, deframer);
    expect(thrown(() => r.processAll(() => undefined))).toBeInstanceOf(ChecksumMismatchError);
    expect(fds()).toBe(before);
    expect(thrown(() => r.processAll(() => undefined))).toBeInstanceOf(ChecksumMismatchError);
    const a = new StreamReader(damaged, deframer);
    await expect(a.processAllAsync(() => undefined)).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(await settledFds(before)).toBe(before);
  });

  test('a reader never read opens nothing', () => {
    const before = fds();
    const readers = Array.from({ length: 50 }, () => new StreamReader(file, deframer));
    expect(fds()).toBe(before);
    expect(readers.length).toBe(50);
  });

  test('close() from its own callback stops the call with ClosedError, not a short count', async () => {
    for (const source of [(): string => file, (): Buffer => stream]) {
      const r = new StreamReader(source(), deframer, { readSize: 1024 });
      let seen = 0;
      const e = thrown(() =>
        r.processAll(() => {
          if (++seen === 3) void r.close();
        }),
      );
      expect(e).toBeInstanceOf(ClosedError);
      expect(seen).toBe(3);
      const a = new StreamReader(source(), deframer, { readSize: 1024 });
      let seenA = 0;
      await expect(
        a.processAllAsync(() => {
          if (++seenA === 3) void a.close();
        }),
      ).rejects.toBeInstanceOf(ClosedError);
      expect(seenA).toBe(3);
    }
  });
});

test('abandoned readers (break, return(), a throwing callback) release their fds when collected', () => {
  const script = `
    const f = require(${DIST});
    const fs = require('fs');
    const d = new f.ChecksumDeframer(f.XxHash64);
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    async function abandon(how) {
      const r = new f.StreamReader(${JSON.stringify(file)}, d, { readSize: 1024 });
      if (how === 'break') { for await (const p of r) break; }
      else if (how === 'return') { const it = r[Symbol.asyncIterator](); await it.next(); await it.return(); }
      else if (how === 'throw') { await r.processAllAsync(() => { throw new Error('x'); }).catch(() => {}); }
      else { for (const p of r) break; }
    }
    (async () => {
      // warm up (libuv's own fds appear at first use), then count
      const w = new f.StreamReader(${JSON.stringify(file)}, d);
      await w.processAllAsync(() => {});
      await w.close();
      const before = fds();
      const out = {};
      for (const how of ['break', 'return', 'throw', 'sync-break']) {
        for (let i = 0; i < 100; i++) await abandon(how);
        out[how + ':open'] = fds() - before;
        for (let i = 0; i < 50 && fds() !== before; i++) { global.gc(); await new Promise((r) => setTimeout(r, 10)); }
        out[how + ':collected'] = fds() - before;
      }
      console.log(JSON.stringify(out));
    })();
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
    timeout: 60_000,
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout) as Record<string, number>;
  // resumable until then: each abandoned reader still holds its file
  expect(out).toEqual({
    'break:open': 100,
    'break:collected': 0,
    'return:open': 100,
    'return:collected': 0,
    'throw:open': 100,
    'throw:collected': 0,
    'sync-break:open': 100,
    'sync-break:collected': 0,
  });
});

describe('hostile stream sources', () => {
  test('a chunk that is not a Uint8Array: TypeError with a code, and the Readable is destroyed', async () => {
    for (const chunk of ['text', 42, { length: 3 }, new Uint16Array(2)]) {
      const src = new Readable({ objectMode: true, read() {} });
      src.push(stream.subarray(0, 10));
      src.push(chunk);
      const r = new StreamReader(src, deframer);
      const e = await r.processAllAsync(() => undefined).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(TypeError);
      expect((e as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
      await new Promise((resolve) => setImmediate(resolve));
      expect(src.destroyed).toBe(true);
    }
  });

  test('a Uint8Array from another realm is a Uint8Array', async () => {
    const foreign = vm.runInNewContext(
      '(b) => { const u = new Uint8Array(b.length); u.set(b); return u; }',
    )(stream) as Uint8Array;
    expect(foreign instanceof Uint8Array).toBe(false);
    const n = await new StreamReader(Readable.from([foreign]), deframer).processAllAsync(
      () => undefined,
    );
    expect(n).toBe(50);
  });

  test('a source that errors after its end does not change the result or crash', async () => {
    const src = new Readable({ read() {} });
    src.push(stream);
    src.push(null);
    const r = new StreamReader(src, deframer);
    expect(await r.processAllAsync(() => undefined)).toBe(50);
    src.destroy(new Error('late'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.error).toBeNull();
  });

  test('zero-length chunks forever do not starve the event loop (child, with a timeout)', () => {
    const script = `
      const f = require(${DIST});
      const d = new f.ChecksumDeframer(f.XxHash64);
      let pulled = 0;
      const source = { [Symbol.asyncIterator]() { return { next() { pulled++; return Promise.resolve({ done: false, value: new Uint8Array(0) }); } }; } };
      const r = new f.StreamReader(source, d);
      const p = r.processAllAsync(() => {});
      setImmediate(() => r.close());
      p.then((n) => console.log(JSON.stringify({ n })), (e) => console.log(JSON.stringify({ name: e.name, code: e.code, pulled: pulled > 0 })));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 20_000, encoding: 'utf8' });
    expect(r.signal).toBeNull();
    expect(JSON.parse(r.stdout)).toEqual({
      name: 'ClosedError',
      code: 'ERR_FLATSTREAM_CLOSED',
      pulled: true,
    });
  });
});

// Defect 2, read side: a FIFO path must never block the event loop.
test('a FIFO path: the sync API refuses it, the async API streams it without blocking (child, with a timeout)', () => {
  const fifo = join(dir, 'events.fifo');
  spawnSync('mkfifo', [fifo]);
  const script = `
    const f = require(${DIST});
    const fs = require('fs');
    const d = new f.ChecksumDeframer(f.XxHash64);
    const out = [];
    try { new f.StreamReader(${JSON.stringify(fifo)}, d).processAll(() => {}); out.push('no error'); }
    catch (e) { out.push([e.name, e.code, e.message]); }
    (async () => {
      const r = new f.StreamReader(${JSON.stringify(fifo)}, d);
      let turns = 0;
      const p = r.processAllAsync(() => {});
      // the writer arrives later; meanwhile the loop keeps turning
      setImmediate(function spin() { if (++turns < 20) setImmediate(spin); else fs.writeFileSync(${JSON.stringify(fifo)}, fs.readFileSync(${JSON.stringify(file)})); });
      out.push(await p, turns);
      const idle = new f.StreamReader(${JSON.stringify(fifo)}, d);
      const q = idle.processAllAsync(() => {}).catch((e) => e.name);
      setImmediate(() => idle.close());
      out.push(await q);
      console.log(JSON.stringify(out));
    })();
  `;
  const r = spawnSync(process.execPath, ['-e', script], { timeout: 20_000, encoding: 'utf8' });
  expect(r.signal).toBeNull(); // SIGTERM: it blocked
  expect(JSON.parse(r.stdout)).toEqual([
    [
      'IoError',
      'ERR_FLATSTREAM_IO',
      `cannot read ${fifo}: it is a FIFO, not a regular file: the synchronous API reads regular files only (a read could wait forever); stream it with the async API (frame 0 at offset 0)`,
    ],
    50,
    20,
    'ClosedError',
  ]);
  expect(
    thrown(() => new StreamReader('/dev/zero', deframer).processAll(() => undefined)),
  ).toBeInstanceOf(IoError);
});
