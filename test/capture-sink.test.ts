// CaptureSink: the API contract (options, errors, bytes on the wire, policies
// at the API level), in native mode and in portable mode (the fallback run's
// only mode; forced in the native run with FLATSTREAM_TEST_PORTABLE_CAPTURE=1).
// Tests of what portable mode lacks (the staging, the writer thread) run in
// native mode only. Crash, kill, fault and shutdown behaviour is in
// capture-reliability.test.ts, capture-shutdown.test.ts and, for portable
// mode, capture-portable.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  CaptureSink,
  ChecksumDeframer,
  ChecksumFramer,
  ClosedError,
  Crc32,
  DefaultDeframer,
  DefaultFramer,
  FileSink,
  IoError,
  MemorySink,
  StreamReader,
  StreamWriter,
  XxHash64,
  type Checksum,
  type Deframer,
  type Framer,
} from '../lib/index';
import { CAPTURE_MODES, inCaptureMode } from './capture-helpers';
import { bytes, thrown } from './helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-capture-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name = 'events.fst') => path.join(dir, name);
const staging = (name = 'events.fst') => path.join(dir, `${name}.staging`);

function open(name = 'events.fst', options: object = {}): CaptureSink {
  return new CaptureSink(file(name), { stagingPath: staging(name), ...options });
}

function readPayloads(p: string, deframer: Deframer = new ChecksumDeframer(XxHash64)): Buffer[] {
  const out: Buffer[] = [];
  new StreamReader(p, deframer).processAll((payload) => {
    out.push(Buffer.from(payload));
  });
  return out;
}

// A mix of payload sizes, some across slab boundaries of a 256-byte slab.
const payloads = Array.from({ length: 300 }, (_, i) => bytes((i * 37) % 200, i + 1));

