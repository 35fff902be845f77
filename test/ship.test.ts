// JetStreamShipper and `flatstream ship` against a real nats-server
// (test/nats-server.ts; random ports, bounded time). Every test ends with the
// same oracle (test/ship-helpers.ts): the raw JetStream consumer reads the
// messages back and each stream's files must be there exactly once, in
// order, byte for byte, every frame verified. Both engine modes: writers use
// a CaptureSink where the addon is there, else a FileSink. Seeds are printed
// (SHIP_SEED=n reruns one).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  ChecksumFramer,
  ChecksumMismatchError,
  JetStreamShipper,
  JetStreamSource,
  RotatingSink,
  ShipError,
  StreamReader,
  StreamWriter,
  XxHash64,
  listRotation,
  native,
} from '../lib/index';
import { MODE, prng } from './helpers';
import { type NatsServer, haveNatsServer, startNats } from './nats-server';
import {
  CLI,
  WRITER,
  checkpointAt,
  expectExactlyOnce,
  fillPayload,
  firstFrame,
  readBack,
  run,
  sleep,
  until,
  addStream,
  scratch,
  writeFile,
} from './ship-helpers';
import { encodeCheckpoint } from '../lib/ship/checkpoint';

const maybe = haveNatsServer() || process.env.CI ? describe : describe.skip;
const SINK = native ? 'capture' : 'file';
const { dir, fresh } = scratch('flatstream-ship-');

