/**
 * What a shipper reads (docs/design.md, "Shipping to JetStream"): a lone
 * stream file, or a directory of rotated stream files taken in natural
 * (numeric-aware) name order, and where each file's frames begin (after its
 * header, if it has one).
 *
 * Owns: naturalCompare, listStreamFiles, fileAfter, detectFormat, stream ids.
 * Imports: lib/format.
 */
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { XxHash64 } from '../format/checksum';
import type { BuiltinChecksum } from '../format/checksum';
import { ShipError } from '../format/errors';
import { Deframer } from '../format/framing';
import { MAX_HEADER_LEN, detectHeader, guessChecksum } from '../format/header';

/**
 * One file of the set. `index` is its sequence number (`Flatstream-File`):
 * 0 for the first file shipped, one more for each next file, counted by the
 * shipper (and kept in its checkpoint), so files removed before the one
 * being shipped do not renumber the rest.
 */
export interface StreamFile {
  readonly index: number;
  readonly name: string;
  readonly path: string;
}

/** The file of `files` (in natural order) that comes after the name `name`, or undefined. */
export function fileAfter<T extends { name: string }>(
  files: readonly T[],
  name: string,
): T | undefined {
  return files.find((f) => naturalCompare(f.name, name) > 0);
}

const CHUNK = /(\d+)|(\D+)/g;

/**
 * Natural order: digit runs compare as numbers (`events.9.fst` before
 * `events.10.fst`), everything else by code unit; equal runs fall back to
 * plain order, so the order is total.
 */
export function naturalCompare(a: string, b: string): number {
  const xa = a.match(CHUNK) ?? [];
  const xb = b.match(CHUNK) ?? [];
  for (let i = 0; i < Math.min(xa.length, xb.length); i++) {
    const p = xa[i]!;
    const q = xb[i]!;
    if (p === q) continue;
    const dp = p.charCodeAt(0) >= 48 && p.charCodeAt(0) <= 57;
    const dq = q.charCodeAt(0) >= 48 && q.charCodeAt(0) <= 57;
    if (dp && dq) {
      const sp = p.replace(/^0+(?=\d)/, '');
      const sq = q.replace(/^0+(?=\d)/, '');
      if (sp.length !== sq.length) return sp.length - sq.length;
      if (sp !== sq) return sp < sq ? -1 : 1;
      continue; // same number, other zero padding: decided by plain order below
    }
    return p < q ? -1 : 1;
  }
  if (xa.length !== xb.length) return xa.length - xb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Default: the stream files of a set end in `.fst`; a capture's orphan files are not ours. */
export const DEFAULT_MATCH = /\.fst$/;

/** The stream files of `dir` in natural order (regular files whose name matches). */
export async function listStreamFiles(
  dir: string,
  match: RegExp,
): Promise<{ name: string; path: string }[]> {
  const names: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isFile() || !match.test(e.name) || e.name.includes('.orphaned-')) continue;
    names.push(e.name);
  }
  names.sort(naturalCompare);
  return names.map((name) => ({ name, path: join(dir, name) }));
}

/** How a file is framed. */
export interface FileFormat {
  readonly deframer: Deframer;
  /** Where the first message frame starts (the header frame's length, else 0). */
  readonly start: number;
  /** The header frame's bytes, or null. */
  readonly headerFrame: Uint8Array | null;
  /**
   * The file's own id, in every `Nats-Msg-Id` of its batches (wire.ts
   * `batchMsgId`): the XXH3-64 of its header frame (its creation time and
   * writer differ between files), else of its device, inode and birth time
   * (the same file across restarts; another file at the same path, or under
   * the same number, differs).
   */
  readonly fileId: string;
}

const PREFIX = 64 * 1024;

/**
 * Finds how `path` is framed, or null when it cannot be told yet (too few
 * bytes: frame 0 may be a header still being written). A header decides;
 * without one, `checksum` if given, else the checksum under which the first
 * frames verify (a guess that found none is a `ShipError`: say `checksum`).
 */
export async function detectFormat(
  path: string,
  checksum: BuiltinChecksum | undefined,
  maxFrameLen: number | undefined,
): Promise<FileFormat | null> {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat({ bigint: true });
    const size = Number(st.size);
    let want = Math.min(size, PREFIX);
    let bytes = Buffer.alloc(want);
    let got = (await fh.read(bytes, 0, want, 0)).bytesRead;
    if (got < 4) return null;
    const len0 = bytes.readUInt32LE(0);
    // Frame 0 whole under the widest checksum: a header there is whole too.
    const whole = 4 + 8 + len0;
    if (len0 <= MAX_HEADER_LEN && got < whole) {
      if (size < whole) {
        // Shorter than frame 0 under the widest checksum: whole under a
        // narrower one only if nothing follows; wait for more bytes.
        return null;
      }
      want = whole;
      bytes = Buffer.alloc(want);
      got = (await fh.read(bytes, 0, want, 0)).bytesRead;
      if (got < whole) return null;
    }
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, got);
    const max = maxFrameLen === undefined ? undefined : { maxFrameLen };
    const found = detectHeader(view);
    if (found) {
      const headerFrame = view.slice(0, found.frameLength);
      return {
        deframer: new Deframer(found.checksum, max),
        start: found.frameLength,
        headerFrame,
        fileId: hash(headerFrame),
      };
    }
    let c = checksum;
    if (c === undefined) {
      c = guessChecksum(view);
      if (c.width === 0)
        throw new ShipError(
          'unknown-checksum',
          `${path} has no stream header and its first frames verify under no checksum: give the checksum option (checksum: 'none' for unchecksummed frames)`,
          path,
        );
    }
    // Birth time where the file system keeps one (statx), else 0: then the
    // inode alone tells files apart (docs/design.md, "Shipping to JetStream").
    return {
      deframer: new Deframer(c, max),
      start: 0,
      headerFrame: null,
      fileId: hash(`${st.dev}:${st.ino}:${st.birthtimeNs}`),
    };
  } finally {
    await fh.close();
  }
}

function hash(bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return XxHash64.compute(b).toString(16).padStart(16, '0');
}

/**
 * The stream id of a lone file: `h-` and the XXH3-64 of its header frame
 * (stable: frame 0 is never rewritten, and its creation time and writer
 * make it differ between files), else `p-` and the XXH3-64 of this host's
 * name and the file's real path.
 */
export async function fileStreamId(path: string, headerFrame: Uint8Array | null): Promise<string> {
  if (headerFrame !== null) return `h-${hash(headerFrame)}`;
  return `p-${hash(`${hostname()}:${await realpath(path)}`)}`;
}

/** The stream id of a directory of rotated files: `d-` and the XXH3-64 of this host's name and its real path. */
export async function dirStreamId(dir: string): Promise<string> {
  return `d-${hash(`${hostname()}:${await realpath(dir)}`)}`;
}

/** Whether `path` is a directory (false for anything else; throws for a path that is not there). */
export async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path)).isDirectory();
}