describe.each(CAPTURE_MODES)('%s mode', (mode) => {
  const portable = mode === 'portable';
  // What portable mode has no counterpart of: the staging file, the thread.
  const nativeOnly = portable ? test.skip : test;
  inCaptureMode(mode);

  test('the sink is in this mode', () => {
    const sink = open();
    expect(sink.captureMode).toBe(mode);
    expect(sink.stagingPath).toBe(portable ? null : staging());
    sink.closeSync();
  });

  describe('bytes on the wire', () => {
    // A JS checksum: the writer writes whole headers itself, nothing to seal natively.
    const sum8: Checksum = {
      name: 'sum8',
      width: 1,
      compute: (p: Uint8Array) => p.reduce((a, b) => (a + b) & 0xff, 0),
    };
    const framers: [string, () => Framer, () => Deframer][] = [
      ['XXH3', () => new ChecksumFramer(XxHash64), () => new ChecksumDeframer(XxHash64)],
      ['CRC32', () => new ChecksumFramer(Crc32), () => new ChecksumDeframer(Crc32)],
      ['no checksum', () => new DefaultFramer(), () => new DefaultDeframer()],
      ['a custom JS checksum', () => new ChecksumFramer(sum8), () => new ChecksumDeframer(sum8)],
    ];

    test.each(framers)(
      '%s: the stream file equals what a FileSink writes',
      async (_, framer, deframer) => {
        const sink = open('c.fst', { slabSize: 256, slabs: 2 });
        const w = new StreamWriter(sink, framer());
        const ref = new StreamWriter(new FileSink(file('f.fst')), framer());
        for (const p of payloads) {
          w.writePayload(p);
          ref.writePayload(p);
        }
        w.write('a string root');
        ref.write('a string root');
        w.close();
        ref.close();
        await w.finished();
        expect(fs.readFileSync(file('c.fst'))).toEqual(fs.readFileSync(file('f.fst')));
        expect(readPayloads(file('c.fst'), deframer()).length).toBe(payloads.length + 1);
        const s = sink.stats();
        expect(s.framesWritten).toBe(payloads.length + 1);
        expect(s.bytesWritten).toBe(fs.statSync(file('c.fst')).size);
        expect(s.queueDepth).toBe(0);
      },
    );

    test('simple mode builds beside each staging slab and moves with it', async () => {
      // 64-byte slabs: every few messages the writer moves to another slab,
      // and the builder's scratch with it.
      const sink = open('s.fst', { slabSize: 64, slabs: 3 });
      const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
      const mem = new MemorySink();
      const ref = new StreamWriter(mem, new ChecksumFramer(XxHash64), { slabSize: 64 });
      for (let i = 0; i < 500; i++) {
        const item = {
          serialize: (b: import('flatbuffers').Builder) => {
            b.startObject(2);
            b.addFieldInt32(0, i, 0);
            b.addFieldFloat64(1, i / 3, 0);
            b.finish(b.endObject());
          },
        };
        w.write(item);
        ref.write(item);
      }
      w.close();
      ref.close();
      await w.finished();
      expect(fs.readFileSync(file('s.fst'))).toEqual(mem.toBuffer());
    });

    test('a frame larger than a slab is refused with nothing staged', async () => {
      const sink = open('o.fst', { slabSize: 128, slabs: 2 });
      const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
      w.writePayload(bytes(10));
      const e = thrown(() => w.writePayload(bytes(117))); // 12 + 117 > 128
      expect(e).toBeInstanceOf(RangeError);
      expect(e.code).toBe('ERR_OUT_OF_RANGE');
      expect(e.message).toBe(
        "A frame of 129 bytes does not fit the sink's staging slabs of 128 bytes (raise its slabSize)",
      );
      w.writePayload(bytes(116)); // exactly a slab
      w.close();
      await w.finished();
      expect(readPayloads(file('o.fst'))).toEqual([bytes(10), bytes(116)]);
      expect(w.stats().frames).toBe(2);
    });
  });

  describe('guarantees', () => {
    test('after flush() and flushed() the frames are in the stream file, the sink still open', async () => {
      const sink = open();
      const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
      for (const p of payloads.slice(0, 50)) w.writePayload(p);
      expect(fs.statSync(file()).size).toBe(0); // staged, not yet handed over
      w.flush();
      await sink.flushed();
      expect(readPayloads(file())).toEqual(payloads.slice(0, 50));
      w.sync();
      await sink.flushed();
      expect(sink.stats().fsyncs).toBe(1);
      w.close();
      await w.finished();
    });

    test('the flush timer hands the filling slab over by itself', async () => {
      const sink = open('t.fst', { flushIntervalMs: 10 });
      const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
      w.writePayload(bytes(5));
      while (sink.stats().framesWritten < 1) await new Promise((r) => setTimeout(r, 5));
      expect(readPayloads(file('t.fst'))).toEqual([bytes(5)]);
      w.close();
      await w.finished();
    });

    test('syncIntervalMs fdatasyncs the stream file on the writer thread', async () => {
      const sink = open('y.fst', { syncIntervalMs: 5 });
      const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
      w.writePayload(bytes(5));
      w.flush();
      while (sink.stats().fsyncs < 1) await new Promise((r) => setTimeout(r, 5));
      w.close();
      await w.finished();
      expect(sink.stats().fsyncs).toBeGreaterThanOrEqual(1);
    });

    test('a clean close removes the staging file and marks the stream clean', async () => {
      const sink = open();
      const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
      w.writePayload(bytes(5));
      w.close();
      await w.finished();
      expect(fs.existsSync(staging())).toBe(false);
      const again = open();
      expect(again.recovery).toEqual({
        slabs: 0,
        frames: 0,
        bytes: 0,
        tornBytes: 0,
        walked: false,
        orphanedFrames: 0,
        orphanedBytes: 0,
        orphanPath: null,
      });
      again.closeSync();
    });
  });

  describe('policies', () => {
    nativeOnly(
      "'drop' drops the newest frames while the thread is busy, counts them, and write() says so",
      async () => {
        const sink = open('d.fst', { slabSize: 256, slabs: 2, policy: 'drop', maxBytes: 512 });
        const w = new StreamWriter(sink, new DefaultFramer());
        sink._injectFault({ delayMs: 50 });
        const kept: number[] = [];
        let refused = 0;
        for (let i = 0; i < 200; i++) {
          const before = w.stats().drops;
          const ok = w.writePayload(Buffer.from(String(i).padStart(12, '0')));
          if (w.stats().drops === before) kept.push(i);
          if (!ok) refused++;
        }
        expect(sink.needsDrain).toBe(true);
        expect(refused).toBeGreaterThan(0);
        sink._injectFault({});
        w.close();
        await w.finished();
        const got = readPayloads(file('d.fst'), new DefaultDeframer()).map((p) =>
          Number(p.toString()),
        );
        expect(got).toEqual(kept);
        expect(sink.stats().drops).toBe(200 - kept.length);
        expect(w.stats().drops).toBe(200 - kept.length);
        expect(sink.drops).toBe(200 - kept.length); // one count, the sink's
        expect(sink.stats().droppedBytes).toBe((200 - kept.length) * 16);
      },
    );

    nativeOnly("'grow' adds slabs up to maxBytes instead of waiting", async () => {
      const sink = open('g.fst', { slabSize: 4096, slabs: 1, policy: 'grow', maxBytes: 4 * 4096 });
      const w = new StreamWriter(sink, new DefaultFramer());
      sink._injectFault({ delayMs: 30 });
      for (let i = 0; i < 3 * 100; i++) w.writePayload(bytes(36, i)); // 100 frames per slab
      // 3 in use; the grower thread adds a 4th (the cap) ahead of need, as
      // soon as the third was taken: it may or may not be there yet.
      expect([3, 4]).toContain(sink.stats().slabs);
      sink._injectFault({});
      w.close();
      await w.finished();
      expect(readPayloads(file('g.fst'), new DefaultDeframer()).length).toBe(300);
      expect(sink.stats().drops).toBe(0);
    });
  });

  describe('errors', () => {
    test.each([
      [{ slabSize: 10 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ slabs: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ blockTimeoutMs: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ flushIntervalMs: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ syncIntervalMs: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ mode: '644' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [{ policy: 'wait' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [{ flushOnSignal: ['SIGNOPE'] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [{ stagingPath: 3 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ])('option %j is refused before anything is opened', (options, type, code) => {
      const e = thrown(() => new CaptureSink(file(), options as object));
      expect(e).toBeInstanceOf(type);
      expect(e.code).toBe(code);
      expect(fs.existsSync(file())).toBe(false);
    });

    test('a bad path is an IoError with the system code', () => {
      const e = thrown(
        () => new CaptureSink(path.join(dir, 'no', 'such.fst'), { stagingPath: staging() }),
      );
      expect(e).toBeInstanceOf(IoError);
      expect(e.systemCode).toBe('ENOENT');
      expect(e.syscall).toBe('open');
      const d = thrown(() => new CaptureSink(dir, { stagingPath: staging() }));
      expect(d.systemCode).toBe('EISDIR');
      expect(() => new CaptureSink(42 as unknown as string)).toThrow(TypeError);
    });

    test('a second live sink on the same stream is refused with EBUSY', () => {
      const first = open();
      const e = thrown(() => open());
      expect(e).toBeInstanceOf(IoError);
      expect(e.systemCode).toBe('EBUSY');
      expect(e.message).toMatch(/^cannot open capture of .*events\.fst: EBUSY/);
      first.closeSync();
      open().closeSync(); // free again
    });

    test('reopening a stream with another frame format is refused', async () => {
      // Native: the staging's record of the format; portable: the tail walk's checksums.
      const w = new StreamWriter(open(), new ChecksumFramer(XxHash64));
      w.writePayload(bytes(3));
      w.close();
      await w.finished();
      const e = thrown(() => new StreamWriter(open(), new ChecksumFramer(Crc32)));
      expect(e).toBeInstanceOf(IoError);
      expect(e.systemCode).toBe('EINVAL');
      expect(e.message).toMatch(
        portable
          ? /fails its checksum \(damage, or another frame format\)/
          : /written with another frame format/,
      );
    });

    nativeOnly(
      "the thread's failure reaches 'error' listeners and the writer's very next call",
      async () => {
        const sink = open('e.fst', { slabSize: 256, slabs: 4 });
        const w = new StreamWriter(sink, new DefaultFramer());
        // The first slab write succeeds, the second fails; each waits 100 ms
        // first, so all 40 frames are staged before anything fails.
        sink._injectFault({ code: 'EIO', afterWrites: 1, delayMs: 100 });
        const heard = new Promise<Error>((resolve) => sink.once('error', resolve));
        for (let i = 0; i < 40; i++) w.writePayload(bytes(20, i)); // 24-byte frames: 10 per slab
        w.flush();
        const err = (await heard) as IoError;
        expect(err).toBeInstanceOf(IoError);
        expect(err.systemCode).toBe('EIO');
        expect(err.syscall).toBe('write');
        expect(err.message).toMatch(
          /^capture writer thread failed: EIO: Input\/output error, write '.*e\.fst'$/,
        );
        expect(() => w.writePayload(bytes(1))).toThrow(err);
        await expect(sink.flushed()).rejects.toBe(err);
        expect(sink.stats()).toMatchObject({ errors: 1, framesWritten: 10, queueDepth: 3 });
        expect(() => w.close()).toThrow(err); // closes the sink all the same
        expect(sink.closed).toBe(true); // released at once: nothing is left to wait for
        await expect(w.finished()).rejects.toBe(err);
        // Nothing is lost: the next open writes what stayed staged.
        const again = open('e.fst');
        expect(again.recovery).toMatchObject({ slabs: 3, frames: 30 });
        again.closeSync();
        expect(readPayloads(file('e.fst'), new DefaultDeframer())).toEqual(
          Array.from({ length: 40 }, (_, i) => bytes(20, i)),
        );
      },
    );

    test('a CaptureSink belongs to one writer and takes no loose chunks: it is a SlabSource, not a Sink', () => {
      const sink = open();
      new StreamWriter(sink, new DefaultFramer());
      expect(() => new StreamWriter(sink, new DefaultFramer())).toThrow(
        'This CaptureSink already belongs to a StreamWriter',
      );
      // No write() that would only throw: the type promises what it does.
      expect('write' in sink).toBe(false);
      sink.closeSync();
    });

    test('a closed sink refuses the writer with ClosedError and still reports stats', async () => {
      const sink = open();
      const w = new StreamWriter(sink, new DefaultFramer());
      w.writePayload(bytes(4));
      sink.closeSync();
      expect(readPayloads(file(), new DefaultDeframer())).toEqual([bytes(4)]); // drained
      const e = thrown(() => {
        for (let i = 0; i < 100_000; i++) w.writePayload(bytes(40)); // until a slab is needed
      });
      expect(e).toBeInstanceOf(ClosedError);
      expect(sink.stats().framesWritten).toBe(1);
      expect(sink.closed).toBe(true);
    });
  });

  test('an option given as undefined takes its default', () => {
    const sink = open('u.fst', {
      slabSize: undefined,
      policy: undefined,
      flushOnSignal: undefined,
    });
    expect(sink.slabSize).toBe(256 << 10);
    expect(sink.policy).toBe('drop');
    sink.closeSync();
  });

  test('flushOnSignal listens while a sink wants it and gives the signal back after', () => {
    const before = process.listenerCount('SIGUSR2');
    const a = open('a.fst', { flushOnSignal: ['SIGUSR2'] });
    const b = open('b.fst', { flushOnSignal: ['SIGUSR2'] });
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1); // one listener for all sinks
    a.closeSync();
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1);
    b.closeSync();
    expect(process.listenerCount('SIGUSR2')).toBe(before);
  });

  nativeOnly('the default staging file lives in /dev/shm, named after the stream path', () => {
    const sink = new CaptureSink(file());
    const hash = createHash('sha256').update(file()).digest('hex').slice(0, 16);
    expect(sink.stagingPath).toBe(
      fs.existsSync('/dev/shm')
        ? `/dev/shm/flatstream-${process.getuid!()}-${hash}.staging`
        : path.join(os.tmpdir(), `flatstream-${process.getuid!()}-${hash}.staging`),
    );
    sink.closeSync();
    fs.rmSync(sink.stagingPath!, { force: true });
  });

  nativeOnly(
    'without a writable /dev/shm the default staging file lives in the OS temp directory',
    () => {
      // A private mount namespace whose /dev/shm is a read-only tmpfs
      // (docs/design.md, "Platforms"); the built package, in a child.
      const index = path.join(__dirname, '..', 'dist', 'cjs', 'index.js');
      const code = `const { CaptureSink } = require(${JSON.stringify(index)});
      const s = new CaptureSink(${JSON.stringify(file())});
      console.log(s.stagingPath); s.closeSync();`;
      const r = spawnSync(
        'unshare',
        [
          '-m',
          'sh',
          '-c',
          'mount -t tmpfs -o ro,size=64k tmpfs /dev/shm && exec "$0" -e "$1"',
          process.execPath,
          code,
        ],
        { encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      const hash = createHash('sha256').update(file()).digest('hex').slice(0, 16);
      const expected = path.join(os.tmpdir(), `flatstream-${process.getuid!()}-${hash}.staging`);
      expect(r.stdout.trim()).toBe(expected);
      expect(fs.existsSync(expected)).toBe(false); // a clean close removed it
    },
  );
});
