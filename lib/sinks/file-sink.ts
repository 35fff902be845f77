/**
 * FileSink: writes chunks of frames to a file, by path or fd, with
 * synchronous writes. Nothing is buffered in user space: when `write()`
 * returns, every byte of the chunk is in the OS.
 */
// fs is called through the module object (fs.writeSync, not a destructured
// writeSync) so tests can spy on it and inject EIO or short writes.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkBytes, checkInteger, checkOptions, typeError } from '../format/args';
import { ClosedError, IoError } from '../format/errors';
import type { Sink } from './sink';
import { type Deframer, Framer } from '../format/framing';
import {
  type HeaderOptions,
  MAX_HEADER_LEN,
  checkAppend,
  checkHeaderOptions,
  headerFrame,
} from '../format/header';
import { type RecoveryReport, recoverFileSeam } from '../format/recovery';

/** Options of a {@link FileSink}. */
export interface FileSinkOptions {
  /**
   * Paths only. `true` (the default) appends to an existing file (`O_APPEND`),
   * so reopening a stream continues it; `false` truncates the file first.
   * Appending is the default because truncating a stream is the step that
   * cannot be undone.
   */
  append?: boolean;
  /** Paths only. Permission bits of a newly created file (default `0o666`, less the umask). */
  mode?: number;
  /**
   * Whether `close()` closes the fd. Default `true` for a path (the sink
   * opened it) and `false` for an fd you passed in (you own it).
   */
  autoClose?: boolean;
  /**
   * How long, in milliseconds, a write may make no progress on a non-blocking
   * fd (a pipe whose reader is slow) before it fails with `EAGAIN`
   * (default 10 000; `0` fails at the first `EAGAIN`). The wait blocks the
   * thread, as a blocking write would, but never forever.
   */
  eagainTimeout?: number;
  /**
   * Paths only, appending: reopen a stream whose writer died. The file is
   * scanned with this deframer first (`recoverFile`); a torn tail (a frame
   * cut short) is truncated away so new frames follow the last intact one.
   * Damage inside the file (a checksum mismatch, an invalid length, a
   * validation failure) is thrown, never truncated; a file that does not
   * look like a stream torn by its writer (no intact frame before the torn
   * tail, or not a regular file) is a `RecoveryRefusedError` and is left
   * untouched. The report is in `sink.recovery`.
   */
  recover?: Deframer;
  /**
   * With `recover`: the longest torn tail that may be cut (default: one
   * frame header plus the deframer's bound). A writer whose frames are
   * never larger than N bytes can pass N to refuse anything longer.
   */
  maxTornBytes?: number;
  /**
   * Paths only: the framer the frames written here are framed with.
   * Appending to a stream whose header names another checksum is then a
   * `FormatMismatchError`, thrown before a byte is written (docs/design.md,
   * "Stream header"). `StreamWriter` passes its own for a path target.
   */
  framer?: Framer;
  /**
   * Paths only, with `framer`: start a new (or empty, or truncated) file
   * with a stream header frame. Appending to a non-empty file that has no
   * header is then a `FormatMismatchError`; to one that has a header,
   * checks it and writes no second one.
   */
  header?: HeaderOptions;
}

/**
 * The `IoError` thrown by a failed {@link FileSink.write}: `bytesWritten` of
 * the chunk's bytes reached the file before the failure.
 */
export type FileWriteError = IoError & { readonly bytesWritten: number };

const DEFAULT_EAGAIN_TIMEOUT = 10_000;
// Longest single sleep while waiting out EAGAIN: short enough to resume soon
// after the reader catches up, long enough not to burn a core.
const MAX_PAUSE_MS = 50;

let sleepCell: Int32Array | undefined;

/** Blocks the thread for `ms` milliseconds without spinning. */
function sleep(ms: number): void {
  sleepCell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleepCell, 0, 0, ms);
}

function checkBoolean(value: unknown, name: string): asserts value is boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') {
    throw typeError(`The "${name}" option must be of type boolean. Received type ${typeof value}`);
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A {@link Sink} that writes each chunk to a file with `fs.writeSync`,
 * completing short writes, before `write()` returns.
 *
 * A failed write throws an `IoError` ({@link FileWriteError}) whose
 * `bytesWritten` says how much of the chunk reached the file: the file then
 * holds every earlier chunk followed by exactly those bytes, usually a torn
 * frame. The sink refuses further writes from then on (each throws an
 * `IoError` whose `cause` is the first failure), because appending after the
 * damage would bury it in the middle of the stream; close it and repair the
 * torn tail before writing to the file again.
 *
 * @example
 * ```ts
 * const sink = new FileSink('events.bin'); // appends; { append: false } truncates
 * const writer = new StreamWriter(sink, new ChecksumFramer(XxHash64));
 * writer.writePayload(payload);
 * writer.flush();
 * sink.sync(); // durable on disk
 * writer.close(); // closes the file
 * ```
 */
