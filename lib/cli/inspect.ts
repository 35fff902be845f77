/**
 * `flatstream info | verify | cat | recover`: looking at a stream file from
 * the shell (docs/design.md, "The flatstream command"). Each returns its
 * exit code: 0 ok, 1 damage found (or not a stream), 2 usage (bad
 * arguments, a file that cannot be read as a file: missing, a directory, a
 * FIFO). Text for people on stdout, `--json` for programs; errors on stderr.
 *
 * Owns: the four subcommands. Imports: lib/ship (JetStreamSource, for
 * `cat --from`), lib/read (StreamReader,
 * recoverFile), lib/codec (compileSchema), lib/format (header, checksums,
 * framing, errors, validation).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { SingleBar } from 'cli-progress';
import { compileSchema, type TableCodec } from '../codec/compile';
import { type BuiltinChecksum, type Checksum, checksums } from '../format/checksum';
import { FlatStreamError, RecoveryRefusedError } from '../format/errors';
import { Deframer } from '../format/framing';
import { type StreamHeader, checksumByName, isHeaderPayload } from '../format/header';
import { listRotation, nextInRotation, rotationMember } from '../format/rotation';
import { TypedValidator } from '../format/validation';
import { StreamReader } from '../read/reader';
import { recoverFile } from '../read/recover';
import { JetStreamSource } from '../ship/source';

/** Where a subcommand writes. */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether stderr is a terminal (the progress bar of `verify`). */
  tty: boolean;
  /** Writes what `out` holds (main's stdout is buffered; `tail -f` flushes per message). */
  flush?: () => void;
}

/** A command-line mistake: exit code 2. */
export class UsageError extends Error {}

/** Parsed arguments: positionals and `--flag [value]`s. */
export interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

/** Parses `argv` against `spec` (flag → takes a value?); throws UsageError on anything else. */
export function parseArgs(argv: readonly string[], spec: Record<string, boolean>): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('-') && a !== '-') {
      const [name, inline] = a.includes('=')
        ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
        : [a, undefined];
      if (!(name in spec)) throw new UsageError(`unknown option ${name}`);
      if (spec[name]) {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new UsageError(`${name} needs a value`);
        flags.set(name, v);
      } else {
        if (inline !== undefined) throw new UsageError(`${name} takes no value`);
        flags.set(name, true);
      }
    } else positional.push(a);
  }
  return { positional, flags };
}

