/**
 * `flatstream slice` and `flatstream convert`: new stream files made from
 * the frames of another, each frame verified on the way (docs/design.md,
 * "The flatstream command"). The output is written to `OUT.<pid>.tmp` and
 * renamed into place only when every frame read clean: damage leaves no
 * OUT behind. An existing OUT is refused.
 *
 * Owns: the two subcommands. Imports: lib/read (StreamReader), lib/format
 * (framing, header, errors), lib/cli/inspect (arguments).
 */
import * as fs from 'node:fs';
import { FlatStreamError } from '../format/errors';
import { Deframer, Framer } from '../format/framing';
import { type StreamHeader, checksumByName, encodeHeader } from '../format/header';
import { StreamReader } from '../read/reader';
import { type Args, type Io, UsageError, oneFile, parseArgs } from './inspect';

const CHUNK = 1 << 20;

// Buffered synchronous writes to a temporary file, renamed over nothing.
class Output {
  readonly #tmp: string;
  readonly #fd: number;
  #bufs: Buffer[] = [];
  #held = 0;
  frames = 0;
  bytes = 0;
  /** Whether the first frame written is a stream header. */
  headed = false;

  constructor(readonly path: string) {
    if (fs.existsSync(path)) throw new UsageError(`${path} exists; give a new file with -o`);
    this.#tmp = `${path}.${process.pid}.tmp`;
    try {
      this.#fd = fs.openSync(this.#tmp, 'wx');
    } catch (err) {
      throw new UsageError(`-o ${path}: ${(err as Error).message}`);
    }
  }

