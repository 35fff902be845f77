/**
 * WritableSink: hands chunks of frames to any Node `Writable` (a socket, an
 * fs.WriteStream, a pipeline) without copying them, and follows the stream's
 * backpressure.
 */
import type { Writable } from 'node:stream';
import { checkBytes, checkOptions, typeError } from '../format/args';
import { ClosedError, IoError } from '../format/errors';
import type { Sink } from './sink';

/** Options of a {@link WritableSink}. */
export interface WritableSinkOptions {
  /**
   * Whether `close()` ends the stream (default `true`). With `false`,
   * `close()` waits for the sink's writes to complete and hands the stream
   * back open (its listeners removed), e.g. to write a trailer.
   */
  end?: boolean;
}

interface Waiter {
  resolve(): void;
  reject(err: IoError): void;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function ignore(): void {}

/**
 * A {@link Sink} over a Node `Writable`.
 *
 * `write(chunk)` passes the chunk itself to `stream.write()` (Node wraps a
 * plain Uint8Array in a Buffer over the same memory, never a copy) and
 * returns a promise that settles when the stream's write callback fires:
 * until then the stream may still read the chunk, so its memory must not be
 * reused. The promise rejects with an `IoError` when that write fails.
 *
 * Errors, decided as follows: a call that finds a problem before handing the
 * chunk over throws synchronously, so a throw always means the stream never
 * saw the chunk: `ClosedError` after this sink's `close()`, and `IoError`
 * when the stream has errored (the first error is kept and reported by every
 * later write/flush/drain/close), was destroyed, or was ended by someone
 * else. The sink listens for the stream's `'error'` event, so a stream error
 * never crashes the process as an unhandled `'error'`, and the promises
 * `write()` returns are marked handled, since the same error is reported
 * again by the next call.
 *
 * @example
 * ```ts
 * const socket = net.connect(port, '127.0.0.1');
 * const sink = new WritableSink(socket);
 * for (const chunk of chunks) {
 *   await sink.write(chunk); // or keep the promise, and pause while sink.needsDrain
 *   if (sink.needsDrain) await sink.drain();
 * }
 * await sink.close(); // ends the socket, resolves on 'finish'
 * ```
 */
export class WritableSink implements Sink {
  /** The stream written to. */
  readonly stream: Writable;
  #end: boolean;
  #error: IoError | undefined;
  #closing: Promise<void> | undefined;
  // Re-evaluated by every event that can let close() settle.
  #closeCheck: (() => boolean) | undefined;
  // Writes whose callback has not fired: the stream may still read them.
  #pending = 0;
  // needsDrain for streams without writableNeedDrain (Node < 15.2, userland streams).
  #needDrain = false;
  #drainWaiters: Waiter[] = [];

