// RotatingSink and writer.rotate() (docs/design.md, "Rotation"): frames
// before a rotation in the file left, later ones in the next, each file a
// stream of its own with its header; the names and their order
// (listRotation); rotations that cannot open the next file; a SIGKILL in
// the middle of rotating. File mode runs in both engine modes; capture mode
// needs the addon.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CaptureSink,
  ChecksumDeframer,
  ChecksumFramer,
  IoError,
  MemorySink,
  NativeRequiredError,
  ReentrantCallError,
  RotatingSink,
  StreamReader,
  StreamWriter,
  XxHash64,
  listRotation,
  native,
  nextInRotation,
  rotationFile,
} from '../lib/index';
import { defaultStagingPath } from '../lib/capture/capture-sink';
import { rotationMember } from '../lib/format/rotation';
import { thrown } from './helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-rotate-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const framer = (): ChecksumFramer => new ChecksumFramer(XxHash64);
// Payload i: 40 bytes, i in its first 4.
function payload(i: number): Buffer {
  const b = Buffer.alloc(40, 0xab);
  b.writeUInt32LE(i, 0);
  return b;
}
// The numbers in each file of the set, in order; each file read on its own.
function numbers(base: string): { file: string; header: boolean; ids: number[] }[] {
  return listRotation(base).map((file) => {
    const r = StreamReader.open(file);
    const ids: number[] = [];
    for (const p of r.messages()) ids.push(Buffer.from(p).readUInt32LE(0));
    return { file: path.basename(file), header: r.header !== null, ids };
  });
}
/**
 * Runs a child to its end: exit code, stdout, and stderr without the one
 * warning portable capture gives (the fallback run's CaptureSinks).
 */
function runChild(cmd: string, args: string[], env?: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const p = spawn(cmd, args, env ? { env } : {});
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('close', (code) =>
      resolve({
        code,
        out,
        err: err.replace(
          /\(node:\d+\) \[FLATSTREAM_CAPTURE_PORTABLE\] Warning: .*\n(\(Use `node --trace-warnings \.\.\.` .*\n)?/,
          '',
        ),
      }),
    );
  });
}
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

// Without the addon a capturing set runs its CaptureSinks in portable mode.
const modes: [string, boolean][] = [
  ['files', false],
  ['capture', true],
];

