// CaptureSink in portable mode (docs/capture.md, "Portable mode";
// docs/design.md, "Portable capture"): what a CaptureSink does without the
// native addon. In the fallback run (FLATSTREAM_NATIVE=0) this is the real,
// implicit path; in the native run portable mode is forced with the
// test-only FLATSTREAM_TEST_PORTABLE_CAPTURE=1, and `requireNative: true`
// opens a native sink beside it to compare bytes.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CaptureSink,
  ChecksumDeframer,
  ChecksumFramer,
  Crc32c,
  DefaultFramer,
  FileSink,
  IoError,
  NativeRequiredError,
  RecoveryRefusedError,
  StreamReader,
  StreamWriter,
  XxHash64,
  native,
  type Checksum,
  type Framer,
} from '../lib/index';
import { CHILD, FORCE_PORTABLE, expectExactly, readFrames } from './capture-helpers';
import { bytes, thrown } from './helpers';

const FORCE = FORCE_PORTABLE;
// The sha256 of the file a native capture writes for the frames of the
// 'bytes' tests (computed with the addon; the native run checks it still is).
const XXH3_SHA = '76b2b6f8d0470ea7020e0ed547bb37b5b9679e059bae5a8032134ae9474a1616';
const CRC32C_SHA = '59055b38bd43a30d7761509812aff4de19a9145eabb3f4c9dcf7224e1370676d';
const NONE_SHA = 'c4dfb354bc46d1a0193f456bd3864e95dd5901b4b4603a842c6ac6c95de343e1';
const CUSTOM_SHA = 'a8c5f2bcc5a2a2121a47de9f10d58b426cb187c0114a1ffd9a336a4facdf6d58';
const INDEX = path.join(__dirname, '..', 'dist', 'cjs', 'index.js');

let dir: string;
beforeAll(() => {
  if (native) process.env[FORCE] = '1'; // inherited by the children too
});
afterAll(() => {
  delete process.env[FORCE];
});
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-portable-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name = 'events.fst') => path.join(dir, name);
const sha256 = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');

function readPayloads(p: string): Buffer[] {
  const out: Buffer[] = [];
  new StreamReader(p, new ChecksumDeframer(XxHash64)).processAll((x) => {
    out.push(Buffer.from(x));
  });
  return out;
}

