/**
 * Follow mode: a file read as it grows (docs/design.md, "Follow mode").
 *
 * A {@link FollowSource} hands the reader's cursor chunks of a regular file
 * and, at its end, waits for more instead of ending: an `fs.watch` on the
 * path wakes it early, a poll timer guarantees it wakes at all. Only whole
 * frames are ever delivered: a frame whose prefix the cursor holds is read
 * again from its start each time the source is asked for more, so bytes of
 * a torn tail that a recovery cut and a new writer overwrote are never
 * joined to the new bytes. A file that shrinks below the reader's position,
 * or a path that comes to name another file, is a
 * {@link FollowedFileChangedError}.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkInteger, checkOptions, typeError } from '../format/args';
import { FollowedFileChangedError, IoError, ReaderBusyError } from '../format/errors';
import type { FrameCursor } from './cursor';
import { type AsyncChunks, closeCell } from './sources';

/** The follow options of a `StreamReader` (see `StreamReaderOptions`). */
export interface FollowOptions {
  /**
   * Follow a growing file (a path or URL; async API only): at the end of
   * the file, wait for more frames instead of ending. A torn tail at the
   * end is a frame not yet written: it is delivered once its last byte is
   * there, and never if a recovery cuts it. Reading ends on `break`,
   * `return()`, a callback returning `false`, `close()`, an error, or
   * `signal`; every one of them closes the reader (file and watcher).
   */
  follow?: boolean;
  /**
   * Follow mode: the byte offset to start at (default 0). It must be a frame
   * boundary (e.g. a `FrameInfo.offset` or a `reader.position` kept from
   * before); elsewhere the first frame fails like any damage
   * (`ChecksumMismatchError`, `InvalidFrameError`, ...) with this offset.
   * Offsets count from the file's start, frame indexes from `start`.
   */
  start?: number;
  /** Follow mode: ends the reading with an `AbortError` (`code: 'ABORT_ERR'`). */
  signal?: AbortSignal;
  /**
   * Follow mode: how often the file is looked at while nothing happens, in
   * ms (default 100). The watch wakes the reader sooner; the poll is the
   * bound when a watch misses an event or is unavailable.
   */
  pollIntervalMs?: number;
}

const DEFAULT_POLL_MS = 100;
// After a wait, this much of the held prefix of a frame larger than one read
// is read again and compared: a rewrite there is a new frame's header.
const PREFIX_CHECK = 64 * 1024;

/** Node's AbortError: the error every abortable core API rejects with. */
function abortError(signal: AbortSignal): Error {
  return Object.assign(
    new Error('The operation was aborted', { cause: signal.reason as unknown }),
    { name: 'AbortError', code: 'ABORT_ERR' },
  );
}

// What a waiting source shares with its watcher and the finalization
// registry, without a reference back to the source itself.
interface FollowCell {
  fd: number;
  watcher: fs.FSWatcher | null;
  noWatch: boolean; // fs.watch failed or is unavailable: poll only
  pending: Promise<number> | null; // the latest read, never closed under
  signalled: boolean; // a watch event came while nothing was waiting
  wake: (() => void) | null; // ends the current wait
}

function release(cell: FollowCell): void {
  cell.watcher?.close();
  cell.watcher = null;
  cell.noWatch = true;
  cell.wake?.();
  closeCell(cell);
}

// A follow reader dropped mid-stream (an iterator neither resumed nor
// returned) lets its file and watcher go when it is collected.
const abandoned = new FinalizationRegistry<FollowCell>(release);

