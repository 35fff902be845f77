/**
 * The names of a rotation set (docs/design.md, "Rotation"): the files a
 * `RotatingSink` writes for one base path, and how a reader finds them in
 * order. Both sides need them (the sink names files, followers and
 * shippers list them), so they live below both, like the header.
 *
 * A base path `dir/events.fst` names the set `dir/events.<n>.fst`, `n` a
 * decimal sequence number of at least 6 digits (`events.000001.fst`, …,
 * `events.1000000.fst`). Numbers only grow; gaps are possible (a file
 * prepared ahead and never used is removed). A file of the set is complete
 * (closed, synced, never written again) once a file with a larger number
 * exists: the sink gives a file its final name only after every earlier
 * file was closed and synced. A file being prepared, or taken into use
 * before its predecessor is closed, is `<file>.pending` and is not listed.
 *
 * Owns: rotationFile, pendingFile, rotationMember, listRotation,
 * nextInRotation. Imports: node fs/path, format/args.
 */
import fs from 'node:fs';
import path from 'node:path';
import { typeError } from './args';

/** Digits of a sequence number at least (more when it needs them). */
const DIGITS = 6;

function split(base: string): { dir: string; stem: string; ext: string } {
  const dir = path.dirname(base);
  const name = path.basename(base);
  const ext = path.extname(name);
  return { dir, stem: ext ? name.slice(0, -ext.length) : name, ext };
}

function checkBase(base: unknown): asserts base is string {
  if (typeof base !== 'string' || base.length === 0)
    throw typeError('The "base" argument must be a non-empty string');
}

/** The file of `base`'s rotation set with sequence number `seq`. */
export function rotationFile(base: string, seq: number): string {
  const { dir, stem, ext } = split(base);
  return path.join(dir, `${stem}.${String(seq).padStart(DIGITS, '0')}${ext}`);
}

/** Where file `seq` lives while it is prepared or before its predecessor is closed. */
export function pendingFile(base: string, seq: number): string {
  return `${rotationFile(base, seq)}.pending`;
}

function memberPattern(stem: string, ext: string): RegExp {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${esc(stem)}\\.(\\d{${DIGITS},})${esc(ext)}(\\.pending)?$`);
}

/**
 * Whether `file` is a member of a rotation set (`<stem>.<n><ext>`): its
 * base path and sequence number, or null.
 */
export function rotationMember(file: string): { base: string; seq: number } | null {
  const name = path.basename(file);
  const m = /^(.*)\.(\d{6,})((?:\.[^.]*)?)$/.exec(name);
  if (!m) return null;
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(seq)) return null;
  return { base: path.join(path.dirname(file), `${m[1]}${m[3]}`), seq };
}

/** @internal Every member of the set, pending ones included: [seq, path, pending]. */
export function scanRotation(base: string): { seq: number; file: string; pending: boolean }[] {
  const { dir, stem, ext } = split(base);
  const re = memberPattern(stem, ext);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: { seq: number; file: string; pending: boolean }[] = [];
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    const seq = Number(m[1]);
    if (Number.isSafeInteger(seq)) out.push({ seq, file: path.join(dir, name), pending: !!m[2] });
  }
  return out.sort((a, b) => a.seq - b.seq || Number(a.pending) - Number(b.pending));
}

/**
 * The files of `base`'s rotation set, oldest first (by sequence number,
 * not by name: `events.1000000.fst` comes after `events.999999.fst`).
 * Every file but the last is complete; the last may still be written.
 * Files still `.pending` are left out. A missing directory is an empty set.
 *
 * @example
 * ```ts
 * listRotation('logs/events.fst'); // ['logs/events.000001.fst', 'logs/events.000002.fst']
 * ```
 */
export function listRotation(base: string): string[] {
  checkBase(base);
  return scanRotation(base)
    .filter((m) => !m.pending)
    .map((m) => m.file);
}

/**
 * The file after `file` in its rotation set (the smallest larger sequence
 * number present), or null: none yet, or `file` is not a member. When it
 * exists, `file` is complete.
 */
export function nextInRotation(file: string): string | null {
  checkBase(file);
  const member = rotationMember(file);
  if (!member) return null;
  for (const m of scanRotation(member.base)) if (!m.pending && m.seq > member.seq) return m.file;
  return null;
}
