// CaptureSink staging: space, claims and identity (docs/design.md, "Capture
// staging: space, claims and identity"), recovery's refusals (in both
// modes: portable mode walks too), and backpressure (docs/design.md,
// "Backpressure"). The staging-space tests run
// capture-child.js inside a private mount namespace with a small tmpfs on
// /dev/shm (`unshare -m`; we are root here and in CI).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CaptureSink,
  ChecksumDeframer,
  ChecksumFramer,
  Crc32,
  DefaultFramer,
  IoError,
  RecoveryRefusedError,
  StreamReader,
  StreamWriter,
  XxHash64,
  native,
} from '../lib/index';
import {
  CAPTURE_MODES,
  CHILD,
  expectExactly,
  inCaptureMode,
  openCapture,
  readFrames,
} from './capture-helpers';
import { bytes, thrown } from './helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-staging-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Record<string, unknown>[];
  stderr: string;
}

/** Runs capture-child.js `scenario` with a tmpfs of `size` on /dev/shm, in a namespace of its own. */
function inNamespace(size: string, scenario: string, cfg: object): Promise<Result> {
  const script = `mount -t tmpfs -o size=${size} tmpfs /dev/shm && exec "$0" "$@"`;
  return new Promise((resolve) => {
    const proc = spawn(
      'unshare',
      ['-m', 'sh', '-c', script, process.execPath, CHILD, scenario, JSON.stringify(cfg)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code, signal) => {
      const lines = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, lines, stderr });
    });
  });
}

const injectFault = (
  sink: CaptureSink,
  f: { code?: string; afterWrites?: number; delayMs?: number },
) => (sink as unknown as { _injectFault(x: typeof f): void })._injectFault(f);

const readAll = (file: string): Buffer[] => {
  const out: Buffer[] = [];
  new StreamReader(file, new ChecksumDeframer(XxHash64)).processAll((p) => {
    out.push(Buffer.from(p));
  });
  return out;
};