describe.each(modes)('RotatingSink (%s)', (_name, capture) => {
  const open = (opts: Record<string, unknown> = {}): RotatingSink =>
    new RotatingSink(path.join(dir, 'ev.fst'), {
      ...(capture ? { capture: { slabSize: 4096 } } : { slabSize: 4096 }),
      ...opts,
    });

  test('writer.rotate(): frames before are in the file left, later ones in the next, each file with its header', async () => {
    const sink = open({ header: { meta: { host: 'a1' } } });
    const w = new StreamWriter(sink, framer());
    for (let i = 0; i < 100; i++) w.writePayload(payload(i));
    w.flush(); // a flush still pending on the thread (capture) when rotating
    const first = sink.current;
    expect(await sink.whenPrepared()).toBe(true); // else the rotation opens the next one itself
    const info = await w.rotate();
    expect(info).toEqual({
      file: first,
      frames: 100,
      bytes: 100 * 52,
      next: path.join(dir, 'ev.000002.fst'),
    });
    for (let i = 100; i < 130; i++) w.writePayload(payload(i));
    expect(await sink.whenPrepared()).toBe(true);
    await w.rotate();
    w.writePayload(payload(130));
    w.close();
    await w.finished();
    expect(numbers(path.join(dir, 'ev.fst'))).toEqual([
      { file: 'ev.000001.fst', header: true, ids: range(0, 100) },
      { file: 'ev.000002.fst', header: true, ids: range(100, 130) },
      { file: 'ev.000003.fst', header: true, ids: [130] },
    ]);
    // Nothing else is left in the directory: no pending or prepared file.
    expect(fs.readdirSync(dir).sort()).toEqual(['ev.000001.fst', 'ev.000002.fst', 'ev.000003.fst']);
    expect(w.stats().frames).toBe(131); // the three headers are not the user's frames
    expect(sink.stats()).toMatchObject({ rotations: 2 });
  });

  test('rotations back to back: the second opens its own next file while one is being prepared, and the files stay in order', async () => {
    const sink = open();
    const w = new StreamWriter(sink, framer());
    expect(await sink.whenPrepared()).toBe(true);
    w.writePayload(payload(0));
    const a = w.rotate(); // takes the prepared file; the one after it is being prepared
    w.writePayload(payload(1));
    const b = w.rotate(); // nothing prepared yet: opened now, with a later number
    w.writePayload(payload(2));
    await Promise.all([a, b]);
    expect(await sink.whenPrepared()).toBe(true); // the file prepared meanwhile came too late: replaced
    const c = w.rotate();
    w.writePayload(payload(3));
    await c;
    w.close();
    await w.finished();
    const files = numbers(path.join(dir, 'ev.fst'));
    expect(files.map((f) => f.ids)).toEqual([[0], [1], [2], [3]]);
    const seqs = files.map((f) => Number(/\.(\d+)\.fst$/.exec(f.file)![1]));
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(sink.stats()).toMatchObject({ rotations: 3, syncOpens: 1 });
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.pending'))).toEqual([]);
  });

  test('maxBytes: every file stays at or under it while the next one is ready, and nothing is lost or doubled', async () => {
    const sink = open({ maxBytes: 10_000 });
    const w = new StreamWriter(sink, framer());
    let n = 0;
    for (let slab = 0; slab < 12; slab++) {
      expect(await sink.whenPrepared()).toBe(true);
      for (let i = 0; i < 70; i++) w.writePayload(payload(n++)); // 70 x 52 B: one 4 KiB slab minus a bit
      w.flush();
    }
    w.close();
    await w.finished();
    const files = numbers(path.join(dir, 'ev.fst'));
    expect(files.flatMap((f) => f.ids)).toEqual(range(0, n));
    expect(files.map((f) => f.ids.length)).toEqual([140, 140, 140, 140, 140, 140]);
    for (const f of listRotation(path.join(dir, 'ev.fst')))
      expect(fs.statSync(f).size).toBeLessThanOrEqual(10_000);
    expect(sink.stats()).toMatchObject({ rotations: 5, syncOpens: 0, deferred: 0 });
  });

  (capture ? test.skip : test)(
    'a frame larger than a slab counts in its file: rotate() reports it and maxBytes sees it',
    async () => {
      const sink = open({ maxBytes: 12_000 });
      const w = new StreamWriter(sink, framer());
      w.writePayload(Buffer.alloc(10_000, 1)); // its own write (slabs are 4 KiB)
      expect(await sink.whenPrepared()).toBe(true);
      const info = await w.rotate();
      expect([info.frames, info.bytes]).toEqual([1, 10_012]);
      w.writePayload(Buffer.alloc(10_000, 2));
      expect(await sink.whenPrepared()).toBe(true);
      w.writePayload(payload(0)); // 10012 + a slab > 12000: a new file
      w.close();
      await w.finished();
      expect(listRotation(path.join(dir, 'ev.fst')).map((f) => fs.statSync(f).size)).toEqual([
        10_012, 10_012, 52,
      ]);
    },
  );

  (capture ? test.skip : test)(
    'the file left fails its fsync: rotate() rejects with an IoError, the writer fails for good, and the next file keeps its pending name',
    async () => {
      const sink = open();
      const w = new StreamWriter(sink, framer());
      w.writePayload(payload(0));
      expect(await sink.whenPrepared()).toBe(true);
      const spy = jest
        .spyOn(fs, 'fsync')
        .mockImplementationOnce(((_fd: number, cb: (e: NodeJS.ErrnoException | null) => void) =>
          cb(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }))) as never);
      try {
        const err = await w.rotate().catch((e: unknown) => e as IoError);
        expect(err).toBeInstanceOf(IoError);
        expect((err as IoError).message).toMatch(/cannot sync and close .*ev\.000001\.fst: EIO/);
        expect(() => w.writePayload(payload(1))).toThrow(IoError);
      } finally {
        spy.mockRestore();
      }
      expect(() => w.close()).toThrow(IoError); // the writer's failure, and the sink is closed
      await expect(w.finished()).rejects.toBeInstanceOf(IoError);
      expect(fs.readdirSync(dir).sort()).toEqual(['ev.000001.fst', 'ev.000002.fst.pending']);
    },
  );

  test('names of the set taken by what is not ours (a symlink, a directory) before the sink opens: numbered past, never renamed over or written through', async () => {
    const base = path.join(dir, 'ev.fst');
    const mine = path.join(dir, 'user-data.txt');
    fs.writeFileSync(mine, 'keep me');
    fs.symlinkSync(mine, rotationFile(base, 1));
    fs.symlinkSync(path.join(dir, 'gone.txt'), rotationFile(base, 2)); // dangling
    fs.mkdirSync(`${rotationFile(base, 3)}.pending`);
    const sink = open();
    const w = new StreamWriter(sink, framer());
    w.writePayload(payload(0));
    await w.rotate();
    w.writePayload(payload(1));
    w.close();
    await w.finished();
    expect(fs.readFileSync(mine, 'utf8')).toBe('keep me');
    expect(fs.lstatSync(rotationFile(base, 1)).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(rotationFile(base, 2)).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(`${rotationFile(base, 3)}.pending`).isDirectory()).toBe(true);
    const ours = listRotation(base).filter((f) => fs.lstatSync(f).isFile());
    // Ours start past every name taken (later numbers may have gaps).
    const seqs = ours.map((f) => rotationMember(f)!.seq);
    expect(seqs).toHaveLength(2);
    expect(seqs[0]).toBe(4);
    const ids = ours.map((f) => [...StreamReader.open(f).messages()].map((p) => p[0]));
    expect(ids).toEqual([[0], [1]]);
  });

  test('the next file cannot be created (a directory at its name): rotate() throws an IoError and the stream goes on in the current file', async () => {
    // Made once the sink has settled the set (a name taken before that is
    // skipped over: the next test).
    const sink = open();
    for (let s = 2; s <= 6; s++)
      fs.mkdirSync(`${rotationFile(path.join(dir, 'ev.fst'), s)}.pending`);
    const errors: Error[] = [];
    sink.on('prepareError', (e: Error) => errors.push(e));
    const w = new StreamWriter(sink, framer());
    expect(await sink.whenPrepared()).toBe(false);
    w.writePayload(payload(0));
    const e = thrown(() => void w.rotate());
    expect(e).toBeInstanceOf(IoError);
    expect(e.systemCode).toBe('EEXIST');
    w.writePayload(payload(1)); // the writer is still usable, in the same file
    w.close();
    await w.finished();
    await new Promise(setImmediate); // 'prepareError' comes on a later tick
    expect(errors[0]).toBeInstanceOf(IoError);
    expect(numbers(path.join(dir, 'ev.fst'))).toEqual([
      { file: 'ev.000001.fst', header: false, ids: [0, 1] },
    ]);
  });

  test('a full disk (no inode left) for the next file: prepareError and rotate() say ENOSPC, the stream stays in the first file, nothing half-written is left', async () => {
    const script = `mount -t tmpfs -o size=1m,nr_inodes=2 tmpfs "$1" && exec "$0" "$2" full-next "$1" "$3"`;
    const r = await runChild('unshare', [
      '-m',
      'sh',
      '-c',
      script,
      process.execPath,
      dir,
      path.join(__dirname, 'rotate-child.js'),
      capture ? 'capture' : 'files',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      prepared: false,
      thrown: 'IoError ENOSPC',
      errors: ['IoError ENOSPC'],
      files: [['ev.000001.fst', 200, 0, 199]],
      entries: ['ev.000001.fst'],
    });
  }, 60_000);

  test('process.exit() in the middle of a rotation, without close(): both files complete and named, the prepared one removed', async () => {
    const base = path.join(dir, 'ev.fst');
    const r = await runChild(process.execPath, [
      path.join(__dirname, 'rotate-child.js'),
      'exit',
      base,
      capture ? 'capture' : 'files',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // The next file, and (once its open started) the one prepared after it.
    expect(JSON.parse(r.out).pending).toBeGreaterThanOrEqual(1);
    // A capture's open still running at exit leaves its file for the next settle.
    if (capture) void new RotatingSink(base, { capture: true });
    expect(numbers(base)).toEqual([
      { file: 'ev.000001.fst', header: false, ids: range(0, 100) },
      { file: 'ev.000002.fst', header: false, ids: range(100, 150) },
    ]);
    expect(fs.readdirSync(dir).sort()).toEqual(['ev.000001.fst', 'ev.000002.fst']);
    if (capture)
      for (const f of listRotation(base)) expect(fs.existsSync(defaultStagingPath(f))).toBe(false);
  }, 60_000);

  test('maxAgeMs: a file that reached its age is left at the next slab boundary; an idle one is not rotated', async () => {
    const sink = open({ maxAgeMs: 50 });
    const w = new StreamWriter(sink, framer());
    for (let i = 0; i < 10; i++) w.writePayload(payload(i));
    expect(await sink.whenPrepared()).toBe(true);
    await new Promise((r) => setTimeout(r, 80)); // older than maxAgeMs, and idle: no new file
    expect(sink.stats().rotations).toBe(0);
    w.flush(); // a slab boundary: the frames staged so far are in file 1
    w.writePayload(payload(10)); // takes a new slab: file 1 is old enough
    w.close();
    await w.finished();
    expect(numbers(path.join(dir, 'ev.fst')).map((f) => [f.file, f.ids])).toEqual([
      ['ev.000001.fst', range(0, 10)],
      ['ev.000002.fst', [10]],
    ]);
  });

  test('rotate() from inside a callback of the writer is a ReentrantCallError and changes nothing', async () => {
    const sink = open();
    let inner: unknown;
    const f = framer().observe(() => {
      try {
        void w.rotate();
      } catch (err) {
        inner = err;
      }
    });
    const w = new StreamWriter(sink, f);
    w.writePayload(payload(0));
    expect(inner).toBeInstanceOf(ReentrantCallError);
    w.close();
    await w.finished();
    expect(numbers(path.join(dir, 'ev.fst'))).toEqual([
      { file: 'ev.000001.fst', header: false, ids: [0] },
    ]);
    expect(sink.stats().rotations).toBe(0);
  });

  // Portable capture has no claim another sink could see (docs/capture.md).
  (capture && native ? test : test.skip)(
    'a second capturing sink on a live set is refused with EBUSY and changes nothing',
    async () => {
      const sink = open();
      const w = new StreamWriter(sink, framer());
      w.writePayload(payload(0));
      const before = fs.readdirSync(dir).sort();
      const e = thrown(() => open());
      expect(e).toBeInstanceOf(IoError);
      expect(e.systemCode).toBe('EBUSY');
      expect(fs.readdirSync(dir).sort()).toEqual(before);
      w.close();
      await w.finished();
      expect(numbers(path.join(dir, 'ev.fst')).map((f) => f.ids)).toEqual([[0]]);
    },
  );

  test('a new sink on the set numbers its first file after the last one present', async () => {
    const w1 = new StreamWriter(open(), framer());
    w1.writePayload(payload(0));
    w1.close();
    await w1.finished();
    const w2 = new StreamWriter(open(), framer());
    w2.writePayload(payload(1));
    w2.close();
    await w2.finished();
    expect(numbers(path.join(dir, 'ev.fst')).map((f) => [f.file, f.ids])).toEqual([
      ['ev.000001.fst', [0]],
      ['ev.000002.fst', [1]],
    ]);
  });
});