describe('mode', () => {
  test('without the addon (or forced) a CaptureSink runs in portable mode and says what holds', () => {
    const sink = new CaptureSink(file());
    expect(sink.captureMode).toBe('portable');
    expect(sink.stagingPath).toBeNull();
    expect(sink.guarantees).toEqual({
      exit: true,
      processDeath: false,
      workerTerminate: false,
      powerLoss: false,
      offEventLoop: false,
      summary: expect.stringMatching(/^portable: .*lost on SIGKILL/),
    });
    expect(Object.isFrozen(sink.guarantees)).toBe(true);
    sink.closeSync();
    // No staging file anywhere: nothing in /dev/shm or the temp directory names this stream.
    const hash = createHash('sha256').update(file()).digest('hex').slice(0, 16);
    for (const d of ['/dev/shm', os.tmpdir()])
      if (fs.existsSync(d)) expect(fs.readdirSync(d).filter((n) => n.includes(hash))).toEqual([]);
  });

  if (native) {
    test('requireNative: true opens a native sink even where portable mode is forced', () => {
      const sink = new CaptureSink(file(), { requireNative: true, stagingPath: file('s.staging') });
      expect(sink.captureMode).toBe('native');
      expect(sink.stagingPath).toBe(file('s.staging'));
      expect(sink.guarantees).toMatchObject({
        exit: true,
        processDeath: true,
        workerTerminate: true,
        powerLoss: false,
        offEventLoop: true,
      });
      sink.closeSync();
    });
  } else {
    test('requireNative: true keeps the refusal: NativeRequiredError, nothing created', () => {
      const e = thrown(() => new CaptureSink(file(), { requireNative: true }));
      expect(e).toBeInstanceOf(NativeRequiredError);
      expect(e.code).toBe('ERR_FLATSTREAM_NATIVE_REQUIRED');
      expect(e.message).toBe('CaptureSink needs the native addon, which is not loaded');
      expect(fs.existsSync(file())).toBe(false);
    });
  }

  test('a host that forbids external ArrayBuffers (Electron) runs portable mode and says why; requireNative refuses there', () => {
    const real = jest.requireActual<typeof import('../lib/engine/load')>('../lib/engine/load');
    let Sink: typeof CaptureSink | undefined;
    jest.isolateModules(() => {
      jest.doMock('../lib/engine/load', () => ({
        ...real,
        // The addon's probe says no; its capture class must then not be used.
        nativeExport: (name: string) =>
          name === 'Arena'
            ? { externalBuffers: false }
            : name === 'CaptureHandle'
              ? function () {
                  throw new Error('must not be constructed');
                }
              : real.nativeExport(name),
      }));
      Sink = (
        require('../lib/capture/capture-sink') as typeof import('../lib/capture/capture-sink')
      ).CaptureSink;
    });
    jest.dontMock('../lib/engine/load');
    const said = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const saved = process.env[FORCE];
    delete process.env[FORCE]; // the real choice, not the test switch
    try {
      const sink = new Sink!(file());
      expect(sink.captureMode).toBe('portable');
      new Sink!(file('b.fst')).closeSync();
      expect(said.mock.calls.map((c) => [String(c[0]).match(/\((.*?)\)/)?.[1], c[1]])).toEqual([
        [
          'this host forbids the external ArrayBuffers the native capture lends its staging as',
          { code: 'FLATSTREAM_CAPTURE_PORTABLE' },
        ],
      ]);
      sink.closeSync();
      const e = thrown(() => new Sink!(file('c.fst'), { requireNative: true }));
      // The isolated modules' own class: compared by name and code.
      expect([e.name, e.code]).toEqual(['NativeRequiredError', 'ERR_FLATSTREAM_NATIVE_REQUIRED']);
      expect(e.message).toBe(
        'CaptureSink (in a host that forbids external ArrayBuffers) needs the native addon, which is not loaded',
      );
      expect(fs.existsSync(file('c.fst'))).toBe(false);
    } finally {
      if (saved !== undefined) process.env[FORCE] = saved;
      said.mockRestore();
    }
  });

  test('requireNative must be a boolean', () => {
    const e = thrown(() => new CaptureSink(file(), { requireNative: 1 as unknown as boolean }));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(fs.existsSync(file())).toBe(false);
  });
});

describe('bytes', () => {
  // 2000 frames of 0-299 bytes through 4 KiB slabs: ~37 slab writes, frames
  // ending exactly at and just before slab ends, a string root, writeWith.
  const payloads = Array.from({ length: 2000 }, (_, i) => bytes((i * 7919) % 300, i + 1));
  const copy = {
    name: 'test.Bytes',
    encodeInto(v: Uint8Array, buf: Uint8Array, _view: DataView, at: number, limit: number) {
      if (at + v.length > limit) return -1;
      buf.set(v, at);
      return at + v.length;
    },
    sizeOf: (v: Uint8Array) => v.length,
  };
  function capture(target: CaptureSink | FileSink, framer: Framer): StreamWriter {
    const w = new StreamWriter(target, framer, { slabSize: 4096 });
    payloads.forEach((p, i) => (i % 3 === 2 ? w.writeWith(copy, p) : w.writePayload(p)));
    w.write('a string root');
    return w;
  }
  const sum8: Checksum = {
    name: 'sum8',
    width: 1,
    compute: (p: Uint8Array) => p.reduce((a, b) => (a + b) & 0xff, 0),
  };
  const cases: [string, () => Framer, string][] = [
    ['XXH3', () => new ChecksumFramer(XxHash64), XXH3_SHA],
    ['CRC-32C', () => new ChecksumFramer(Crc32c), CRC32C_SHA],
    ['no checksum', () => new DefaultFramer(), NONE_SHA],
    ['a custom JS checksum', () => new ChecksumFramer(sum8), CUSTOM_SHA],
  ];
  test.each(cases)(
    '%s: the stream file is byte-identical to a native capture of the same frames',
    async (_, framer, expected) => {
      const sink = new CaptureSink(file('p.fst'), { slabSize: 4096 });
      expect(sink.captureMode).toBe('portable');
      const w = capture(sink, framer());
      w.close();
      await w.finished();
      const ref = capture(new FileSink(file('f.fst')), framer());
      ref.close();
      expect(fs.readFileSync(file('p.fst'))).toEqual(fs.readFileSync(file('f.fst')));
      expect(sha256(file('p.fst'))).toBe(expected);
      if (native) {
        const n = new CaptureSink(file('n.fst'), {
          slabSize: 4096,
          requireNative: true,
          stagingPath: file('n.staging'),
        });
        const nw = capture(n, framer());
        nw.close();
        await nw.finished();
        expect(sha256(file('n.fst'))).toBe(expected);
      }
      expect(sink.stats()).toMatchObject({
        frames: payloads.length + 1,
        framesWritten: payloads.length + 1,
        bytesWritten: fs.statSync(file('p.fst')).size,
        queueDepth: 0,
        drops: 0,
        errors: 0,
        slabs: 1,
      });
    },
  );

  test('a frame larger than a slab is refused with nothing staged, as in native mode', async () => {
    const sink = new CaptureSink(file(), { slabSize: 128 });
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    w.writePayload(bytes(10));
    const e = thrown(() => w.writePayload(bytes(117)));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_OUT_OF_RANGE');
    w.writePayload(bytes(116));
    w.close();
    await w.finished();
    expect(readPayloads(file())).toEqual([bytes(10), bytes(116)]);
  });
});