function describe(st: fs.Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function call<T>(fn: (cb: (err: NodeJS.ErrnoException | null, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

/**
 * Checks the follow options and, with `follow: true`, makes the source
 * (null without it). The reader's constructor calls this.
 */
export function followSource(
  source: unknown,
  cursor: FrameCursor,
  options: (FollowOptions & { onCorrupt?: string }) | undefined,
  readSize: number,
): FollowSource | null {
  checkOptions(options, 'options');
  const follow = options?.follow ?? false;
  if (typeof follow !== 'boolean') {
    throw typeError(`The "follow" option must be a boolean. Received ${typeof follow}`);
  }
  const start = options?.start;
  const signal = options?.signal;
  const poll = options?.pollIntervalMs;
  if (!follow) {
    if (start !== undefined || signal !== undefined || poll !== undefined)
      throw typeError('The "start", "signal" and "pollIntervalMs" options need "follow: true"');
    return null;
  }
  if (typeof source !== 'string' && !(source instanceof URL)) {
    throw typeError(
      'The "source" argument must be a path or a URL to follow: the reader watches it and checks it still names the same file',
    );
  }
  if (options?.onCorrupt === 'skip') {
    throw typeError(
      "onCorrupt: 'skip' cannot be combined with follow: a frame still being written cannot be told from damage",
    );
  }
  if (start !== undefined) checkInteger(start, 'start', 0, Number.MAX_SAFE_INTEGER);
  if (poll !== undefined) checkInteger(poll, 'pollIntervalMs', 1, 3_600_000);
  if (
    signal !== undefined &&
    (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean')
  ) {
    throw typeError('The "signal" option must be an AbortSignal');
  }
  return new FollowSource(source, cursor, readSize, start ?? 0, poll ?? DEFAULT_POLL_MS, signal);
}

/**
 * The iterator of a followed reader: `return()` ends the session (`end`
 * closes the reader), so a step waiting for data ends too, where an async
 * generator would queue the `return()` behind it. Only an iterator that got
 * the reader ends it: one refused because another call is reading
 * (ReaderBusyError) leaves it be.
 */
export function followIterator<T>(
  it: AsyncGenerator<T, undefined, undefined>,
  end: () => void,
): AsyncIterableIterator<T> {
  let owns: boolean | null = null;
  return {
    next: () => {
      const step = it.next();
      if (owns === null) {
        owns = true;
        step.catch((err: unknown) => {
          if (err instanceof ReaderBusyError) owns = false;
        });
      }
      return step;
    },
    throw: (err?: unknown) => it.throw(err),
    return: () => {
      if (owns) end();
      return it.return(undefined);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * A regular file followed as it grows: positional reads on libuv's threads
 * (never on the event loop), one buffer of `readSize` bytes allocated once.
 */
export class FollowSource implements AsyncChunks {
  readonly #path: string;
  readonly #cursor: FrameCursor;
  readonly #pollMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #buf: Uint8Array;
  readonly #cell: FollowCell = {
    fd: -1,
    watcher: null,
    noWatch: false,
    pending: null,
    signalled: false,
    wake: null,
  };
  #opened = false;
  #woke = false; // waited since the held prefix was last checked
  #done = false;
  #aborted: Error | null = null;
  #dev = 0;
  #ino = 0;
  #onAbort: (() => void) | null = null;

  constructor(
    target: string | URL,
    cursor: FrameCursor,
    readSize: number,
    start: number,
    pollMs: number,
    signal: AbortSignal | undefined,
  ) {
    this.#path = target instanceof URL ? fileURLToPath(target) : target;
    this.#cursor = cursor;
    this.#pollMs = pollMs;
    this.#buf = new Uint8Array(readSize);
    cursor.startAt(start);
    this.#signal = signal;
    if (signal?.aborted) {
      this.#abort(signal);
    } else if (signal) {
      this.#onAbort = () => this.#abort(signal);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  async read(): Promise<Uint8Array | null> {
    const cursor = this.#cursor;
    const buf = this.#buf;
    if (!this.#opened) await this.#open();
    for (;;) {
      if (this.#aborted) throw this.#aborted;
      if (this.#done) return null;
      // A frame's prefix shorter than one read is read again from its start
      // (so a frame is never made of bytes from before and after a rewrite);
      // a longer one (a frame larger than a read) is continued.
      const held = cursor.held;
      const keep = held >= buf.length;
      if (keep && this.#woke) {
        // The file may have been cut and rewritten past the held prefix
        // while we waited: compare its start before continuing it.
        this.#woke = false;
        const k = Math.min(buf.length, PREFIX_CHECK);
        const m = await this.#read(cursor.position, k);
        if (this.#aborted) throw this.#aborted;
        if (this.#done) return null;
        if (m !== k || !sameBytes(buf, cursor.heldBytes(), k)) {
          cursor.dropHeld();
          continue;
        }
      }
      const from = keep ? cursor.position + held : cursor.position;
      this.#cell.signalled = false;
      const n = await this.#read(from);
      if (this.#aborted) throw this.#aborted;
      if (this.#done) return null;
      if (keep) {
        if (n > 0) return buf.subarray(0, n);
      } else if (n !== held || !sameBytes(buf, cursor.heldBytes(), n)) {
        cursor.dropHeld();
        if (n > 0) return buf.subarray(0, n);
      }
      // Nothing new at the end of the file: is it still the file we read?
      let st: fs.Stats;
      try {
        st = await call<fs.Stats>((cb) => fs.fstat(this.#cell.fd, cb));
      } catch (err) {
        if (this.#done || this.#aborted) continue; // closed meanwhile
        throw new IoError(`cannot stat ${this.#path}: ${(err as Error).message}`, err);
      }
      if (this.#done || this.#aborted) continue;
      if (st.size < cursor.position) {
        throw new FollowedFileChangedError(
          'truncated',
          st.size,
          `${this.#path} was truncated to ${st.size} bytes, below the ${cursor.position} bytes already read`,
          cursor.where(),
        );
      }
      if (st.size < from + n) {
        cursor.dropHeld(); // the prefix of a large frame was cut: read it again
        continue;
      }
      if (st.size > from + n) continue; // it grew meanwhile
      await this.#checkIdentity();
      if (this.#done || this.#aborted) continue;
      await this.#wait();
      this.#woke = true;
    }
  }

  close(): Promise<void> {
    this.#finish();
    return Promise.resolve();
  }

  // Opens without blocking (O_NONBLOCK: a FIFO's open(2) would wait for a
  // writer) and keeps only a regular file: a FIFO, socket or device has no
  // offsets to resume from or an end to wait at, a directory no frames.
  async #open(): Promise<void> {
    this.#opened = true;
    if (this.#aborted) throw this.#aborted;
    let fd: number;
    try {
      fd = await call<number>((cb) =>
        fs.open(this.#path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK, cb),
      );
    } catch (err) {
      throw new IoError(`cannot follow ${this.#path}: ${(err as Error).message}`, err);
    }
    let st: fs.Stats;
    try {
      st = await call<fs.Stats>((cb) => fs.fstat(fd, cb));
    } catch (err) {
      fs.close(fd, () => undefined);
      throw new IoError(`cannot follow ${this.#path}: ${(err as Error).message}`, err);
    }
    if (this.#done || this.#aborted) {
      fs.close(fd, () => undefined); // closed while opening
      return;
    }
    if (!st.isFile()) {
      fs.close(fd, () => undefined);
      throw new IoError(
        `cannot follow ${this.#path}: it is ${describe(st)}, not a regular file (a FIFO or socket can be read without follow: the async API streams it)`,
      );
    }
    this.#dev = st.dev;
    this.#ino = st.ino;
    this.#cell.fd = fd;
    abandoned.register(this, this.#cell, this.#cell);
  }

  #read(pos: number, length = this.#buf.length): Promise<number> {
    const p = call<number>((cb) => fs.read(this.#cell.fd, this.#buf, 0, length, pos, cb)).catch(
      (err: unknown) => {
        if (this.#done) return 0;
        throw new IoError(`cannot read ${this.#path}: ${(err as Error).message}`, err);
      },
    );
    this.#cell.pending = p;
    return p;
  }

  // At the end of the file: the path must still name it (a rotation or a
  // replacement leaves the reader on a file nobody will append to).
  async #checkIdentity(): Promise<void> {
    let st: fs.Stats | null = null;
    try {
      st = await call<fs.Stats>((cb) => fs.stat(this.#path, cb));
    } catch (err) {
      if (this.#done || this.#aborted) return;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new IoError(`cannot stat ${this.#path}: ${(err as Error).message}`, err);
      }
    }
    if (this.#done || this.#aborted) return;
    if (st === null) {
      throw new FollowedFileChangedError(
        'removed',
        -1,
        `${this.#path} was removed while followed`,
        this.#cursor.where(),
      );
    }
    if (st.dev !== this.#dev || st.ino !== this.#ino) {
      throw new FollowedFileChangedError(
        'replaced',
        st.size,
        `${this.#path} was replaced by another file while followed`,
        this.#cursor.where(),
      );
    }
  }

  // Until a watch event, the poll timer, close() or the signal.
  #wait(): Promise<void> {
    const cell = this.#cell;
    // A new watch may have missed what came before it: look once more first.
    if (cell.watcher === null && !cell.noWatch && cell.fd >= 0) {
      this.#watch();
      return Promise.resolve();
    }
    if (cell.signalled) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#pollMs);
      function done(): void {
        clearTimeout(timer);
        cell.wake = null;
        resolve();
      }
      cell.wake = done;
    });
  }

  // The watch is only the latency: a platform without it, a watch that
  // fails or misses an event leaves the poll.
  #watch(): void {
    const cell = this.#cell;
    const onEvent = (): void => {
      if (cell.wake) cell.wake();
      else cell.signalled = true;
    };
    try {
      const w = fs.watch(this.#path, { persistent: false }, onEvent);
      w.on('error', () => {
        w.close();
        if (cell.watcher === w) cell.watcher = null;
        cell.noWatch = true;
      });
      cell.watcher = w;
    } catch {
      cell.noWatch = true; // unavailable: poll only
    }
  }

  #abort(signal: AbortSignal): void {
    if (this.#aborted || this.#done) return;
    this.#aborted = abortError(signal);
    this.#cursor.fail(this.#aborted);
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#onAbort) this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#onAbort = null;
    abandoned.unregister(this.#cell);
    release(this.#cell);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