(native ? describe : describe.skip)('CaptureSink.open (the native open on a libuv thread)', () => {
  test('resolves a sink that captures like a constructed one; the staging goes with a clean close', async () => {
    const file = path.join(dir, 'a.fst');
    const staging = path.join(dir, 'a.staging');
    const sink = await CaptureSink.open(file, { stagingPath: staging });
    expect(fs.existsSync(staging)).toBe(true);
    const w = new StreamWriter(sink, framer());
    for (let i = 0; i < 5; i++) w.writePayload(payload(i));
    w.close();
    await w.finished();
    expect(fs.existsSync(staging)).toBe(false);
    const ids = [...new StreamReader(file, new ChecksumDeframer(XxHash64))].map((p) =>
      Buffer.from(p).readUInt32LE(0),
    );
    expect(ids).toEqual([0, 1, 2, 3, 4]);
  });

  test("rejects with the constructor's errors: a directory (EISDIR), a stream a live sink holds (EBUSY), bad options (TypeError)", async () => {
    const d = await CaptureSink.open(dir, { stagingPath: path.join(dir, 'd.staging') }).catch(
      (e: unknown) => e as IoError,
    );
    expect(d).toBeInstanceOf(IoError);
    expect((d as IoError).systemCode).toBe('EISDIR');
    const file = path.join(dir, 'b.fst');
    const first = new CaptureSink(file, { stagingPath: path.join(dir, 'b1.staging') });
    const busy = await CaptureSink.open(file, { stagingPath: path.join(dir, 'b2.staging') }).catch(
      (e: unknown) => e as IoError,
    );
    expect(busy).toBeInstanceOf(IoError);
    expect((busy as IoError).systemCode).toBe('EBUSY');
    first.closeSync();
    await expect(CaptureSink.open(file, { slabs: 0 })).rejects.toMatchObject({
      code: 'ERR_OUT_OF_RANGE',
    });
    // Nothing is left of the refused opens.
    expect(fs.readdirSync(dir).sort()).toEqual(['b.fst']);
  });
});

