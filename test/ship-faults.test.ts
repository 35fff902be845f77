// Faults while shipping (docs/design.md, "Shipping to JetStream"), each
// ending with the exactly-once oracle of test/ship-helpers.ts: the shipper
// SIGKILLed at random points, nats-server stopped and restarted, a writer
// SIGKILLed mid-capture with a torn tail (recovered by a new writer), and
// the checkpoint torn or lost, inside and past JetStream's duplicate window.
// Seeds are printed (SHIP_SEED=n reruns one).
import fs from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  ChecksumFramer,
  JetStreamShipper,
  StreamWriter,
  XxHash64,
  native,
  readBatchPosition,
} from '../lib/index';
import { MODE, prng } from './helpers';
import { type NatsServer, haveNatsServer, startNats } from './nats-server';
import {
  CLI,
  WRITER,
  type Shipped,
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

const maybe = haveNatsServer() || process.env.CI ? describe : describe.skip;
const SINK = native ? 'capture' : 'file';
const SEED = Number(process.env.SHIP_SEED ?? (Date.now() % 1_000_000) + 1);
const rnd = prng(SEED);
const { fresh } = scratch('flatstream-ship-faults-');

/** Ships `path` to its end with a shipper in this process, then closes it. */
async function shipAll(
  opts: ConstructorParameters<typeof JetStreamShipper>[0],
): Promise<JetStreamShipper> {
  const s = new JetStreamShipper(opts);
  const done = s.run();
  const size = fs.statSync(opts.path).size;
  await until(() => s.stats().acked?.offset === size, `${opts.path} shipped to its end`);
  await s.close();
  await done;
  return s;
}

maybe(`JetStreamShipper under faults (${MODE}, seed ${SEED})`, () => {
  let srv: NatsServer;
  beforeAll(async () => {
    console.log(`ship-faults seed ${SEED} (SHIP_SEED=${SEED} reruns it)`);
    srv = await startNats();
  }, 30_000);
  afterAll(async () => {
    await srv?.dispose();
  });

  test('SIGKILL of a `flatstream ship` process at random points, 10 trials, while a writer captures: every frame exactly once, in order', async () => {
    const d = fresh('kill');
    await addStream(srv.url, 'KILL', ['kill.>']);
    const path = join(d, 'a.fst');
    // ~3 s of capture at ~100k frames/s; the shipper dies 10 times meanwhile.
    const writer = run([WRITER, path, '1', '0', '300000', SINK, '200']);
    await writer.waitFor('ready');
    const kills: string[] = [];
    for (let trial = 0; trial < 10; trial++) {
      const s = run([
        CLI,
        'ship',
        path,
        '--server',
        srv.url,
        '--subject',
        'kill.a',
        '--batch-bytes',
        '8192',
      ]);
      const ms = 50 + rnd(400);
      await sleep(ms);
      s.proc.kill('SIGKILL');
      await s.exit;
      kills.push(`${ms}ms@${checkpointAt(`${path}.ship-checkpoint`)?.offset ?? 0}`);
    }
    console.log(`seed ${SEED}: killed after ${kills.join(', ')}`);
    expect(await writer.exit).toEqual({ code: 0, signal: null });
    const size = fs.statSync(path).size;
    const last = run([CLI, 'ship', path, '--server', srv.url, '--subject', 'kill.a']);
    await until(
      () => checkpointAt(`${path}.ship-checkpoint`)?.offset === size,
      'the last shipper at the end',
    );
    last.proc.kill('SIGTERM');
    expect(await last.exit).toEqual({ code: 0, signal: null });
    const cp = checkpointAt(`${path}.ship-checkpoint`)!;
    expect(expectExactlyOnce(await readBack(srv.url, 'KILL'), cp.stream, [path])).toBe(300_000);
  }, 120_000);

  test('nats-server stopped and restarted mid-ship: the shipper backs off, reconnects, resends in order; every frame exactly once', async () => {
    const d = fresh('restart');
    await addStream(srv.url, 'RESTART', ['restart.>']);
    const path = join(d, 'a.fst');
    const writer = run([WRITER, path, '2', '0', '200000', SINK, '500']);
    await writer.waitFor('ready');
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'restart.a',
      path,
      batchBytes: 8192,
      backoff: { initialMs: 50, maxMs: 400 },
      ackTimeoutMs: 2000,
    });
    const backoffs: number[] = [];
    s.on('backoff', (b: { delayMs: number }) => backoffs.push(b.delayMs));
    const done = s.run();
    await until(() => s.stats().frames > 20_000, 'some frames shipped');
    await srv.stop();
    const during = s.stats().frames;
    await sleep(1000 + rnd(1000));
    expect(s.stats()).toMatchObject({ connected: false, frames: during });
    // Bounded memory while the server is away, however far the file runs ahead.
    expect(s.stats().heldBatches).toBeLessThanOrEqual(16 + 1);
    expect(s.stats().heldBytes).toBeLessThanOrEqual(17 * 8192);
    expect(fs.statSync(path).size - s.stats().acked!.offset).toBeGreaterThan(17 * 8192);
    await srv.restart();
    expect(await writer.exit).toEqual({ code: 0, signal: null });
    const size = fs.statSync(path).size;
    await until(() => s.stats().acked?.offset === size, 'shipped to the end after the restart');
    await s.close();
    await done;
    const st = s.stats();
    expect(st.reconnects).toBeGreaterThanOrEqual(1);
    expect(st.reordered).toBe(0);
    expect(backoffs.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...backoffs)).toBeLessThanOrEqual(400);
    expect(expectExactlyOnce(await readBack(srv.url, 'RESTART'), s.streamId!, [path])).toBe(
      200_000,
    );
  }, 120_000);

  test('the checkpoint lost and a new headerless file at the same path (same stream id, same offsets and lengths): every batch of the new file is stored, none dropped as a resend of the old one', async () => {
    const d = fresh('newfile');
    await addStream(srv.url, 'NEWFILE', ['newfile.>']);
    const path = join(d, 'a.fst');
    const write = async (writer: number): Promise<void> => {
      const w = new StreamWriter(path, new ChecksumFramer(XxHash64));
      const p = Buffer.alloc(48);
      for (let i = 0; i < 2000; i++) w.writePayload(fillPayload(p, writer, i));
      w.close();
      await w.finished();
    };
    const opts = {
      servers: srv.url,
      subject: 'newfile.a',
      path,
      checksum: 'xxhash64',
      batchBytes: 1200, // full batches of 20 frames: the same cuts in both files
    };
    await write(1);
    const first = await shipAll(opts);
    // Retention: the old file goes (kept aside here, so the new one cannot
    // reuse its inode), and so does its checkpoint.
    fs.renameSync(path, join(d, 'a.old'));
    fs.rmSync(`${path}.ship-checkpoint`);
    await write(2);
    const second = await shipAll(opts);
    expect(second.streamId).toBe(first.streamId); // p-: host and path
    expect(second.stats()).toMatchObject({ batches: 100, duplicates: 0, frames: 2000 });
    const msgs = await readBack(srv.url, 'NEWFILE');
    expect(msgs).toHaveLength(200);
    expect(Buffer.concat(msgs.slice(100).map((m) => m.data)).equals(fs.readFileSync(path))).toBe(
      true,
    );
  });

  test('close() while the server is away: the drain gives up after closeTimeoutMs and leaves no timer behind (no backoff sleep keeps the host alive)', async () => {
    const d = fresh('drain-timer');
    await addStream(srv.url, 'DTIMER', ['dtimer.>']);
    const path = join(d, 'a.fst');
    writeFile(path, 200_000);
    const timers = (): number =>
      process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'dtimer.a',
      path,
      batchBytes: 1024,
      backoff: { initialMs: 600_000, maxMs: 600_000 },
      closeTimeoutMs: 200,
    });
    let backoffs = 0;
    s.on('backoff', () => backoffs++);
    const done = s.run();
    await until(() => s.stats().frames > 0, 'some frames shipped');
    await srv.stop();
    await until(() => backoffs >= 1, 'a backoff while the server is away');
    await s.close(); // the drain reconnects, fails and sleeps (600 s) until closing is final
    await done;
    expect(backoffs).toBeGreaterThanOrEqual(2);
    expect(s.stats().acked!.offset).toBeLessThan(fs.statSync(path).size);
    expect(timers()).toBeLessThanOrEqual(before);
    await srv.restart();
  }, 60_000);

  test('the JetStream stream gone when the drain reconnects (memory storage, server restarted): close() ends at once with ShipError stream-not-found, never the full closeTimeoutMs', async () => {
    const d = fresh('drain-fatal');
    await addStream(srv.url, 'DFATAL', ['dfatal.>'], { storage: 'memory' });
    const path = join(d, 'a.fst');
    writeFile(path, 300_000);
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'dfatal.a',
      path,
      batchBytes: 1024,
      backoff: { initialMs: 10, maxMs: 20 },
      closeTimeoutMs: 3_600_000, // a wait this long fails the test by its timeout
    });
    const done = s.run();
    await until(() => s.stats().frames > 1000, 'some frames shipped');
    await srv.stop(); // unacknowledged batches stay pending
    const closed = s.close(); // the drain reconnects until the server is back
    await srv.restart(); // without the memory stream: the reconnect finds no stream
    await closed;
    await expect(done).rejects.toMatchObject({ name: 'ShipError', reason: 'stream-not-found' });
    expect(s.stats().acked!.offset).toBeLessThan(fs.statSync(path).size);
  }, 60_000);

  test('a writer SIGKILLed mid-capture with a torn tail: the tail is never shipped; a new writer recovers the file and shipping resumes', async () => {
    const d = fresh('writer-kill');
    await addStream(srv.url, 'WKILL', ['wkill.>']);
    const path = join(d, 'a.fst');
    const s = new JetStreamShipper({
      servers: srv.url,
      subject: 'wkill.a',
      path,
      pollIntervalMs: 20,
    });
    const w1 = run([WRITER, path, '3', '0', '10000000', SINK, '500']);
    await w1.waitFor('ready');
    const done = s.run();
    await sleep(200 + rnd(300));
    w1.proc.kill('SIGKILL');
    await w1.exit;
    // What a writer dying inside a write leaves: part of a frame.
    const whole = fs.statSync(path).size;
    const frame = new ChecksumFramer(XxHash64).frame(fillPayload(Buffer.alloc(48), 3, 99_999_999));
    const torn = 1 + rnd(frame.length - 1);
    fs.appendFileSync(path, frame.subarray(0, torn));
    await until(() => s.stats().acked?.offset === whole, 'everything before the torn tail shipped');
    await sleep(300); // many polls at the torn tail
    expect(s.stats().acked?.offset).toBe(whole);
    // The successor cuts the torn tail (recovery) and appends.
    const w2 = run([WRITER, path, '3', '50000000', '20000', SINK, '500']);
    expect(await w2.exit).toEqual({ code: 0, signal: null });
    const size = fs.statSync(path).size;
    await until(() => s.stats().acked?.offset === size, "the successor's frames shipped");
    await s.close();
    await done;
    const msgs = await readBack(srv.url, 'WKILL');
    const frames = expectExactlyOnce(msgs, s.streamId!, [path]);
    expect(frames).toBe(s.stats().frames);
    console.log(
      `seed ${SEED}: writer killed at ${whole} bytes, torn tail of ${torn} bytes cut, ${frames} frames shipped`,
    );
  }, 120_000);

  test('the checkpoint lost or torn: shipping resends from the start and the duplicate window drops every resend', async () => {
    const d = fresh('cp');
    await addStream(srv.url, 'CP', ['cp.>']);
    const path = join(d, 'a.fst');
    writeFile(path, 30_000);
    const cpPath = `${path}.ship-checkpoint`;
    const first = await shipAll({ servers: srv.url, subject: 'cp.a', path, batchBytes: 4096 });
    const batches = first.stats().batches;
    const good = fs.readFileSync(cpPath);
    for (const damage of ['lost', 'torn', 'edited'] as const) {
      if (damage === 'lost') fs.rmSync(cpPath);
      else if (damage === 'torn')
        fs.writeFileSync(cpPath, good.subarray(0, 1 + rnd(good.length - 2)));
      else fs.writeFileSync(cpPath, good.toString().replace(/"offset":\d+/, '"offset":60'));
      const resumes: { checkpoint: string }[] = [];
      const s = new JetStreamShipper({ servers: srv.url, subject: 'cp.a', path, batchBytes: 4096 });
      s.on('resume', (r: { checkpoint: string }) => resumes.push(r));
      const done = s.run();
      await until(() => s.stats().acked?.offset === fs.statSync(path).size, 'resent to the end');
      await s.close();
      await done;
      expect(resumes).toEqual([
        expect.objectContaining({ checkpoint: damage === 'lost' ? 'missing' : 'torn' }),
      ]);
      expect(s.stats()).toMatchObject({ batches, duplicates: batches, frames: 30_000 });
      expect(fs.readFileSync(cpPath)).toEqual(good);
    }
    const msgs = await readBack(srv.url, 'CP');
    expect(msgs.length).toBe(batches);
    expect(expectExactlyOnce(msgs, first.streamId!, [path])).toBe(30_000);
  }, 60_000);

  test('past the duplicate window (1 s here): a lost checkpoint stores every batch again; a consumer drops them by (file, offset)', async () => {
    const d = fresh('window');
    await addStream(srv.url, 'WINDOW', ['window.>'], { duplicate_window: 1_000_000_000 });
    const path = join(d, 'a.fst');
    writeFile(path, 10_000);
    const first = await shipAll({ servers: srv.url, subject: 'window.a', path, batchBytes: 4096 });
    const batches = first.stats().batches;
    fs.rmSync(`${path}.ship-checkpoint`);
    await sleep(1500); // past the window
    const again = await shipAll({ servers: srv.url, subject: 'window.a', path, batchBytes: 4096 });
    expect(again.stats()).toMatchObject({ batches, duplicates: 0 });
    const msgs = await readBack(srv.url, 'WINDOW');
    expect(msgs.length).toBe(2 * batches);
    expect(() => expectExactlyOnce(msgs, first.streamId!, [path])).toThrow(/a duplicate/);
    // The consumer's rule (docs/design.md): per stream, a message whose
    // (file, offset) is not past the last one kept is a resend.
    const last = new Map<string, { file: number; end: number }>();
    const kept: Shipped[] = [];
    for (const m of msgs) {
      const pos = readBatchPosition((h) =>
        h === 'Flatstream-Stream'
          ? m.stream
          : String(
              h === 'Flatstream-File' ? m.file : h === 'Flatstream-Offset' ? m.offset : m.frames,
            ),
      );
      if (typeof pos === 'string') throw new Error(pos);
      const l = last.get(pos.stream);
      if (l && (pos.file < l.file || (pos.file === l.file && pos.offset < l.end))) continue;
      last.set(pos.stream, { file: pos.file, end: pos.offset + m.data.length });
      kept.push(m);
    }
    expect(kept.length).toBe(batches);
    expect(expectExactlyOnce(kept, first.streamId!, [path])).toBe(10_000);
    expect(firstFrame(path)).toBeGreaterThan(0);
  }, 60_000);
});