describe('writes', () => {
  test('frames reach the file when a slab fills, on flush(), and not before', async () => {
    const sink = new CaptureSink(file(), { slabSize: 1024, flushIntervalMs: 60_000 });
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    for (let i = 0; i < 10; i++) w.writePayload(bytes(88, i)); // 100-byte frames: 10 per slab
    expect(fs.statSync(file()).size).toBe(0); // a full slab is handed over by the next frame
    w.writePayload(bytes(88, 10));
    expect(fs.statSync(file()).size).toBe(1000); // written before write() returned
    w.flush();
    expect(fs.statSync(file()).size).toBe(1100);
    await sink.flushed(); // already there
    w.sync();
    expect(sink.stats()).toMatchObject({ writes: 2, fsyncs: 1, flushes: 2, framesWritten: 11 });
    w.close();
    await w.finished();
  });

  test('flushSync() mid-slab writes the committed frames once: later frames of that slab follow, none twice', async () => {
    const sink = new CaptureSink(file(), { slabSize: 4096, flushIntervalMs: 60_000 });
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    for (let i = 0; i < 10; i++) w.writePayload(bytes(20, i));
    sink.flushSync(); // what the signal handler does
    expect(readPayloads(file())).toEqual(Array.from({ length: 10 }, (_, i) => bytes(20, i)));
    for (let i = 10; i < 25; i++) w.writePayload(bytes(20, i));
    sink.flushSync();
    sink.flushSync(); // nothing new: nothing written
    for (let i = 25; i < 30; i++) w.writePayload(bytes(20, i));
    w.close();
    await w.finished();
    expect(readPayloads(file())).toEqual(Array.from({ length: 30 }, (_, i) => bytes(20, i)));
    expect(sink.stats()).toMatchObject({ writes: 3, framesWritten: 30 });
  });

  test('a failed write (ENOSPC) is a typed error from the write() that caused it; the torn bytes are cut; nothing after it is written', async () => {
    const sink = new CaptureSink(file(), { slabSize: 1024, flushIntervalMs: 60_000 });
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    const heard: Error[] = [];
    let inCall = false;
    let heardInCall = false;
    sink.on('error', (e: Error) => {
      heard.push(e);
      heardInCall ||= inCall;
    });
    // The second slab write fails after writing half of its bytes.
    (sink as unknown as { _injectFault(f: object): void })._injectFault({
      code: 'ENOSPC',
      afterWrites: 1,
    });
    for (let i = 0; i < 20; i++) w.writePayload(bytes(88, i)); // slab 1 written by frame 10
    inCall = true;
    const e = thrown(() => w.writePayload(bytes(88, 20))) as unknown as IoError;
    inCall = false;
    expect(e).toBeInstanceOf(IoError);
    expect(e.code).toBe('ERR_FLATSTREAM_IO');
    expect(e.systemCode).toBe('ENOSPC');
    expect(e.syscall).toBe('write');
    expect(e.message).toBe(
      `cannot write ${file()}: ENOSPC: no space left on device, write '${file()}'`,
    );
    // The first slab, whole; the failed one's half was cut off again.
    expect(fs.statSync(file()).size).toBe(1000);
    expect(readPayloads(file())).toEqual(Array.from({ length: 10 }, (_, i) => bytes(88, i)));
    expect(() => w.writePayload(bytes(1))).toThrow(e);
    await expect(sink.flushed()).rejects.toBe(e);
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual([e]); // once, and not from inside the write that failed
    expect(heardInCall).toBe(false);
    expect(sink.stats()).toMatchObject({ errors: 1, writes: 1, framesWritten: 10 });
    expect(() => w.close()).toThrow(e);
    await expect(w.finished()).rejects.toBe(e);
    expect(sink.closed).toBe(true);
    // The stream ends on a frame boundary: a new capture appends, nothing to cut.
    const again = new CaptureSink(file());
    const w2 = new StreamWriter(again, new ChecksumFramer(XxHash64));
    expect(again.recovery).toMatchObject({ tornBytes: 0, walked: true });
    w2.writePayload(bytes(3));
    w2.close();
    await w2.finished();
    expect(readPayloads(file()).length).toBe(11);
  });

  test('a failed write cuts only its own bytes: a stream truncated by someone else meanwhile is not grown back', () => {
    const sink = new CaptureSink(file(), { slabSize: 1024, flushIntervalMs: 60_000 });
    const w = new StreamWriter(sink, new DefaultFramer());
    for (let i = 0; i < 11; i++) w.writePayload(bytes(96, i)); // the first slab: 1000 bytes written
    expect(fs.statSync(file()).size).toBe(1000);
    fs.truncateSync(file(), 300); // someone else
    (sink as unknown as { _injectFault(f: object): void })._injectFault({ code: 'EIO' });
    for (let i = 11; i < 20; i++) w.writePayload(bytes(96, i));
    expect(thrown(() => w.writePayload(bytes(96, 20))).systemCode).toBe('EIO');
    // The half slab that reached the file (at its end, O_APPEND) is gone; nothing else changed.
    expect(fs.statSync(file()).size).toBe(300);
    expect(() => w.close()).toThrow(IoError);
  });

  test('a failed fdatasync is a typed error: from writer.sync(), and from the syncIntervalMs timer at the next call', async () => {
    const eio = () =>
      Object.assign(new Error('EIO: i/o error, fdatasync'), {
        code: 'EIO',
        errno: -5,
        syscall: 'fdatasync',
      });
    const spy = jest.spyOn(fs, 'fdatasyncSync').mockImplementation(() => {
      throw eio();
    });
    try {
      const a = new CaptureSink(file('a.fst'));
      const wa = new StreamWriter(a, new DefaultFramer());
      wa.writePayload(bytes(5));
      const e = thrown(() => wa.sync());
      expect(e).toBeInstanceOf(IoError);
      expect([e.systemCode, e.syscall]).toEqual(['EIO', 'fdatasync']);
      expect(e.message).toBe(`cannot sync ${file('a.fst')}: EIO: i/o error, fdatasync`);
      expect(fs.statSync(file('a.fst')).size).toBe(9); // the frame was written first
      expect(() => wa.writePayload(bytes(1))).toThrow(e);

      const b = new CaptureSink(file('b.fst'), { syncIntervalMs: 5 });
      const wb = new StreamWriter(b, new DefaultFramer());
      const heard = new Promise<Error>((resolve) => b.once('error', resolve));
      wb.writePayload(bytes(5));
      wb.flush();
      const t = (await heard) as IoError;
      expect(t).toBeInstanceOf(IoError);
      expect(t.message).toBe('capture write failed: EIO: i/o error, fdatasync');
      expect(() => wb.writePayload(bytes(1))).toThrow(t);
      expect(b.stats().errors).toBe(1);
      expect(() => wa.close()).toThrow(e);
      expect(() => wb.close()).toThrow(t);
    } finally {
      spy.mockRestore();
    }
  });

  test('an unheard failure does not crash the process: no error listener, the write throws', () => {
    const sink = new CaptureSink(file(), { slabSize: 1024 });
    const w = new StreamWriter(sink, new DefaultFramer());
    (sink as unknown as { _injectFault(f: object): void })._injectFault({ code: 'EIO' });
    for (let i = 0; i < 10; i++) w.writePayload(bytes(96, i));
    const e = thrown(() => w.flush());
    expect(e).toBeInstanceOf(IoError);
    expect(e.systemCode).toBe('EIO');
    expect(fs.statSync(file()).size).toBe(0);
    expect(() => w.close()).toThrow(e);
  });
});