export class FileSink implements Sink {
  /** The path the sink opened, or `undefined` when it was given an fd. */
  readonly path: string | undefined;
  #fd: number;
  #ownsFd: boolean;
  #eagainTimeout: number;
  #closed = false;
  #bytesWritten = 0;
  #failure: IoError | undefined;
  // For messages: "FileSink '<path>'" or "FileSink fd <n>", fixed at construction.
  #name: string;

  /** With the `recover` option: how the file ended before this sink appended to it. */
  recovery: RecoveryReport | undefined;

  constructor(pathOrFd: string | number | URL, options?: FileSinkOptions) {
    checkOptions(options, 'options');
    const append = options?.append;
    const mode = options?.mode;
    const autoClose = options?.autoClose;
    const eagainTimeout = options?.eagainTimeout ?? DEFAULT_EAGAIN_TIMEOUT;
    checkBoolean(append, 'append');
    if (mode !== undefined) checkInteger(mode, 'mode', 0, 0o7777);
    checkBoolean(autoClose, 'autoClose');
    checkInteger(eagainTimeout, 'eagainTimeout', 0, 2 ** 31 - 1);
    this.#eagainTimeout = eagainTimeout;

    if (typeof pathOrFd === 'number') {
      checkInteger(pathOrFd, 'fd', 0, 2 ** 31 - 1);
      // An fd keeps the flags and position it was opened with; silently
      // ignoring a request to truncate it would be worse than refusing.
      for (const [name, value] of [
        ['append', append],
        ['mode', mode],
        ['recover', options?.recover],
        ['maxTornBytes', options?.maxTornBytes],
        ['framer', options?.framer],
        ['header', options?.header],
      ] as const) {
        if (value !== undefined) {
          throw Object.assign(
            new TypeError(
              `The "${name}" option applies to paths only; an fd is written with the flags it was opened with`,
            ),
            { code: 'ERR_INVALID_ARG_VALUE' },
          );
        }
      }
      this.path = undefined;
      this.#name = `FileSink fd ${pathOrFd}`;
      this.#fd = pathOrFd;
      this.#ownsFd = autoClose ?? false;
      return;
    }
    let path: string;
    if (typeof pathOrFd === 'string') path = pathOrFd;
    else if (pathOrFd instanceof URL) path = fileURLToPath(pathOrFd);
    else {
      throw typeError(
        `The "pathOrFd" argument must be of type string or number or an instance of URL. Received ${pathOrFd === null ? 'null' : `type ${typeof pathOrFd}`}`,
      );
    }
    this.path = path;
    this.#name = `FileSink '${path}'`;
    const framer = options?.framer;
    const header = options?.header;
    if (framer !== undefined && !(framer instanceof Framer))
      throw typeError('The "framer" option must be a Framer');
    if (header !== undefined) {
      checkHeaderOptions(header);
      if (framer === undefined)
        throw typeError('The "header" option needs the "framer" option: a header is framed');
    }
    if (framer !== undefined && append !== false) checkExisting(path, framer, header !== undefined);
    if (options?.recover !== undefined) {
      if (append === false)
        throw typeError(
          'The "recover" option needs append mode: truncating would discard what it recovers',
        );
      const { maxTornBytes } = options;
      if (fs.existsSync(path))
        this.recovery = recoverFileSeam(path, options.recover, {
          truncate: true,
          ...(maxTornBytes === undefined ? {} : { maxTornBytes }),
        });
    } else if (options?.maxTornBytes !== undefined) {
      throw typeError('The "maxTornBytes" option applies with the "recover" option only');
    }
    try {
      // O_NONBLOCK: opening a FIFO that has no reader fails with ENXIO
      // instead of blocking the thread until one comes (it may never); on a
      // regular file it changes nothing, and a pipe's EAGAIN is waited out
      // by write() within eagainTimeout.
      const { O_WRONLY, O_CREAT, O_APPEND, O_TRUNC, O_NONBLOCK } = fs.constants;
      const flags = O_WRONLY | O_CREAT | O_NONBLOCK | (append === false ? O_TRUNC : O_APPEND);
      this.#fd = fs.openSync(path, flags, mode ?? 0o666);
    } catch (err) {
      // Node's own argument errors (a NUL byte in the path) are not I/O failures.
      if (err instanceof TypeError && errorCode(err)?.startsWith('ERR_')) throw err;
      throw new IoError(`FileSink: cannot open '${path}': ${message(err)}`, err);
    }
    this.#ownsFd = autoClose ?? true;
    if (header !== undefined && framer !== undefined) {
      let empty: boolean;
      try {
        empty = fs.fstatSync(this.#fd).size === 0;
      } catch (err) {
        this.#closeOwned();
        throw new IoError(`FileSink: cannot stat '${path}': ${message(err)}`, err);
      }
      if (empty) {
        try {
          this.write(headerFrame(framer, header));
        } catch (err) {
          // A header cut short (a full disk) would be a torn frame 0 that
          // every later open trips on: the file was empty, so it is again.
          try {
            fs.ftruncateSync(this.#fd, 0);
          } catch {
            // the write's error is the one to report
          }
          this.#closeOwned();
          throw err;
        }
      }
    }
  }

  #closeOwned(): void {
    try {
      fs.closeSync(this.#fd);
    } catch {
      // the open failed us already; that error is the one to report
    }
    this.#closed = true;
  }

  /**
   * Writes the whole chunk before returning (short writes are continued).
   * Throws `ClosedError` after `close()`, and an `IoError` with
   * `bytesWritten` when the write fails (see the class description).
   */
  write(chunk: Uint8Array): void {
    if (this.#closed) throw new ClosedError('FileSink');
    checkBytes(chunk, 'chunk');
    if (this.#failure) {
      throw new IoError(`${this.#name}: an earlier write failed`, this.#failure);
    }
    const length = chunk.length;
    let done = 0;
    let stalledSince = -1;
    let pause = 1;
    while (done < length) {
      let n = 0;
      try {
        n = fs.writeSync(this.#fd, chunk, done, length - done, null);
      } catch (err) {
        const code = errorCode(err);
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') throw this.#fail(err, done, length);
        // A non-blocking fd (Node makes pipes non-blocking) is full: wait for
        // the reader with growing pauses, bounded by eagainTimeout.
        const now = performance.now();
        if (stalledSince < 0) stalledSince = now;
        if (now - stalledSince >= this.#eagainTimeout) throw this.#fail(err, done, length);
        sleep(Math.min(pause, this.#eagainTimeout - (now - stalledSince)));
        pause = Math.min(pause * 2, MAX_PAUSE_MS);
        continue;
      }
      if (n <= 0) {
        // write(2) returns 0 only for a zero-length request; never loop on it.
        throw this.#fail(new Error(`write returned ${n}`), done, length);
      }
      done += n;
      this.#bytesWritten += n;
      stalledSince = -1;
      pause = 1;
    }
  }

  /**
   * Does nothing but check the sink is open: there is no user-space buffer,
   * every byte is in the OS once `write()` returns. Kept so a writer's
   * `flush()` has the same meaning for every sink.
   */
  flush(): void {
    if (this.#closed) throw new ClosedError('FileSink');
  }

  /**
   * Makes the written bytes durable with `fsync`. Not `fdatasync`: in an
   * append-only stream every write changes the file size, which fdatasync must
   * flush as well, so it would save only the mtime update. On a pipe, socket
   * or character device there is nothing to make durable, and the `EINVAL`
   * (or `EROFS`) that fsync reports for them is ignored.
   */
  sync(): void {
    if (this.#closed) throw new ClosedError('FileSink');
    try {
      fs.fsyncSync(this.#fd);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'EINVAL' || code === 'EROFS') return;
      throw new IoError(`${this.#name}: fsync failed: ${message(err)}`, err);
    }
  }

  /**
   * Closes the fd if the sink owns it (see `autoClose`). Idempotent. A failing
   * close throws an `IoError`, and the sink is closed regardless (the kernel
   * releases the fd even then).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsFd) return;
    const fd = this.#fd;
    this.#fd = -1;
    try {
      fs.closeSync(fd);
    } catch (err) {
      throw new IoError(`${this.#name}: close failed: ${message(err)}`, err);
    }
  }

  /** Bytes this sink wrote to the file, including those of a failed write. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** The file descriptor; `-1` once the sink has closed it. */
  get fd(): number {
    return this.#fd;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #fail(err: unknown, done: number, length: number): FileWriteError {
    const e = Object.assign(
      new IoError(
        `${this.#name}: write failed after ${done} of ${length} bytes: ${message(err)}`,
        err,
      ),
      { bytesWritten: done },
    );
    this.#failure = e;
    return e;
  }
}

// The append check (docs/design.md, "Stream header"): a non-empty regular
// file about to be appended to with `framer` is read at its start.
function checkExisting(path: string, framer: Framer, wantHeader: boolean): void {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return; // no file yet (or none we may read): the open below reports what matters
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size === 0) return;
    const n = Math.min(st.size, 64 * 1024);
    let buf = Buffer.alloc(n);
    let got = fs.readSync(fd, buf, 0, n, 0);
    if (got >= 4) {
      const len = buf.readUInt32LE(0);
      if (len + 12 > got && len <= MAX_HEADER_LEN && st.size > got) {
        buf = Buffer.alloc(Math.min(st.size, len + 12));
        got = fs.readSync(fd, buf, 0, buf.length, 0);
      }
    }
    checkAppend(buf.subarray(0, got), framer, wantHeader, `'${path}'`);
  } finally {
    fs.closeSync(fd);
  }
}
