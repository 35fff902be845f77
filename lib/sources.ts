/**
 * Where a reader's bytes come from, as chunks. Synchronous chunk sources
 * (files) serve `processAll`/`messages`; asynchronous ones (files read ahead,
 * Node `Readable`s, any `AsyncIterable<Uint8Array>`) serve the async API.
 * A chunk stays valid until the next one is requested: the cursor copies
 * only the frame split across two chunks, before it asks for more.
 */
import fs from 'node:fs';
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

/**
 * A file by path or fd, for both APIs at once: a reader may switch between
 * them and continue where it stopped.
 *
 * Regular files are read with positional reads from an offset this source
 * keeps (so the sync and async paths agree on where the stream stands);
 * other fds (pipes, sockets) are read sequentially. The async path keeps one
 * read in flight ahead of the chunk being scanned (two buffers, alternating),
 * so scanning and the disk overlap and the event loop never waits on it.
 * The file is closed at the end of the stream (if this source opened it).
 */
export class FileSource implements SyncChunks, AsyncChunks {
  #target: string | URL | number;
  #name: string;
  #readSize: number;
  #fd = -1;
  #own: boolean;
  #positional: boolean;
  #pos = 0; // next file offset to hand out (positional mode)
  #syncBuf: Uint8Array | null = null;
  #bufs: Uint8Array[] | null = null;
  #turn = 0;
  #ahead: Promise<number> | null = null; // a read of bufs[turn] at #pos, in flight
  #stale: Promise<number> | null = null; // a discarded read-ahead, maybe still in flight
  #done = false;

  constructor(target: string | URL | number, readSize: number) {
    this.#target = target;
    this.#name = typeof target === 'number' ? `fd ${target}` : pathOf(target);
    this.#own = typeof target !== 'number';
    // An fd you pass is read from where it stands, sequentially (pipes too);
    // a path this source opens is read with positional reads.
    this.#positional = this.#own;
    this.#readSize = readSize;
  }

  readSync(): Uint8Array | null {
    if (this.#done) return null;
    if (this.#ahead && !this.#positional) {
      throw new FlatStreamError(
        `cannot switch ${this.#name} to the synchronous API while an asynchronous read is in flight`,
        'ERR_FLATSTREAM_BUSY',
      );
    }
    // A read-ahead in flight (positional) is discarded: it writes into a
    // buffer of the async path and #pos was not advanced by it. It is still
    // awaited before that buffer or the fd is used again.
    if (this.#ahead) this.#stale = this.#ahead;
    this.#ahead = null;
    const buf = (this.#syncBuf ??= new Uint8Array(this.#readSize));
    let n: number;
    try {
      if (this.#fd < 0) this.#openSync();
      n = fs.readSync(this.#fd, buf, 0, buf.length, this.#positional ? this.#pos : null);
    } catch (err) {
      this.#finish();
      throw ioError(`cannot read ${this.#name}`, err);
    }
    return this.#handOut(buf, n);
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#done) return null;
    try {
      if (this.#stale) {
        await this.#stale.catch(() => undefined);
        this.#stale = null;
      }
      if (this.#fd < 0) await this.#openAsync();
      const bufs = (this.#bufs ??= [
        new Uint8Array(this.#readSize),
        new Uint8Array(this.#readSize),
      ]);
      const buf = bufs[this.#turn]!;
      const n = await (this.#ahead ?? this.#readInto(buf, this.#pos));
      this.#ahead = null;
      const chunk = this.#handOut(buf, n);
      if (chunk) {
        // The caller scans `buf` while the other buffer fills.
        this.#turn ^= 1;
        const ahead = this.#readInto(bufs[this.#turn]!, this.#pos);
        ahead.catch(() => undefined); // reported by the read() that awaits it
        this.#ahead = ahead;
      }
      return chunk;
    } catch (err) {
      this.#finish();
      throw ioError(`cannot read ${this.#name}`, err);
    }
  }

  close(): Promise<void> {
    this.#finish();
    return Promise.resolve();
  }

  #handOut(buf: Uint8Array, n: number): Uint8Array | null {
    if (n === 0) {
      this.#finish();
      return null;
    }
    this.#pos += n;
    return buf.subarray(0, n);
  }

  #openSync(): void {
    if (typeof this.#target === 'number') this.#fd = this.#target;
    else {
      this.#fd = fs.openSync(pathOf(this.#target), 'r');
      this.#positional = fs.fstatSync(this.#fd).isFile();
    }
  }

  async #openAsync(): Promise<void> {
    if (typeof this.#target === 'number') {
      this.#fd = this.#target;
      return;
    }
    const path = pathOf(this.#target);
    this.#fd = await new Promise<number>((resolve, reject) =>
      fs.open(path, 'r', (err, fd) => (err ? reject(err) : resolve(fd))),
    );
    const st = await new Promise<fs.Stats>((resolve, reject) =>
      fs.fstat(this.#fd, (err, st) => (err ? reject(err) : resolve(st))),
    );
    this.#positional = st.isFile();
  }

  #readInto(buf: Uint8Array, pos: number): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.read(this.#fd, buf, 0, buf.length, this.#positional ? pos : null, (err, n) =>
        err ? reject(err) : resolve(n),
      );
    });
  }

  // At the end or on an error: nothing more to read; close what we opened.
  #finish(): void {
    this.#done = true;
    const pending = this.#ahead ?? this.#stale;
    this.#ahead = this.#stale = null;
    const fd = this.#own ? this.#fd : -1;
    this.#fd = -1;
    if (fd < 0) return;
    const close = (): void => {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed: nothing to release
      }
    };
    // Never close under a queued read: the fd number could be reused meanwhile.
    if (pending) pending.then(close, close);
    else close();
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
