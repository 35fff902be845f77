/**
 * The StreamWriter's public types (what it writes, its options, its
 * counters) and the checking of its options.
 *
 * Owns: StreamSerialize, WriteItem, StreamWriterOptions, WriterStats,
 * checkWriterOptions. Imports: format (args, framing), write/arena-builder
 * (types), sinks/sink (type).
 */
import type { Builder } from 'flatbuffers';
import { checkInteger, checkOptions, typeError } from '../format/args';
import type { Deframer, Framer } from '../format/framing';
import type { HeaderOptions } from '../format/header';
import type { Sink } from '../sinks/sink';
import type { BlockSource } from './arena-builder';

/** Something that serializes itself into a builder and calls `builder.finish(root)`. */
export interface StreamSerialize {
  serialize(builder: Builder): void;
}

/**
 * What simple mode writes: a `StreamSerialize`, a string (a FlatBuffers
 * string root) or bytes (the payload itself, e.g. a FlatBuffer finished
 * elsewhere; `StreamWriter.writeByteVector` wraps bytes in a `[ubyte]` root).
 */
export type WriteItem = StreamSerialize | string | Uint8Array;

/** Options of a `StreamWriter`. */
export interface StreamWriterOptions {
  /**
   * Staging slab size in bytes (default 64 KiB). A frame larger than a slab
   * gets a buffer of its own. A slab source that lends its own slabs (a
   * CaptureSink) sets it, and `builderSize`, itself.
   */
  slabSize?: number;
  /**
   * Seal and flush staged frames at least this often, in ms (default: only
   * when full, on flush() and close(); a CaptureSink's own `flushIntervalMs`).
   */
  flushIntervalMs?: number;
  /** Initial capacity of the internal builder, in bytes (default 1024). */
  builderSize?: number;
  /** Where the internal builder grows beyond its baseline (default: plain memory). See `StreamWriter.withArena`. */
  arena?: BlockSource;
  /** For a path target: append (default) or truncate (an fd is written where it stands). */
  append?: boolean;
  /**
   * Write what is staged, synchronously, when the process (or worker thread)
   * exits without `close()`: a normal exit, `process.exit()`, an uncaught
   * exception. Default `true` for a file (a path, URL, fd or `FileSink`),
   * `false` otherwise; `true` is allowed for a custom {@link Sink} whose
   * `write()` consumes the chunk synchronously (a promise it returns is not
   * awaited at exit), and refused for a `Writable` and a `CaptureSink`
   * (which has its own). A worker that is `terminate()`d runs no JavaScript:
   * frames it had not flushed are lost.
   */
  flushOnExit?: boolean;
  /** For a path target: repair a torn tail left by a writer that died, then append (see FileSinkOptions.recover). */
  recover?: Deframer;
  /**
   * Start the stream with a header frame (docs/design.md, "Stream header"):
   * `{ schema, rootType, meta }`. A path target gets it when the file is
   * new, empty or truncated; appending to a headed file checks it against
   * the framer instead (`FormatMismatchError` on a mismatch, before a byte
   * is written). A plain `Sink` or `Writable` gets it as the first frame.
   * A `FileSink` or `CaptureSink` you made takes it in its own options.
   */
  header?: HeaderOptions;
  /** For a path target with `recover`: the longest torn tail that may be cut (see FileSinkOptions.maxTornBytes). */
  maxTornBytes?: number;
}

/** Counters of a `StreamWriter`. */
export interface WriterStats {
  /** Frames of yours accepted (the stream header frame is not one of them, whoever writes it). */
  frames: number;
  /** Bytes of those frames, frame headers (length and checksum fields) included; the stream header's are not. */
  bytes: number;
  /** Chunks handed to the sink. */
  flushes: number;
  /** Staging slabs allocated so far (constant in steady state). */
  slabsAllocated: number;
  /** Slabs the sink still holds (asynchronous sinks). */
  slabsInFlight: number;
  /** Times the internal builder gave memory back under its memory policy. */
  builderShrinks: number;
  /** Frames dropped because the slab source had no free slab (a CaptureSink with `policy: 'drop'`). */
  drops: number;
}

const DEFAULT_SLAB = 64 * 1024;
const DEFAULT_BUILDER = 1024;

/** The options a writer uses itself, checked, with their defaults. */
export interface CheckedOptions {
  slabSize: number;
  builderSize: number;
  flushIntervalMs: number | undefined;
  arena: BlockSource | undefined;
}

/** Checks a writer's options the Node way (TypeError/RangeError with their codes), in a fixed order. */
export function checkWriterOptions(
  framer: Framer,
  options: StreamWriterOptions | undefined,
): CheckedOptions {
  checkOptions(options, 'options');
  const slabSize = options?.slabSize ?? DEFAULT_SLAB;
  checkInteger(slabSize, 'slabSize', framer.headerSize + 1, 2 ** 30);
  const builderSize = options?.builderSize ?? DEFAULT_BUILDER;
  checkInteger(builderSize, 'builderSize', 8, 2 ** 30);
  const flushIntervalMs = options?.flushIntervalMs;
  if (flushIntervalMs !== undefined)
    checkInteger(flushIntervalMs, 'flushIntervalMs', 1, 2 ** 31 - 1);
  const flushOnExit = options?.flushOnExit;
  if (flushOnExit !== undefined && typeof flushOnExit !== 'boolean') {
    throw typeError(
      `The "flushOnExit" option must be of type boolean. Received type ${typeof flushOnExit}`,
    );
  }
  const arena = options?.arena;
  if (
    arena !== undefined &&
    (typeof arena !== 'object' || arena === null || typeof arena.block !== 'function')
  ) {
    throw typeError('The "arena" option must be an Arena');
  }
  return { slabSize, builderSize, flushIntervalMs, arena };
}
