// The oracle of the shipper suites: reads a JetStream stream back with the
// raw @nats-io/jetstream ordered consumer (not with anything of lib/ship/
// but the header names) and checks, per flatstream stream, that the
// messages hold every frame of its files exactly once and in order: each
// message starts where the previous one ended, the bytes joined are the
// file's bytes, every frame verifies (XXH3) and every payload's own hash
// (test/ship-writer.js) holds.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { xxh3 } from '@node-rs/xxhash';
import { ChecksumFramer, StreamReader, StreamWriter, XxHash64, detectHeader } from '../lib/index';

export interface Shipped {
  stream: string;
  file: number;
  offset: number;
  frames: number;
  data: Buffer;
  seq: number;
}

/** Every message of JetStream stream `name`, in stream order. */
export async function readBack(url: string, name: string): Promise<Shipped[]> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const total = (await jsm.streams.info(name)).state.messages;
    const out: Shipped[] = [];
    if (total === 0) return out;
    const c = await jetstream(nc).consumers.get(name); // an ordered consumer
    const msgs = await c.consume({ max_messages: 256 });
    for await (const m of msgs) {
      const h = m.headers!;
      out.push({
        stream: h.get('Flatstream-Stream'),
        file: Number(h.get('Flatstream-File')),
        offset: Number(h.get('Flatstream-Offset')),
        frames: Number(h.get('Flatstream-Frames')),
        data: Buffer.from(m.data),
        seq: m.seq,
      });
      if (m.info.pending === 0) break;
    }
    await msgs.close();
    return out;
  } finally {
    await nc.close();
  }
}

