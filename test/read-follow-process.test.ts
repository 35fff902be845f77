// Follow mode across processes (docs/design.md, "Follow mode"): a writer in
// another process (test/follow-writer.js, on dist/) appends frames of random
// sizes at random intervals, in pieces (torn tails at the end of the file
// while it runs), and is SIGKILLed at a random instant; a second writer
// opens the same path with { recover } (cutting the torn tail) and appends
// more. The follower in this process must deliver every whole frame of both
// writers exactly once, in order, byte-exact (each payload carries its
// writer, sequence number and hash), and nothing of the torn tail. Both
// engine modes; the seeds are printed (FOLLOW_SEED=n reruns one).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChecksumDeframer, StreamReader, XxHash64, recoverFile } from '../lib/index';
import { MODE, prng } from './helpers';

const deframer = new ChecksumDeframer(XxHash64);
const WRITER = join(__dirname, 'follow-writer.js');
const dir = fs.mkdtempSync(join(tmpdir(), 'flatstream-follow-proc-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function fnv(buf: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < buf.length; i++) h = Math.imul(h ^ buf[i]!, 0x01000193) >>> 0;
  return h;
}

/** Checks a payload's hash; returns [writer, seq]. */
function check(p: Uint8Array): [number, number] {
  const b = Buffer.from(p); // a copy: the view is valid until the next frame only
  const stored = b.readUInt32LE(8);
  b.writeUInt32LE(0, 8);
  if (fnv(b) !== stored)
    throw new Error(
      `payload hash mismatch (writer ${b.readUInt32LE(0)}, seq ${b.readUInt32LE(4)})`,
    );
  return [b.readUInt32LE(0), b.readUInt32LE(4)];
}

function start(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; line: (want: string) => Promise<string> } {
  const child = spawn(process.execPath, [WRITER, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  let out = '';
  const waiters: [string, (l: string) => void][] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (let i = waiters.length; i-- > 0;) {
      const [want, resolve] = waiters[i]!;
      const l = out.split('\n').find((x) => x.startsWith(want));
      if (l !== undefined) {
        waiters.splice(i, 1);
        resolve(l);
      }
    }
  });
  return {
    child,
    line: (want) =>
      new Promise((resolve, reject) => {
        const l = out.split('\n').find((x) => x.startsWith(want));
        if (l !== undefined) return resolve(l);
        waiters.push([want, resolve]);
        child.once('exit', (code, sig) =>
          reject(new Error(`writer exited (${code}, ${sig}) before "${want}"`)),
        );
      }),
  };
}

function exited(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve([child.exitCode, child.signalCode]);
  return new Promise((resolve) => child.once('exit', (code, sig) => resolve([code, sig])));
}

async function run(seed: number, deliberateTorn: boolean, readSize?: number): Promise<void> {
  const rnd = prng(seed);
  const path = join(dir, `s${seed}-${deliberateTorn ? 't' : 'r'}.fst`);
  fs.writeFileSync(path, '');
  const got: [number, number][] = [];
  let failure: unknown = null;
  const reader = new StreamReader(path, deframer, { follow: true, pollIntervalMs: 20, readSize });
  const following = (async () => {
    try {
      for await (const p of reader) got.push(check(p));
    } catch (err) {
      failure = err;
    }
  })();

  // Writer 1: raw pieces, SIGKILLed at a random instant (or inside a frame it stopped in).
  const tornAfter = 50 + rnd(400);
  const w1 = start([
    path,
    '1',
    String(seed),
    'raw',
    ...(deliberateTorn ? [String(tornAfter)] : []),
  ]);
  await w1.line(deliberateTorn ? 'torn' : 'ready');
  if (!deliberateTorn) await sleep(20 + rnd(300));
  w1.child.kill('SIGKILL');
  expect(await exited(w1.child)).toEqual([null, 'SIGKILL']);
  const report = recoverFile(path, deframer);
  if (deliberateTorn) {
    expect(report).toMatchObject({ frames: tornAfter, end: 'torn-tail' });
    expect(report.tornBytes).toBeGreaterThan(0);
  }
  const n1 = report.frames;

  // Writer 2: recovers the file (cuts the torn tail) and appends.
  const n2 = 200 + rnd(800);
  const w2 = start([path, '2', String(seed + 1), 'writer', String(n2)]);
  expect(await w2.line('done')).toBe(`done ${n2}`);
  expect(await exited(w2.child)).toEqual([0, null]);
  const size = fs.statSync(path).size;
  console.log(
    `follow seed ${seed} (${MODE}${deliberateTorn ? ', killed inside a frame' : ''}${readSize ? `, readSize ${readSize}` : ''}): writer 1 ${n1} frames, torn tail ${report.tornBytes} bytes; writer 2 ${n2} frames; ${size} bytes`,
  );

  // Every frame arrives (bounded wait, then a diagnostic), then nothing more.
  for (let i = 0; i < 3000 && got.length < n1 + n2 && failure === null; i++) await sleep(10);
  await sleep(100);
  expect(failure).toBeNull();
  expect(got.length).toBe(n1 + n2);
  const want: [number, number][] = [
    ...Array.from({ length: n1 }, (_, i): [number, number] => [1, i]),
    ...Array.from({ length: n2 }, (_, i): [number, number] => [2, i]),
  ];
  expect(got).toEqual(want);
  expect(reader.position).toBe(size);
  await reader.close();
  await following;
  expect(failure).toMatchObject({ code: 'ERR_FLATSTREAM_CLOSED' }); // closed while waiting
}

const base = process.env.FOLLOW_SEED ? Number(process.env.FOLLOW_SEED) : (Date.now() % 100000) + 1;

test.each([0, 1, 2])(
  'seed base+%i: a SIGKILLed writer and its recovering successor, every whole frame exactly once',
  async (k) => {
    await run(base + k, false);
  },
);

test('a writer killed inside a frame: the torn frame is never delivered', async () => {
  await run(base + 7, true);
});

test('reads of 4 KiB (frames up to 20 KB span several): the same, every frame exactly once', async () => {
  await run(base + 5, false, 4096);
  await run(base + 6, true, 4096);
});

// The capture sink's own recovery: a CaptureSink writer (always the native
// addon: the follower here runs in this process's engine mode) SIGKILLed at
// a random instant; the next CaptureSink on the path drains what the dead
// one had staged, cuts a torn tail if the kill left one, and appends.
test('a SIGKILLed CaptureSink writer and the CaptureSink that reopens the stream: the follower reads exactly the file', async () => {
  const seed = base + 11;
  const rnd = prng(seed);
  const path = join(dir, `capture-${seed}.fst`);
  fs.writeFileSync(path, '');
  const env = { ...process.env, FLATSTREAM_NATIVE: '1' };
  const got: [number, number][] = [];
  let failure: unknown = null;
  const reader = new StreamReader(path, deframer, { follow: true, pollIntervalMs: 20 });
  const following = (async () => {
    try {
      for await (const p of reader) got.push(check(p));
    } catch (err) {
      failure = err;
    }
  })();
  const w1 = start([path, '1', String(seed), 'capture'], env);
  await w1.line('ready');
  await sleep(20 + rnd(200));
  w1.child.kill('SIGKILL');
  expect(await exited(w1.child)).toEqual([null, 'SIGKILL']);
  const n2 = 300 + rnd(500);
  const w2 = start([path, '2', String(seed + 1), 'capture', String(n2)], env);
  expect(await w2.line('done')).toBe(`done ${n2}`);
  expect(await exited(w2.child)).toEqual([0, null]);

  // What the file holds now, read whole: writer 1's frames 0..n1-1 (those
  // it had written and those drained from its staging), then writer 2's.
  const inFile: [number, number][] = [];
  new StreamReader(path, deframer).processAll((p) => void inFile.push(check(p)));
  const n1 = inFile.filter(([w]) => w === 1).length;
  expect(inFile).toEqual([
    ...Array.from({ length: n1 }, (_, i): [number, number] => [1, i]),
    ...Array.from({ length: n2 }, (_, i): [number, number] => [2, i]),
  ]);
  console.log(
    `follow capture seed ${seed} (${MODE} follower): writer 1 ${n1} frames, writer 2 ${n2} frames`,
  );
  for (let i = 0; i < 3000 && got.length < inFile.length && failure === null; i++) await sleep(10);
  await sleep(100);
  expect(failure).toBeNull();
  expect(got).toEqual(inFile);
  expect(reader.position).toBe(fs.statSync(path).size);
  await reader.close();
  await following;
});

// A full disk under the writer: a 256 KiB tmpfs on /dev/shm in a private
// mount namespace (the machine's own is never touched). The writer appends
// until ENOSPC tears its last write; the follower, in the same child, must
// deliver every whole frame, wait at the torn tail without an error, and
// deliver the frames a recovering writer appends once space is freed.
test('a full disk: every whole frame before ENOSPC, no error at the torn tail, then the recovering writer’s frames', () => {
  const DIST = JSON.stringify(join(__dirname, '..', 'dist', 'cjs', 'index.js'));
  const script = join(dir, 'full-disk.js');
  fs.writeFileSync(
    script,
    `'use strict';
const fs = require('node:fs');
const f = require(${DIST});
const framer = new f.ChecksumFramer(f.XxHash64);
const deframer = new f.ChecksumDeframer(f.XxHash64);
const path = '/dev/shm/out.fst';
fs.writeFileSync(path, '');
fs.writeFileSync('/dev/shm/ballast', Buffer.alloc(16384)); // freed before the second writer
const payload = (i) => Buffer.alloc(1000, i & 255);
const got = [];
const reader = new f.StreamReader(path, deframer, { follow: true, pollIntervalMs: 10 });
const following = (async () => {
  try { for await (const p of reader) got.push(p[0] + ':' + p.length); } catch (e) { return e; }
})();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  const w = new f.StreamWriter(path, framer, { slabSize: 4096 });
  let err = null;
  for (let i = 0; i < 1000 && !err; i++) {
    try { w.writePayload(payload(i)); if (i % 3 === 0) w.flush(); } catch (e) { err = e; }
    if (i % 16 === 0) await sleep(1);
  }
  try { w.close(); } catch {}
  const whole = f.recoverFile(path, deframer).frames;
  for (let i = 0; i < 500 && got.length < whole; i++) await sleep(10);
  await sleep(100);
  const atTorn = { got: got.length, whole, error: reader.error && reader.error.name, position: reader.position };
  fs.unlinkSync('/dev/shm/ballast');
  const w2 = new f.StreamWriter(path, framer, { recover: deframer });
  for (let i = 0; i < 5; i++) w2.writePayload(Buffer.alloc(10, 200 + i));
  w2.close();
  for (let i = 0; i < 500 && got.length < whole + 5; i++) await sleep(10);
  await sleep(50);
  await reader.close();
  const end = await following;
  process.stdout.write(JSON.stringify({ systemCode: err && err.systemCode, atTorn, got, end: end && end.code, size: fs.statSync(path).size, position: reader.position }));
})();
`,
  );
  const r = spawnSync(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      'mount -t tmpfs -o size=256k tmpfs /dev/shm && exec "$0" "$1"',
      process.execPath,
      script,
    ],
    { env: process.env, timeout: 60_000, encoding: 'utf8' },
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout);
  const whole = Math.floor((240 * 1024) / 1012); // 1012-byte frames up to the torn one (16 KiB of ballast)
  expect(out.systemCode).toBe('ENOSPC');
  expect(out.atTorn).toEqual({ got: whole, whole, error: null, position: whole * 1012 });
  expect(out.got).toEqual([
    ...Array.from({ length: whole }, (_, i) => `${i & 255}:1000`),
    ...Array.from({ length: 5 }, (_, i) => `${200 + i}:10`),
  ]);
  expect(out.end).toBe('ERR_FLATSTREAM_CLOSED');
  expect(out.position).toBe(out.size);
});