  write(frame: Uint8Array): void {
    this.#bufs.push(Buffer.from(frame.buffer, frame.byteOffset, frame.length));
    this.#held += frame.length;
    this.frames++;
    this.bytes += frame.length;
    if (this.#held >= CHUNK) this.#flush();
  }

  #flush(): void {
    const all = Buffer.concat(this.#bufs, this.#held);
    let off = 0;
    while (off < all.length) off += fs.writeSync(this.#fd, all, off);
    this.#bufs = [];
    this.#held = 0;
  }

  /** Flushes, syncs and renames into place. */
  commit(): void {
    this.#flush();
    fs.fsyncSync(this.#fd);
    fs.closeSync(this.#fd);
    if (fs.existsSync(this.path)) {
      fs.rmSync(this.#tmp, { force: true });
      throw new UsageError(`${this.path} appeared meanwhile; not overwritten`);
    }
    fs.renameSync(this.#tmp, this.path);
  }

  abandon(): void {
    try {
      fs.closeSync(this.#fd);
    } catch {
      // closed already
    }
    fs.rmSync(this.#tmp, { force: true });
  }
}

function outPath(args: Args): string {
  const out = args.flags.get('-o');
  if (typeof out !== 'string') throw new UsageError('-o OUT is required');
  return out;
}

function checksumFlag(args: Args, name: string): ReturnType<typeof checksumByName> {
  const v = args.flags.get(name);
  if (v === undefined) return undefined;
  const c = typeof v === 'string' ? checksumByName(v) : undefined;
  if (c === undefined)
    throw new UsageError(`${name} must be one of none, crc16, crc32, crc32c, xxhash64, crc64`);
  return c;
}

// Reads every message of `path`, verified, handing each to `take`; the
// output is committed only at a clean end.
function copy(
  path: string,
  args: Args,
  out: Output,
  start: (reader: StreamReader) => void,
  take: (p: Uint8Array, at: { offset: number; frameIndex: number }) => boolean | void,
  io: Io,
  cmd: string,
): number {
  const forced = checksumFlag(args, '--checksum');
  let reader: StreamReader;
  try {
    reader = StreamReader.open(path, forced ? { deframer: new Deframer(forced) } : {});
  } catch (err) {
    out.abandon();
    throw err;
  }
  try {
    start(reader);
    reader.processAll(take);
    out.commit();
  } catch (err) {
    out.abandon();
    if (!(err instanceof FlatStreamError)) throw err;
    io.err(`flatstream ${cmd}: ${err.message}; ${out.path} was not written\n`);
    return 1;
  }
  return 0;
}

function headerFields(h: StreamHeader): Parameters<typeof encodeHeader>[1] {
  return {
    ...(h.schema ? { schema: h.schema } : {}),
    ...(h.rootType !== undefined ? { rootType: h.rootType } : {}),
    meta: h.meta,
    ...(h.writer !== undefined ? { writer: h.writer } : {}),
    ...(h.writerVersion !== undefined ? { writerVersion: h.writerVersion } : {}),
  };
}

/** `flatstream slice FILE (--from OFFSET | --frames A:B) -o OUT`. */
export function slice(argv: readonly string[], io: Io): number {
  const args = parseArgs(argv, {
    '--from': true,
    '--frames': true,
    '-o': true,
    '--checksum': true,
  });
  const { path } = oneFile(args, 'slice');
  const from = args.flags.get('--from');
  const frames = args.flags.get('--frames');
  if ((from === undefined) === (frames === undefined))
    throw new UsageError('give one of --from OFFSET and --frames A:B');
  let lo = 0;
  let hi = Infinity;
  let offset = -1;
  if (from !== undefined) {
    if (typeof from !== 'string' || !/^\d+$/.test(from))
      throw new UsageError('--from takes a byte offset');
    offset = Number(from);
  } else {
    const m = typeof frames === 'string' ? /^(\d+):(\d*)$/.exec(frames) : null;
    if (!m) throw new UsageError('--frames takes A:B (frame indexes, B excluded; A: to the end)');
    lo = Number(m[1]);
    hi = m[2] === '' ? Infinity : Number(m[2]);
    if (hi < lo) throw new UsageError(`--frames ${frames as string}: B is before A`);
  }
  const out = new Output(outPath(args));
  let framer: Framer;
  let found = offset < 0;
  const status = copy(
    path,
    args,
    out,
    (reader) => {
      framer = new Framer(reader.deframer.checksum);
      // A headed stream's slice keeps its header (it stays self-describing).
      out.headed = reader.header !== null;
      if (reader.header)
        out.write(
          framer.frame(
            encodeHeader(framer.checksum, headerFields(reader.header), reader.header.createdMs),
          ),
        );
    },
    (p, at) => {
      if (offset >= 0) {
        if (at.offset === offset) found = true;
        if (at.offset < offset) return;
        if (!found)
          throw new UsageError(
            `--from ${offset} is not the start of a frame (the next frame starts at ${at.offset})`,
          );
      } else {
        if (at.frameIndex < lo) return;
        if (at.frameIndex >= hi) return false;
      }
      out.write(framer.frame(p));
    },
    io,
    'slice',
  );
  if (status === 0 && offset >= 0 && !found) {
    fs.rmSync(out.path, { force: true });
    throw new UsageError(`--from ${offset} is not the start of a frame`);
  }
  if (status === 0) io.out(`wrote ${summary(out)}\n`);
  return status;
}

/** `flatstream convert FILE --to CHECKSUM -o OUT`: re-framed with another checksum, verified on the way. */
export function convert(argv: readonly string[], io: Io): number {
  const args = parseArgs(argv, { '--to': true, '-o': true, '--checksum': true });
  const { path } = oneFile(args, 'convert');
  const to = checksumFlag(args, '--to');
  if (to === undefined) throw new UsageError('--to CHECKSUM is required');
  const framer = new Framer(to);
  const out = new Output(outPath(args));
  const status = copy(
    path,
    args,
    out,
    (reader) => {
      out.headed = reader.header !== null;
      if (reader.header)
        out.write(
          framer.frame(encodeHeader(to, headerFields(reader.header), reader.header.createdMs)),
        );
    },
    (p) => void out.write(framer.frame(p)),
    io,
    'convert',
  );
  if (status === 0) io.out(`wrote ${summary(out)} (${to.name})\n`);
  return status;
}

function summary(out: Output): string {
  const n = out.frames - (out.headed ? 1 : 0);
  return `${out.path}: ${out.headed ? 'a header and ' : ''}${n} frame${n === 1 ? '' : 's'}, ${out.bytes} bytes`;
}