maybe(`JetStreamShipper against a real server (${MODE})`, () => {
  let srv: NatsServer;
  beforeAll(async () => {
    srv = await startNats();
  }, 30_000);
  afterAll(async () => {
    await srv?.dispose();
  });

  test('4 writer processes x 250k frames, captured and shipped concurrently by 4 `flatstream ship` processes: every frame exactly once per stream, in order', async () => {
    const d = fresh('four');
    await addStream(srv.url, 'FOUR', ['four.>']);
    const t0 = Date.now();
    const paths = [0, 1, 2, 3].map((i) => join(d, `w${i}.fst`));
    const writers = paths.map((p, i) => run([WRITER, p, String(i), '0', '250000', SINK, '5000']));
    await Promise.all(writers.map((w) => w.waitFor('ready')));
    const shippers = paths.map((p, i) =>
      run([CLI, 'ship', p, '--server', srv.url, '--subject', `four.w${i}`]),
    );
    for (const w of writers) expect(await w.exit).toEqual({ code: 0, signal: null });
    const sizes = paths.map((p) => fs.statSync(p).size);
    await until(
      () => paths.every((p, i) => checkpointAt(`${p}.ship-checkpoint`)?.offset === sizes[i]),
      'every checkpoint at the end of its file',
    );
    for (const s of shippers) s.proc.kill('SIGTERM');
    for (const s of shippers) {
      expect(await s.exit).toEqual({ code: 0, signal: null });
      expect(s.err()).toMatch(/250000 frames \(\d+ bytes\) in \d+ messages acknowledged/);
    }
    const shipped = Date.now() - t0;
    const msgs = await readBack(srv.url, 'FOUR');
    const tRead = Date.now() - t0 - shipped;
    for (const p of paths) {
      const cp = checkpointAt(`${p}.ship-checkpoint`)!;
      expect(expectExactlyOnce(msgs, cp.stream, [p])).toBe(250_000);
    }
    expect(new Set(msgs.map((m) => m.stream)).size).toBe(4);
    console.log(
      `4 x 250k frames (${SINK} sinks), captured and shipped in ${shipped} ms; ${msgs.length} messages read back in ${tRead} ms and checked in ${Date.now() - t0 - shipped - tRead} ms`,
    );
  }, 120_000);

  test('a stream damaged mid-file: run() rejects with the ChecksumMismatchError at its offset after shipping every frame before it; nothing damaged is published', async () => {
    const d = fresh('damaged');
    await addStream(srv.url, 'DMG', ['dmg.>']);
    const path = join(d, 'a.fst');
    writeFile(path, 20_000);
    const bytes = fs.readFileSync(path);
    const start = bytes.length - 20_000 * 60;
    const bad = start + 12_345 * 60; // frame 12,345 (60 bytes each)
    bytes[bad + 30] = bytes[bad + 30]! ^ 0x40; // a payload byte
    fs.writeFileSync(path, bytes);
    const s = new JetStreamShipper({ servers: srv.url, subject: 'dmg.a', path });
    const err = await s.run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect(err).toMatchObject({ code: 'ERR_FLATSTREAM_CHECKSUM_MISMATCH', offset: bad });
    expect(s.stats()).toMatchObject({ frames: 12_345, acked: { file: 0, offset: bad } });
    const msgs = await readBack(srv.url, 'DMG');
    expect(expectExactlyOnce(msgs, s.streamId!, [path], [bad])).toBe(12_345);
    expect(checkpointAt(`${path}.ship-checkpoint`)?.offset).toBe(bad);
  });

  test('a subject that no JetStream stream takes: a ShipError stream-not-found at once, no retries; createStream makes one', async () => {
    const d = fresh('nostream');
    const path = join(d, 'a.fst');
    writeFile(path, 100);
    const s = new JetStreamShipper({ servers: srv.url, subject: 'nowhere.a', path });
    let backoffs = 0;
    s.on('backoff', () => backoffs++);
    const err = await s.run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ShipError);
    expect(err).toMatchObject({ code: 'ERR_FLATSTREAM_SHIP', reason: 'stream-not-found' });
    expect(backoffs).toBe(0);
    expect(s.stats().frames).toBe(0);
    const c = new JetStreamShipper({
      servers: srv.url,
      subject: 'made.a',
      path,
      createStream: 'MADE',
      checkpoint: join(d, 'cp2'),
    });
    const done = c.run();
    await until(() => c.stats().frames === 100, 'the 100 frames shipped');
    await c.close();
    await done;
    expect(expectExactlyOnce(await readBack(srv.url, 'MADE'), c.streamId!, [path])).toBe(100);
  });
  test('a listener that throws stops the shipper with its error: run() rejects with it, nothing is left unhandled', async () => {
    const d = fresh('listener');
    await addStream(srv.url, 'LSN', ['lsn.>']);
    const path = join(d, 'a.fst');
    writeFile(path, 5000);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (const event of ['connect', 'checkpoint', 'file', 'resume']) {
        const s = new JetStreamShipper({
          servers: srv.url,
          subject: 'lsn.a',
          path,
          checkpoint: join(d, `${event}.cp`),
        });
        const boom = new Error(`listener of ${event}`);
        s.on(event, () => {
          throw boom;
        });
        await expect(s.run()).rejects.toBe(boom);
      }
      await sleep(50);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('a path that is not there: an IoError (ENOENT), at once', async () => {
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'lsn.a',
      path: join(dir, 'nosuch.fst'),
    });
    await expect(s.run()).rejects.toMatchObject({
      name: 'IoError',
      code: 'ERR_FLATSTREAM_IO',
      systemCode: 'ENOENT',
    });
  });
  test('a directory removed while the shipper waits for its first file: an IoError (ENOENT), never a raw Error', async () => {
    const d = fresh('dirgone');
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'dirgone.a',
      path: d,
      pollIntervalMs: 10,
    });
    const done = s.run();
    // The lock is taken after the directory was looked at: it waits for files now.
    await until(() => fs.existsSync(`${d}.ship-checkpoint.lock`), 'the checkpoint locked');
    fs.rmSync(d, { recursive: true });
    await expect(done).rejects.toMatchObject({
      name: 'IoError',
      code: 'ERR_FLATSTREAM_IO',
      systemCode: 'ENOENT',
    });
    expect(fs.existsSync(`${d}.ship-checkpoint.lock`)).toBe(false);
  });

  test('a second shipper on the same checkpoint: ShipError busy (this process, or a live pid); a lock left by a dead process is taken over', async () => {
    const d = fresh('busy');
    await addStream(srv.url, 'BUSY', ['busy.>']);
    const path = join(d, 'a.fst');
    writeFile(path, 2000);
    const a = new JetStreamShipper({ servers: srv.url, subject: 'busy.a', path });
    const done = a.run();
    await until(() => a.stats().frames === 2000, 'the first shipper done');
    const b = new JetStreamShipper({ servers: srv.url, subject: 'busy.a', path });
    await expect(b.run()).rejects.toMatchObject({
      reason: 'busy',
      message: expect.stringContaining('in this process'),
    });
    await a.close();
    await done;
    expect(fs.existsSync(`${path}.ship-checkpoint.lock`)).toBe(false);
    // A live process's lock (this test's parent, by pid): busy.
    fs.writeFileSync(`${path}.ship-checkpoint.lock`, String(process.ppid));
    const c = new JetStreamShipper({ servers: srv.url, subject: 'busy.a', path });
    await expect(c.run()).rejects.toMatchObject({
      reason: 'busy',
      message: expect.stringContaining(`pid ${process.ppid}`),
    });
    // A dead process's lock: taken over.
    const dead = run(['-e', '0']);
    await dead.exit;
    fs.writeFileSync(`${path}.ship-checkpoint.lock`, String(dead.proc.pid));
    const e = new JetStreamShipper({ servers: srv.url, subject: 'busy.a', path });
    const edone = e.run();
    await until(() => e.stats().acked?.offset === fs.statSync(path).size, 'resumed');
    await e.close();
    await edone;
    expect(e.stats().batches).toBe(0); // everything was acknowledged before
  });
  test('the checkpoint on a full filesystem (a 256 KiB tmpfs, private mount namespace): nothing is published until a plan can be written; then every frame once', async () => {
    const d = fresh('full');
    await addStream(srv.url, 'FULL', ['full.>']);
    const path = join(d, 'a.fst');
    writeFile(path, 20_000);
    const mnt = join(d, 'mnt');
    fs.mkdirSync(mnt);
    const child = join(__dirname, 'ship-full-disk-child.js');
    const r = spawnSync(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        `mount -t tmpfs -o size=256k tmpfs "${mnt}" && exec "${process.execPath}" "${child}" "${srv.url}" full.a "${path}" "${mnt}"`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      errors: expect.any(Number),
      framesWhileFull: 0,
      frames: 20_000,
      code: 'ENOSPC',
    });
    const msgs = await readBack(srv.url, 'FULL');
    expect(expectExactlyOnce(msgs, msgs[0]!.stream, [path])).toBe(20_000);
  });
  test('a file that is not a stream: ShipError unknown-checksum without a header; with a checksum given, a frame no message can hold at offset 0 (never a wait for 1.7 GB); nothing published', async () => {
    const d = fresh('notours');
    await addStream(srv.url, 'NOTOURS', ['notours.>']);
    const path = join(d, 'words.txt');
    fs.writeFileSync(path, 'lorem ipsum dolor sit amet, '.repeat(5000));
    const a = new JetStreamShipper({ servers: srv.url, subject: 'notours.a', path });
    await expect(a.run()).rejects.toMatchObject({
      code: 'ERR_FLATSTREAM_SHIP',
      reason: 'unknown-checksum',
    });
    const b = new JetStreamShipper({
      servers: srv.url,
      subject: 'notours.a',
      path,
      checksum: 'xxhash64',
    });
    // 'lore' read as a length: 1.7 GB, within the 2 GiB bound but no message can hold it.
    await expect(b.run()).rejects.toMatchObject({
      code: 'ERR_FLATSTREAM_SHIP',
      reason: 'frame-too-large',
      offset: 0,
      cause: expect.objectContaining({ code: 'ERR_FLATSTREAM_INVALID_FRAME', length: 0x65726f6c }),
    });
    const c = new JetStreamShipper({
      servers: srv.url,
      subject: 'notours.a',
      path,
      checksum: 'xxhash64',
      maxFrameLen: 100_000,
    });
    await expect(c.run()).rejects.toMatchObject({
      code: 'ERR_FLATSTREAM_INVALID_FRAME',
      offset: 0,
      limit: 100_000,
    });
    expect(await readBack(srv.url, 'NOTOURS')).toEqual([]);
    expect(fs.existsSync(`${path}.ship-checkpoint`)).toBe(false);
  });

  test('close() from inside a listener (re-entrant): run() resolves, the checkpoint is written', async () => {
    const d = fresh('reentrant');
    await addStream(srv.url, 'REENTRANT', ['reentrant.>']);
    const path = join(d, 'a.fst');
    writeFile(path, 50_000);
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'reentrant.a',
      path,
      batchBytes: 4096,
    });
    let closes = 0;
    s.on('checkpoint', () => {
      closes++;
      void s.close();
    });
    await s.run();
    expect(closes).toBeGreaterThanOrEqual(1);
    const cp = checkpointAt(`${path}.ship-checkpoint`)!;
    expect(cp.offset).toBe(s.stats().acked!.offset);
    const msgs = await readBack(srv.url, 'REENTRANT');
    expect(expectExactlyOnce(msgs, s.streamId!, [path], [cp.offset])).toBe(s.stats().frames);
  });
  test('a checkpoint that does not fit the file: another stream id, or a plan whose batch end falls inside a frame: ShipError checkpoint, nothing published', async () => {
    const d = fresh('cpbad');
    await addStream(srv.url, 'CPBAD', ['cpbad.>']);
    const path = join(d, 'a.fst');
    writeFile(path, 1000);
    const cpPath = `${path}.ship-checkpoint`;
    const start = firstFrame(path);
    const probe = new JetStreamShipper({
      servers: srv.url,
      subject: 'cpbad.a',
      path,
      createStream: 'X',
    });
    fs.writeFileSync(
      cpPath,
      encodeCheckpoint({
        stream: 'h-0000000000000000',
        file: 0,
        name: 'a.fst',
        offset: start,
        plan: [],
      }),
    );
    await expect(probe.run()).rejects.toMatchObject({
      reason: 'checkpoint',
      message: expect.stringContaining('is for stream h-0000000000000000'),
    });
    const id = probe.streamId!;
    fs.writeFileSync(
      cpPath,
      encodeCheckpoint({
        stream: id,
        file: 0,
        name: 'a.fst',
        offset: start,
        plan: [[0, start, start + 61]],
      }),
    );
    const s = new JetStreamShipper({ servers: srv.url, subject: 'cpbad.a', path });
    await expect(s.run()).rejects.toMatchObject({
      reason: 'checkpoint',
      message: expect.stringContaining(`ends a batch at ${start + 61}`),
    });
    expect(await readBack(srv.url, 'CPBAD')).toEqual([]);
  });
  test('the signal stops a running shipper as close() does: run() resolves, the checkpoint is at what was acknowledged', async () => {
    const d = fresh('signal');
    await addStream(srv.url, 'SIGNAL', ['signal.>']);
    const path = join(d, 'a.fst');
    writeFile(path, 100_000);
    const ac = new AbortController();
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'signal.a',
      path,
      batchBytes: 4096,
      inFlight: 2,
      signal: ac.signal,
    });
    const done = s.run();
    await until(() => s.stats().frames > 0, 'some frames shipped');
    ac.abort();
    await done;
    const at = s.stats().acked!.offset;
    expect(at).toBeLessThan(fs.statSync(path).size);
    expect(checkpointAt(`${path}.ship-checkpoint`)).toMatchObject({ offset: at });
    const msgs = await readBack(srv.url, 'SIGNAL');
    expect(expectExactlyOnce(msgs, s.streamId!, [path], [at])).toBe(s.stats().frames);
  });
});