describe('re-entrancy', () => {
  test("flushSync() and the sink's own calls from inside serialize() and a custom checksum write each frame once, in order", async () => {
    const sink = new CaptureSink(file(), { slabSize: 512, flushIntervalMs: 60_000 });
    let calls = 0;
    const sum8: Checksum = {
      name: 'sum8',
      width: 1,
      compute: (p: Uint8Array) => {
        if (++calls % 7 === 0) sink.flushSync(); // mid-commit: the frame is not committed yet
        return p.reduce((a, b) => (a + b) & 0xff, 0);
      },
    };
    const framer = new ChecksumFramer(sum8);
    const w = new StreamWriter(sink, framer);
    const expected: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const payload = bytes(20 + (i % 9), i);
      expected.push(payload);
      if (i % 5 === 0)
        w.write({
          serialize: (b) => {
            sink.flushSync(); // what a signal arriving here would do
            expect(() => w.flush()).toThrow(
              'StreamWriter.flush() was called from inside a callback',
            );
            b.finish(b.createByteVector(payload));
          },
        });
      else w.writePayload(payload);
    }
    w.close();
    await w.finished();
    const got: Buffer[] = [];
    new StreamReader(file(), new ChecksumDeframer(sum8)).processAll((p) => {
      got.push(Buffer.from(p));
    });
    expect(got.length).toBe(60);
    // serialize()'d frames are [ubyte] vector roots: compare the plain ones exactly.
    got.forEach((p, i) => {
      if (i % 5 !== 0) expect(p).toEqual(expected[i]);
    });
  });
});

