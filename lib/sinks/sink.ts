/**
 * The Sink protocol (the simple one, for users' sinks): sealed slabs of
 * whole frames from a writer, through OwnedSlabs (lib/sinks/owned-slabs.ts).
 *
 * Owns: Sink, MemorySink. Imports: format/errors.
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