maybe(`JetStreamShipper on a directory of rotated files (${MODE})`, () => {
  let srv: NatsServer;
  beforeAll(async () => {
    srv = await startNats();
    await addStream(srv.url, 'DIR', ['dir.>']);
  }, 30_000);
  afterAll(async () => {
    await srv?.dispose();
  });

  test('files in natural order (s.2 before s.10), each finished once a later one exists and it is read to its end; Flatstream-File is the index; other files ignored', async () => {
    const d = fresh('dir');
    const names = ['s.1.fst', 's.2.fst', 's.10.fst'];
    writeFile(join(d, names[0]!), 3000, 1);
    writeFile(join(d, names[1]!), 5000, 2);
    fs.writeFileSync(join(d, 'notes.txt'), 'not a stream');
    fs.writeFileSync(join(d, 's.1.fst.orphaned-1-2.fst'), 'not ours either');
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'dir.s',
      path: d,
      pollIntervalMs: 20,
    });
    const files: string[] = [];
    s.on('file', (f: { name: string }) => files.push(f.name));
    const done = s.run();
    const size1 = fs.statSync(join(d, names[1]!)).size;
    await until(
      () => s.stats().acked?.file === 1 && s.stats().acked?.offset === size1,
      'file 1 shipped',
    );
    expect(files).toEqual(['s.1.fst', 's.2.fst']); // s.2.fst is the last file: not finished
    writeFile(join(d, names[2]!), 4000, 3); // a rotation: s.2.fst is finished now
    const last = fs.statSync(join(d, names[2]!)).size;
    await until(
      () => s.stats().acked?.file === 2 && s.stats().acked?.offset === last,
      'file 2 shipped',
    );
    await s.close();
    await done;
    expect(files).toEqual(names);
    expect(s.streamId).toMatch(/^d-[0-9a-f]{16}$/);
    expect(checkpointAt(`${d}.ship-checkpoint`)).toMatchObject({
      file: 2,
      name: 's.10.fst',
      offset: last,
    });
    const msgs = await readBack(srv.url, 'DIR');
    expect(
      expectExactlyOnce(
        msgs,
        s.streamId!,
        names.map((nm) => join(d, nm)),
      ),
    ).toBe(12_000);
  });

  test('a RotatingSink set shipped while it is written and rotated: every file once, in number order, every frame once', async () => {
    const d = fresh('rotating');
    const base = join(d, 'ev.fst');
    const sink = new RotatingSink(base, {
      header: { rootType: 'test.Telemetry' },
      ...(native ? { capture: true } : {}),
    });
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    const shipper = new JetStreamShipper({
      servers: srv.url,
      subject: 'rot.a1',
      path: d,
      createStream: 'ROT',
      pollIntervalMs: 20,
    });
    const done = shipper.run();
    const p = Buffer.alloc(48);
    let i = 0;
    for (let f = 0; f < 4; f++) {
      for (const end = i + 3000; i < end; i++) w.writePayload(fillPayload(p, 7, i));
      if (f < 3) await w.rotate();
      await sleep(30);
    }
    w.close();
    await w.finished();
    // Four files (their numbers may have gaps: a file prepared and not used).
    const files = listRotation(base);
    expect(files).toHaveLength(4);
    const last = fs.statSync(files[3]!).size;
    await until(
      () => shipper.stats().acked?.file === 3 && shipper.stats().acked?.offset === last,
      'the last file of the set shipped',
    );
    await shipper.close();
    await done;
    const msgs = await readBack(srv.url, 'ROT');
    expect(expectExactlyOnce(msgs, shipper.streamId!, files)).toBe(12_000);
  });

  test('resuming a directory from its checkpoint, its oldest file removed meanwhile (retention): the next files only, numbered on, every frame once across both runs', async () => {
    const d = fresh('dir-resume');
    writeFile(join(d, 'r.1.fst'), 2000, 1);
    writeFile(join(d, 'r.2.fst'), 2000, 2);
    const first = new JetStreamShipper({
      servers: srv.url,
      subject: 'dir.r',
      path: d,
      pollIntervalMs: 20,
    });
    let done = first.run();
    const size2 = fs.statSync(join(d, 'r.2.fst')).size;
    await until(
      () => first.stats().acked?.file === 1 && first.stats().acked?.offset === size2,
      'the first run at the end of r.2.fst',
    );
    await first.close();
    await done;
    // Retention removes the shipped r.1.fst (kept aside for the check below):
    // the files after it keep their numbers.
    const kept = join(fresh('dir-resume-kept'), 'r.1.fst');
    fs.renameSync(join(d, 'r.1.fst'), kept);
    writeFile(join(d, 'r.3.fst'), 3000, 3);
    const second = new JetStreamShipper({
      servers: srv.url,
      subject: 'dir.r',
      path: d,
      pollIntervalMs: 20,
    });
    const resumes: { checkpoint: string; from: { file: number } }[] = [];
    second.on('resume', (r: { checkpoint: string; from: { file: number } }) => resumes.push(r));
    done = second.run();
    const size3 = fs.statSync(join(d, 'r.3.fst')).size;
    await until(
      () => second.stats().acked?.file === 2 && second.stats().acked?.offset === size3,
      'r.3.fst shipped',
    );
    await second.close();
    await done;
    expect(resumes).toEqual([
      expect.objectContaining({
        checkpoint: 'ok',
        from: { file: 1, name: 'r.2.fst', offset: size2 },
      }),
    ]);
    expect(second.stats()).toMatchObject({ frames: 3000, duplicates: 0 });
    const msgs = await readBack(srv.url, 'DIR');
    const files = [kept, join(d, 'r.2.fst'), join(d, 'r.3.fst')];
    expect(expectExactlyOnce(msgs, first.streamId!, files)).toBe(7000);
    expect(msgs.filter((m) => m.file === 2).length).toBeGreaterThan(0);
  });

  test('a finished file that ends in a torn frame: ShipError torn-file at its offset, after every whole frame before it', async () => {
    const d = fresh('dir-torn');
    writeFile(join(d, 'a.1.fst'), 1000, 1);
    const whole = fs.statSync(join(d, 'a.1.fst')).size;
    fs.appendFileSync(join(d, 'a.1.fst'), Buffer.from([200, 0, 0, 0, 1, 2, 3]));
    writeFile(join(d, 'a.2.fst'), 1000, 2);
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'dir.torn',
      path: d,
      pollIntervalMs: 10,
    });
    const err = await s.run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ShipError);
    expect(err).toMatchObject({ reason: 'torn-file', offset: whole });
    expect(s.stats().acked).toEqual({ file: 0, name: 'a.1.fst', offset: whole });
  });

  test('flatstream ship: SIGINT mid-ship stops it cleanly (exit 0), the checkpoint at what was acknowledged; a second run ships the rest once', async () => {
    const d = fresh('cli-sigint');
    const path = join(d, 'a.fst');
    writeFile(path, 100_000);
    const size = fs.statSync(path).size;
    const args = [
      CLI,
      'ship',
      path,
      '--server',
      srv.url,
      '--subject',
      'dir.sigint',
      '--batch-bytes',
      '4096',
      '--in-flight',
      '2',
    ];
    const c = run(args);
    await until(
      () => (checkpointAt(`${path}.ship-checkpoint`)?.offset ?? 0) > 0,
      'a first checkpoint',
    );
    c.proc.kill('SIGINT');
    expect(await c.exit).toEqual({ code: 0, signal: null });
    const m =
      /(\d+) frames \((\d+) bytes\) in (\d+) messages acknowledged; checkpoint .*: file 0 \(a\.fst\) offset (\d+)\n$/.exec(
        c.err(),
      );
    expect(m).not.toBeNull();
    const at = Number(m![4]);
    expect(checkpointAt(`${path}.ship-checkpoint`)).toMatchObject({
      file: 0,
      offset: at,
      plan: [],
    });
    expect(at).toBeLessThan(size);
    const rest = run(args);
    await until(() => checkpointAt(`${path}.ship-checkpoint`)?.offset === size, 'the rest shipped');
    rest.proc.kill('SIGTERM');
    expect(await rest.exit).toEqual({ code: 0, signal: null });
    const msgs = await readBack(srv.url, 'DIR');
    expect(expectExactlyOnce(msgs, checkpointAt(`${path}.ship-checkpoint`)!.stream, [path])).toBe(
      100_000,
    );
  });

  test('flatstream ship on a terminal: progress lines on stderr every second', async () => {
    const d = fresh('cli-tty');
    const path = join(d, 'a.fst');
    writeFile(path, 1000);
    const cmd = `"${process.execPath}" "${CLI}" ship "${path}" --server ${srv.url} --subject dir.tty`;
    // script(1) gives the command a terminal; its output (the terminal's) goes to stdout.
    const c = run([
      '-e',
      `const s = require('child_process').spawn('script', ['-qfec', ${JSON.stringify(cmd)}, '/dev/null'], { stdio: 'inherit' });
       process.on('SIGTERM', () => s.kill('SIGTERM'));
       s.on('exit', (code) => process.exit(code ?? 0));`,
    ]);
    await until(
      () => /\rshipped 1000 frames, 0\.1 MB, 1 messages; lag 0\.0 MB/.test(c.out()),
      'a progress line',
    );
    c.proc.kill('SIGTERM'); // to script(1), which ends the terminal and the command with it
    expect((await c.exit).signal).toBeNull();
  });

  test('flatstream ship on a subject without a stream: exit 1 with the reason', async () => {
    const d = fresh('cli-nostream');
    writeFile(join(d, 'a.fst'), 10);
    const c = run([CLI, 'ship', join(d, 'a.fst'), '--server', srv.url, '--subject', 'nowhere.x']);
    expect(await c.exit).toEqual({ code: 1, signal: null });
    expect(c.err()).toContain('flatstream ship: no JetStream stream takes the subject nowhere.x');
  });
});

