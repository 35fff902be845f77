// Follow mode (docs/design.md, "Follow mode"): a StreamReader on a growing
// file waits at its end, treats a torn tail as not yet written, starts at an
// offset, ends on break/return()/abort releasing its file and watcher, and
// reports a file that shrank, was replaced or removed. Runs in both engine
// modes (FLATSTREAM_NATIVE=1 and 0).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  ClosedError,
  FollowedFileChangedError,
  InvalidFrameError,
  IoError,
  StreamReader,
  XxHash64,
  recoverFile,
  type StreamReaderOptions,
} from '../lib/index';
import { bytes } from './helpers';

const framer = new ChecksumFramer(XxHash64);
const deframer = new ChecksumDeframer(XxHash64);
const dir = fs.mkdtempSync(join(tmpdir(), 'flatstream-follow-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
// libuv opens one inotify fd for the process at the first watch and keeps
// it: open it now, so fd counts below see only what a reader holds.
beforeAll(() => fs.watch(dir).close());

let n = 0;
function fresh(content: Uint8Array = new Uint8Array(0)): string {
  const p = join(dir, `f${n++}.fst`);
  fs.writeFileSync(p, content);
  return p;
}
const frame = (p: Uint8Array): Buffer => Buffer.from(framer.frame(p));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
// The fds open on this suite's files: what a reader holds, and nothing of
// jest's or libuv's own (whose fds come and go on their own schedule, so a
// count of every fd in the process is not a measure of ours).
const fds = (): number =>
  fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
    } catch {
      return false; // closed since the listing
    }
  }).length;

/** Counts the fs.watch watchers opened and not yet closed, for the test's duration. */
let watching = 0;
beforeEach(() => {
  const real = fs.watch;
  watching = 0;
  jest.spyOn(fs, 'watch').mockImplementation(((...args: Parameters<typeof fs.watch>) => {
    const w = real.apply(fs, args);
    watching++;
    const close = w.close.bind(w);
    let closed = false;
    w.close = () => {
      if (!closed) watching--;
      closed = true;
      close();
    };
    return w;
  }) as typeof fs.watch);
});
afterEach(() => jest.restoreAllMocks());
const watchers = (): number => watching;