describe('opening', () => {
  test('a torn tail after intact frames is cut at bind; damage and a file that is not a stream are refused, untouched', () => {
    const framer = new ChecksumFramer(XxHash64);
    const two = Buffer.concat([framer.frame(bytes(10)), framer.frame(bytes(20, 2))]);
    fs.writeFileSync(file(), Buffer.concat([two, two.subarray(0, 7)]));
    const sink = new CaptureSink(file());
    new StreamWriter(sink, framer);
    expect(sink.recovery).toMatchObject({ tornBytes: 7, walked: true, frames: 0 });
    sink.closeSync();
    expect(fs.readFileSync(file())).toEqual(two);

    const damaged = Buffer.from(two);
    damaged.writeUInt8(damaged.at(-1)! ^ 1, damaged.length - 1);
    fs.writeFileSync(file('d.fst'), damaged);
    const d = new CaptureSink(file('d.fst'));
    const e = thrown(() => new StreamWriter(d, framer));
    expect(e).toBeInstanceOf(IoError);
    expect(e.systemCode).toBe('EINVAL');
    expect(e.message).toMatch(/the frame at offset 22 fails its checksum .*another frame format/);
    d.closeSync();
    expect(fs.readFileSync(file('d.fst'))).toEqual(damaged);

    const text = Buffer.from('hello, this is not a stream of frames at all\n');
    fs.writeFileSync(file('t.txt'), text);
    const t = new CaptureSink(file('t.txt'));
    const r = thrown(() => new StreamWriter(t, framer)) as unknown as RecoveryRefusedError;
    expect(r).toBeInstanceOf(RecoveryRefusedError);
    expect(r.reason).toBe('no-intact-frame');
    t.closeSync();
    expect(fs.readFileSync(file('t.txt'))).toEqual(text);
  });

  test('a damaged length early in a large file: the walk reads no further than its window (no allocation of what the length says), refuses, and leaves the file as it is', () => {
    const framer = new ChecksumFramer(XxHash64);
    const first = Buffer.from(framer.frame(bytes(10)));
    const bogus = Buffer.alloc(12);
    bogus.writeUInt32LE(0x7fff0000, 0); // a frame "longer" than the file
    const p = file();
    fs.writeFileSync(p, Buffer.concat([first, bogus]));
    fs.truncateSync(p, 256 << 20); // sparse: 256 MiB of zeros after it
    const spy = jest.spyOn(fs, 'readSync');
    try {
      const sink = new CaptureSink(p);
      const e = thrown(() => new StreamWriter(sink, framer)) as unknown as RecoveryRefusedError;
      expect(e).toBeInstanceOf(RecoveryRefusedError);
      const read = spy.mock.results.reduce((n, r) => n + (r.value as number), 0);
      expect(read).toBeLessThanOrEqual(2 << 20); // before: the whole 256 MiB, in one buffer
      sink.closeSync();
    } finally {
      spy.mockRestore();
    }
    expect(fs.statSync(p).size).toBe(256 << 20);
  });

  test('the walk at bind reads each byte at most about twice, whatever the frame sizes (frames larger than its 1 MiB window included)', () => {
    // Frames just over half a window (the worst re-read), over a whole
    // window, and small ones between: about 12 MiB, a torn tail at the end.
    const framer = new ChecksumFramer(XxHash64);
    const sizes = [600 << 10, 1 << 20, (1 << 20) + 5000, 40, 3 << 20, 700 << 10, 10];
    const parts: Buffer[] = [];
    for (let i = 0; parts.length < 14; i++)
      parts.push(Buffer.from(framer.frame(Buffer.alloc(sizes[i % sizes.length]!, i))));
    const whole = Buffer.concat(parts);
    fs.writeFileSync(file(), Buffer.concat([whole, whole.subarray(0, 9)]));
    const spy = jest.spyOn(fs, 'readSync');
    try {
      const sink = new CaptureSink(file(), { slabSize: 64 << 10 });
      new StreamWriter(sink, framer);
      expect(sink.recovery).toMatchObject({ walked: true, tornBytes: 9 });
      const read = spy.mock.results.reduce((n, r) => n + (r.value as number), 0);
      expect(read).toBeGreaterThanOrEqual(whole.length);
      expect(read).toBeLessThan(2 * whole.length + (1 << 20));
      sink.closeSync();
    } finally {
      spy.mockRestore();
    }
    expect(fs.readFileSync(file()).equals(whole)).toBe(true); // toEqual would compare 12 M elements
  });

  test('a FIFO is refused without blocking; a second sink on one stream in this process is EBUSY', () => {
    spawnSync('mkfifo', [file('fifo')]);
    const e = thrown(() => new CaptureSink(file('fifo'))) as unknown as RecoveryRefusedError;
    expect(e).toBeInstanceOf(RecoveryRefusedError);
    expect(e.reason).toBe('not-a-regular-file');
    const a = new CaptureSink(file());
    const b = thrown(() => new CaptureSink(path.join(dir, '.', 'events.fst')));
    expect(b).toBeInstanceOf(IoError);
    expect(b.systemCode).toBe('EBUSY');
    a.closeSync();
    new CaptureSink(file()).closeSync(); // free again
  });
});