  constructor(stream: Writable, options?: WritableSinkOptions) {
    // Duck-typed rather than instanceof: Writables from the readable-stream
    // package or another realm are not instances of this realm's Writable.
    const s = stream as unknown as Record<string, unknown> | null;
    if (
      typeof s !== 'object' ||
      s === null ||
      typeof s.write !== 'function' ||
      typeof s.end !== 'function' ||
      typeof s.on !== 'function' ||
      typeof s.removeListener !== 'function'
    ) {
      throw typeError('The "stream" argument must be a Writable stream');
    }
    checkOptions(options, 'options');
    const end = options?.end;
    if (end !== undefined && typeof end !== 'boolean') {
      throw typeError(`The "end" option must be of type boolean. Received type ${typeof end}`);
    }
    this.stream = stream;
    this.#end = end ?? true;
    stream.on('error', this.#onError);
    stream.on('drain', this.#onDrain);
    stream.on('finish', this.#onFinish);
    stream.on('close', this.#onClose);
  }

  /**
   * Hands `chunk` to the stream without copying it. The promise resolves when
   * the stream has written it (its memory may then be reused) and rejects
   * with an `IoError` if that write fails. Throws instead when the chunk
   * cannot be handed over at all (see the class description).
   */
  write(chunk: Uint8Array): Promise<void> {
    if (this.#closing) throw new ClosedError('WritableSink');
    checkBytes(chunk, 'chunk');
    this.#check();
    let resolve!: () => void;
    let reject!: (err: IoError) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Handled here so an ignored promise never becomes an unhandled
    // rejection; whoever awaits `done` still sees the error.
    done.catch(ignore);
    this.#pending++;
    let ok: boolean;
    try {
      ok = this.stream.write(chunk, (err) => {
        this.#pending--;
        if (err) reject(this.#record(err, 'write failed'));
        else resolve();
        this.#closeCheck?.();
      });
    } catch (err) {
      // Only a misbehaving stream throws here; it did not take the chunk.
      this.#pending--;
      throw this.#record(err, 'write threw');
    }
    if (!ok) this.#needDrain = true;
    return done;
  }

  /**
   * Reports a stored stream error; otherwise does nothing. A `Writable` has
   * no buffer to push: every chunk given to `write()` is already on its way,
   * and its promise says when it arrived.
   */
  flush(): void {
    if (this.#closing) throw new ClosedError('WritableSink');
    this.#check();
  }

  /**
   * True while the stream's buffer is above its highWaterMark (`write()`
   * returned false and `'drain'` has not come yet); false once the stream is
   * ended, destroyed or errored, when waiting would never end.
   */
  get needsDrain(): boolean {
    if (this.#error) return false;
    const need = this.stream.writableNeedDrain;
    // writableNeedDrain is the stream's own state, already false once it is
    // ending or destroyed; the local flag is for streams without it.
    return typeof need === 'boolean' ? need : this.#needDrain;
  }

  /**
   * Resolves on the stream's `'drain'` (at once when {@link needsDrain} is
   * false); rejects with an `IoError` if the stream errors or closes first.
   */
  drain(): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (!this.needsDrain) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  /**
   * Ends the stream (unless `end: false`) and resolves on `'finish'`, when
   * every chunk has been written; rejects with an `IoError` if the stream
   * errors or is destroyed first. With `end: false`, resolves once every
   * pending write has completed. Idempotent: returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve, reject) => {
      const s = this.stream;
      // True once the promise is settled.
      const check = (): boolean => {
        let failure = this.#error;
        if (!failure) {
          if (this.#end ? s.writableFinished : this.#pending === 0) {
            this.#detach();
            resolve();
            return true;
          }
          if (!s.destroyed) return false; // not yet
          failure = s.errored
            ? this.#record(s.errored, 'stream error')
            : new IoError('WritableSink: the stream was destroyed before it finished');
        }
        this.#detach();
        reject(failure);
        return true;
      };
      this.#closeCheck = check;
      if (!check() && this.#end && !s.writableEnded) s.end();
    });
    return this.#closing;
  }

  /** The first error the stream reported, if any. */
  get error(): IoError | undefined {
    return this.#error;
  }

  /** Throws the reason a chunk cannot be handed to the stream now, if any. */
  #check(): void {
    if (this.#error) throw this.#error;
    const s = this.stream;
    if (s.destroyed) {
      throw s.errored
        ? this.#record(s.errored, 'stream error')
        : new IoError('WritableSink: the stream was destroyed');
    }
    if (s.writableEnded) throw new IoError('WritableSink: the stream has ended');
  }

  /** Wraps `err` in an IoError and keeps the first one for later calls. */
  #record(err: unknown, what: string): IoError {
    const e = new IoError(`WritableSink: ${what}: ${message(err)}`, err);
    this.#error ??= e;
    return e;
  }

  #rejectWaiters(err: IoError): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  #onError = (err: unknown): void => {
    this.#record(err, 'stream error');
    this.#rejectWaiters(this.#error!);
    this.#closeCheck?.();
  };

  #onDrain = (): void => {
    this.#needDrain = false;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.resolve();
  };

  // Ended by someone else: no 'drain' will come, and writes now fail.
  #onFinish = (): void => {
    this.#onDrain();
    this.#closeCheck?.();
  };

  #onClose = (): void => {
    const s = this.stream;
    if (this.#drainWaiters.length) {
      this.#rejectWaiters(
        this.#error ??
          new IoError(
            `WritableSink: the stream closed before 'drain'${s.errored ? `: ${s.errored.message}` : ''}`,
            s.errored ?? undefined,
          ),
      );
    }
    this.#closeCheck?.();
  };

  // After close() settles. With end: true the 'error' listener stays: a
  // socket can still report ECONNRESET after 'finish', and nobody else may be
  // listening. With end: false the stream is handed back as it was.
  #detach(): void {
    this.#closeCheck = undefined;
    const s = this.stream;
    s.removeListener('drain', this.#onDrain);
    s.removeListener('finish', this.#onFinish);
    s.removeListener('close', this.#onClose);
    if (!this.#end) s.removeListener('error', this.#onError);
  }
}
