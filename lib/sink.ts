/**
 * Sinks receive sealed slabs of whole frames from a writer.
 */
import { ClosedError } from './errors';

/**
 * Where a writer's frames go. `write` receives a chunk of whole, sealed frames
 * whose memory the writer reuses as soon as `write` returns: a sink must copy
 * or consume it synchronously.
 */
export interface Sink {
  write(chunk: Uint8Array): void;
  /** Pushes buffered bytes on (optional). */
  flush?(): void;
  /** Releases resources; called once by the writer's `close()` (optional). */
  close?(): void;
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