// ---------------------------------------------------------------- processes

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// Children print no warnings (the fallback run's would go to stderr); the
// warning tests pass their own environment.
const quiet = (): NodeJS.ProcessEnv => ({ ...process.env, NODE_NO_WARNINGS: '1' });

function node(args: string[], env: NodeJS.ProcessEnv = quiet(), shell?: string): Run {
  const r = shell
    ? spawnSync('unshare', ['-m', 'sh', '-c', shell, process.execPath, ...args], {
        encoding: 'utf8',
        env,
      })
    : spawnSync(process.execPath, args, { encoding: 'utf8', env });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('the warning', () => {
  // Three sinks, two of them open at once, then one more after those closed.
  const script = (requireNative: boolean) => `
    const lib = require(${JSON.stringify(INDEX)});
    const codes = [];
    process.on('warning', (w) => codes.push(w.code));
    const d = ${JSON.stringify(dir)};
    try {
      const a = new lib.CaptureSink(d + '/a.fst', { requireNative: ${requireNative} });
      const b = new lib.CaptureSink(d + '/b.fst');
      a.closeSync(); b.closeSync();
      new lib.CaptureSink(d + '/c.fst').closeSync();
    } catch (e) { codes.push(e.code); }
    setImmediate(() => console.log(JSON.stringify(codes)));`;

  test('said once per process when the addon is missing, with a stable code (FLATSTREAM_NATIVE=0 too)', () => {
    const r = node(['-e', script(false)], { ...process.env, FLATSTREAM_NATIVE: '0', [FORCE]: '' });
    expect(r.stderr.match(/\[FLATSTREAM_CAPTURE_PORTABLE\]/g)).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual(['FLATSTREAM_CAPTURE_PORTABLE']);
  });

  test('requireNative: true without the addon refuses and says nothing else', () => {
    const r = node(['-e', script(true)], { ...process.env, FLATSTREAM_NATIVE: '0', [FORCE]: '' });
    expect(JSON.parse(r.stdout)).toEqual(['ERR_FLATSTREAM_NATIVE_REQUIRED']);
    expect(r.stderr).toBe('');
  });

  if (native) {
    test('not said when portable mode is forced for tests, nor with the addon', () => {
      for (const force of ['1', '']) {
        const r = node(['-e', script(false)], { ...process.env, [FORCE]: force });
        expect(JSON.parse(r.stdout)).toEqual([]);
        expect(r.stderr).toBe('');
      }
    });
  }
});

describe('exits and kills (child processes of the built package)', () => {
  const cfg = (name: string, extra: object) => ({
    file: file(`${name}.fst`),
    staging: file(`${name}.staging`),
    ...extra,
  });
  const SMALL = { slabSize: 64 * 1024, flushIntervalMs: 60_000 };

  test.each([
    ['normal exit without close()', 'return', 0],
    ['process.exit() after writes, no flush', 'process.exit', 0],
    ['an uncaught exception after writes', 'throw', 1],
  ])('%s: every frame write() accepted is in the file', (_, end, status) => {
    const c = cfg('exit', { n: 3000, end, options: SMALL });
    const r = node([CHILD, 'exit', JSON.stringify(c)]);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: status, signal: null });
    expect(r.stdout).toBe('{"written":3000}\n');
    expectExactly(readFrames(c.file), 3000);
  });

  test.each(['return', 'process.exit'])(
    'a worker thread that ends (%s) without closing its sink: every frame is in the file',
    (end) => {
      const c = cfg('worker', { n: 500, cap: 300, options: SMALL });
      const code = `
        const { Worker } = require('node:worker_threads');
        const w = new Worker(${JSON.stringify(`
          const lib = require(${JSON.stringify(INDEX)});
          const { makePayloads } = require(${JSON.stringify(CHILD)});
          const c = ${JSON.stringify(c)};
          const sink = new lib.CaptureSink(c.file, c.options);
          const writer = new lib.StreamWriter(sink, new lib.ChecksumFramer(lib.XxHash64));
          const payload = makePayloads(c.cap);
          for (let i = 0; i < c.n; i++) writer.writePayload(payload(0, i));
          require('node:worker_threads').parentPort.postMessage(sink.captureMode);
          ${end === 'process.exit' ? 'process.exit(0);' : ''}
        `)}, { eval: true });
        w.on('message', (m) => console.log(m));
        w.on('exit', (code) => console.log('exit', code));`;
      const r = node(['-e', code]);
      // The worker's message and its exit, in whichever order they arrive.
      expect({ code: r.code, stderr: r.stderr, stdout: r.stdout.split('\n').sort() }).toEqual({
        code: 0,
        stderr: '',
        stdout: ['', 'exit 0', 'portable'],
      });
      expectExactly(readFrames(c.file, 300), 500);
    },
  );

  test('SIGKILL without a flush: the staged frames are lost (no staging to drain), the file stays a valid stream', () => {
    const c = cfg('noflush', { n: 100, cap: 300, options: SMALL });
    const p = spawn(process.execPath, [CHILD, 'noflush', JSON.stringify(c)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: quiet(),
    });
    return new Promise<void>((resolve, reject) => {
      p.stdout.once('data', () => p.kill('SIGKILL'));
      p.on('close', (code, signal) => {
        try {
          expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
          expect(fs.statSync(c.file).size).toBe(0);
          const again = new CaptureSink(c.file);
          new StreamWriter(again, new ChecksumFramer(XxHash64));
          expect(again.stats().recoveredFrames).toBe(0);
          again.closeSync();
          expect(readFrames(c.file, 300)).toEqual([]);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  });

  test('SIGKILL at any moment leaves a readable prefix of what write() accepted; a reopen cuts any torn write and appends', async () => {
    const trials = 6;
    for (let t = 0; t < trials; t++) {
      const progress = file(`progress-${t}`);
      fs.writeFileSync(progress, Buffer.alloc(8));
      const c = cfg(`kill-${t}`, {
        gen: 0,
        max: 1e9,
        cap: 300,
        progress,
        options: { slabSize: 16 * 1024, flushIntervalMs: 5 },
      });
      const p = spawn(process.execPath, [CHILD, 'kill', JSON.stringify(c)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: quiet(),
      });
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      await new Promise<void>((r) => p.stdout.once('data', () => r()));
      // Past 2000 accepted frames (about 20 slabs handed over, so the file
      // cannot be empty however slow the machine), then a while more.
      while (fs.readFileSync(progress).readInt32LE(0) < 2000 && p.exitCode === null)
        await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, t * 37));
      p.kill('SIGKILL');
      await new Promise((r) => p.on('close', r));
      expect(stderr).toBe('');
      const accepted = fs.readFileSync(progress).readInt32LE(0);
      // Reopening walks the stream and cuts a torn write (at most one slab).
      const again = new CaptureSink(c.file);
      new StreamWriter(again, new ChecksumFramer(XxHash64));
      expect(again.recovery.tornBytes).toBeLessThanOrEqual(16 * 1024);
      again.closeSync();
      const frames = readFrames(c.file, 300);
      expect(frames.length).toBeGreaterThan(0);
      expect(frames.length).toBeLessThanOrEqual(accepted);
      expectExactly(frames, frames.length);
    }
  });
});

describe('a full disk (private mount namespace, a 128 KiB tmpfs)', () => {
  test('the write that needs the disk throws IoError ENOSPC; the file is a valid stream of exactly the frames written', () => {
    const small = path.join(dir, 'small');
    fs.mkdirSync(small);
    const c = {
      file: path.join(small, 's.fst'),
      max: 100_000,
      cap: 300,
      options: { slabSize: 16 * 1024 },
    };
    const r = node(
      [CHILD, 'fullDisk', JSON.stringify(c)],
      quiet(),
      `mount -t tmpfs -o size=128k tmpfs "${small}" && exec "$0" "$@"`,
    );
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({
      code: 0,
      signal: null,
      stderr: '',
    });
    const got = JSON.parse(r.stdout) as {
      mode: string;
      thrown: Record<string, unknown>;
      accepted: number;
      framesWritten: number;
      bytesWritten: number;
      size: number;
      frames: number;
      mismatches: number;
      heard: string[];
      afterwards: Record<string, unknown>;
    };
    expect(got.mode).toBe('portable');
    expect(got.thrown).toMatchObject({
      name: 'IoError',
      code: 'ERR_FLATSTREAM_IO',
      systemCode: 'ENOSPC',
    });
    expect(got.heard).toEqual(['ENOSPC']);
    expect(got.framesWritten).toBeGreaterThan(0);
    expect(got.framesWritten).toBeLessThan(got.accepted);
    // No torn frame: the file is exactly the slabs written, every frame verifies, in order.
    expect({ size: got.size, frames: got.frames, mismatches: got.mismatches }).toEqual({
      size: got.bytesWritten,
      frames: got.framesWritten,
      mismatches: 0,
    });
    expect(got.afterwards).toEqual({ code: 'ERR_FLATSTREAM_IO', systemCode: 'ENOSPC' });
  });
});