/** The one FILE argument, which must be a regular file (a FIFO would block, a directory is no stream). */
export function oneFile(args: Args, cmd: string): { path: string; size: number } {
  if (args.positional.length !== 1)
    throw new UsageError(`${cmd} takes one FILE (got ${args.positional.length})`);
  const path = args.positional[0]!;
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    throw new UsageError(
      `${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  if (st.isDirectory()) throw new UsageError(`${path}: is a directory, not a stream file`);
  if (!st.isFile())
    throw new UsageError(
      `${path}: is ${st.isFIFO() ? 'a FIFO' : 'not a regular file'}; give a regular file`,
    );
  return { path, size: st.size };
}

/** How the reader's format was found. */
type ChecksumSource = 'header' | 'option' | 'frame 0' | 'default';

interface Opened {
  reader: StreamReader;
  header: StreamHeader | null;
  checksum: string;
  source: ChecksumSource;
}

function checksumOption(args: Args): BuiltinChecksum | undefined {
  const name = args.flags.get('--checksum');
  if (name === undefined) return undefined;
  const c = typeof name === 'string' ? checksumByName(name) : undefined;
  if (c === undefined)
    throw new UsageError(`--checksum must be one of ${Object.keys(checksums).join(', ')}`);
  return c;
}

// Opens `path` as StreamReader.open does; --checksum overrides a headerless guess.
function open(path: string, args: Args, extra?: (d: Deframer) => Deframer): Opened {
  const forced = checksumOption(args);
  const probe = StreamReader.open(path, forced ? { deframer: new Deframer(forced) } : {});
  const header = probe.header;
  void probe.close();
  const name = probe.deframer.checksum.name;
  const source: ChecksumSource = header
    ? 'header'
    : forced
      ? 'option'
      : name === 'none'
        ? 'default'
        : 'frame 0';
  if (header && forced && forced.name !== header.checksum)
    throw new UsageError(`--checksum ${forced.name} contradicts the header (${header.checksum})`);
  const base = new Deframer(probe.deframer.checksum);
  const deframer = extra ? extra(base) : base;
  const reader = StreamReader.open(path, { deframer });
  return { reader, header, checksum: name, source };
}

function headerJson(h: StreamHeader): Record<string, unknown> {
  return {
    version: h.version,
    checksum: h.checksum,
    rootType: h.rootType ?? null,
    schemaBytes: h.schema?.length ?? 0,
    schemaHash: h.schema ? `0x${h.schemaHash.toString(16).padStart(16, '0')}` : null,
    writer: h.writer ?? null,
    writerVersion: h.writerVersion ?? null,
    created: new Date(h.createdMs).toISOString(),
    meta: h.meta,
  };
}

function errorJson(e: unknown): Record<string, unknown> {
  const f = e instanceof FlatStreamError ? e : null;
  return {
    code: f?.code ?? 'ERR_FLATSTREAM',
    message: (e as Error).message,
    offset: f?.offset ?? null,
    frameIndex: f?.frameIndex ?? null,
  };
}

function median(sorted: Float64Array): number {
  const n = sorted.length;
  return n % 2 === 1
    ? sorted[(n - 1) >> 1]!
    : Math.round((sorted[n / 2 - 1]! + sorted[n / 2]!) / 2);
}

/** `flatstream info FILE [--json] [--checksum NAME]`. */
export function info(argv: readonly string[], io: Io): number {
  const args = parseArgs(argv, { '--json': false, '--checksum': true });
  const { path, size } = oneFile(args, 'info');
  const o = open(path, args);
  let lengths = new Float64Array(1024);
  let n = 0;
  let first = -1;
  let last = -1;
  let failure: unknown = null;
  try {
    o.reader.processAll((p, at) => {
      if (n === lengths.length) {
        const grown = new Float64Array(n * 2);
        grown.set(lengths);
        lengths = grown;
      }
      lengths[n++] = p.length;
      if (first < 0) first = at.offset;
      last = at.offset;
    });
  } catch (err) {
    if (!(err instanceof FlatStreamError)) throw err;
    failure = err;
  }
  const sorted = lengths.subarray(0, n).sort();
  const torn =
    failure instanceof FlatStreamError && failure.code === 'ERR_FLATSTREAM_UNEXPECTED_EOF';
  const end = failure === null ? 'clean' : torn ? 'torn-tail' : 'damaged';
  const at = failure instanceof FlatStreamError ? (failure.offset ?? 0) : size;
  const report = {
    file: path,
    bytes: size,
    header: o.header ? headerJson(o.header) : null,
    checksum: o.checksum,
    checksumFrom: o.source,
    frames: n,
    payload: n === 0 ? null : { min: sorted[0]!, median: median(sorted), max: sorted[n - 1]! },
    firstOffset: first < 0 ? null : first,
    lastOffset: last < 0 ? null : last,
    end,
    tornBytes: torn ? size - at : 0,
    error: failure === null ? null : errorJson(failure),
  };
  if (args.flags.has('--json')) io.out(`${JSON.stringify(report)}\n`);
  else {
    const lines = [`file      ${path}`, `bytes     ${size}`];
    if (o.header) {
      const h = o.header;
      lines.push(
        `header    version ${h.version}, root ${h.rootType ?? '-'}, schema ${h.schema ? `${h.schema.length} bytes` : '-'}, writer ${h.writer ?? '-'}${h.writerVersion ? ` ${h.writerVersion}` : ''}, created ${report.header!.created as string}`,
      );
      for (const [k, v] of Object.entries(h.meta)) lines.push(`meta      ${k}=${v}`);
    } else lines.push('header    none');
    const from = {
      header: 'from the header',
      option: 'from --checksum',
      'frame 0': 'detected: frame 0 verifies',
      default: 'no checksum verifies frame 0',
    }[o.source];
    lines.push(`checksum  ${o.checksum} (${from})`);
    lines.push(`frames    ${n}${o.header ? ' (after the header)' : ''}`);
    if (report.payload)
      lines.push(
        `payload   min ${report.payload.min}, median ${report.payload.median}, max ${report.payload.max} bytes`,
      );
    if (first >= 0) lines.push(`offsets   first ${first}, last ${last}`);
    lines.push(
      end === 'clean'
        ? 'end       clean'
        : end === 'torn-tail'
          ? `end       torn tail: ${report.tornBytes} bytes at offset ${at}`
          : `end       damaged: ${(failure as Error).message}${n === 0 && !o.header ? ' (no frame reads: this does not look like a flatstream stream)' : ''}`,
    );
    io.out(`${lines.join('\n')}\n`);
  }
  return end === 'clean' ? 0 : 1;
}

/** `flatstream verify FILE [--json] [--checksum NAME]`: every frame checked, damage listed. */
export function verify(argv: readonly string[], io: Io): number {
  const args = parseArgs(argv, { '--json': false, '--checksum': true, '--quiet': false });
  const { path, size } = oneFile(args, 'verify');
  const ranges: { offset: number; length: number; reason: string }[] = [];
  const forced = checksumOption(args);
  const probe = open(path, args);
  void probe.reader.close();
  const verifying = probe.checksum !== 'none';
  const reader = StreamReader.open(path, {
    ...(forced
      ? { deframer: new Deframer(forced) }
      : probe.header
        ? {}
        : { deframer: new Deframer(checksumByName(probe.checksum)!) }),
    ...(verifying ? { onCorrupt: 'skip' as const, onSkip: (r) => void ranges.push({ ...r }) } : {}),
  });
  const bar =
    io.tty && !args.flags.has('--json') && !args.flags.has('--quiet') && size >= PROGRESS_MIN
      ? new SingleBar({
          format: 'verify [{bar}] {percentage}% | {value}/{total} bytes',
          stream: process.stderr,
        })
      : null;
  bar?.start(size, 0);
  let n = 0;
  let failure: unknown = null;
  let next = PROGRESS_STEP;
  try {
    n = reader.processAll((_, at) => {
      if (bar && at.offset >= next) {
        bar.update(at.offset);
        next = at.offset + PROGRESS_STEP;
      }
    });
  } catch (err) {
    if (!(err instanceof FlatStreamError)) throw err;
    failure = err;
    n = reader.frameIndex - (probe.header ? 1 : 0);
  } finally {
    if (bar) {
      bar.update(size);
      bar.stop();
    }
  }
  if (failure instanceof FlatStreamError) {
    const at = failure.offset ?? 0;
    ranges.push({ offset: at, length: size - at, reason: failure.message });
  }
  const damaged = ranges.reduce((s, r) => s + r.length, 0);
  if (args.flags.has('--json'))
    io.out(
      `${JSON.stringify({ file: path, bytes: size, checksum: probe.checksum, frames: n, ok: ranges.length === 0, damaged: ranges, damagedBytes: damaged })}\n`,
    );
  else {
    for (const r of ranges)
      io.out(`damaged   offset ${r.offset}, ${r.length} bytes: ${r.reason}\n`);
    io.out(
      ranges.length === 0
        ? `ok        ${frames(n)} verified (${probe.checksum}), ${size} bytes\n`
        : `damaged   ${ranges.length} range${ranges.length === 1 ? '' : 's'}, ${damaged} bytes; ${frames(n)} verified (${probe.checksum})\n`,
    );
    if (!verifying) io.err('note: no checksum: only the frame lengths could be checked\n');
  }
  return ranges.length === 0 ? 0 : 1;
}

/** `verify` draws a progress bar on a terminal from this many bytes on. */
export const PROGRESS_MIN = 64 << 20;
const PROGRESS_STEP = 1 << 20;

/** The flags of the commands that print messages (cat, head, tail). */
const PRINT_FLAGS = { '--schema': true, '--root': true, '--raw': true, '--checksum': true };

/** How messages are printed: one JSON line each, through a schema or raw. */
interface Printer {
  /** The deframer the reader needs (with the schema's validator). */
  deframer: (d: Deframer) => Deframer;
  /** The JSON line of one message (throws FlatStreamError for a payload the schema does not fit). */
  line: (p: Uint8Array, at: { offset: number; frameIndex: number }) => string;
}

// `known`: the header already found (a JetStream stream); else `path` is probed.
function printer(
  cmd: string,
  args: Args,
  path: string,
  io: Io,
  known?: { header: StreamHeader | null },
): Printer {
  const raw = args.flags.get('--raw');
  if (raw !== undefined && raw !== 'hex' && raw !== 'base64')
    throw new UsageError('--raw must be hex or base64');
  const schemaArg = args.flags.get('--schema') ?? 'auto';
  const root = args.flags.get('--root');
  let probe: { header: StreamHeader | null };
  if (known) probe = known;
  else {
    const opened = open(path, args);
    void opened.reader.close();
    probe = opened;
  }
  let bfbs: Uint8Array | undefined;
  if (raw === undefined) {
    if (schemaArg === 'auto') {
      bfbs = probe.header?.schema;
      if (bfbs === undefined)
        throw new UsageError(
          `${path} has no schema in a header: give --schema x.bfbs, or --raw hex|base64`,
        );
    } else {
      try {
        bfbs = fs.readFileSync(schemaArg as string);
      } catch (err) {
        throw new UsageError(`--schema ${schemaArg as string}: ${(err as Error).message}`);
      }
    }
  }
  if (bfbs === undefined) {
    const enc = raw as BufferEncoding;
    return {
      deframer: (d) => d,
      line: (p, at) =>
        JSON.stringify({
          frame: at.frameIndex,
          offset: at.offset,
          [enc]: Buffer.from(p.buffer, p.byteOffset, p.length).toString(enc),
        }),
    };
  }
  const rootType = typeof root === 'string' ? root : probe.header?.rootType;
  let codec: TableCodec;
  let ident: string;
  let validator: ReturnType<typeof TypedValidator.fromSchema>;
  try {
    const compiled = compileSchema(bfbs, rootType === undefined ? {} : { rootType });
    if (compiled.root === null) throw new UsageError('the schema has no root_type: give --root T');
    codec = compiled.root;
    ident = compiled.fileIdentifier;
    // Payloads are verified against the schema before they are decoded:
    // a .bfbs that does not match the data is damage, never garbage.
    validator = TypedValidator.fromSchema(bfbs, { rootType: codec.name });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof FlatStreamError && err.code === 'ERR_FLATSTREAM_NATIVE_REQUIRED')
      throw new UsageError(
        `${cmd} --schema verifies every payload against the schema, which needs the native addon; use --raw`,
      );
    throw new UsageError(`the schema: ${(err as Error).message}`);
  }
  const h = probe.header;
  if (schemaArg !== 'auto' && h?.schema !== undefined && !Buffer.from(h.schema).equals(bfbs))
    io.err(
      `flatstream ${cmd}: warning: ${schemaArg as string} is not the schema in the header (schema_hash 0x${h.schemaHash.toString(16)})\n`,
    );
  return {
    deframer: (d) => d.withValidator(validator),
    line: (p, at) => {
      // A structurally valid FlatBuffer can verify under another schema;
      // a schema's file_identifier, when it has one, tells them apart.
      if (
        ident !== '' &&
        Buffer.from(p.buffer, p.byteOffset, p.length).toString('latin1', 4, 8) !== ident
      )
        throw new FlatStreamError(
          `payload does not carry the schema's file identifier "${ident}": the schema does not match the data`,
          'ERR_FLATSTREAM_VALIDATION_FAILED',
          at,
        );
      return JSON.stringify(codec.view(p));
    },
  };
}

