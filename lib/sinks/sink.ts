/**
 * Sinks receive sealed slabs of whole frames from a writer.
 */
import { ClosedError } from '../format/errors';

/**
 * Where a writer's frames go.
 *
 * `write(chunk)` receives whole, sealed frames. A sink that consumes the
 * chunk synchronously (copies it, or writes it to a file) returns nothing and
 * the writer reuses the chunk's memory at once. A sink that keeps the chunk
 * (e.g. queued in a Node `Writable`) returns a promise that settles when it no
 * longer needs the memory; the writer keeps that slab out of use until then,
 * so nothing is ever copied or overwritten while it is still being written.
 * A rejected promise is reported as an `IoError` by the writer's next call.
 */
export interface Sink {
  write(chunk: Uint8Array): void | Promise<void>;
  /** Pushes buffered bytes on to the OS (optional). */
  flush?(): void;
  /** Makes written bytes durable (fsync) (optional). */
  sync?(): void;
  /** Releases resources; called once by the writer's `close()` (optional). */
  close?(): void | Promise<void>;
  /** True while the sink wants its producer to pause (backpressure) (optional). */
  readonly needsDrain?: boolean;
  /** Resolves when `needsDrain` is false again (optional). */
  drain?(): Promise<void>;
}

/**
 * Staging memory a {@link StagingSink} lends a writer: a slab to stage frames
 * in, and right after it (same ArrayBuffer) scratch space for the writer's
 * builder.
 */
export interface StagingUnit {
  all: Uint8Array;
  slab: Uint8Array;
  view: DataView; // over `slab`
  scratch: Uint8Array;
  /** Index into {@link Staging.commits} of this unit's commit cell. */
  cell: number;
}

/** The writer's side of a {@link StagingSink}, from `bindStaging()`. */
export interface Staging {
  /** Bytes per slab: also the largest frame, header included. */
  readonly slabSize: number;
  /** The sink's wish for the writer's flush timer, in ms. */
  readonly flushIntervalMs: number | undefined;
  /**
   * The writer stores how many bytes of whole frames it staged in the current
   * unit at `commits[unit.cell]` after every frame: that is what survives.
   */
  readonly commits: Int32Array;
  /** The next unit to stage into; null when the policy drops (none free). Throws on failure. */
  acquire(): StagingUnit | null;
  /** Hands a unit over with `end` bytes of `frames` frames (built-in checksums still blank). */
  submit(unit: StagingUnit, end: number, frames: number): void;
  /** Counts a frame of `bytes` bytes the writer dropped because no unit was free. */
  dropped(bytes: number): void;
  /** Frames dropped so far: counted here only (the writer's `stats().drops` reads it). */
  readonly drops: number;
  /** Registers what to call when the sink fails on its own (its thread), so the writer's next call throws. */
  onFailure(fn: (err: Error) => void): void;
}

/**
 * A sink that provides the writer's staging memory itself (a
 * {@link CaptureSink}): frames are staged straight into it and sealed by the
 * sink, so what `write()` accepted is already where the sink keeps it.
 */
export interface StagingSink extends Sink {
  /**
   * Called once by the writer that owns this sink, before anything is
   * staged. `kind` is the framer's checksum kind (CUSTOM_KIND: the writer
   * writes whole headers itself).
   */
  bindStaging(format: { kind: number; headerSize: number }): Staging;
}

/** Whether `sink` provides staging memory. */
export function isStagingSink(sink: Sink): sink is StagingSink {
  return typeof (sink as Partial<StagingSink>).bindStaging === 'function';
}

/**
 * Collects frames in memory.
 *
 * @example
 * ```ts
 * const sink = new MemorySink();
 * const writer = new StreamWriter(sink, new ChecksumFramer(XxHash64));
 * writer.writePayload(Buffer.from('hi'));
 * writer.close();
 * sink.toBuffer(); // <Buffer 02 00 00 00 ...>
 * ```
 */
export class MemorySink implements Sink {
  /** The chunks received so far, each a copy. */
  readonly chunks: Buffer[] = [];
  #length = 0;
  #closed = false;

  write(chunk: Uint8Array): void {
    if (this.#closed) throw new ClosedError('MemorySink');
    this.chunks.push(Buffer.from(chunk));
    this.#length += chunk.length;
  }

  close(): void {
    this.#closed = true;
  }

  /** Total bytes received. */
  get length(): number {
    return this.#length;
  }

  /** Everything received, as one Buffer. */
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.#length);
  }
}
