/**
 * The shipper's checkpoint (docs/design.md, "Shipping to JetStream"): the
 * position up to which JetStream acknowledged a stream's frames, in a small
 * file replaced atomically (a temporary file written and fsynced, renamed
 * over the old one, the directory fsynced), so after a crash it holds the
 * old position or the new one, never a mix. Its last field is an XXH3-64 of
 * the rest, so a file torn or edited by something else is recognised and
 * never trusted.
 *
 * Owns: Checkpoint, readCheckpoint, writeCheckpoint. Imports: lib/format.
 */
import fs from 'node:fs';
import { open, rename } from 'node:fs/promises';
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
    !isCount(v.offset)
  )
    return { state: 'torn', detail: `version ${String(v.v)} or fields not understood` };
  return {
    state: 'ok',
    checkpoint: { stream: v.stream, file: v.file, name: v.name, offset: v.offset },
  };
}

/** Reads the checkpoint at `path` (synchronously: once, at start). */
export function readCheckpoint(path: string): CheckpointRead {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    throw err;
  }
  return decodeCheckpoint(text);
}

/**
 * Replaces the checkpoint at `path` with `cp`: write a temporary file
 * beside it, fsync, rename over, fsync the directory. Asynchronous, on
 * libuv's threads: the host's event loop never waits for the disk.
 */
export async function writeCheckpoint(path: string, cp: Checkpoint): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(encodeCheckpoint(cp), 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  // The rename is durable once the directory is (not on Windows: no fsync of a directory there).
  if (process.platform !== 'win32') {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}
