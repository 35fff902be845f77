/**
 * JetStreamSource: a stream's frames read back from NATS JetStream through
 * a durable pull consumer, as the chunks a StreamReader reads
 * (docs/design.md, "Reading back from JetStream").
 *
 * Owns: JetStreamSource, its options and positions. Imports: ship/client
 * (the NATS client, loaded on first use), ship/wire (the message contract),
 * format (errors, args, header, framing), read/reader.
 */
import type { JsMsg, Consumer, ConsumerMessages, JetStreamManager } from '@nats-io/jetstream';
import { checkFunction, checkInteger, checkOptions, typeError } from '../format/args';
import {
  BatchContinuityError,
  BatchHeaderError,
  FlatStreamError,
  FormatMismatchError,
  IoError,
} from '../format/errors';
import type { BuiltinChecksum } from '../format/checksum';
import { Deframer } from '../format/framing';
import { type StreamHeader, detectHeader, guessChecksum } from '../format/header';
import { StreamReader, type StreamReaderOptions } from '../read/reader';
import { checkServers, type NatsConnection, loadNats } from './client';
import { type BatchPosition, readBatchPosition } from './wire';

/** Options of a {@link JetStreamSource}. */
export interface JetStreamSourceOptions {
  /** The NATS server(s), e.g. `'nats://127.0.0.1:4222'`. */
  servers: string | string[];
  /** The JetStream stream holding the messages. */
  stream: string;
  /**
   * The durable pull consumer to read through. Created (explicit acks,
   * `subject` as its filter, `ackWaitMs`) if the stream has none of that
   * name; an existing one is used as it is configured.
   */
  durable: string;
  /** The filter subject of a consumer this source creates (default: the whole stream). */
  subject?: string;
  /**
   * `true` (default): wait for new messages until `signal` aborts or the
   * iteration is returned. `false`: end once the consumer is drained: a
   * pull finds nothing and the consumer has no message pending and none
   * awaiting an ack (needed by `flatstream cat`).
   */
  follow?: boolean;
  /** Ends the iteration (as a clean end of the stream) when aborted. */
  signal?: AbortSignal;
  /** Messages asked for per pull (default 64, 1 to 10,000). */
  batch?: number;
  /** The ack wait of a consumer this source creates, in ms (default 30,000; at least 100). */
  ackWaitMs?: number;
  /** More options for the NATS connection (`user`, `pass`, `token`, `name`, …). */
  connectOptions?: Record<string, unknown>;
  /**
   * Delete the durable consumer when the source closes (a consumer for one
   * read, as `flatstream cat` makes). A consumer this source creates with it
   * also has an `inactive_threshold` of 5 minutes, so the server removes it
   * if the reader dies before deleting it.
   */
  deleteOnClose?: boolean;
  /** Called when a file of the stream begins (offset 0: the first file, and each rotation). */
  onFile?: (file: FileStart) => void;
}

/** A file of the stream beginning (see {@link JetStreamSourceOptions.onFile}). */
export interface FileStart {
  readonly stream: string;
  readonly file: number;
  /** The file's header (its frame 0), never yielded; null for a headerless file. */
  readonly header: StreamHeader | null;
}

/** Where a message the source yielded came from. */
export interface DeliveredBatch extends BatchPosition {
  /** The message's sequence number in the JetStream stream. */
  readonly seq: number;
  /** Bytes of the message (a header frame included). */
  readonly bytes: number;
  /** Where its yielded bytes begin among all bytes this source yielded (a reader's offsets). */
  readonly readerOffset: number;
  /** Bytes of a header frame at its start, not yielded (0 without). */
  readonly headerBytes: number;
  /**
   * Bytes at its start not yielded: its header frame, or the frames of an
   * overlapping message already delivered (`headerBytes` or more).
   */
  readonly skippedBytes: number;
}

/** Counts of a {@link JetStreamSource}. */
export interface JetStreamSourceStats {
  /** Messages yielded (their frames went to the reader). */
  messages: number;
  /** Bytes yielded. */
  bytes: number;
  /** Messages dropped: a position already delivered (a redelivery or a duplicate past the server's window). */
  duplicates: number;
  /**
   * Messages that started inside what was delivered and ended past it (a
   * batch cut differently on a resend): their frames before the position
   * were dropped, the rest yielded (also counted in `messages`).
   */
  overlaps: number;
  /** Messages acked. */
  acked: number;
}