maybe(`JetStreamShipper and auth (${MODE})`, () => {
  test('auth failure: a ShipError auth at once, no retries; the right credentials ship', async () => {
    const srv = await startNats({ auth: { user: 'u', pass: 'p' } });
    try {
      await (async () => {
        const nc = await connect({ servers: srv.url, user: 'u', pass: 'p' });
        await (await jetstreamManager(nc)).streams.add({ name: 'AUTH', subjects: ['auth.>'] });
        await nc.close();
      })();
      const d = fresh('auth');
      const path = join(d, 'a.fst');
      writeFile(path, 1000);
      for (const creds of [{}, { user: 'u', pass: 'wrong' }]) {
        const s = new JetStreamShipper({ servers: srv.url, subject: 'auth.a', path, ...creds });
        let backoffs = 0;
        s.on('backoff', () => backoffs++);
        const err = await s.run().then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ShipError);
        expect(err).toMatchObject({ code: 'ERR_FLATSTREAM_SHIP', reason: 'auth' });
        expect(backoffs).toBe(0);
        expect(fs.existsSync(`${path}.ship-checkpoint`)).toBe(false);
      }
      const s = new JetStreamShipper({
        servers: srv.url,
        subject: 'auth.a',
        path,
        user: 'u',
        pass: 'p',
      });
      const done = s.run();
      await until(() => s.stats().frames === 1000, 'the frames shipped');
      await s.close();
      await done;
      const nc = await connect({ servers: srv.url, user: 'u', pass: 'p' });
      const info = await (await jetstreamManager(nc)).streams.info('AUTH');
      expect(info.state.messages).toBe(s.stats().batches);
      await nc.close();
    } finally {
      await srv.dispose();
    }
  }, 60_000);
});

