/**
 * JetStreamSink: a StreamWriter's sealed slabs published straight to NATS
 * JetStream, one message per slab, with no local file (docs/design.md,
 * "Direct JetStream sink").
 *
 * Owns: JetStreamSink, its options and counts. Imports: ship/client (the
 * NATS client, loaded on first use), ship/wire (the message contract),
 * format (errors, args, framing), sinks/sink (the protocol).
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { checkInteger, checkOptions, typeError } from '../format/args';
import { ClosedError, FlatStreamError, IoError, NatsClientMissingError } from '../format/errors';
import { Framer } from '../format/framing';
import type { Sink } from '../sinks/sink';
import {
  type NatsClient,
  checkServers,
  isAuthError,
  type NatsConnection,
  loadNats,
} from './client';
import { HEADERS_ROOM, frameLength, setBatchHeaders } from './wire';

/** Options of a {@link JetStreamSink}. */
export interface JetStreamSinkOptions {
  /** The NATS server(s), e.g. `'nats://127.0.0.1:4222'`. */
  servers: string | string[];
  /** The subject to publish to (a JetStream stream must capture it). */
  subject: string;
  /** The framer the writer uses: the sink counts each slab's frames with its header size. */
  framer: Framer;
  /** The stream id (`Flatstream-Stream`; default: a random UUID). */
  streamId?: string;
  /**
   * Slabs the sink may hold, published or waiting to be, before it asks
   * the writer's producer to wait (`write()` returns false; default 8, 1 to
   * 1024). The memory it holds is this many slabs for a producer that
   * honours `drain()`.
   */
  maxSlabs?: number;
  /**
   * How long publishing may keep failing (the server away, no stream for
   * the subject) before the sink fails for good, in ms (default 60,000).
   * Until then every failed publish is retried, in order.
   */
  retryForMs?: number;
  /** How long `close()` waits for the last acks, in ms (default 30,000). */
  closeTimeoutMs?: number;
  /** More options for the NATS connection (`user`, `pass`, `token`, `name`, …). */
  connectOptions?: Record<string, unknown>;
}

/** Counts of a {@link JetStreamSink}. */
export interface JetStreamSinkStats {
  /** Slabs held now: being published or waiting. */
  held: number;
  /** The most slabs held at once. */
  maxHeld: number;
  /** Messages the server acknowledged (stored, or dropped as a duplicate of a stored one). */
  acked: number;
  /** Frames in them. */
  ackedFrames: number;
  /** Bytes in them: the offset of the first byte not acknowledged. */
  ackedBytes: number;
  /** Publishes that failed and were tried again. */
  retries: number;
}

interface Job {
  chunk: Uint8Array;
  offset: number;
  frames: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A {@link Sink} publishing each sealed slab a StreamWriter hands it as one
 * JetStream message of whole frames, with the headers of the message
 * contract (lib/ship/wire.ts: this stream id, file 0, the slab's byte
 * offset in the stream, its frame count; `Nats-Msg-Id` from them).
 *
 * One publish is awaited at a time, in stream order, so the stream's
 * messages are stored in order even across a reconnect (a later batch
 * never lands before an earlier one lost with the connection); a failed
 * publish is retried with the same `Nats-Msg-Id` (the server's duplicate
 * window drops a copy already stored). `write()` returns a promise that
 * settles when the server acked the slab: the writer keeps the slab
 * until then, and at `maxSlabs` held the sink asks the producer to wait
 * (`needsDrain`, `drain()`). After `retryForMs` of failures the sink fails:
 * the writer's next call throws its `IoError`, and `close()` rejects.
 *
 * **Weaker than capture-then-ship.** Frames live only in this process
 * until acked: a crash, a SIGKILL or a failed sink loses the frames of
 * every slab not acked (at most `maxSlabs` slabs handed over, plus the
 * frames the writer is still staging); `stats.ackedBytes` is where the
 * stored stream ends. A `CaptureSink` and the shipper lose nothing a
 * dying process had written.
 *
 * @example
 * ```ts
 * const framer = new ChecksumFramer(XxHash64);
 * const sink = new JetStreamSink({ servers: 'nats://127.0.0.1:4222', subject: 'telemetry.agent1', framer });
 * const writer = new StreamWriter(sink, framer);
 * if (!writer.writePayload(bytes)) await writer.drain();
 * writer.close();
 * await writer.finished(); // every slab acked
 * ```
 */
export class JetStreamSink implements Sink {
  readonly streamId: string;
  readonly subject: string;
  #servers: string | string[];
  #connectOptions: Record<string, unknown> | undefined;
  #headerSize: number;
  #maxSlabs: number;
  #retryForMs: number;
  #closeTimeoutMs: number;
  #nats: NatsClient | null = null;
  #nc: NatsConnection | null = null;
  #js: JetStreamClient | null = null;
  #connecting: Promise<void> | null = null;
  #queue: Job[] = [];
  #head = 0;
  #publishing = false;
  #offset = 0;
  #failure: FlatStreamError | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  #waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  #idle: (() => void) | null = null;
  #stats: JetStreamSinkStats = {
    held: 0,
    maxHeld: 0,
    acked: 0,
    ackedFrames: 0,
    ackedBytes: 0,
    retries: 0,
  };