/** The `inactive_threshold` of a consumer created with `deleteOnClose`, in ms. */
const INACTIVE_MS = 300_000;

const POSITION_HEADERS = (msg: JsMsg) => (name: string) => msg.headers?.get(name) ?? '';

/**
 * The frames of a shipped stream, read back from a JetStream stream
 * through a durable pull consumer: an `AsyncIterable<Uint8Array>` of the
 * messages' bytes, for `new StreamReader(source, deframer)` (or
 * {@link JetStreamSource.reader}, which finds the deframer), so every check
 * the reader does on a file runs on what comes back.
 *
 * **Acks.** A message is acked when the iterator is asked for the next
 * chunk after it: a StreamReader asks only once it has delivered every
 * frame of the chunk it holds (messages hold whole frames), so an ack means
 * the reader's consumer has had all of the message's frames (through
 * `reader.toStream()`, which reads ahead, that they reached its buffer). A message
 * yielded last before `return()`, an abort or a crash is not acked: the
 * durable delivers it again to the next reader (its frames may be seen
 * twice; nothing is lost). A message the source drops (a duplicate, a
 * header alone) is acked at once.
 *
 * **Continuity** (the `Flatstream-*` headers, lib/ship/wire.ts): a message
 * entirely before the position reached is dropped (`stats.duplicates`: a
 * redelivery after the ack wait, or the same batch published twice past
 * the server's duplicate window); one of the same file that starts inside
 * it and ends past it (a batch cut differently on a resend) yields only its
 * frames from the position on (`stats.overlaps`), which must be a frame
 * boundary of it, else it is a {@link BatchContinuityError} `'overlap'`;
 * one that starts past it is a `'gap'`, one of another stream
 * `'second-stream'`; a missing
 * or malformed header is a {@link BatchHeaderError}. Such a message is
 * neither yielded nor acked, and the iteration ends with the error (the
 * reader's error from then on). A new file (the `Flatstream-File` number
 * one higher, at offset 0: a rotation) continues the stream; its header
 * frame is not yielded (`onFile`, `header`), and must name the checksum of
 * the first file's header (else {@link FormatMismatchError}), so one
 * reader reads every file. Across sources (a restart), the position starts
 * after the message at the consumer's ack floor.
 *
 * @example
 * ```ts
 * const source = new JetStreamSource({ servers: 'nats://127.0.0.1:4222', stream: 'TELEMETRY', durable: 'analyser' });
 * const reader = await source.reader();
 * for await (const payload of reader) handle(payload);
 * ```
 */
export class JetStreamSource implements AsyncIterable<Uint8Array> {
  readonly options: Readonly<JetStreamSourceOptions>;
  #follow: boolean;
  #batch: number;
  #ackWaitMs: number;
  #nc: NatsConnection | null = null;
  #consumer: Consumer | null = null;
  #jsm: JetStreamManager | null = null;
  #connecting: Promise<void> | null = null;
  #msgs: ConsumerMessages | null = null;
  #it: AsyncIterator<JsMsg> | null = null;
  #unacked: JsMsg | null = null; // the message yielded last, acked at the next step
  #peeked: IteratorResult<Uint8Array> | null = null; // the first step, taken by reader()
  #expect: { stream: string; file: number; offset: number } | null = null;
  #resume: { stream: string; file: number; offset: number } | null = null;
  #sawEnd = false; // a message said nothing more was pending (follow: false)
  #checksum: BuiltinChecksum | null = null; // the first header's checksum
  #header: StreamHeader | null = null;
  #current: DeliveredBatch | null = null;
  #yielded = 0; // bytes yielded so far
  #done = false;
  #busy = false;
  #iterated = false;
  #error: Error | null = null;
  #thrown: unknown = undefined; // what onFile threw
  #frameHeader: number | null = null; // the deframer's header size, when reader() chose it
  #stats: JetStreamSourceStats = { messages: 0, bytes: 0, duplicates: 0, overlaps: 0, acked: 0 };