if (!native) {
  // The staging, its claims and the writer thread are the native mode's;
  // portable mode's counterparts are in capture-portable.test.ts.
  test.skip('CaptureSink needs the native addon', () => undefined);
} else {
  describe('staging space (private mount namespace, small tmpfs on /dev/shm)', () => {
    test('64 MiB /dev/shm: nine sinks on default options open, write and close; no Bus error, nothing left in /dev/shm', async () => {
      const r = await inNamespace('64m', 'shm', { dir, sinks: 9, n: 2000, cap: 300 });
      expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({
        code: 0,
        signal: null,
        stderr: '',
      });
      expect(r.lines).toEqual([{ results: Array(9).fill('ok'), left: [] }]);
      for (let k = 0; k < 9; k++)
        expectExactly(readFrames(path.join(dir, `s${k}.fst`), 300), 2000, k);
    });

    test('64 MiB /dev/shm: the sinks that do not fit are refused at open with ENOSPC; the others work', async () => {
      const r = await inNamespace('64m', 'shm', { dir, sinks: 80, n: 10, cap: 300 });
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
      const results = (r.lines[0] as { results: unknown[] }).results;
      const ok = results.filter((x) => x === 'ok').length;
      // Each default sink reserves 4 slabs of 256 KiB + 4 KiB scratch, and a header page.
      expect(ok).toBe(Math.floor((64 << 20) / (4096 + 4 * (256 + 4) * 1024)));
      for (const x of results.slice(ok))
        expect(x).toMatchObject({
          name: 'IoError',
          code: 'ERR_FLATSTREAM_IO',
          systemCode: 'ENOSPC',
        });
      expect(results.slice(0, ok).every((x) => x === 'ok')).toBe(true);
    });

    test('256 KiB /dev/shm: opening is refused with ENOSPC (no Bus error at the first write); small slabs fit', async () => {
      const r = await inNamespace('256k', 'shm', { dir, sinks: 1, n: 10, cap: 300 });
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
      expect(r.lines[0]).toEqual({
        results: [
          expect.objectContaining({
            name: 'IoError',
            systemCode: 'ENOSPC',
            message: expect.stringMatching(/cannot reserve \d+ bytes of staging/),
          }),
        ],
        left: [],
      });
      const small = await inNamespace('256k', 'shm', {
        dir,
        sinks: 2,
        n: 500,
        cap: 300,
        options: { slabSize: 16 * 1024, slabs: 2, policy: 'block' },
      });
      expect({ code: small.code, signal: small.signal }).toEqual({ code: 0, signal: null });
      expect(small.lines[0]).toEqual({ results: ['ok', 'ok'], left: [] });
      expectExactly(readFrames(path.join(dir, 's1.fst'), 300), 500, 1);
    });

    test('a tmpfs filled by someone else between open and growth: growth is refused and counted, no Bus error, nothing lost', async () => {
      const file = path.join(dir, 'fill.fst');
      const r = await inNamespace('2m', 'fillShm', {
        file,
        staging: '/dev/shm/fill.staging',
        delayMs: 50,
        n: 3000,
        cap: 300,
        options: {
          policy: 'grow',
          slabSize: 64 * 1024,
          slabs: 2,
          maxBytes: 1 << 20,
          blockTimeoutMs: 60_000,
        },
      });
      expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({
        code: 0,
        signal: null,
        stderr: '',
      });
      expect(r.lines[0]).toMatchObject({ accepted: 3000, thrown: null, slabs: 2, drops: 0 });
      expect((r.lines[0] as { growFailures: number }).growFailures).toBeGreaterThan(0);
      expectExactly(readFrames(file, 300), 3000);
    });
  });

  describe('the stream file', () => {
    test('ENOSPC on the stream file mid-slab: the write() that learns of it throws, a reopen with room writes every accepted frame', async () => {
      const fsDir = path.join(dir, 'small');
      fs.mkdirSync(fsDir);
      const script = `mount -t tmpfs -o size=128k tmpfs "${fsDir}" && exec "$0" "$@"`;
      const cfg = {
        dir: fsDir,
        file: path.join(fsDir, 's.fst'),
        staging: '/dev/shm/s.staging',
        max: 100_000,
        cap: 300,
        options: { slabSize: 16 * 1024, slabs: 4, policy: 'block' },
      };
      const r = spawnSync(
        'unshare',
        ['-m', 'sh', '-c', script, process.execPath, CHILD, 'enospcStream', JSON.stringify(cfg)],
        { encoding: 'utf8' },
      );
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({
        status: 0,
        signal: null,
        stderr: '',
      });
      const got = JSON.parse(r.stdout) as Record<string, unknown> & { accepted: number };
      expect(got.thrown).toMatchObject({ name: 'IoError', systemCode: 'ENOSPC' });
      expect(got.sizeAtFailure as number).toBeLessThanOrEqual(128 * 1024);
      expect(got.recoveredFrames as number).toBeGreaterThan(0);
      expect({ frames: got.frames, mismatches: got.mismatches }).toEqual({
        frames: got.accepted,
        mismatches: 0,
      });
    });
  });

  describe('claims', () => {
    test('two streams given one stagingPath in one process: the second is refused with EBUSY naming both paths', async () => {
      const files = [path.join(dir, 'a.fst'), path.join(dir, 'b.fst')];
      const staging = path.join(dir, 'shared.staging');
      const r = spawnSync(
        process.execPath,
        [CHILD, 'sameStaging', JSON.stringify({ files, staging, cap: 300 })],
        {
          encoding: 'utf8',
        },
      );
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({
        status: 0,
        signal: null,
        stderr: '',
      });
      const second = (JSON.parse(r.stdout) as { second: Record<string, string> }).second;
      expect(second).toMatchObject({ name: 'IoError', systemCode: 'EBUSY' });
      expect(second.message).toContain(staging);
      expect(second.message).toContain(files[1]);
      // The first stream has its two frames; the second file was created and is empty.
      expect(readFrames(files[0], 300).map((f) => f.i)).toEqual([0, 1]);
      expect(fs.statSync(files[1]).size).toBe(0);
    });

    test('two streams given one stagingPath in two processes: refused while the holder lives, free once it is killed', async () => {
      const staging = path.join(dir, 'shared.staging');
      const holder = spawn(
        process.execPath,
        [
          CHILD,
          'hold',
          JSON.stringify({ file: path.join(dir, 'a.fst'), staging, n: 10, cap: 300 }),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      const e = thrown(() => new CaptureSink(path.join(dir, 'b.fst'), { stagingPath: staging }));
      expect(e).toBeInstanceOf(IoError);
      expect(e.systemCode).toBe('EBUSY');
      expect(e.message).toContain(
        `${staging}: this staging file is claimed by another live capture`,
      );
      holder.kill('SIGKILL');
      await new Promise((r) => holder.on('close', r));
      // The claim died with its process. The frames it staged were for a.fst,
      // not b.fst: they go to an orphan file beside b.fst, never into it.
      const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      const b = new CaptureSink(path.join(dir, 'b.fst'), { stagingPath: staging });
      warn.mockRestore();
      expect(b.recovery).toMatchObject({ slabs: 0, frames: 0, orphanedFrames: 10 });
      b.closeSync();
      expect(fs.statSync(path.join(dir, 'b.fst')).size).toBe(0);
    });

    test('close releases the staging claim at once, while JS still holds its mappings', async () => {
      const staging = path.join(dir, 'shared.staging');
      const a = openCapture(dir, 'a', { stagingPath: staging });
      a.writer.writePayload(bytes(10));
      a.writer.close();
      await a.writer.finished();
      const b = openCapture(dir, 'b', { stagingPath: staging });
      b.writer.writePayload(bytes(11));
      b.writer.close();
      await b.writer.finished();
      expect(readAll(b.file)).toEqual([bytes(11)]);
      expect(readAll(a.file)).toEqual([bytes(10)]);
    });
  });

  describe('identity', () => {
    test('frames staged by a SIGKILLed writer for a rotated stream never land in the new file: orphaned, reported, readable', async () => {
      const file = path.join(dir, 'rot.fst');
      const staging = path.join(dir, 'rot.staging');
      const cfg = { file, staging, n: 1000, cap: 200, options: { flushIntervalMs: 2 ** 31 - 1 } };
      const child = spawn(process.execPath, [CHILD, 'noflush', JSON.stringify(cfg)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      const old = fs.statSync(file);
      fs.renameSync(file, `${file}.1`); // rotated
      const warnings: string[] = [];
      const warn = jest
        .spyOn(process, 'emitWarning')
        .mockImplementation((w: string | Error) => void warnings.push(String(w)));
      const sink = new CaptureSink(file, { stagingPath: staging });
      warn.mockRestore();
      const orphan = `${file}.orphaned-${old.dev}-${old.ino}.fst`;
      expect(sink.recovery).toEqual({
        slabs: 0,
        frames: 0,
        bytes: 0,
        tornBytes: 0,
        walked: false,
        orphanedFrames: 1000,
        orphanedBytes: fs.statSync(orphan).size,
        orphanPath: orphan,
      });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(orphan);
      // Another checksum binds: the new stream is empty and its own.
      const writer = new StreamWriter(sink, new ChecksumFramer(Crc32));
      writer.writePayload(bytes(7));
      writer.close();
      await writer.finished();
      expect(fs.statSync(`${file}.1`).size).toBe(0);
      expectExactly(readFrames(orphan, 200), 1000);
      const mine: Buffer[] = [];
      new StreamReader(file, new ChecksumDeframer(Crc32)).processAll((p) => {
        mine.push(Buffer.from(p));
      });
      expect(mine).toEqual([bytes(7)]);
    });
  });

  describe('the staging file', () => {
    test('a planted <staging>.new of another user, or a symlink there, is never used: clean closes, reopens work', async () => {
      const staging = path.join(dir, 'p.staging');
      const planted = `${staging}.new`;
      fs.writeFileSync(planted, 'planted');
      fs.chmodSync(planted, 0o666);
      fs.chownSync(planted, 65534, 65534);
      for (let round = 0; round < 2; round++) {
        const c = openCapture(dir, 'p');
        c.writer.writePayload(bytes(5, round));
        c.writer.close();
        await c.writer.finished();
      }
      expect(fs.readFileSync(planted, 'utf8')).toBe('planted');
      expect(fs.statSync(planted).uid).toBe(65534);
      fs.rmSync(planted);
      const target = path.join(dir, 'target');
      fs.writeFileSync(target, 'target');
      fs.symlinkSync(target, planted);
      for (let round = 2; round < 4; round++) {
        const c = openCapture(dir, 'p');
        c.writer.writePayload(bytes(5, round));
        c.writer.close();
        await c.writer.finished();
      }
      expect(fs.readFileSync(target, 'utf8')).toBe('target');
      expect(readAll(path.join(dir, 'p.fst'))).toEqual([0, 1, 2, 3].map((i) => bytes(5, i)));
    });

    test('a clean close removes the staging file; the stream keeps its end, so a clean reopen does not walk', async () => {
      const { file, staging, writer } = openCapture(dir, 'c');
      writer.writePayload(bytes(5));
      writer.close();
      await writer.finished();
      expect(fs.existsSync(staging)).toBe(false);
      const again = openCapture(dir, 'c');
      expect(again.sink.recovery).toMatchObject({ slabs: 0, tornBytes: 0, walked: false });
      again.writer.writePayload(bytes(6));
      again.writer.close();
      await again.writer.finished();
      expect(fs.existsSync(staging)).toBe(false);
      expect(readAll(file)).toEqual([bytes(5), bytes(6)]);
      // The end mark keeps the format too: another checksum is refused.
      const third = new CaptureSink(file, { stagingPath: staging });
      expect(thrown(() => new StreamWriter(third, new ChecksumFramer(Crc32))).message).toMatch(
        /written with another frame format/,
      );
      third.closeSync();
    });

    test('a writer-thread failure: close() throws and the stream is free before it returns', async () => {
      const { sink, writer } = openCapture(dir, 'f', { slabSize: 4096, slabs: 2, policy: 'block' });
      sink.on('error', () => undefined);
      injectFault(sink, { code: 'ENOSPC' });
      writer.writePayload(bytes(10));
      writer.flush();
      await sink.flushed().catch(() => undefined);
      expect(thrown(() => writer.close())).toMatchObject({ systemCode: 'ENOSPC' });
      const again = openCapture(dir, 'f', { slabSize: 4096, slabs: 2, policy: 'block' });
      expect(again.sink.recovery.frames).toBe(1);
      again.writer.close();
      await again.writer.finished();
      expect(readAll(again.file)).toEqual([bytes(10)]);
    });
  });

  describe('hostile staging files', () => {
    // A version-2 staging header (native/capture/staging_file.h, StagingHeader) for the stream `file`.
    const header = (
      file: string,
      o: Partial<Record<'version' | 'slots' | 'maxSlots', number>> = {},
    ) => {
      const st = fs.statSync(file, { bigint: true });
      const h = Buffer.alloc(4096);
      h.write('FSTSTAGE', 0, 'latin1');
      h.writeUInt32LE(o.version ?? 2, 8);
      h.writeInt32LE(3, 12); // XXH64
      h.writeUInt32LE(12, 16);
      h.writeUInt32LE(4096, 20); // slab
      h.writeUInt32LE(4096, 24); // scratch
      h.writeUInt32LE(o.slots ?? 1, 28);
      h.writeUInt32LE(o.maxSlots ?? 1, 32);
      h.writeUInt32LE(4096, 36);
      h.writeBigUInt64LE(st.dev, 56);
      h.writeBigUInt64LE(st.ino, 64);
      return h;
    };
    test.each([
      ['truncated (50 bytes)', (f: string) => header(f).subarray(0, 50), 'EINVAL'],
      ['version 1', (f: string) => header(f, { version: 1 }), 'EINVAL'],
      [
        'a huge slot count',
        (f: string) => header(f, { slots: 1 << 20, maxSlots: 1 << 20 }),
        'EINVAL',
      ],
      [
        'slot records past the end of the file',
        (f: string) => header(f, { slots: 1, maxSlots: 1 }),
        'EINVAL',
      ],
    ])('%s: refused with %s, stream and staging untouched', (_, make, code) => {
      const file = path.join(dir, 'h.fst');
      const staging = path.join(dir, 'h.staging');
      fs.writeFileSync(file, Buffer.from([1, 0, 0, 0]));
      const bytesIn = make(file);
      fs.writeFileSync(staging, bytesIn, { mode: 0o600 });
      const e = thrown(() => new CaptureSink(file, { stagingPath: staging }));
      expect(e).toBeInstanceOf(IoError);
      expect(e.systemCode).toBe(code);
      expect(fs.readFileSync(file)).toEqual(Buffer.from([1, 0, 0, 0]));
      expect(fs.readFileSync(staging)).toEqual(bytesIn);
    });

    test('a staging owned by another user, or a symlink, is refused and left alone', () => {
      const file = path.join(dir, 'o.fst');
      const staging = path.join(dir, 'o.staging');
      fs.writeFileSync(staging, 'theirs', { mode: 0o600 });
      fs.chownSync(staging, 65534, 65534);
      expect(thrown(() => new CaptureSink(file, { stagingPath: staging }))).toMatchObject({
        systemCode: 'EACCES',
      });
      expect(fs.readFileSync(staging, 'utf8')).toBe('theirs');
      fs.rmSync(staging);
      fs.symlinkSync(path.join(dir, 'elsewhere'), staging);
      expect(thrown(() => new CaptureSink(file, { stagingPath: staging }))).toMatchObject({
        systemCode: 'ELOOP',
      });
      expect(fs.existsSync(path.join(dir, 'elsewhere'))).toBe(false);
    });
  });

  describe('backpressure', () => {
    test("the default policy grows, says 'slow down' (write() false) before anything is dropped, then drops newest with one 'drop' event", async () => {
      const sink = new CaptureSink(path.join(dir, 'bp.fst'), {
        stagingPath: path.join(dir, 'bp.staging'),
        slabSize: 4096,
        slabs: 2,
        maxBytes: 8 * 4096,
      });
      expect(sink.policy).toBe('drop');
      const w = new StreamWriter(sink, new DefaultFramer());
      injectFault(sink, { delayMs: 300 });
      const events: unknown[] = [];
      sink.on('drop', (e) => events.push(e));
      let firstFalse = -1;
      let firstDrop = -1;
      const kept: number[] = [];
      for (let i = 0; i < 600; i++) {
        const before = sink.stats().drops;
        const ok = w.writePayload(bytes(96, i)); // 100-byte frames: 40 per slab
        if (!ok && firstFalse < 0) firstFalse = i;
        if (sink.stats().drops > before) {
          if (firstDrop < 0) firstDrop = i;
        } else kept.push(i);
      }
      // 8 slabs of 40 frames: needsDrain once more than 4 are in use (frame 160),
      // drops once all 8 are (frame 320).
      expect({ firstFalse, firstDrop, slabs: sink.stats().slabs }).toEqual({
        firstFalse: 160,
        firstDrop: 320,
        slabs: 8,
      });
      expect(sink.stats().drops).toBe(600 - 320);
      await new Promise((r) => setImmediate(r));
      expect(events).toEqual([{ frames: 280, bytes: 280 * 100 }]);
      injectFault(sink, {});
      w.close();
      await w.finished();
      expect(kept).toHaveLength(320);
    });

    test('drain() resolves as soon as the thread frees staging, not when everything queued is written', async () => {
      const sink = new CaptureSink(path.join(dir, 'dr.fst'), {
        stagingPath: path.join(dir, 'dr.staging'),
        slabSize: 4096,
        slabs: 8,
        policy: 'block',
      });
      const w = new StreamWriter(sink, new DefaultFramer());
      injectFault(sink, { delayMs: 100 });
      let i = 0;
      while (i < 1000 && w.writePayload(bytes(96, i))) i++; // bounded: a sink that never says 'slow down'
      expect(i).toBe(4 * 40); // the 5th slab was taken: more than half in use
      expect(sink.needsDrain).toBe(true);
      w.flush();
      const queued = sink.stats().queueDepth;
      await w.drain();
      expect(sink.needsDrain).toBe(false);
      // Resolved after the thread freed one slab, with the rest still queued.
      expect(sink.stats().queueDepth).toBe(queued - 1);
      injectFault(sink, {});
      w.close();
      await w.finished();
    });
  });
}

// The tail walk at bind is both modes' (portable mode walks every stream it
// opens: docs/design.md, "Portable capture").
describe.each(CAPTURE_MODES)('%s mode', (mode) => {
  inCaptureMode(mode);

  test('the sink is in this mode', () => {
    const sink = new CaptureSink(path.join(dir, 'm.fst'), {
      stagingPath: path.join(dir, 'm.staging'),
    });
    expect(sink.captureMode).toBe(mode);
    sink.closeSync();
  });

  describe('recovery refuses what is not a torn stream', () => {
    test('a 210,000-byte text log is left untouched: RecoveryRefusedError no-intact-frame', () => {
      const file = path.join(dir, 'app.log');
      const text = Buffer.alloc(210_000, 'x');
      text.write('2026', 0); // 0x36323032: a length under the 2 GiB bound
      fs.writeFileSync(file, text);
      const sink = new CaptureSink(file, { stagingPath: path.join(dir, 'log.staging') });
      const e = thrown(() => new StreamWriter(sink, new ChecksumFramer(XxHash64)));
      expect(e).toBeInstanceOf(RecoveryRefusedError);
      expect(e).toMatchObject({
        code: 'ERR_FLATSTREAM_RECOVERY_REFUSED',
        reason: 'no-intact-frame',
        tornBytes: 210_000,
        offset: 0,
        frameIndex: 0,
      });
      sink.closeSync();
      expect(fs.readFileSync(file).equals(text)).toBe(true);
      // Again, with a fresh sink: still refused, still untouched.
      const again = new CaptureSink(file, { stagingPath: path.join(dir, 'log.staging') });
      expect(thrown(() => new StreamWriter(again, new DefaultFramer()))).toMatchObject({
        reason: 'no-intact-frame',
      });
      again.closeSync();
      expect(fs.readFileSync(file).equals(text)).toBe(true);
    });

    test('a tail longer than one slab after intact frames is left untouched: tail-too-long with its offset and frame index', async () => {
      const { file, writer } = openCapture(dir, 't', { slabSize: 4096 });
      for (let i = 0; i < 3; i++) writer.writePayload(bytes(100, i));
      writer.close();
      await writer.finished();
      const good = fs.readFileSync(file);
      // A new file (no clean mark): its end is found by walking it.
      fs.rmSync(file);
      fs.writeFileSync(file, Buffer.concat([good, Buffer.alloc(4097, 0xff)]));
      const sink = new CaptureSink(file, {
        stagingPath: path.join(dir, 't.staging'),
        slabSize: 4096,
      });
      const e = thrown(() => new StreamWriter(sink, new ChecksumFramer(XxHash64)));
      expect(e).toBeInstanceOf(RecoveryRefusedError);
      expect(e).toMatchObject({
        reason: 'tail-too-long',
        tornBytes: 4097,
        offset: good.length,
        frameIndex: 3,
      });
      sink.closeSync();
      expect(fs.statSync(file).size).toBe(good.length + 4097);
      // One slab or less after an intact frame is a torn write: cut.
      fs.truncateSync(file, good.length + 4096);
      const ok = openCapture(dir, 't', { slabSize: 4096 });
      expect(ok.sink.recovery).toMatchObject({ tornBytes: 4096, walked: true });
      ok.writer.close();
      await ok.writer.finished();
      expect(readAll(file)).toEqual([0, 1, 2].map((i) => bytes(100, i)));
    });

    test('a file shorter than one frame header is cut; a FIFO and a device are refused without blocking', () => {
      const file = path.join(dir, 'short.fst');
      fs.writeFileSync(file, Buffer.from([1, 2, 3]));
      const { sink, writer } = openCapture(dir, 'short');
      expect(sink.recovery).toMatchObject({ walked: true, tornBytes: 3 });
      writer.close();
      expect(fs.statSync(file).size).toBe(0);

      const fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      for (const p of [fifo, '/dev/null']) {
        const e = thrown(() => new CaptureSink(p, { stagingPath: path.join(dir, 'x.staging') }));
        expect(e).toBeInstanceOf(RecoveryRefusedError);
        expect(e).toMatchObject({
          reason: 'not-a-regular-file',
          tornBytes: 0,
          offset: undefined,
        });
      }
    });
  });
});