// Seeds for the randomised suites.
export const SEED = Number(process.env.SHIP_SEED ?? (Date.now() % 1_000_000) + 1);
export const rnd = prng(SEED);

// Shipper -> reader, end to end: what JetStreamShipper publishes,
// JetStreamSource and `flatstream cat --from` read back as the files are
// read (docs/design.md, "Shipping to JetStream": every file from offset 0,
// its header frame included).
maybe(`JetStreamShipper -> JetStreamSource and cat --from (${MODE})`, () => {
  let srv: NatsServer;
  beforeAll(async () => {
    srv = await startNats();
    await addStream(srv.url, 'E2E', ['e2e.>']);
  }, 30_000);
  afterAll(async () => {
    await srv?.dispose();
  });

  const payloadsOf = (files: readonly string[]): Buffer[] => {
    const out: Buffer[] = [];
    for (const f of files)
      StreamReader.open(f).processAll((p: Uint8Array) => {
        out.push(Buffer.from(p));
      });
    return out;
  };

  const ship = async (path: string, subject: string, files: readonly string[]): Promise<string> => {
    const s = new JetStreamShipper({ servers: srv.url, subject, path, pollIntervalMs: 20 });
    const done = s.run();
    const last = files.length - 1;
    const size = fs.statSync(files[last]!).size;
    await until(
      () => s.stats().acked?.file === last && s.stats().acked?.offset === size,
      'every file shipped',
    );
    await s.close();
    await done;
    return s.streamId!;
  };

  const readSource = async (subject: string, durable: string): Promise<Buffer[]> => {
    const source = new JetStreamSource({
      servers: srv.url,
      stream: 'E2E',
      durable,
      subject,
      follow: false,
      deleteOnClose: true,
    });
    try {
      expect((await source.peek()).header?.rootType).toBe('test.Telemetry');
      const reader = await source.reader();
      const out: Buffer[] = [];
      for await (const p of reader) out.push(Buffer.from(p));
      return out;
    } finally {
      await source.close();
    }
  };

  test('a directory of two headed rotated files: every message of both, once, in order; each file shipped from offset 0 with its header frame', async () => {
    const d = fresh('e2e-dir');
    const files = [join(d, 'ev.1.fst'), join(d, 'ev.2.fst')];
    writeFile(files[0]!, 2000, 1);
    writeFile(files[1]!, 3000, 2);
    const id = await ship(d, 'e2e.dir', files);
    const msgs = (await readBack(srv.url, 'E2E')).filter((m) => m.stream === id);
    expect(msgs.filter((m) => m.offset === 0).map((m) => m.file)).toEqual([0, 1]);
    expect(expectExactlyOnce(msgs, id, files)).toBe(5000);
    const got = await readSource('e2e.dir', 'e2e-dir');
    expect(got).toHaveLength(5000);
    expect(Buffer.concat(got).equals(Buffer.concat(payloadsOf(files)))).toBe(true);
  });

  test('a single headed file: JetStreamSource reads every message; cat --from prints exactly what cat FILE prints', async () => {
    const d = fresh('e2e-one');
    const path = join(d, 'one.fst');
    writeFile(path, 1500, 4);
    await ship(path, 'e2e.one', [path]);
    const got = await readSource('e2e.one', 'e2e-one');
    expect(Buffer.concat(got).equals(Buffer.concat(payloadsOf([path])))).toBe(true);
    const local = spawnSync(process.execPath, [CLI, 'cat', path, '--raw', 'hex'], {
      encoding: 'utf8',
    });
    expect(local.status).toBe(0);
    const remote = spawnSync(
      process.execPath,
      [CLI, 'cat', '--from', srv.url, '--stream', 'E2E', '--subject', 'e2e.one', '--raw', 'hex'],
      { encoding: 'utf8' },
    );
    expect(remote.stderr).toBe('');
    expect(remote.status).toBe(0);
    expect(remote.stdout.split('\n')).toHaveLength(1501);
    expect(remote.stdout).toBe(local.stdout);
  });
});