/** Waits (bounded) until `cond` holds: the reader got somewhere on a loaded machine. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await sleep(10);
}

async function settledFds(expected: number): Promise<number> {
  for (let i = 0; i < 500 && fds() !== expected; i++) await sleep(10);
  return fds();
}

/** Steps a follow reader by hand: each payload copied, with its offset. */
function follower(path: string, options: StreamReaderOptions = {}) {
  const reader = new StreamReader(path, deframer, { follow: true, pollIntervalMs: 20, ...options });
  const it = reader[Symbol.asyncIterator]();
  return {
    reader,
    it,
    async next(): Promise<{ payload: Buffer; offset: number }> {
      const before = reader.position;
      const r = await it.next();
      if (r.done) throw new Error('the follow iterator ended');
      return { payload: Buffer.from(r.value), offset: before };
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

const P = Array.from({ length: 6 }, (_, i) => bytes(20 + 7 * i, i + 1));
const F = P.map(frame);
const at = (i: number): number => F.slice(0, i).reduce((s, f) => s + f.length, 0);

describe('waiting at the end of the file', () => {
  test('frames appended after the reader reached the end are delivered, in order, at their offsets', async () => {
    const path = fresh(F[0]);
    const f = follower(path);
    expect(await f.next()).toEqual({ payload: Buffer.from(P[0]!), offset: 0 });
    const pending = f.next();
    await until(() => watchers() === 1); // the reader is waiting at the end
    fs.appendFileSync(path, Buffer.concat([F[1]!, F[2]!]));
    expect(await pending).toEqual({ payload: Buffer.from(P[1]!), offset: at(1) });
    expect(await f.next()).toEqual({ payload: Buffer.from(P[2]!), offset: at(2) });
    expect(f.reader.position).toBe(at(3));
    expect(f.reader.frameIndex).toBe(3);
    await f.it.return!();
  });

  test('a torn tail is not yet written: the frame is delivered once its last byte is there, never an error', async () => {
    const path = fresh();
    const f = follower(path);
    const pending = f.next();
    const whole = F[3]!;
    // Every cut of the frame, one piece at a time, with the reader waiting between.
    for (const cut of [1, 3, 4, 11, 12, 13, whole.length - 1]) {
      fs.appendFileSync(path, whole.subarray(fs.statSync(path).size, cut));
      await sleep(30);
      expect(f.reader.error).toBeNull();
    }
    fs.appendFileSync(path, whole.subarray(whole.length - 1));
    expect(await pending).toEqual({ payload: Buffer.from(P[3]!), offset: 0 });
    await f.it.return!();
  });

  test('the poll alone delivers when fs.watch is unavailable', async () => {
    const spy = jest.spyOn(fs, 'watch').mockImplementation(() => {
      throw Object.assign(new Error('watch unavailable'), { code: 'ENOSYS' });
    });
    try {
      const path = fresh();
      const f = follower(path);
      const pending = f.next();
      await sleep(50);
      fs.appendFileSync(path, F[0]!);
      expect(await pending).toEqual({ payload: Buffer.from(P[0]!), offset: 0 });
      expect(spy).toHaveBeenCalled();
      await f.it.return!();
    } finally {
      spy.mockRestore();
    }
  });

  test('the poll alone delivers when the watch never fires', async () => {
    const { EventEmitter } = await import('node:events');
    const silent = Object.assign(new EventEmitter(), { close: () => undefined });
    const spy = jest.spyOn(fs, 'watch').mockImplementation(() => silent as unknown as fs.FSWatcher);
    try {
      const path = fresh();
      const f = follower(path, { pollIntervalMs: 10 });
      const pending = f.next();
      await sleep(50);
      fs.appendFileSync(path, F[1]!);
      expect(await pending).toEqual({ payload: Buffer.from(P[1]!), offset: 0 });
      await f.it.return!();
    } finally {
      spy.mockRestore();
    }
  });

  test('processAllAsync follows too; a callback returning false ends it and closes the reader', async () => {
    const path = fresh(Buffer.concat([F[0]!, F[1]!]));
    const reader = new StreamReader(path, deframer, { follow: true, pollIntervalMs: 20 });
    const seen: number[] = [];
    const done = reader.processAllAsync((p, info) => {
      seen.push(info.offset);
      return seen.length < 3;
    });
    await until(() => watchers() === 1);
    fs.appendFileSync(path, Buffer.concat([F[2]!, F[3]!]));
    expect(await done).toBe(3);
    expect(seen).toEqual([0, at(1), at(2)]);
    expect((await rejection(reader.processAllAsync(() => undefined))).code).toBe(
      'ERR_FLATSTREAM_CLOSED',
    );
  });

  test('the synchronous API refuses a followed file (it would block the event loop)', () => {
    const reader = new StreamReader(fresh(F[0]), deframer, { follow: true });
    expect(reader.isAsync).toBe(true);
    expect(() => reader.processAll(() => undefined)).toThrow(TypeError);
  });
});

describe('start', () => {
  test('at a frame boundary: frames from there, offsets from the file, frame indexes from start', async () => {
    const path = fresh(Buffer.concat(F.slice(0, 4)));
    const reader = new StreamReader(path, deframer, { follow: true, start: at(2) });
    const got: [number, number, number][] = [];
    await reader.processAllAsync((p, info) => {
      got.push([info.offset, info.frameIndex, p.length]);
      return got.length < 2;
    });
    expect(got).toEqual([
      [at(2), 0, P[2]!.length],
      [at(3), 1, P[3]!.length],
    ]);
  });

  test('at the end of the file: waits for the next frame', async () => {
    const path = fresh(Buffer.concat(F.slice(0, 2)));
    const f = follower(path, { start: at(2) });
    const pending = f.next();
    await until(() => watchers() === 1);
    fs.appendFileSync(path, F[2]!);
    expect(await pending).toEqual({ payload: Buffer.from(P[2]!), offset: at(2) });
    await f.it.return!();
  });

  test('inside a frame whose bytes read as a sane length: ChecksumMismatchError at start, frame 0', async () => {
    // A payload that holds a fake header: length 10, checksum 0x0807060504030201.
    const fake = Buffer.from([10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, ...bytes(30, 9)]);
    const path = fresh(frame(fake));
    const f = follower(path, { start: 12 });
    const err = await rejection(f.next());
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect(err).toMatchObject({ offset: 12, frameIndex: 0, expected: 0x0807060504030201n });
  });

  test('inside a frame whose bytes read as too long a length: InvalidFrameError at start, frame 0', async () => {
    const path = fresh(Buffer.concat(F.slice(0, 2)));
    const len = F[0]!.readUInt32LE(4); // the checksum's low bytes, read as a length
    const small = deframer.withMaxFrameLen(1024);
    expect(len).toBeGreaterThan(1024);
    const reader = new StreamReader(path, small, { follow: true, start: 4 });
    const err = await rejection(reader.processAllAsync(() => undefined));
    expect(err).toBeInstanceOf(InvalidFrameError);
    expect(err).toMatchObject({ offset: 4, frameIndex: 0, length: len, limit: 1024 });
  });

  test('past the end of the file: FollowedFileChangedError truncated, with the size and the offset', async () => {
    const path = fresh(F[0]);
    const f = follower(path, { start: 1000 });
    const err = await rejection(f.next());
    expect(err).toBeInstanceOf(FollowedFileChangedError);
    expect(err).toMatchObject({
      code: 'ERR_FLATSTREAM_FILE_CHANGED',
      reason: 'truncated',
      size: F[0]!.length,
      offset: 1000,
      frameIndex: 0,
    });
  });
});

describe('a file that changes under the reader', () => {
  test('truncated below the frames delivered: FollowedFileChangedError with the size and where the reader stood', async () => {
    const path = fresh(Buffer.concat(F.slice(0, 3)));
    const f = follower(path);
    for (let i = 0; i < 3; i++) await f.next();
    const pending = f.next();
    await until(() => watchers() === 1);
    fs.truncateSync(path, at(1));
    const err = await rejection(pending);
    expect(err).toBeInstanceOf(FollowedFileChangedError);
    expect(err).toMatchObject({ reason: 'truncated', size: at(1), offset: at(3), frameIndex: 3 });
    expect(f.reader.error).toBe(err); // sticky, like any error
  });

  test('a recovery cuts a torn tail the reader waited on: the torn frame is never delivered, the new writer’s frames are', async () => {
    const path = fresh(Buffer.concat([F[0]!, F[1]!, F[2]!.subarray(0, 17)]));
    const f = follower(path);
    await f.next();
    await f.next();
    const pending = f.next();
    await until(() => watchers() === 1); // holding the torn prefix
    expect(recoverFile(path, deframer, { truncate: true })).toMatchObject({
      end: 'torn-tail',
      lastGoodOffset: at(2),
      tornBytes: 17,
    });
    await sleep(50);
    fs.appendFileSync(path, Buffer.concat([F[4]!, F[5]!]));
    expect(await pending).toEqual({ payload: Buffer.from(P[4]!), offset: at(2) });
    expect(await f.next()).toEqual({ payload: Buffer.from(P[5]!), offset: at(2) + F[4]!.length });
    await f.it.return!();
  });

  test('cut and overwritten before the reader looks, longer than the torn prefix: the new frame is read from its start', async () => {
    const path = fresh(Buffer.concat([F[0]!, F[5]!.subarray(0, 20)]));
    const f = follower(path);
    await f.next();
    const pending = f.next();
    await until(() => watchers() === 1);
    // In one go, between two looks: the torn tail cut, a longer frame in its place.
    fs.truncateSync(path, at(1));
    fs.appendFileSync(path, F[4]!);
    expect(await pending).toEqual({ payload: Buffer.from(P[4]!), offset: at(1) });
    await f.it.return!();
  });

  test('cut and overwritten to the very same size: the bytes differ, so the new frame is delivered', async () => {
    const small = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const replacement = frame(small); // 20 bytes
    const torn = F[5]!.subarray(0, replacement.length);
    const path = fresh(Buffer.concat([F[0]!, torn]));
    const f = follower(path);
    await f.next();
    const pending = f.next();
    await until(() => watchers() === 1);
    fs.truncateSync(path, at(1));
    fs.appendFileSync(path, replacement);
    expect(fs.statSync(path).size).toBe(at(1) + torn.length);
    expect(await pending).toEqual({ payload: small, offset: at(1) });
    await f.it.return!();
  });

  /**
   * A file of frame 0 and the first 200 bytes of a 300-byte frame, followed
   * 64 bytes a read: resolves once the follower holds those 200 bytes (more
   * than a read) and waits at EOF, with its pending next().
   */
  async function heldBigTornFrame(seed: number) {
    const path = fresh(Buffer.concat([F[0]!, frame(bytes(300, seed)).subarray(0, 200)]));
    const f = follower(path, { readSize: 64 });
    await f.next();
    const pending = f.next();
    await until(() => watchers() === 1);
    return { path, f, pending };
  }

  test('a frame larger than one read, torn, cut and rewritten: read again from its start', async () => {
    const { path, f, pending } = await heldBigTornFrame(77);
    fs.truncateSync(path, at(1));
    await sleep(50);
    fs.appendFileSync(path, F[1]!);
    expect(await pending).toEqual({ payload: Buffer.from(P[1]!), offset: at(1) });
    await f.it.return!();
  });

  test('a frame larger than one read, torn, then cut and overwritten past what was held between two looks: the new frames, whole', async () => {
    const { path, f, pending } = await heldBigTornFrame(78);
    // In one go: the torn tail cut, and more bytes than were held written in its place.
    fs.truncateSync(path, at(1));
    fs.appendFileSync(path, Buffer.concat([F[2]!, F[3]!, F[4]!, F[5]!]));
    expect(fs.statSync(path).size).toBeGreaterThan(at(1) + 200);
    expect(await pending).toEqual({ payload: Buffer.from(P[2]!), offset: at(1) });
    for (const i of [3, 4, 5]) expect((await f.next()).payload).toEqual(Buffer.from(P[i]!));
    await f.it.return!();
  });

  test('replaced (renamed over): FollowedFileChangedError replaced, after every frame of the old file', async () => {
    const path = fresh(Buffer.concat([F[0]!, F[1]!]));
    const f = follower(path);
    await f.next(); // opened
    const other = fresh(Buffer.concat(F.slice(0, 4)));
    fs.renameSync(other, path);
    await f.next();
    const err = await rejection(f.next());
    expect(err).toBeInstanceOf(FollowedFileChangedError);
    expect(err).toMatchObject({ reason: 'replaced', size: at(4), offset: at(2), frameIndex: 2 });
  });

  test('removed: FollowedFileChangedError removed', async () => {
    const path = fresh(F[0]);
    const f = follower(path);
    await f.next();
    const pending = f.next();
    await until(() => watchers() === 1);
    fs.unlinkSync(path);
    const err = await rejection(pending);
    expect(err).toBeInstanceOf(FollowedFileChangedError);
    expect(err).toMatchObject({ reason: 'removed', size: -1, offset: at(1), frameIndex: 1 });
  });
});

describe('bad input', () => {
  test('a file that is not a stream (a JPEG): InvalidFrameError at offset 0, frame 0, not a wait', async () => {
    const jpeg = Buffer.from([
      0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1,
    ]);
    const err = await rejection(follower(fresh(jpeg)).next());
    expect(err).toBeInstanceOf(InvalidFrameError);
    expect(err).toMatchObject({ offset: 0, frameIndex: 0, length: 0xe0ffd8ff });
  });

  test('a symlink re-pointed at another file: FollowedFileChangedError replaced', async () => {
    const a = fresh(F[0]);
    const b = fresh(Buffer.concat(F.slice(0, 3)));
    const link = join(dir, `link${n++}`);
    fs.symlinkSync(a, link);
    const f = follower(link);
    expect(await f.next()).toEqual({ payload: Buffer.from(P[0]!), offset: 0 });
    const tmp = `${link}.new`;
    fs.symlinkSync(b, tmp);
    fs.renameSync(tmp, link);
    const err = await rejection(f.next());
    expect(err).toMatchObject({ reason: 'replaced', size: at(3), offset: at(1), frameIndex: 1 });
  });

  test('a directory: IoError naming it, at offset 0', async () => {
    const f = follower(dir);
    const err = await rejection(f.next());
    expect(err).toBeInstanceOf(IoError);
    expect(err.message).toContain('it is a directory, not a regular file');
    expect(err).toMatchObject({ offset: 0, frameIndex: 0 });
  });

  test('a FIFO without a writer: IoError at once, nothing blocks', async () => {
    const fifo = join(dir, `fifo${n++}`);
    execFileSync('mkfifo', [fifo]);
    // (an earlier test's reader may still be closing its fd: start from none)
    const before = await settledFds(0);
    const f = follower(fifo);
    const err = await rejection(f.next());
    expect(err).toBeInstanceOf(IoError);
    expect(err.message).toContain('it is a FIFO, not a regular file');
    expect(await settledFds(before)).toBe(before);
  });

  test('a missing path: IoError ENOENT', async () => {
    const err = await rejection(follower(join(dir, 'missing.fst')).next());
    expect(err).toBeInstanceOf(IoError);
    expect(err.systemCode).toBe('ENOENT');
  });

  test('options: exact Node-style errors', () => {
    const path = fresh();
    const code = (fn: () => unknown): [string, unknown] => {
      try {
        fn();
      } catch (e) {
        return [(e as Error).constructor.name, (e as { code?: unknown }).code];
      }
      return ['none', undefined];
    };
    const T = ['TypeError', 'ERR_INVALID_ARG_TYPE'];
    const R = ['RangeError', 'ERR_OUT_OF_RANGE'];
    const mk = (src: unknown, o: Record<string, unknown>) => () =>
      new StreamReader(src as string, deframer, o as StreamReaderOptions);
    expect(code(mk(3, { follow: true }))).toEqual(T);
    expect(code(mk(new Uint8Array(4), { follow: true }))).toEqual(T);
    expect(code(mk(path, { follow: 'yes' }))).toEqual(T);
    expect(code(mk(path, { start: 0 }))).toEqual(T);
    expect(code(mk(path, { follow: false, signal: new AbortController().signal }))).toEqual(T);
    expect(code(mk(path, { follow: true, start: -1 }))).toEqual(R);
    expect(code(mk(path, { follow: true, start: 1.5 }))).toEqual(R);
    expect(code(mk(path, { follow: true, start: '0' }))).toEqual(T);
    expect(code(mk(path, { follow: true, pollIntervalMs: 0 }))).toEqual(R);
    expect(code(mk(path, { follow: true, signal: {} }))).toEqual(T);
    expect(code(mk(path, { follow: true, onCorrupt: 'skip' }))).toEqual(T);
    expect(code(mk(new URL(`file://${path}`), { follow: true, start: 0 }))).toEqual([
      'none',
      undefined,
    ]);
  });
});

describe('ending, and releasing the file and the watcher', () => {
  test('break: the fd and the watcher are released, later calls throw ClosedError', async () => {
    const path = fresh(Buffer.concat(F.slice(0, 3)));
    // (an earlier test's reader may still be closing its fd: start from none)
    const before = await settledFds(0);
    const reader = new StreamReader(path, deframer, { follow: true, pollIntervalMs: 20 });
    let count = 0;
    const later = setTimeout(() => fs.appendFileSync(path, F[3]!), 80);
    for await (const _ of reader) if (++count === 4) break;
    clearTimeout(later);
    expect(count).toBe(4);
    expect(watchers()).toBe(0);
    expect(await settledFds(before)).toBe(before);
    expect((await rejection(reader.processAllAsync(() => undefined))).constructor).toBe(
      ClosedError,
    );
  });

  test('return() while a step waits for data: that step throws ClosedError, return() resolves, all released', async () => {
    const path = fresh(F[0]);
    // (an earlier test's reader may still be closing its fd: start from none)
    const before = await settledFds(0);
    const f = follower(path);
    await f.next();
    const pending = f.next();
    await until(() => watchers() === 1); // waiting at the end
    expect(watchers()).toBe(1);
    const ret = f.it.return!();
    expect((await rejection(pending)).constructor).toBe(ClosedError);
    expect(await ret).toEqual({ done: true, value: undefined });
    expect(watchers()).toBe(0);
    expect(await settledFds(before)).toBe(before);
  });

  test('an AbortSignal while waiting: AbortError (ABORT_ERR), sticky, all released', async () => {
    const path = fresh(F[0]);
    // (an earlier test's reader may still be closing its fd: start from none)
    const before = await settledFds(0);
    const ac = new AbortController();
    const f = follower(path, { signal: ac.signal });
    await f.next();
    const pending = f.next();
    await until(() => watchers() === 1); // waiting at the end
    expect(watchers()).toBe(1);
    ac.abort();
    const err = await rejection(pending);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(err.cause).toBe(ac.signal.reason);
    expect(watchers()).toBe(0);
    expect(await settledFds(before)).toBe(before);
    expect((await rejection(f.reader.processAllAsync(() => undefined))).constructor).toBe(
      ClosedError,
    );
  });

  test('an AbortSignal between frames stops at the next frame, although more are in memory', async () => {
    const path = fresh(Buffer.concat(F.slice(0, 4)));
    const ac = new AbortController();
    const reader = new StreamReader(path, deframer, { follow: true, signal: ac.signal });
    const seen: number[] = [];
    const err = await rejection(
      reader.processAllAsync((p, info) => {
        seen.push(info.frameIndex);
        if (info.frameIndex === 1) ac.abort();
      }),
    );
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(seen).toEqual([0, 1]);
  });

  test('a signal aborted before the first read: AbortError, nothing opened', async () => {
    // (an earlier test's reader may still be closing its fd: start from none)
    const before = await settledFds(0);
    const reader = new StreamReader(fresh(F[0]), deframer, {
      follow: true,
      signal: AbortSignal.abort(),
    });
    const err = await rejection(reader.processAllAsync(() => undefined));
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(fds()).toBe(before);
  });

  test('an error ends it and releases too (the file truncated under it)', async () => {
    const path = fresh(Buffer.concat(F.slice(0, 2)));
    // (an earlier test's reader may still be closing its fd: start from none)
    const before = await settledFds(0);
    const f = follower(path);
    await f.next();
    await f.next();
    const pending = f.next();
    await until(() => watchers() === 1); // waiting at the end
    expect(watchers()).toBe(1);
    fs.truncateSync(path, 0);
    expect(await rejection(pending)).toBeInstanceOf(FollowedFileChangedError);
    expect(watchers()).toBe(0);
    expect(await settledFds(before)).toBe(before);
  });

  test('toStream(): destroying it ends the follow and releases; one refused as busy leaves the reading call alone', async () => {
    const path = fresh(F[0]);
    // (an earlier test's reader may still be closing its fd: start from none)
    const before = await settledFds(0);
    const f = follower(path);
    await f.next();
    const pending = f.next(); // this iterator is reading: it waits at the end
    await sleep(50);
    const refused = f.reader.toStream();
    refused.resume();
    const err = await new Promise<Error>((resolve) => refused.once('error', resolve));
    expect(err.constructor.name).toBe('ReaderBusyError');
    await sleep(50);
    fs.appendFileSync(path, F[1]!);
    expect(await pending).toEqual({ payload: Buffer.from(P[1]!), offset: at(1) });
    expect(f.reader.position).toBe(at(2)); // still open: it goes on
    await f.it.return!();
    expect(await settledFds(before)).toBe(before);

    const reader = new StreamReader(path, deframer, { follow: true, pollIntervalMs: 20 });
    const s = reader.toStream();
    const first = await new Promise<Buffer>((resolve) => s.once('data', resolve));
    expect(first).toEqual(Buffer.from(P[0]!));
    await new Promise((r) => setTimeout(r, 50)); // it waits at the end now
    const gone = new Promise((resolve) => s.once('close', resolve));
    s.destroy();
    await gone;
    expect(watchers()).toBe(0);
    expect(await settledFds(before)).toBe(before);
  });

  test('a torn tail nobody completes: the reader waits without spinning (reads bounded by wakes)', async () => {
    const { EventEmitter } = await import('node:events');
    const silent = Object.assign(new EventEmitter(), { close: () => undefined });
    jest.spyOn(fs, 'watch').mockImplementation(() => silent as unknown as fs.FSWatcher);
    const reads = jest.spyOn(fs, 'read');
    const path = fresh(Buffer.concat([F[0]!, F[1]!.subarray(0, 9)]));
    const f = follower(path, { pollIntervalMs: 25 });
    await f.next();
    const pending = f.next();
    const r0 = reads.mock.calls.length;
    await sleep(250); // about 10 polls; a spinning reader would read thousands of times
    const n = reads.mock.calls.length - r0;
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThan(40);
    expect(f.reader.error).toBeNull();
    fs.appendFileSync(path, F[1]!.subarray(9));
    expect(await pending).toEqual({ payload: Buffer.from(P[1]!), offset: at(1) });
    await f.it.return!();
  });

  test('following a file with for await collects no more often than the ordinary async path (nothing more allocated per frame)', () => {
    const DIST = JSON.stringify(join(__dirname, '..', 'dist', 'cjs', 'index.js'));
    const script = `
      const fs = require('node:fs');
      const { GCProfiler } = require('node:v8');
      const f = require(${DIST});
      const path = ${JSON.stringify(join(dir, 'gc.fst'))};
      const N = 500000;
      const w = new f.StreamWriter(new f.FileSink(path, { append: false }), new f.ChecksumFramer(f.XxHash64));
      const p = new Uint8Array(48);
      for (let i = 0; i < N; i++) { p[0] = i; w.writePayload(p); }
      w.close();
      const d = new f.ChecksumDeframer(f.XxHash64);
      async function pass(options) {
        const r = new f.StreamReader(path, d, options);
        const prof = new GCProfiler();
        prof.start();
        let n = 0;
        for await (const _ of r) if (++n === N) break;
        const gcs = prof.stop().statistics.length;
        await r.close();
        if (n !== N) throw new Error('short: ' + n);
        return gcs;
      }
      (async () => {
        const out = { async: [], follow: [] };
        for (let i = 0; i < 3; i++) {
          out.async.push(await pass(undefined));
          out.follow.push(await pass({ follow: true }));
        }
        process.stdout.write(JSON.stringify(out));
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { async: number[]; follow: number[] };
    const max = (xs: number[]): number => Math.max(...xs);
    expect({ ok: max(out.follow) <= max(out.async) + 2, out }).toEqual({ ok: true, out });
  });

  test('the process exits by itself after break, return(), abort and an error', () => {
    const path = fresh(Buffer.concat(F.slice(0, 2)));
    const DIST = JSON.stringify(join(__dirname, '..', 'dist', 'cjs', 'index.js'));
    for (const how of ['break', 'return', 'abort', 'close', 'error']) {
      const script = `
        const fs = require('node:fs');
        const { StreamReader, ChecksumDeframer, XxHash64 } = require(${DIST});
        const ac = new AbortController();
        const r = new StreamReader(${JSON.stringify(path)}, new ChecksumDeframer(XxHash64), { follow: true, signal: ac.signal });
        (async () => {
          const it = r[Symbol.asyncIterator]();
          await it.next(); await it.next();
          const pending = it.next();
          await new Promise((res) => setTimeout(res, 30));
          const how = ${JSON.stringify(how)};
          if (how === 'break' || how === 'return') it.return();
          else if (how === 'abort') ac.abort();
          else if (how === 'close') r.close();
          else fs.writeFileSync(${JSON.stringify(path)} + '.x', ''), fs.renameSync(${JSON.stringify(path)} + '.x', ${JSON.stringify(path)});
          await pending.catch((e) => console.log(e.code));
        })();`;
      const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
      expect([how, out.signal, out.status, out.stderr]).toEqual([how, null, 0, '']);
      expect(out.stdout.trim()).toBe(
        how === 'abort'
          ? 'ABORT_ERR'
          : how === 'error'
            ? 'ERR_FLATSTREAM_FILE_CHANGED'
            : 'ERR_FLATSTREAM_CLOSED',
      );
      if (how === 'error') fs.writeFileSync(path, Buffer.concat(F.slice(0, 2)));
    }
  });
});
