/**
 * Where a reader's bytes come from, as chunks. Synchronous chunk sources
 * (files) serve `processAll`/`messages`; asynchronous ones (files read ahead,
 * Node `Readable`s, any `AsyncIterable<Uint8Array>`) serve the async API.
 * A chunk stays valid until the next one is requested: the cursor copies
 * only the frame split across two chunks, before it asks for more.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { typeError } from './args';
import { FlatStreamError, IoError } from './errors';

export interface SyncChunks {
  /** The next chunk, or null at the end. */
  readSync(): Uint8Array | null;
  close(): void;
}

export interface AsyncChunks {
  /** The next chunk, or null at the end. */
  read(): Promise<Uint8Array | null>;
  close(): Promise<void>;
}

function ioError(what: string, err: unknown): FlatStreamError {
  if (err instanceof FlatStreamError) return err;
  return new IoError(`${what}: ${(err as Error)?.message ?? String(err)}`, err);
}

function pathOf(target: string | URL): string {
  return target instanceof URL ? fileURLToPath(target) : target;
}

/** Reads a file by path or fd with `readSync` into one reused buffer. */
export class FileChunks implements SyncChunks {
  #fd: number;
  #own: boolean;
  #buf: Uint8Array;
  #name: string;

  constructor(target: string | URL | number, readSize: number) {
    this.#name = typeof target === 'number' ? `fd ${target}` : pathOf(target);
    try {
      this.#fd = typeof target === 'number' ? target : fs.openSync(pathOf(target), 'r');
    } catch (err) {
      throw ioError(`cannot open ${this.#name}`, err);
    }
    this.#own = typeof target !== 'number';
    this.#buf = new Uint8Array(readSize);
  }

  readSync(): Uint8Array | null {
    if (this.#fd < 0) return null;
    let n: number;
    try {
      // No position: reads from the fd's current offset, so pipes work too.
      n = fs.readSync(this.#fd, this.#buf, 0, this.#buf.length, null);
    } catch (err) {
      throw ioError(`cannot read ${this.#name}`, err);
    }
    return n === 0 ? null : this.#buf.subarray(0, n);
  }

  close(): void {
    if (this.#fd >= 0 && this.#own) fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}

/**
 * Reads a file asynchronously with one read always in flight ahead of the
 * chunk being scanned (two buffers, alternating), so scanning and disk
 * overlap and the event loop never waits on the disk.
 */
export class AsyncFileChunks implements AsyncChunks {
  #target: string | URL | number;
  #handle: FileHandle | null = null;
  #fd = -1;
  #bufs: [Uint8Array, Uint8Array];
  #turn = 0;
  #ahead: Promise<number> | null = null;
  #done = false;

  constructor(target: string | URL | number, readSize: number) {
    this.#target = target;
    this.#bufs = [new Uint8Array(readSize), new Uint8Array(readSize)];
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#done) return null;
    try {
      if (this.#fd < 0) await this.#open();
      const buf = this.#bufs[this.#turn]!;
      const n = await (this.#ahead ?? this.#readInto(buf));
      this.#turn ^= 1;
      if (n === 0) {
        this.#ahead = null;
        this.#done = true;
        return null;
      }
      // The caller scans `buf` while the other buffer fills.
      this.#ahead = this.#readInto(this.#bufs[this.#turn]!);
      this.#ahead.catch(() => undefined); // reported by the next read()
      return buf.subarray(0, n);
    } catch (err) {
      this.#done = true;
      throw ioError(
        `cannot read ${typeof this.#target === 'number' ? `fd ${this.#target}` : pathOf(this.#target)}`,
        err,
      );
    }
  }

  async close(): Promise<void> {
    this.#done = true;
    await this.#ahead?.catch(() => undefined);
    this.#ahead = null;
    if (this.#handle) await this.#handle.close();
    this.#handle = null;
  }

  async #open(): Promise<void> {
    if (typeof this.#target === 'number') {
      this.#fd = this.#target;
    } else {
      this.#handle = await fs.promises.open(pathOf(this.#target), 'r');
      this.#fd = this.#handle.fd;
    }
  }

  #readInto(buf: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.read(this.#fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n)));
    });
  }
}

/** Chunks from a Node `Readable` or any `AsyncIterable<Uint8Array>` (pulled: backpressure is natural). */
export class IterableChunks implements AsyncChunks {
  #it: AsyncIterator<unknown>;
  #done = false;

  constructor(source: AsyncIterable<unknown>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#done) return null;
    let r: IteratorResult<unknown>;
    try {
      r = await this.#it.next();
    } catch (err) {
      this.#done = true;
      throw ioError('source stream failed', err);
    }
    if (r.done) {
      this.#done = true;
      return null;
    }
    const chunk = r.value;
    if (!(chunk instanceof Uint8Array)) {
      this.#done = true;
      throw typeError(
        `The source must yield Uint8Array or Buffer chunks. Received ${typeof chunk === 'string' ? 'a string (is an encoding set on the stream?)' : typeof chunk}`,
      );
    }
    return chunk;
  }

  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#it.return?.();
  }
}
