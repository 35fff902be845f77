/**
 * Where a reader's bytes come from, as chunks. Synchronous chunk sources
 * (files) serve `processAll`/`messages`; asynchronous ones (files read ahead,
 * Node `Readable`s, any `AsyncIterable<Uint8Array>`) serve the async API.
 * A chunk stays valid until the next one is requested: the cursor copies
 * only the frame split across two chunks, before it asks for more.
 */
import fs from 'node:fs';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { isUint8Array } from 'node:util/types';
import { typeError } from '../format/args';
import { FlatStreamError, IoError } from '../format/errors';

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

function typeOf(st: fs.Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function notRegular(name: string, st: fs.Stats, api: 'sync' | 'async'): IoError {
  const hint =
    api === 'sync'
      ? 'the synchronous API reads regular files only (a read could wait forever); stream it with the async API'
      : 'the async API streams FIFOs and sockets, but no device';
  return new IoError(`cannot read ${name}: it is ${typeOf(st)}, not a regular file: ${hint}`);
}

// What a read(2) could wait on forever: never read on the event loop.
function mayBlock(st: fs.Stats): boolean {
  return st.isFIFO() || st.isSocket() || st.isCharacterDevice();
}

// The fd of a FileSource that opened it, and its latest async read, for
// the registry below.
export interface FdCell {
  fd: number;
  pending: Promise<number> | null;
}

// A reader abandoned mid-stream (a `break` never resumed, dropped) still
// holds the fd it opened: closed when its FileSource is collected
// (docs/design.md, "Recovery"), after its latest read settled: never under
// a queued read, whose fd number could otherwise be reused meanwhile.
const abandoned = new FinalizationRegistry<FdCell>(closeCell);

/**
 * Closes the fd a cell holds (once: the cell forgets it), after the cell's
 * latest read settled, never under a queued read whose fd number could
 * otherwise be reused meanwhile. Also lib/read/follow.ts's.
 */
export function closeCell(cell: FdCell): void {
  const fd = cell.fd;
  cell.fd = -1;
  if (fd < 0) return;
  const close = (): void => fs.close(fd, () => undefined);
  if (cell.pending) cell.pending.then(close, close);
  else close();
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
  #cell: FdCell = { fd: -1, pending: null }; // the fd this source opened, for the finalization registry
  #stream: IterableChunks | null = null; // a FIFO or socket path, streamed (async API)

  constructor(target: string | URL | number, readSize: number) {
    this.#target = target;
    this.#name = typeof target === 'number' ? `fd ${target}` : pathOf(target);
    this.#own = typeof target !== 'number';
    // An fd you pass is read from where it stands, sequentially (pipes too);
    // a path this source opens is read with positional reads.
    this.#positional = this.#own;
    this.#readSize = readSize;
  }

  /** Starts reading at file offset `offset` (a path's positional reads only; before any read). */
  skipTo(offset: number): void {
    if (!this.#positional) throw typeError('only a file opened by path can start at an offset');
    this.#pos = offset;
  }

  readSync(): Uint8Array | null {
    if (this.#done) return null;
    if (this.#stream) {
      throw new FlatStreamError(
        `cannot read ${this.#name} with the synchronous API: it is streamed (a FIFO or a socket)`,
        'ERR_FLATSTREAM_BUSY',
      );
    }
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
      if (this.#fd < 0 && !this.#stream) await this.#openAsync();
      if (this.#stream) return await this.#stream.read();
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
        this.#cell.pending = ahead;
      }
      return chunk;
    } catch (err) {
      this.#finish();
      throw ioError(`cannot read ${this.#name}`, err);
    }
  }

  close(): Promise<void> {
    this.#finish();
    const stream = this.#stream;
    return stream ? stream.close() : Promise.resolve();
  }

  #handOut(buf: Uint8Array, n: number): Uint8Array | null {
    if (n === 0) {
      this.#finish();
      return null;
    }
    this.#pos += n;
    return buf.subarray(0, n);
  }

  // Opens without blocking (O_NONBLOCK: a FIFO without a writer would
  // otherwise wait in open(2)), then checks what was opened: the synchronous
  // API reads regular files only (docs/design.md, "Recovery").
  #openSync(): void {
    if (typeof this.#target === 'number') {
      this.#fd = this.#target;
      return;
    }
    const fd = fs.openSync(pathOf(this.#target), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    let st: fs.Stats;
    try {
      st = fs.fstatSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    if (mayBlock(st)) {
      fs.closeSync(fd);
      throw notRegular(this.#name, st, 'sync');
    }
    this.#adopt(fd);
    this.#positional = st.isFile(); // a directory fails at its first read (EISDIR)
  }

  // The same for the async API, which also streams a FIFO or a socket
  // through a non-blocking net.Socket on the fd (libuv's poller: no thread
  // parked in read(2), no event loop waiting for a writer).
  async #openAsync(): Promise<void> {
    if (typeof this.#target === 'number') {
      this.#fd = this.#target;
      return;
    }
    const path = pathOf(this.#target);
    const fd = await new Promise<number>((resolve, reject) =>
      fs.open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK, (err, fd) =>
        err ? reject(err) : resolve(fd),
      ),
    );
    let st: fs.Stats;
    try {
      st = await new Promise<fs.Stats>((resolve, reject) =>
        fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))),
      );
    } catch (err) {
      fs.close(fd, () => undefined);
      throw err;
    }
    if (this.#done) {
      fs.close(fd, () => undefined); // closed while opening
      return;
    }
    if (st.isFIFO() || st.isSocket()) {
      // The socket owns the fd from here: destroying it closes it.
      this.#stream = new IterableChunks(new Socket({ fd, readable: true, writable: false }));
    } else if (mayBlock(st)) {
      fs.close(fd, () => undefined);
      throw notRegular(this.#name, st, 'async');
    } else {
      this.#adopt(fd);
      this.#positional = st.isFile(); // a directory fails at its first read (EISDIR)
    }
  }

  #adopt(fd: number): void {
    this.#fd = fd;
    this.#cell.fd = fd;
    abandoned.register(this, this.#cell, this.#cell);
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
    this.#cell.fd = -1;
    abandoned.unregister(this.#cell);
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
  #returned = false;
  #empty = 0; // zero-length chunks in a row
  #destroy: (() => void) | null;

  constructor(source: AsyncIterable<unknown>) {
    this.#it = source[Symbol.asyncIterator]();
    // A stream (a Readable, a Socket) is destroyed on close: return() on its
    // iterator would wait for a read in flight, which may never complete.
    const destroy = (source as { destroy?: unknown }).destroy;
    this.#destroy = typeof destroy === 'function' ? () => void destroy.call(source) : null;
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.#done) return null;
      let r: IteratorResult<unknown>;
      try {
        r = await this.#it.next();
      } catch (err) {
        this.#done = true;
        throw ioError('source stream failed', err);
      }
      if (this.#done) return null; // closed meanwhile
      if (r.done) {
        this.#done = true;
        this.#returned = true; // an iterator that finished needs no return()
        return null;
      }
      const chunk = r.value;
      if (!isUint8Array(chunk)) {
        this.#done = true;
        throw typeError(
          `The source must yield Uint8Array or Buffer chunks. Received ${typeof chunk === 'string' ? 'a string (is an encoding set on the stream?)' : chunk === null ? 'null' : typeof chunk === 'object' ? `an instance of ${chunk.constructor?.name ?? 'Object'}` : typeof chunk}`,
        );
      }
      if (chunk.length > 0) {
        this.#empty = 0;
        return chunk;
      }
      // An iterator whose next() resolves at once never lets the event
      // loop run between chunks; one that yields only empty chunks would
      // spin in microtasks forever. Give the loop a turn every 1024.
      if (++this.#empty % 1024 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Ends reading and releases the source (`return()`, which destroys a Readable), once. */
  async close(): Promise<void> {
    this.#done = true;
    if (this.#returned) return;
    this.#returned = true;
    this.#destroy?.();
    try {
      await this.#it.return?.();
    } catch {
      // a source that fails as it is released: nothing more to read anyway
    }
  }
}