  constructor(options: JetStreamSinkOptions) {
    checkOptions(options, 'options');
    if (options === undefined) throw typeError('The "options" argument must be an object');
    const servers = checkServers(options.servers);
    if (typeof options.subject !== 'string' || options.subject === '')
      throw typeError('The "subject" option must be a non-empty string');
    if (!(options.framer instanceof Framer))
      throw typeError('The "framer" option must be the Framer the writer uses');
    const id = options.streamId ?? randomUUID();
    if (typeof id !== 'string' || id === '' || /[\s:]/.test(id))
      throw typeError('The "streamId" option must be a non-empty string without spaces or colons');
    checkOptions(options.connectOptions, 'connectOptions');
    this.#maxSlabs = options.maxSlabs ?? 8;
    checkInteger(this.#maxSlabs, 'maxSlabs', 1, 1024);
    this.#retryForMs = options.retryForMs ?? 60_000;
    checkInteger(this.#retryForMs, 'retryForMs', 0, 2 ** 31 - 1);
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 30_000;
    checkInteger(this.#closeTimeoutMs, 'closeTimeoutMs', 0, 2 ** 31 - 1);
    this.streamId = id;
    this.subject = options.subject;
    this.#servers = servers;
    this.#connectOptions = options.connectOptions;
    this.#headerSize = options.framer.headerSize;
  }

  /** Counts so far (a copy). */
  get stats(): JetStreamSinkStats {
    return { ...this.#stats };
  }

  /** True while the sink holds `maxSlabs` slabs (the writer's `write()` returns false). */
  get needsDrain(): boolean {
    return this.#stats.held >= this.#maxSlabs;
  }

  /** Resolves when the sink holds fewer than `maxSlabs` slabs; rejects when it failed. */
  drain(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (!this.needsDrain) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /**
   * Publishes `chunk` (whole sealed frames) as the next message; resolves
   * when the server acked it. The chunk is read, never kept past that.
   */
  write(chunk: Uint8Array): Promise<void> {
    if (this.#closed) throw new ClosedError('JetStreamSink');
    if (this.#failure) throw this.#failure;
    const frames = countFrames(chunk, this.#headerSize);
    const offset = this.#offset;
    this.#offset += chunk.length;
    const s = this.#stats;
    if (++s.held > s.maxHeld) s.maxHeld = s.held;
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ chunk, offset, frames, resolve, reject });
      void this.#pump();
    });
  }

  /**
   * Waits until every slab handed over is acked (at most `closeTimeoutMs`),
   * then closes the connection. Rejects with the sink's failure, or with an
   * `IoError` naming the frames not acked by then (they are lost). Once.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#failure === null && this.#stats.held > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.#idle = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#closeTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (this.#failure === null && this.#stats.held > 0)
        this.#fail(
          new IoError(
            `JetStreamSink closed after ${this.#closeTimeoutMs} ms with ${this.#lost()} not acknowledged: lost`,
          ),
        );
    }
    const nc = this.#nc;
    this.#nc = null;
    if (nc !== null && !nc.isClosed()) await nc.close().catch(() => undefined);
    if (this.#failure) throw this.#failure;
  }

  // Connects once; a failed first connection is tried again by the next
  // publish attempt (a server away at start is a server away: retryForMs),
  // never by the client in the background, where close() could not stop it.
  #connect(): Promise<void> {
    this.#connecting ??= (async () => {
      this.#nats = await loadNats();
      const nc = await this.#nats.connect({
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        ...this.#connectOptions,
        servers: this.#servers,
      });
      if (this.#closing !== null && this.#stats.held === 0) {
        await nc.close(); // closed while connecting, with nothing left to publish
        throw new ClosedError('JetStreamSink');
      }
      this.#nc = nc;
      this.#js = this.#nats.jetstream(nc);
    })();
    const connecting = this.#connecting;
    connecting.catch(() => {
      if (this.#connecting === connecting) this.#connecting = null;
    });
    return connecting;
  }

  // Publishes the queued jobs one at a time, in order, retrying each.
  async #pump(): Promise<void> {
    if (this.#publishing) return;
    this.#publishing = true;
    try {
      while (this.#head < this.#queue.length && this.#failure === null) {
        const job = this.#queue[this.#head]!;
        await this.#publish(job);
        if (this.#failure) break;
        this.#queue[this.#head++] = undefined as unknown as Job;
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        const s = this.#stats;
        s.held--;
        s.acked++;
        s.ackedFrames += job.frames;
        s.ackedBytes = job.offset + job.chunk.length;
        job.resolve();
        if (s.held < this.#maxSlabs && this.#waiters.length > 0) this.#wake();
      }
    } finally {
      this.#publishing = false;
    }
    if (this.#stats.held === 0 || this.#failure) this.#idle?.();
  }

  async #publish(job: Job): Promise<void> {
    let failingSince = 0;
    let delay = 50;
    for (;;) {
      try {
        await this.#connect();
        // A message the server can never take is not retried: a frame
        // larger than max_payload (1 MiB by default) fails the sink at once.
        const max = this.#nc!.info?.max_payload ?? Infinity;
        if (job.chunk.length > max - HEADERS_ROOM) {
          this.#fail(
            new IoError(
              `JetStreamSink: a slab of ${job.chunk.length} bytes (at stream byte ${job.offset}) does not fit the server's max_payload of ${max} bytes with its headers; ${this.#lost()} not acknowledged: lost`,
            ),
          );
          return;
        }
        const h = this.#nats!.headers();
        // One logical stream: its id names its one "file" too (wire.ts).
        const msgID = setBatchHeaders(h, {
          stream: this.streamId,
          file: 0,
          fileId: this.streamId,
          offset: job.offset,
          frames: job.frames,
          bytes: job.chunk.length,
        });
        await this.#js!.publish(this.subject, job.chunk, {
          msgID,
          headers: h,
          timeout: 2_000,
        });
        return;
      } catch (err) {
        const now = Date.now();
        if (failingSince === 0) failingSince = now;
        if (this.#failure) return; // closed meanwhile, past closeTimeoutMs
        if (err instanceof NatsClientMissingError) {
          this.#fail(err); // no retry installs it
          return;
        }
        if (isAuthError(err)) {
          // No retry makes the credentials right: fail at once.
          this.#fail(
            new IoError(
              `JetStreamSink: ${(err as Error).message}; ${this.#lost()} not acknowledged: lost`,
              err,
            ),
          );
          return;
        }
        if (now - failingSince >= this.#retryForMs) {
          this.#fail(
            new IoError(
              `JetStreamSink: publishing to ${JSON.stringify(this.subject)} failed for ${this.#retryForMs} ms (${(err as Error)?.message ?? String(err)}); ${this.#lost()} not acknowledged: lost`,
              err,
            ),
          );
          return;
        }
        this.#stats.retries++;
        await new Promise((r) => setTimeout(r, delay));
        if (this.#failure) return;
        delay = Math.min(delay * 2, 1_000);
      }
    }
  }

  // What is not acked: frames, slabs and the byte range.
  #lost(): string {
    let frames = 0;
    let end = this.#stats.ackedBytes;
    for (let i = this.#head; i < this.#queue.length; i++) {
      const j = this.#queue[i]!;
      frames += j.frames;
      end = j.offset + j.chunk.length;
    }
    const slabs = this.#queue.length - this.#head;
    return `${frames} frame${frames === 1 ? '' : 's'} in ${slabs} slab${slabs === 1 ? '' : 's'} (stream bytes ${this.#stats.ackedBytes} to ${end})`;
  }

  // The first failure is final: every slab held is released with it, and
  // the connection is closed at once, so the client stops reconnecting and
  // keeps no host alive without a close() (docs/design.md, "Direct
  // JetStream sink").
  #fail(err: FlatStreamError): void {
    if (this.#failure) return;
    this.#failure = err;
    const nc = this.#nc;
    this.#nc = null;
    this.#js = null;
    if (nc !== null && !nc.isClosed()) void nc.close().catch(() => undefined);
    const jobs = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    this.#stats.held = 0;
    for (const j of jobs) j.reject(err);
    this.#wake();
    this.#idle?.();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (this.#failure) w.reject(this.#failure);
      else w.resolve();
    }
  }
}

// The frames of a sealed slab, walked by their lengths: they must end
// exactly at its end (else the framer given is not the writer's).
function countFrames(chunk: Uint8Array, headerSize: number): number {
  const n = chunk.length;
  let at = 0;
  let frames = 0;
  while (at + 4 <= n) {
    at += headerSize + frameLength(chunk, at);
    frames++;
  }
  if (at !== n)
    throw new FlatStreamError(
      `JetStreamSink: a slab of ${n} bytes is not whole frames of ${headerSize}-byte headers: is the "framer" option the writer's framer?`,
    );
  return frames;
}
