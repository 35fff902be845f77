/**
 * The shipper's checkpoint (docs/design.md, "Shipping to JetStream"): the
 * position up to which JetStream acknowledged a stream's frames, and the
 * plan: where each batch after it that may have been published begins and
 * ends (a batch is published only once its plan is durable, so a restart
 * cuts the same batches again and their resends carry the same ids), in a
 * small file replaced atomically (a temporary file written and fsynced, renamed
 * over the old one, the directory fsynced), so after a crash it holds the
 * old position or the new one, never a mix. Its last field is an XXH3-64 of
 * the rest, so a file torn or edited by something else is recognised and
 * never trusted.
 *
 * A lock file beside it (`.lock`, holding the shipper's pid) keeps a second
 * shipper off the same checkpoint; a lock whose process is gone is taken
 * over.
 *
 * Owns: Checkpoint, readCheckpoint, writeCheckpoint, lockCheckpoint.
 * Imports: lib/format.
 */
import fs from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { XxHash64 } from '../format/checksum';

/** Where shipping stands. */
export interface Checkpoint {
  /** The stream id the positions belong to. */
  readonly stream: string;
  /** The file's sequence number in its set (0 for a lone file). */
  readonly file: number;
  /** The file's name (its base name), checked on resume. */
  readonly name: string;
  /** Byte offset in that file up to which every frame is acknowledged (a frame boundary). */
  readonly offset: number;
  /** The batches after it that may have been published, in order: `[file, offset, end]`. */
  readonly plan: readonly (readonly [number, number, number])[];
}

/** What reading a checkpoint file found. */
export type CheckpointRead =
  | { readonly state: 'ok'; readonly checkpoint: Checkpoint }
  | { readonly state: 'missing' }
  | { readonly state: 'torn'; readonly detail: string };

const VERSION = 1;

function check(body: string): string {
  return XxHash64.compute(Buffer.from(body)).toString(16).padStart(16, '0');
}

/** The file's bytes for `cp`: one JSON line whose `check` covers the rest. */
export function encodeCheckpoint(cp: Checkpoint): string {
  const body = JSON.stringify({
    v: VERSION,
    stream: cp.stream,
    file: cp.file,
    name: cp.name,
    offset: cp.offset,
    plan: cp.plan,
  });
  return `${body.slice(0, -1)},"check":"${check(body)}"}\n`;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses a checkpoint file's text; `torn` for anything this code did not write whole. */
export function decodeCheckpoint(text: string): CheckpointRead {
  const m = /^(\{.*),"check":"([0-9a-f]{16})"\}\n?$/s.exec(text);
  if (!m) return { state: 'torn', detail: `not a checkpoint (${text.length} bytes)` };
  const body = `${m[1]!}}`;
  if (check(body) !== m[2]) return { state: 'torn', detail: 'its check does not match' };
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return { state: 'torn', detail: 'not JSON' };
  }
  if (
    v.v !== VERSION ||
    typeof v.stream !== 'string' ||
    typeof v.name !== 'string' ||
    !isCount(v.file) ||
    !isCount(v.offset) ||
    !Array.isArray(v.plan) ||
    !v.plan.every(
      (b: unknown) =>
        Array.isArray(b) &&
        b.length === 3 &&
        b.every(isCount) &&
        (b[2] as number) > (b[1] as number),
    )
  )
    return { state: 'torn', detail: `version ${String(v.v)} or fields not understood` };
  return {
    state: 'ok',
    checkpoint: {
      stream: v.stream,
      file: v.file,
      name: v.name,
      offset: v.offset,
      plan: v.plan as [number, number, number][],
    },
  };
}

// A checkpoint holds at most inFlight + 1 batches of plan (1025): far less.
const MAX_BYTES = 1 << 20;

/** Reads the checkpoint at `path` (synchronously: once, at start; at most 1 MiB of it). */
export function readCheckpoint(path: string): CheckpointRead {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    throw err;
  }
  try {
    const buf = Buffer.alloc(MAX_BYTES + 1);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_BYTES) return { state: 'torn', detail: 'larger than 1 MiB' };
    return decodeCheckpoint(buf.toString('utf8', 0, n));
  } finally {
    fs.closeSync(fd);
  }
}

let tmpCount = 0; // temporary files of writeCheckpoint, numbered in this process

/**
 * Replaces the checkpoint at `path` with `cp`: write a temporary file
 * beside it, (`durable`: fsync), rename over, (`durable`: fsync the
 * directory). The rename alone makes the replacement atomic for a process
 * that dies at any instant; the fsyncs make it survive the machine
 * stopping (docs/design.md, "Shipping to JetStream": which writes are
 * which). Asynchronous, on libuv's threads: the host's event loop never
 * waits for the disk.
 */
export async function writeCheckpoint(path: string, cp: Checkpoint, durable = true): Promise<void> {
  const dir = dirname(path);
  // One temporary file per write (pid and a counter): two writes that
  // overlap never share one (a torn checkpoint, or a rename of a file the
  // other already renamed).
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++tmpCount}.tmp`);
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(encodeCheckpoint(cp), 'utf8');
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined); // a full disk: leave nothing behind
    throw err;
  }
  // The rename is durable once the directory is (not on Windows: no fsync of a directory there).
  if (durable && process.platform !== 'win32') {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

const held = new Set<string>(); // locks this process holds

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of the checkpoint at `path`: returns a function that
 * releases it, or the pid of the live process that holds it (this
 * process's own pid when another shipper here holds it). A lock left by a
 * process that is gone (SIGKILL) is taken over.
 */
export function lockCheckpoint(path: string): (() => void) | number {
  const lock = `${path}.lock`;
  if (held.has(lock)) return process.pid;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(lock, 'wx', 0o644);
      try {
        fs.writeSync(fd, String(process.pid));
      } catch (err) {
        fs.closeSync(fd);
        fs.rmSync(lock, { force: true }); // never leave an empty lock (a full disk)
        throw err;
      }
      fs.closeSync(fd);
      held.add(lock);
      return () => {
        held.delete(lock);
        try {
          if (fs.readFileSync(lock, 'utf8') === String(process.pid))
            fs.rmSync(lock, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let pid = NaN;
    try {
      pid = Number(fs.readFileSync(lock, 'utf8'));
    } catch {
      continue; // removed meanwhile: try again
    }
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) return pid;
    fs.rmSync(lock, { force: true }); // its process is gone (or it is unreadable): stale
  }
  return -1;
}