  constructor(options: JetStreamSourceOptions) {
    checkOptions(options, 'options');
    if (options === undefined) throw typeError('The "options" argument must be an object');
    checkServers(options.servers);
    for (const k of ['stream', 'durable'] as const)
      if (typeof options[k] !== 'string' || options[k] === '')
        throw typeError(`The "${k}" option must be a non-empty string`);
    if (options.subject !== undefined && (typeof options.subject !== 'string' || !options.subject))
      throw typeError('The "subject" option must be a non-empty string');
    if (options.follow !== undefined && typeof options.follow !== 'boolean')
      throw typeError('The "follow" option must be a boolean');
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal))
      throw typeError('The "signal" option must be an AbortSignal');
    if (options.onFile !== undefined) checkFunction(options.onFile, 'onFile');
    if (options.deleteOnClose !== undefined && typeof options.deleteOnClose !== 'boolean')
      throw typeError('The "deleteOnClose" option must be a boolean');
    checkOptions(options.connectOptions, 'connectOptions');
    this.#batch = options.batch ?? 64;
    checkInteger(this.#batch, 'batch', 1, 10_000);
    this.#ackWaitMs = options.ackWaitMs ?? 30_000;
    checkInteger(this.#ackWaitMs, 'ackWaitMs', 100, 2 ** 31 - 1);
    this.options = { ...options };
    this.#follow = options.follow ?? true;
  }

  /** The header of the file read last (null before one, or for headerless files). */
  get header(): StreamHeader | null {
    return this.#header;
  }

  /** The message yielded last, or null. */
  get current(): DeliveredBatch | null {
    return this.#current;
  }

  /** Counts so far (a copy). */
  get stats(): JetStreamSourceStats {
    return { ...this.#stats };
  }

  /**
   * Where a reader's offset (`err.offset` of a reader over this source)
   * lies in the shipped file: inside the message yielded last, else null.
   */
  locate(
    readerOffset: number,
  ): { stream: string; file: number; offset: number; seq: number } | null {
    const c = this.#current;
    if (c === null) return null;
    const rel = readerOffset - c.readerOffset;
    if (rel < 0 || rel > c.bytes - c.skippedBytes) return null;
    return { stream: c.stream, file: c.file, offset: c.offset + c.skippedBytes + rel, seq: c.seq };
  }

  /**
   * A StreamReader over this source, its deframer found as
   * `StreamReader.open` finds a file's: waits for the first message; a
   * file's header names the checksum (`options.deframer`, if given, must
   * read it, else {@link FormatMismatchError}); without one,
   * `options.deframer`, else the checksum under which the first bytes
   * verify furthest. With nothing to read (`follow: false` on a drained
   * consumer), `options.deframer` or no checksum.
   */
  async reader(
    options?: StreamReaderOptions & { deframer?: Deframer; maxFrameLen?: number },
  ): Promise<StreamReader> {
    checkOptions(options, 'options');
    const { deframer: given, maxFrameLen, ...rest } = options ?? {};
    if (given !== undefined && !(given instanceof Deframer))
      throw typeError('The "deframer" option must be a Deframer');
    let found: { header: StreamHeader | null; checksum: BuiltinChecksum | null };
    try {
      found = await this.peek();
    } catch {
      // The first message failed (its headers, the connection): the
      // reader's first read fails with it, as any later one would.
      found = { header: null, checksum: null };
    }
    let deframer = given;
    if (found.header !== null && found.checksum !== null) {
      if (given && given.checksum !== found.checksum)
        throw new FormatMismatchError(
          `the stream's header names ${found.checksum.name} frames; the deframer given reads ${given.checksum.name}`,
          found.checksum.name,
          given.checksum.name,
        );
    }
    deframer ??= new Deframer(found.checksum ?? undefined, max(maxFrameLen));
    this.#frameHeader = deframer.headerSize;
    return new StreamReader(this, deframer, rest);
  }

  /**
   * Waits for the first message (it is yielded first all the same) and
   * says what it found: the header of a file starting there and the
   * checksum it names; without one, the checksum under which the first
   * bytes verify furthest; nothing (`follow: false`, drained) gives nulls.
   * Rejects with the error reading would meet.
   */
  async peek(): Promise<{ header: StreamHeader | null; checksum: BuiltinChecksum | null }> {
    if (this.#iterated) throw typeError('this JetStreamSource is already being read');
    this.#peeked ??= await this.#step();
    const first = this.#peeked;
    if (this.#checksum !== null) return { header: this.#header, checksum: this.#checksum };
    return { header: null, checksum: first.done ? null : guessChecksum(first.value) };
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#iterated) throw typeError('a JetStreamSource is iterated once');
    this.#iterated = true;
    return {
      next: () => {
        const peeked = this.#peeked;
        if (this.#error) {
          this.#peeked = null;
          return Promise.reject(this.#error);
        }
        if (peeked) {
          this.#peeked = null;
          return Promise.resolve(peeked);
        }
        return this.#step();
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /**
   * Ends reading: the message yielded last stays unacked (redelivered to
   * the next reader of the durable), acks sent before are flushed, the
   * connection is closed. Idempotent.
   */
  async close(): Promise<void> {
    this.#done = true;
    this.#unacked = null;
    await this.#disconnect();
  }

  // One step: acks the message yielded last, then yields the next one's
  // bytes, or ends.
  async #step(): Promise<IteratorResult<Uint8Array>> {
    if (this.#error) throw this.#error;
    if (this.#done) return { done: true, value: undefined };
    if (this.#busy) throw typeError('JetStreamSource: next() called while a step is in progress');
    this.#busy = true;
    try {
      this.#ack();
      for (;;) {
        const msg = await this.#nextMessage();
        if (msg === null) {
          await this.close();
          return { done: true, value: undefined };
        }
        const chunk = this.#accept(msg);
        if (chunk === null) {
          msg.ack(); // nothing for the reader: a duplicate, an empty message, a header alone
          this.#stats.acked++;
          continue;
        }
        this.#unacked = msg;
        return { done: false, value: chunk };
      }
    } catch (err) {
      const e =
        err instanceof FlatStreamError || (err === this.#thrown && err instanceof Error)
          ? err
          : new IoError(`JetStream: ${(err as Error)?.message ?? String(err)}`, err);
      this.#error = e;
      this.#done = true;
      this.#unacked = null;
      await this.#disconnect();
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  #ack(): void {
    const m = this.#unacked;
    if (m === null) return;
    this.#unacked = null;
    m.ack();
    this.#stats.acked++;
  }

  // Checks a message against the position reached; returns the bytes to
  // yield (null: nothing to yield) or throws the typed error.
  #accept(msg: JsMsg): Uint8Array | null {
    const seq = msg.seq;
    if (msg.info.pending === 0) this.#sawEnd = true;
    const pos = readBatchPosition(POSITION_HEADERS(msg));
    if (typeof pos === 'string') throw new BatchHeaderError(pos, seq);
    const data = msg.data;
    const bytes = data.length;
    if (!Number.isSafeInteger(pos.offset + bytes))
      throw new BatchHeaderError(`offset ${pos.offset} + ${bytes} bytes is past 2^53`, seq);
    if (pos.frames * 4 > bytes || (pos.frames === 0 && bytes > 0))
      throw new BatchHeaderError(
        `${pos.frames} frames cannot be ${bytes} bytes (a frame is 4 bytes or more)`,
        seq,
      );
    const received = { ...pos, bytes };
    const exp = this.#expect;
    // Bytes of frames already delivered at the message's start (a batch cut
    // differently on a resend, docs/design.md "Reading back from JetStream").
    let skip = 0;
    if (exp === null) {
      const r = this.#resume;
      if (r !== null && r.stream === pos.stream) {
        if (before(pos, bytes, r)) {
          this.#stats.duplicates++;
          return null;
        }
        if (pos.file === r.file && pos.offset < r.offset)
          skip = this.#overlap(data, pos.offset, r, received, seq);
      }
    } else {
      if (pos.stream !== exp.stream)
        throw new BatchContinuityError('second-stream', exp, received, seq);
      if (before(pos, bytes, exp)) {
        this.#stats.duplicates++;
        return null;
      }
      const sameFile = pos.file === exp.file;
      if (sameFile && pos.offset < exp.offset)
        skip = this.#overlap(data, pos.offset, exp, received, seq);
      else if (
        !(sameFile && pos.offset === exp.offset) &&
        !(pos.file === exp.file + 1 && pos.offset === 0)
      )
        throw new BatchContinuityError('gap', exp, received, seq);
    }
    let headerBytes = 0;
    if (pos.offset === 0 && skip === 0) {
      const found = bytes > 0 ? detectHeader(data) : null;
      if (found !== null) {
        if (this.#checksum !== null && found.checksum !== this.#checksum)
          throw new FormatMismatchError(
            `file ${pos.file} of stream ${JSON.stringify(pos.stream)} has ${found.checksum.name} frames; the files before it have ${this.#checksum.name}`,
            found.checksum.name,
            this.#checksum.name,
          );
        this.#checksum ??= found.checksum;
        headerBytes = found.frameLength;
      }
      this.#header = found?.header ?? null;
      try {
        this.options.onFile?.({ stream: pos.stream, file: pos.file, header: this.#header });
      } catch (err) {
        this.#thrown = err; // the caller's own error, as it threw it
        throw err;
      }
    }
    this.#expect = { stream: pos.stream, file: pos.file, offset: pos.offset + bytes };
    const skippedBytes = Math.max(headerBytes, skip);
    const out = data.subarray(skippedBytes);
    this.#current = { ...pos, seq, bytes, readerOffset: this.#yielded, headerBytes, skippedBytes };
    if (out.length === 0) return null;
    this.#yielded += out.length;
    if (skip > 0) this.#stats.overlaps++;
    this.#stats.messages++;
    this.#stats.bytes += out.length;
    return out;
  }

  // A message of the file reached that starts at `start`, before `at`, and
  // ends past it: its frames are walked by their length fields (the
  // deframer's header size) to `at`, which must be a frame boundary (both
  // cuts are, in the same file); returns the bytes to skip. Anything else is
  // a BatchContinuityError 'overlap'.
  #overlap(
    data: Uint8Array,
    start: number,
    at: { stream: string; file: number; offset: number },
    received: BatchPosition & { bytes: number },
    seq: number,
  ): number {
    const want = at.offset - start;
    const width = this.#headerWidth(data);
    let walked = 0;
    while (walked < want && walked + 4 <= data.length) {
      const len =
        (data[walked]! |
          (data[walked + 1]! << 8) |
          (data[walked + 2]! << 16) |
          (data[walked + 3]! << 24)) >>>
        0;
      walked += width + len;
    }
    if (walked !== want) throw new BatchContinuityError('overlap', at, received, seq);
    return want;
  }

  // The frame header size: the deframer's (reader()), else that of the
  // first file header's checksum, else that of the checksum the message's
  // own frames verify under furthest (it starts at a frame boundary).
  #headerWidth(data: Uint8Array): number {
    if (this.#frameHeader !== null) return this.#frameHeader;
    const checksum = this.#checksum ?? guessChecksum(data);
    return 4 + checksum.width;
  }

  // The next message from the consumer, or null at the end (aborted, or
  // drained with follow: false).
  async #nextMessage(): Promise<JsMsg | null> {
    if (this.options.signal?.aborted) return null; // never connects for nothing
    if ((await untilAbort(this.#connect(), this.options.signal)) === ABORTED) return null;
    for (;;) {
      if (this.#done || this.options.signal?.aborted) return null;
      if (!this.#follow && this.#sawEnd) {
        this.#sawEnd = false;
        if (await this.#drained()) return null;
      }
      if (this.#it === null) {
        if (!this.#follow && (await this.#drained())) return null;
        let msgs: ConsumerMessages;
        try {
          msgs = await this.#consumer!.fetch({
            max_messages: this.#batch,
            expires: this.#follow ? 5_000 : 1_000,
          });
        } catch (err) {
          await this.#retry(err);
          continue;
        }
        this.#msgs = msgs;
        this.#it = msgs[Symbol.asyncIterator]();
      }
      let r: IteratorResult<JsMsg> | typeof ABORTED;
      try {
        r = await untilAbort(this.#it.next(), this.options.signal);
      } catch (err) {
        this.#endPull();
        await this.#retry(err);
        continue;
      }
      if (r === ABORTED) return null;
      if (r.done) {
        this.#endPull();
        continue;
      }
      return r.value;
    }
  }

  // A pull that failed: the connection is gone for good, or the consumer
  // or the stream is (an error), or the client is reconnecting (pull again
  // shortly). A pull that only timed out ("heartbeats missed") asks the
  // server whether the consumer still exists: a deleted one is an error,
  // never a pull retried forever.
  async #retry(err: unknown): Promise<void> {
    if (this.#nc === null || this.#nc.isClosed()) throw err;
    const gone = /not found|does not exist|deleted/i;
    const why = String((err as Error)?.message ?? err);
    if (gone.test(why)) throw err;
    if (/heartbeat/i.test(why) && !this.#nc.isClosed()) {
      try {
        await this.#consumer!.info();
      } catch (e) {
        if (gone.test(String((e as Error)?.message ?? e))) throw e;
        // no answer: the server is away, the client reconnects
      }
    }
    let timer: NodeJS.Timeout | undefined;
    await untilAbort(new Promise((r) => (timer = setTimeout(r, 250))), this.options.signal);
    clearTimeout(timer);
  }

  #endPull(): void {
    const msgs = this.#msgs;
    this.#msgs = null;
    this.#it = null;
    msgs?.stop();
  }

  // Nothing pending and nothing awaiting an ack (ours flushed first).
  async #drained(): Promise<boolean> {
    await this.#nc!.flush();
    const info = await this.#consumer!.info();
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }

  #connect(): Promise<void> {
    this.#connecting ??= (async () => {
      const o = this.options;
      const nats = await loadNats();
      let nc: NatsConnection;
      try {
        nc = await nats.connect({ ...o.connectOptions, servers: o.servers });
      } catch (err) {
        throw new IoError(`cannot connect to ${String(o.servers)}: ${(err as Error).message}`, err);
      }
      this.#nc = nc;
      if (this.#done) {
        await this.#disconnect();
        return;
      }
      try {
        const jsm = await nats.jetstreamManager(nc);
        let info;
        try {
          info = await jsm.consumers.info(o.stream, o.durable);
        } catch (err) {
          if (!/consumer not found/i.test(String((err as Error)?.message))) throw err;
          info = await jsm.consumers.add(o.stream, {
            durable_name: o.durable,
            ack_policy: 'explicit' as never,
            ack_wait: this.#ackWaitMs * 1_000_000,
            // A consumer for one read is removed by the server if its reader
            // dies before deleting it (SIGKILL, a crash, an abort while
            // connecting; docs/design.md "Reading back from JetStream").
            ...(o.deleteOnClose ? { inactive_threshold: INACTIVE_MS * 1_000_000 } : {}),
            ...(o.subject === undefined ? {} : { filter_subject: o.subject }),
          });
        }
        // A source started again on the durable: the position starts after
        // the message at the ack floor (every message up to it was acked).
        const floor = info.ack_floor.stream_seq;
        if (floor > 0) {
          const m = await jsm.streams.getMessage(o.stream, { seq: floor }).catch(() => null);
          const p = m ? readBatchPosition((n) => m.header?.get(n) ?? '') : null;
          if (p !== null && typeof p !== 'string')
            this.#resume = { stream: p.stream, file: p.file, offset: p.offset + m!.data.length };
        }
        this.#jsm = jsm;
        this.#consumer = await nats.jetstream(nc).consumers.get(o.stream, o.durable);
      } catch (err) {
        throw new IoError(
          `JetStream stream ${JSON.stringify(o.stream)}, consumer ${JSON.stringify(o.durable)}: ${(err as Error).message}`,
          err,
        );
      }
    })();
    return this.#connecting;
  }

  async #disconnect(): Promise<void> {
    this.#endPull();
    const nc = this.#nc;
    this.#nc = null;
    if (nc === null || nc.isClosed()) return;
    try {
      await nc.flush(); // the acks sent so far reach the server
      if (this.options.deleteOnClose && this.#jsm)
        await this.#jsm.consumers.delete(this.options.stream, this.options.durable);
    } catch {
      // the connection is failing: its acks are lost, the messages come again
    }
    await nc.close().catch(() => undefined);
  }
}

// A message entirely before `at` (an earlier file, or ending at or before
// its offset): already delivered. An empty message at `at` is not before it.
function before(pos: BatchPosition, bytes: number, at: { file: number; offset: number }): boolean {
  if (pos.file !== at.file) return pos.file < at.file;
  return bytes > 0 ? pos.offset + bytes <= at.offset : pos.offset < at.offset;
}

const ABORTED: unique symbol = Symbol('aborted');

// `p`, or ABORTED once `signal` aborts first. The 'abort' listener lives for
// this one wait and is removed when it ends: a reaction added to one
// long-lived promise per wait is never released until that promise settles
// (the source held every message it read; docs/design.md, "Reading back
// from JetStream").
function untilAbort<T>(
  p: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T | typeof ABORTED> {
  if (signal === undefined) return p;
  if (signal.aborted) {
    p.catch(() => undefined); // settles unobserved
    return Promise.resolve(ABORTED);
  }
  return new Promise<T | typeof ABORTED>((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function max(maxFrameLen: number | undefined): { maxFrameLen: number } | undefined {
  return maxFrameLen === undefined ? undefined : { maxFrameLen };
}