/**
 * `flatstream cat FILE [--schema x.bfbs|auto] [--root T] [--raw hex|base64] [--checksum NAME]`:
 * NDJSON; `--from nats://HOST:PORT --stream NAME [--subject S] [--durable D]`
 * reads a JetStream stream instead of FILE.
 */
export function cat(argv: readonly string[], io: Io): number | Promise<number> {
  const args = parseArgs(argv, { ...PRINT_FLAGS, ...FROM_FLAGS });
  if (args.flags.has('--from')) return catFrom(args, io);
  for (const f of Object.keys(FROM_FLAGS))
    if (args.flags.has(f)) throw new UsageError(`${f} goes with --from nats://HOST:PORT`);
  const { path } = oneFile(args, 'cat');
  const pr = printer('cat', args, path, io);
  const { reader } = open(path, args, pr.deframer);
  try {
    reader.processAll((p, at) => io.out(`${pr.line(p, at)}\n`));
  } catch (err) {
    if (!(err instanceof FlatStreamError)) throw err;
    io.err(`flatstream cat: ${err.message}\n`);
    return 1;
  }
  return 0;
}

/** The flags of `cat --from`. */
const FROM_FLAGS = { '--from': true, '--stream': true, '--subject': true, '--durable': true };

// `cat --from`: the frames shipped to a JetStream stream, read back through
// a JetStreamSource (docs/design.md, "Reading back from JetStream") to the
// last message present; printed as `cat FILE` prints them (offsets in the
// shipped file, a headed stream's messages numbered from 1, counted on
// across rotated files). Without --durable, a consumer of its own, deleted
// after.
async function catFrom(args: Args, io: Io): Promise<number> {
  if (args.positional.length > 0)
    throw new UsageError('cat --from reads a JetStream stream: give no FILE');
  const from = args.flags.get('--from') as string;
  if (!/^(nats|tls):\/\/[^\s]+$/.test(from))
    throw new UsageError('--from takes a server URL, nats://HOST:PORT');
  const stream = args.flags.get('--stream');
  if (typeof stream !== 'string') throw new UsageError('cat --from needs --stream NAME');
  const durable = args.flags.get('--durable') as string | undefined;
  const subject = args.flags.get('--subject') as string | undefined;
  const forced = checksumOption(args);
  // SIGINT/SIGTERM end the read cleanly (exit 0, as `cat --follow`): the
  // acks sent are flushed and a consumer of its own is deleted, never left
  // on the server.
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  const source = new JetStreamSource({
    servers: from,
    stream,
    durable: durable ?? `flatstream-cat-${process.pid}-${randomUUID().slice(0, 8)}`,
    follow: false,
    deleteOnClose: durable === undefined,
    signal: stop.signal,
    ...(subject === undefined ? {} : { subject }),
  });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const where = (err: FlatStreamError): string => {
    const at = err.offset === undefined ? null : source.locate(err.offset);
    return at
      ? ` (JetStream message ${at.seq}: stream ${JSON.stringify(at.stream)} file ${at.file} offset ${at.offset})`
      : '';
  };
  try {
    let found;
    try {
      found = await source.peek();
    } catch (err) {
      if (!(err instanceof FlatStreamError)) throw err;
      io.err(`flatstream cat: ${err.message}\n`);
      return 1;
    }
    const { header, checksum } = found;
    if (header && forced && forced.name !== header.checksum)
      throw new UsageError(`--checksum ${forced.name} contradicts the header (${header.checksum})`);
    const pr = printer('cat', args, `${from} stream ${stream}`, io, { header });
    const reader = new StreamReader(
      source,
      pr.deframer(new Deframer(forced ?? checksum ?? undefined)),
    );
    const first = header === null ? 0 : 1;
    try {
      await reader.processAllAsync((p, at) => {
        const loc = source.locate(at.offset);
        io.out(
          `${pr.line(p, { offset: loc?.offset ?? at.offset, frameIndex: at.frameIndex + first })}\n`,
        );
      });
    } catch (err) {
      if (!(err instanceof FlatStreamError)) throw err;
      io.err(`flatstream cat: ${err.message}${where(err)}\n`);
      return 1;
    }
    return 0;
  } finally {
    await source.close();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function count(args: Args): number {
  const n = args.flags.get('-n') ?? '10';
  if (typeof n !== 'string' || !/^\d+$/.test(n) || Number(n) > Number.MAX_SAFE_INTEGER)
    throw new UsageError('-n takes a whole number of messages');
  return Number(n);
}

/** `flatstream head [-n N] FILE [cat's options]`: the first N messages (default 10). */
export function head(argv: readonly string[], io: Io): number {
  const args = parseArgs(argv, { ...PRINT_FLAGS, '-n': true });
  const n = count(args);
  const { path } = oneFile(args, 'head');
  const pr = printer('head', args, path, io);
  if (n === 0) return 0;
  const { reader } = open(path, args, pr.deframer);
  let seen = 0;
  try {
    reader.processAll((p, at) => {
      io.out(`${pr.line(p, at)}\n`);
      return ++seen < n;
    });
  } catch (err) {
    if (!(err instanceof FlatStreamError)) throw err;
    io.err(`flatstream head: ${err.message}\n`);
    return 1;
  } finally {
    void reader.close();
  }
  return 0;
}

/**
 * `flatstream tail [-n N] [-f] FILE [cat's options]`: the last N messages;
 * `-f` then follows the file as it grows (docs/design.md "Follow mode"),
 * and a file rotated under its path is followed from its start.
 */
export function tail(argv: readonly string[], io: Io): number | Promise<number> {
  const args = parseArgs(argv, { ...PRINT_FLAGS, '-n': true, '-f': false });
  const n = count(args);
  // The base path of a rotation set (no file of its own): its latest file.
  const given = args.positional.length === 1 ? args.positional[0]! : null;
  if (given !== null && !fs.existsSync(given)) {
    const set = listRotation(given);
    if (set.length > 0) (args.positional as string[])[0] = set[set.length - 1]!;
  }
  const { path } = oneFile(args, 'tail');
  const pr = printer('tail', args, path, io);
  const { reader } = open(path, args, pr.deframer);
  // The last n lines, in a circular buffer (no shifting: -n 1000000 stays linear).
  const ring: string[] = [];
  let next = 0;
  const last = (): string[] => [...ring.slice(next), ...ring.slice(0, next)];
  let status = 0;
  let end = 0;
  let nextIndex = 0;
  try {
    reader.processAll((p, at) => {
      if (n === 0) return;
      const l = pr.line(p, at);
      if (ring.length < n) ring.push(l);
      else {
        ring[next] = l;
        next = (next + 1) % n;
      }
    });
    end = reader.position;
    nextIndex = reader.frameIndex;
  } catch (err) {
    if (!(err instanceof FlatStreamError)) throw err;
    // A torn tail is not yet written when following; damage is damage.
    if (!(args.flags.has('-f') && err.code === 'ERR_FLATSTREAM_UNEXPECTED_EOF')) {
      for (const l of last()) io.out(`${l}\n`);
      io.err(`flatstream tail: ${err.message}\n`);
      return 1;
    }
    end = err.offset ?? 0;
    nextIndex = err.frameIndex ?? 0;
  }
  for (const l of last()) io.out(`${l}\n`);
  if (!args.flags.has('-f')) return status;
  io.flush?.();
  return follow(path, args, pr, io, end, nextIndex).then(
    () => status,
    (err: unknown) => {
      if (!(err instanceof FlatStreamError)) throw err;
      io.err(`flatstream tail: ${err.message}\n`);
      return 1;
    },
  );
}

// Follows `path` from `start` until SIGINT/SIGTERM (exit 0) or damage; a
// file replaced under its path (a rotation) is followed from its start. A
// file of a rotation set (docs/design.md, "Rotation") is complete once a
// later file of the set exists: it is read to the size it had then, and
// the next file is followed from its start.
async function follow(
  path: string,
  args: Args,
  pr: Printer,
  io: Io,
  start: number,
  firstIndex: number,
): Promise<void> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // The stream's checksum stays the one found first, unless a rotated
  // file's header names another (a new file may be empty when opened).
  let checksum: Checksum | null = null;
  try {
    for (;;) {
      const probe = open(path, args);
      void probe.reader.close();
      if (checksum === null || probe.header !== null) checksum = probe.reader.deframer.checksum;
      const deframer = pr.deframer(new Deframer(checksum));
      const fileStop = new AbortController();
      const onStop = (): void => fileStop.abort();
      stop.signal.addEventListener('abort', onStop);
      const reader = new StreamReader(path, deframer, {
        follow: true,
        start,
        signal: fileStop.signal,
      });
      // Rotation: the next file, and the size this one had when it appeared.
      let next: string | null = null;
      let doneAt = Infinity;
      const member = rotationMember(path) !== null;
      const look = (): void => {
        if (next !== null) return;
        const found = nextInRotation(path);
        if (found === null) return;
        doneAt = fs.statSync(path).size;
        next = found;
        if (reader.position >= doneAt) fileStop.abort();
      };
      const timer = member ? setInterval(look, 100) : null;
      let i = 0;
      try {
        if (member) look();
        for await (const p of reader) {
          const at = {
            offset: reader.position - p.length - deframer.headerSize,
            frameIndex: firstIndex + i++,
          };
          // Frame 0 of a file may be its header, written after we opened it.
          if (!(start === 0 && at.frameIndex === 0 && isHeaderPayload(p))) {
            io.out(`${pr.line(p, at)}\n`);
            io.flush?.();
          }
          if (reader.position >= doneAt) break;
        }
        if (next === null) return;
        path = next;
        start = 0;
        firstIndex = 0;
        continue;
      } catch (err) {
        if (stop.signal.aborted) return;
        if (next !== null && fileStop.signal.aborted) {
          path = next; // complete and read to its end: on to the next file
          start = 0;
          firstIndex = 0;
          continue;
        }
        const reason =
          err instanceof FlatStreamError && err.code === 'ERR_FLATSTREAM_FILE_CHANGED'
            ? (err as unknown as { reason: string }).reason
            : null;
        // Rotated: the path names a new file, or none until it is created.
        if (reason === 'replaced' || reason === 'removed') {
          if (reason === 'removed' && !(await reappears(path, stop.signal))) return;
          start = 0;
          firstIndex = 0;
          continue;
        }
        throw err;
      } finally {
        if (timer) clearInterval(timer);
        stop.signal.removeEventListener('abort', onStop);
        void reader.close();
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** `flatstream recover FILE [--truncate] [--json] [--checksum NAME]`. */
export function recover(argv: readonly string[], io: Io): number {
  const args = parseArgs(argv, { '--truncate': false, '--json': false, '--checksum': true });
  const { path } = oneFile(args, 'recover');
  const probe = open(path, args);
  void probe.reader.close();
  const truncate = args.flags.has('--truncate');
  const json = args.flags.has('--json');
  try {
    const r = recoverFile(path, new Deframer(checksumByName(probe.checksum)!), { truncate });
    const cut = truncate && r.end === 'torn-tail';
    if (json)
      io.out(`${JSON.stringify({ file: path, checksum: probe.checksum, ...r, truncated: cut })}\n`);
    else if (r.end === 'clean')
      io.out(`clean     ${r.frames} frames, ends at offset ${r.lastGoodOffset}\n`);
    else
      io.out(
        `torn tail ${r.tornBytes} bytes after offset ${r.lastGoodOffset} (${r.frames} intact frame${r.frames === 1 ? '' : 's'})${cut ? `; truncated to ${r.lastGoodOffset} bytes` : '; --truncate cuts it'}\n`,
      );
    return r.end === 'clean' || cut ? 0 : 1;
  } catch (err) {
    if (!(err instanceof FlatStreamError)) throw err;
    const what = err instanceof RecoveryRefusedError ? 'refused' : 'damaged';
    if (json)
      io.out(
        `${JSON.stringify({ file: path, checksum: probe.checksum, end: what, error: errorJson(err), truncated: false })}\n`,
      );
    else io.out(`${what.padEnd(9)} ${err.message}; the file was not changed\n`);
    return 1;
  }
}

function frames(n: number): string {
  return `${n} frame${n === 1 ? '' : 's'}`;
}

// Waits (polling every 100 ms) until `path` names a regular file again;
// false when `signal` aborts first.
async function reappears(path: string, signal: AbortSignal): Promise<boolean> {
  while (!signal.aborted) {
    try {
      if (fs.statSync(path).isFile()) return true;
    } catch {
      // not there yet
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, 100);
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }
  return false;
}