// FNV-1a over a 48-byte payload's bytes 4..8 and 12..48 (test/ship-writer.js).
function fnv(b: Uint8Array, at = 0): number {
  let h = 0x811c9dc5 | 0;
  for (let i = at + 4; i < at + 8; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  for (let i = at + 12; i < at + 48; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  return h >>> 0;
}

/** Fills `p` (48 bytes) as test/ship-writer.js does for (writer, seq). */
export function fillPayload(p: Buffer, writer: number, seq: number): Buffer {
  p.writeUInt32LE(writer, 0);
  p.writeUInt32LE(seq, 4);
  for (let i = 12; i < 48; i++) p[i] = (i * 7 + writer) & 0xff;
  p[12] = seq & 0xff;
  p.writeUInt32LE(fnv(p), 8);
  return p;
}

/** Where a stream file's message frames start (after its header). */
export function firstFrame(path: string): number {
  const fd = fs.openSync(path, 'r');
  try {
    const b = Buffer.alloc(64 * 1024);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    return detectHeader(b.subarray(0, n))?.frameLength ?? 0;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks the messages of `stream`: file by file (`files[i]` is the path of
 * sequence number i), contiguous from the first frame to `ends[i]` (default:
 * the file's size), byte-identical, every frame verified. Returns the
 * frames counted. Throws with the first difference.
 */
export function expectExactlyOnce(
  msgs: readonly Shipped[],
  stream: string,
  files: readonly string[],
  ends?: readonly number[],
): number {
  const mine = msgs.filter((m) => m.stream === stream);
  let frames = 0;
  let i = 0;
  for (let f = 0; f < files.length; f++) {
    const bytes = fs.readFileSync(files[f]!);
    // Shipped from offset 0: a headed file's header frame is its first
    // message's first frame (not counted in what is returned).
    const header = firstFrame(files[f]!);
    const end = ends?.[f] ?? bytes.length;
    let at = 0;
    for (; i < mine.length && mine[i]!.file === f; i++) {
      const m = mine[i]!;
      if (m.offset !== at)
        throw new Error(
          `stream ${stream} file ${f}: message seq ${m.seq} starts at ${m.offset}, expected ${at} (a ${m.offset < at ? 'duplicate' : 'gap'})`,
        );
      if (!m.data.equals(bytes.subarray(at, at + m.data.length)))
        throw new Error(`stream ${stream} file ${f}: message at ${at} differs from the file`);
      // Frame by frame with an independent XXH3 (@node-rs/xxhash), so the
      // fallback engine's speed does not bound the suite.
      let n = 0;
      const d = m.data;
      const u8 = new Uint8Array(d.buffer, d.byteOffset, d.length);
      const dv = new DataView(d.buffer, d.byteOffset, d.length);
      for (let q = 0; q < d.length; n++) {
        if (q + 12 > d.length)
          throw new Error(`stream ${stream}: a split frame header in the message at ${at}`);
        const len = dv.getUint32(q, true);
        if (q + 12 + len > d.length)
          throw new Error(`stream ${stream}: a split frame in the message at ${at}`);
        const p = new Uint8Array(d.buffer, d.byteOffset + q + 12, len);
        if (xxh3.xxh64(p) !== dv.getBigUint64(q + 4, true))
          throw new Error(`stream ${stream}: checksum mismatch at ${at + q}`);
        // The payload's own hash on every 64th frame (typed-array reads are slow in
        // jest's realm: all of them took 15 s for 1 M frames).
        if (len === 48 && (n & 63) === 0 && dv.getUint32(q + 20, true) !== fnv(u8, q + 12))
          throw new Error(`stream ${stream}: payload hash mismatch at ${at + q}`);
        q += 12 + len;
      }
      if (n !== m.frames)
        throw new Error(`stream ${stream}: message at ${at} says ${m.frames} frames, holds ${n}`);
      frames += m.offset === 0 && header > 0 ? n - 1 : n;
      at += m.data.length;
    }
    if (at !== end)
      throw new Error(
        `stream ${stream} file ${f}: shipped up to ${at}, the file's frames end at ${end}`,
      );
  }
  if (i !== mine.length)
    throw new Error(
      `stream ${stream}: ${mine.length - i} messages for files beyond ${files.length - 1} or out of order`,
    );
  return frames;
}

/** Frames in a stream file (after its header), every one verified. */
export function countFrames(path: string): number {
  const r = StreamReader.open(path);
  let n = 0;
  r.processAll(() => {
    n++;
  });
  return n;
}

const ROOT = join(__dirname, '..');
export const CLI = join(ROOT, 'dist', 'cjs', 'cli', 'main.js');
export const WRITER = join(__dirname, 'ship-writer.js');

/** A child process with its output gathered, and a promise of its exit. */
export interface Child {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when stdout has printed `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function run(args: readonly string[]): Child {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    }),
  );
  return {
    proc,
    out: () => out,
    err: () => err,
    exit,
    async waitFor(text, timeoutMs = 30_000) {
      const t0 = Date.now();
      while (!out.includes(text)) {
        if (proc.exitCode !== null || proc.signalCode !== null)
          throw new Error(
            `child exited (${proc.exitCode ?? proc.signalCode}) before "${text}": ${err}`,
          );
        if (Date.now() - t0 > timeoutMs)
          throw new Error(`no "${text}" within ${timeoutMs} ms: ${err}`);
        await sleep(10);
      }
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms until it holds (or throws after `timeoutMs`, naming `what`). */
export async function until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The checkpoint's offset and stream (null while there is none). */
export function checkpointAt(
  path: string,
): { stream: string; file: number; offset: number } | null {
  try {
    const v = JSON.parse(fs.readFileSync(path, 'utf8')) as {
      stream: string;
      file: number;
      offset: number;
    };
    return v;
  } catch {
    return null;
  }
}

/**
 * A temporary directory for a suite, removed after it; `fresh(name)` makes a
 * new subdirectory in it for one test.
 */
export function scratch(prefix: string): { dir: string; fresh: (name: string) => string } {
  const dir = fs.mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return {
    dir,
    fresh: (name) => {
      const d = join(dir, `${name}-${n++}`);
      fs.mkdirSync(d);
      return d;
    },
  };
}

/** Adds a JetStream stream on the server at `url`. */
export async function addStream(
  url: string,
  name: string,
  subjects: string[],
  extra: object = {},
): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    await (await jetstreamManager(nc)).streams.add({ name, subjects, ...extra });
  } finally {
    await nc.close();
  }
}

/** A headed XXH3 stream of `count` 48-byte frames, written in this process. */
export function writeFile(path: string, count: number, writer = 9): void {
  const w = new StreamWriter(path, new ChecksumFramer(XxHash64), {
    header: { rootType: 'test.Telemetry', meta: { writer: String(writer) } },
  });
  const p = Buffer.alloc(48);
  for (let i = 0; i < count; i++) w.writePayload(fillPayload(p, writer, i));
  w.close();
}