describe('rotation names', () => {
  test('listRotation orders by number (1000000 after 999999) and leaves out pending files and strangers', () => {
    const base = path.join(dir, 'ev.fst');
    for (const n of [
      'ev.1000000.fst',
      'ev.999999.fst',
      'ev.000002.fst',
      'ev.000003.fst.pending',
      'ev.fst',
      'ev.12.fst',
      'other.000001.fst',
    ])
      fs.writeFileSync(path.join(dir, n), '');
    expect(listRotation(base).map((f) => path.basename(f))).toEqual([
      'ev.000002.fst',
      'ev.999999.fst',
      'ev.1000000.fst',
    ]);
    expect(nextInRotation(path.join(dir, 'ev.000002.fst'))).toBe(path.join(dir, 'ev.999999.fst'));
    expect(nextInRotation(path.join(dir, 'ev.1000000.fst'))).toBeNull();
    expect(nextInRotation(path.join(dir, 'ev.fst'))).toBeNull();
    expect(listRotation(path.join(dir, 'none', 'x.fst'))).toEqual([]);
  });

  test('settling a set: a pending file with frames is named (its torn tail cut when the writer binds), one with a header alone is removed, one that is not a stream is left alone', async () => {
    const base = path.join(dir, 'ev.fst');
    const f = framer();
    const { headerFrame } = await import('../lib/format/header');
    const head = headerFrame(f, {});
    fs.writeFileSync(`${rotationFile(base, 1)}`, Buffer.concat([head, f.frame(payload(0))]));
    fs.writeFileSync(
      `${rotationFile(base, 2)}.pending`,
      Buffer.concat([head, f.frame(payload(1))]),
    );
    fs.writeFileSync(`${rotationFile(base, 3)}.pending`, head);
    const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');
    fs.writeFileSync(`${rotationFile(base, 4)}.pending`, jpeg);
    // A writer that died mid-write: file 2 (still pending) ends in a torn frame.
    fs.appendFileSync(`${rotationFile(base, 2)}.pending`, f.frame(payload(9)).subarray(0, 20));
    const sink = new RotatingSink(base);
    expect(fs.readdirSync(dir).sort()).toEqual([
      'ev.000001.fst',
      'ev.000002.fst',
      'ev.000004.fst.pending',
    ]);
    expect(sink.recovery).toEqual({
      drained: [],
      named: [rotationFile(base, 2)],
      removed: [`${rotationFile(base, 3)}.pending`],
      repaired: null,
    });
    expect(fs.readFileSync(`${rotationFile(base, 4)}.pending`)).toEqual(jpeg);
    const w = new StreamWriter(sink, f);
    expect(sink.recovery.repaired).toEqual({ file: rotationFile(base, 2), tornBytes: 20 });
    w.writePayload(payload(2));
    w.close();
    await w.finished();
    expect(numbers(base).map((x) => [x.file, x.ids])).toEqual([
      ['ev.000001.fst', [0]],
      ['ev.000002.fst', [1]],
      ['ev.000005.fst', [2]],
    ]);
  });

  (native ? test.skip : test)(
    'without the addon, CaptureSink.open resolves a portable sink; requireNative refuses, in a capturing RotatingSink too',
    async () => {
      const a = await CaptureSink.open(path.join(dir, 'a.fst'));
      expect(a.captureMode).toBe('portable');
      a.closeSync();
      await expect(
        CaptureSink.open(path.join(dir, 'b.fst'), { requireNative: true }),
      ).rejects.toBeInstanceOf(NativeRequiredError);
      const base = path.join(dir, 'ev.fst');
      const sink = new RotatingSink(base, { capture: { requireNative: true } });
      expect(() => new StreamWriter(sink, framer())).toThrow(NativeRequiredError);
      expect(fs.readdirSync(dir).sort()).toEqual(['a.fst']);
    },
  );

  test('writer.rotate() on a sink that cannot rotate is a TypeError', () => {
    const w = new StreamWriter(new MemorySink(), framer());
    const e = thrown(() => void w.rotate());
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  test('stats().frames counts the user frames only: the header frame a writer stages is not one', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer(), { header: { meta: { a: 'b' } } });
    w.writePayload(payload(0));
    w.close();
    const r = StreamReader.open(sink.toBuffer());
    expect(r.header).not.toBeNull();
    expect([...r.messages()].length).toBe(1);
    expect(w.stats().frames).toBe(1);
    expect(w.stats().bytes).toBe(52);
  });
});

describe('crashes and /dev/shm', () => {
  const CHILD = path.join(__dirname, 'rotate-child.js');
  function run(args: string[], opts: { namespace?: boolean; killAfter?: string } = {}) {
    return new Promise<{ code: number | null; signal: string | null; out: string[] }>((resolve) => {
      const cmd = opts.namespace
        ? spawn('unshare', [
            '-m',
            'sh',
            '-c',
            'mount -t tmpfs -o size=64m tmpfs /dev/shm && exec "$0" "$@"',
            process.execPath,
            CHILD,
            ...args,
          ])
        : spawn(process.execPath, [CHILD, ...args]);
      const out: string[] = [];
      let buf = '';
      cmd.stdout.on('data', (d: Buffer) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) {
          out.push(l);
          if (opts.killAfter && l.startsWith(opts.killAfter)) cmd.kill('SIGKILL');
        }
      });
      cmd.on('close', (code, signal) => resolve({ code, signal, out }));
    });
  }

  test('a rotation whose file left fails, its promise ignored: no unhandled rejection, the next write throws the IoError', async () => {
    const r = await run(['ignored-failure', path.join(dir, 'ev.fst')]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      expect.stringMatching(/^IoError: cannot sync and close .*ev\.000001\.fst: EIO/),
    ]);
  });

  // Root ignores permission bits: the child runs as nobody (runuser, root only).
  const asNobody =
    process.getuid?.() === 0 && spawnSync('runuser', ['--help'], { stdio: 'ignore' }).status === 0;
  (asNobody ? test : test.skip)(
    'the directory made read-only under a running writer (as a user permissions apply to): the rename of the next file fails with EACCES, the writer fails loudly, no frame is lost',
    async () => {
      fs.chownSync(dir, 65534, 65534); // nobody
      const r = await runChild(
        'runuser',
        [
          '-u',
          'nobody',
          '--',
          process.execPath,
          path.join(__dirname, 'rotate-child.js'),
          'readonly',
          dir,
        ],
        { ...process.env },
      );
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const [first, second] = r.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(first).toEqual({
        rotated: 'IoError EACCES', // ev.000002.fst.pending could not be renamed
        next: 'IoError',
        errors: ['prepareError EACCES'],
        entries: ['ev.000001.fst', 'ev.000002.fst.pending'],
      });
      // Permissions back: the next sink names the pending file; every frame is in one file.
      expect(second).toEqual({
        named: ['ev.000002.fst'],
        files: ['ev.000001.fst', 'ev.000002.fst'],
      });
      expect(numbers(path.join(dir, 'ev.fst')).map((f) => f.ids)).toEqual([range(0, 10), [10]]);
    },
    60_000,
  );

  (native ? test : test.skip)(
    'N streams opened, written and closed leave /dev/shm as it was; a SIGKILLed one leaves its staging, which the next open drains and removes',
    async () => {
      const r = await run(['shm', dir], { namespace: true });
      expect(r.code).toBe(0);
      expect(r.out.map((l) => JSON.parse(l))).toEqual([
        { step: 'before', shm: 0 },
        { step: 'after 20 closed', shm: 0 },
        { step: 'killed', shm: 1, code: null, signal: 'SIGKILL' },
        { step: 'reopened', shm: 0, recoveredFrames: 1000, frames: 1000 },
      ]);
    },
    60_000,
  );

  test.each(native ? [['capture'], ['files']] : [['files']])(
    'SIGKILL in the middle of rotating (%s): every frame accepted is in exactly one file, in order, once the set is opened again',
    async (mode) => {
      const base = path.join(dir, 'ev.fst');
      for (let trial = 0; trial < 3; trial++) {
        const r = await run(['rotate', base, mode], {
          killAfter: `accepted ${2000 + trial * 1500}`,
        });
        expect(r.signal).toBe('SIGKILL');
        const accepted = Math.max(
          ...r.out.filter((l) => l.startsWith('accepted')).map((l) => Number(l.split(' ')[1])),
        );
        // The next sink settles the set: drains stagings, names pending files.
        const sink = new RotatingSink(base, mode === 'capture' ? { capture: true } : {});
        const ids = numbers(base).flatMap((f) => f.ids);
        expect(ids.length).toBeGreaterThanOrEqual(accepted);
        expect(ids).toEqual(range(0, ids.length));
        expect(fs.readdirSync(dir).filter((n) => n.endsWith('.pending'))).toEqual([]);
        void sink;
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir);
      }
    },
    120_000,
  );
});
