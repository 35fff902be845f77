/**
 * StreamReader: reads frames back without copying them.
 *
 * The engine scans a batch of frames per call (bounds, checksums) and returns
 * an index of (offset, length) pairs; payloads are handed out as views into
 * the source, or through one reusable `flatbuffers.ByteBuffer` positioned at
 * each payload (`processTyped`), which allocates nothing per frame.
 */
import { ByteBuffer } from 'flatbuffers';
import { Readable } from 'node:stream';
import { checkBytes, checkFunction, checkInteger, checkOptions, typeError } from '../format/args';
import { DONE, FRAME, FrameCursor, type SkippedRange } from './cursor';
import {
  ClosedError,
  FlatStreamError,
  FormatMismatchError,
  IoError,
  ReaderBusyError,
} from '../format/errors';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  MAX_HEADER_LEN,
  type StreamHeader,
  detectHeader,
  frameZeroHint,
  guessChecksum,
} from '../format/header';
import { isVerifyingKind } from '../engine/contract';
import type { PayloadDecoder, PayloadView } from '../format/decoder';
import { Deframer } from '../format/framing';
import type { MemoryPolicy } from '../format/policy';
import { type AsyncChunks, FileSource, IterableChunks, type SyncChunks } from './sources';
import { type FollowOptions, followIterator, followSource } from './follow';

/** Where a payload sits in the stream. */
export interface FrameInfo {
  /** Byte offset of the frame (its length field) in the stream. */
  readonly offset: number;
  /** 0-based index of the frame in the stream. */
  readonly frameIndex: number;
}

/**
 * Called for each payload: a zero-copy view, valid until the callback
 * returns (for a Uint8Array source: for as long as the source). `info` is
 * reused between calls. Return `false` to stop early.
 */
export type FrameCallback = (payload: Uint8Array, info: FrameInfo) => boolean | void;

/** Called for each typed root (reused between calls, like the ByteBuffer behind it). */
export type TypedCallback<T> = (root: T, info: FrameInfo) => boolean | void;

/** A flatc-generated `getRootAsX(bb, obj?)`. */
export type GetRoot<T> = (bb: ByteBuffer, obj?: T) => T;

export type { SkippedRange };

/** Where a reader's bytes come from. */
export type ReadSource = Uint8Array | string | URL | number | Readable | AsyncIterable<Uint8Array>;

/** Options of a {@link StreamReader}. */
export interface StreamReaderOptions extends FollowOptions {
  /** Bytes read per call from a file (default 4 MiB). */
  readSize?: number;
  /** Initial size of the buffer that gathers a frame split across chunks (default 64 KiB). */
  carrySize?: number;
  /** When that buffer, grown for a large frame, shrinks back (default: never). */
  memoryPolicy?: MemoryPolicy;
  /**
   * What a corrupt frame does: `'error'` (default, as flatstream-rs) stops
   * reading with its error; `'skip'` skips it and reads on. A frame that
   * verified but failed a validator is skipped by its length; otherwise the
   * length itself may be garbage, so the reader resynchronises where the
   * evidence says frames resume (docs/design.md "Skip mode": one non-empty
   * frame under a 32- or 64-bit checksum, more under CRC16). A
   * payload is never delivered unless it verified. Needs a built-in
   * checksum: without one, noise cannot be told from frames.
   */
  onCorrupt?: 'error' | 'skip';
  /** Skip mode: called with each range skipped (`{ offset, length, reason }`). */
  onSkip?: (range: SkippedRange) => void;
}

function checkDecoder(decoder: unknown): void {
  if (
    typeof decoder !== 'object' ||
    decoder === null ||
    typeof (decoder as PayloadDecoder<PayloadView>).createView !== 'function'
  )
    throw typeError('The "decoder" argument must be a PayloadDecoder (e.g. a compileSchema codec)');
}

// 4 MiB reads: +11–19 % over 1 MiB on large frames, neutral on small ones (bench/file-read.mjs).
const DEFAULT_READ = 4 << 20;

function isAsyncIterable(x: object): x is AsyncIterable<unknown> {
  return typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

/**
 * Reads framed FlatBuffers messages.
 *
 * Sources: a `Uint8Array`/`Buffer`; a file path, URL or fd (synchronous
 * API reads with `readSync`, the async API reads ahead on libuv's threads);
 * a Node `Readable` or any `AsyncIterable<Uint8Array>` (async API only).
 *
 * Reading is sequential: each call continues where the previous one stopped
 * (after an early stop, at the next frame). The first bad frame stops reading
 * with a typed error carrying its `offset` and `frameIndex`, after every good
 * frame before it was delivered; the reader then stays at that frame and
 * throws the same error on every later call.
 *
 * @example
 * ```ts
 * const reader = new StreamReader('events.fst', new ChecksumDeframer(XxHash64));
 * reader.processTyped(Telemetry.getRootAsTelemetry, (t) => { sum += t.value(); });
 * for await (const payload of new StreamReader(socket, deframer)) handle(payload);
 * ```
 */
export class StreamReader implements AsyncIterable<Uint8Array> {
  readonly deframer: Deframer;
  #cursor: FrameCursor;
  #sync: SyncChunks | null = null;
  #async: AsyncChunks | null = null;
  #stableViews: boolean;
  #closed = false;
  #released = false;
  #busy = false;
  #info = { offset: 0, frameIndex: 0 };
  #bb: ByteBuffer | null = null;
  #header: StreamHeader | null = null;
  #skipHeader = false; // frame 0 is the header: never delivered (docs/design.md, "Stream header")
  #prefix: (() => Uint8Array | null) | null = null; // the stream's first bytes, for the frame-0 hint
  #hinted = false;
  #follow = false; // a followed file: one session, closed when a call ends (docs/design.md, "Follow mode")

  /**
   * @param afterHeader - Internal (`StreamReader.open`): the stream's first
   * `afterHeader` bytes are its header frame, never read; message frames
   * are numbered from 1. Bytes and paths only.
   */
  constructor(
    source: ReadSource,
    deframer: Deframer,
    options?: StreamReaderOptions,
    afterHeader = 0,
  ) {
    if (!(deframer instanceof Deframer))
      throw typeError('The "deframer" argument must be a Deframer');
    checkOptions(options, 'options');
    const readSize = options?.readSize ?? DEFAULT_READ;
    checkInteger(readSize, 'readSize', 16, 2 ** 30);
    const carrySize = options?.carrySize ?? 64 * 1024;
    checkInteger(carrySize, 'carrySize', 16, 2 ** 30);
    const policy = options?.memoryPolicy;
    if (
      policy !== undefined &&
      (typeof policy !== 'object' || policy === null || typeof policy.shouldShrink !== 'function')
    ) {
      throw typeError('The "memoryPolicy" option must be a MemoryPolicy');
    }
    const onCorrupt = options?.onCorrupt ?? 'error';
    if (onCorrupt !== 'error' && onCorrupt !== 'skip') {
      throw typeError(
        `The "onCorrupt" option must be 'error' or 'skip'. Received ${String(onCorrupt)}`,
      );
    }
    const onSkip = options?.onSkip;
    if (onSkip !== undefined) checkFunction(onSkip, 'onSkip');
    if (onCorrupt === 'skip' && !isVerifyingKind(deframer.kind)) {
      throw typeError(
        "onCorrupt: 'skip' needs a built-in checksum: without one, a corrupt length cannot be told from a real one",
      );
    }
    this.deframer = deframer;
    this.#cursor = new FrameCursor(
      deframer,
      policy,
      carrySize,
      onCorrupt === 'skip' ? (onSkip ?? (() => undefined)) : null,
    );
    this.#stableViews = false;
    const follow = followSource(source, this.#cursor, options, readSize);
    if (follow) {
      this.#async = follow;
      this.#follow = true;
    } else if (typeof source === 'string' || typeof source === 'number' || source instanceof URL) {
      if (typeof source === 'number') checkInteger(source, 'fd', 0, 2 ** 31 - 1);
      // One source serves both APIs, so a reader can switch between them.
      const file = new FileSource(source, readSize);
      if (afterHeader > 0) {
        this.#cursor.startAt(afterHeader, 1);
        file.skipTo(afterHeader);
      }
      this.#prefix = () => readPrefix(source);
      this.#sync = file;
      this.#async = file;
    } else if (ArrayBuffer.isView(source)) {
      checkBytes(source, 'source');
      this.#prefix = () => source;
      if (afterHeader > 0) this.#cursor.startAt(afterHeader, 1);
      this.#cursor.push(afterHeader > 0 ? source.subarray(afterHeader) : source);
      this.#cursor.end();
      this.#stableViews = true;
    } else if (typeof source === 'object' && source !== null && isAsyncIterable(source)) {
      this.#async = new IterableChunks(source);
    } else {
      throw typeError(
        'The "source" argument must be a Uint8Array, a path, a file descriptor, a Readable or an AsyncIterable<Uint8Array>',
      );
    }
  }

  /**
   * Opens a stream whose format it finds itself (docs/design.md, "Stream
   * header"): a headed stream's header says its checksum, and frame 0, the
   * header, is never delivered (`reader.header` has it; message frames are
   * numbered from 1). `options.deframer`, if given, is used (with its
   * validators) when it reads the header's checksum, else it is a
   * `FormatMismatchError`. Without a header, `options.deframer` is used if given;
   * otherwise the checksum is guessed: of crc16, crc32, crc32c, xxhash64,
   * crc64, the one under which the first bytes verify furthest from frame
   * 0, else none.
   * Sources: bytes, a path or URL (a regular file: its first bytes are read
   * synchronously, so no FIFO), an fd (read at offset 0). Throws
   * `HeaderError` for a header this library cannot read.
   *
   * @example
   * ```ts
   * const reader = StreamReader.open('events.fst');
   * console.log(reader.header?.rootType, reader.deframer.checksum.name);
   * for (const payload of reader.messages()) handle(payload);
   * ```
   */
  static open(
    source: Uint8Array | string | URL | number,
    options?: StreamReaderOptions & { deframer?: Deframer; maxFrameLen?: number },
  ): StreamReader {
    checkOptions(options, 'options');
    const given = options?.deframer;
    if (given !== undefined && !(given instanceof Deframer))
      throw typeError('The "deframer" option must be a Deframer');
    let prefix: Uint8Array;
    if (ArrayBuffer.isView(source)) {
      checkBytes(source, 'source');
      prefix = source;
    } else if (typeof source === 'string' || typeof source === 'number' || source instanceof URL) {
      if (typeof source === 'number') checkInteger(source, 'fd', 0, 2 ** 31 - 1);
      prefix = readPrefix(source, true)!;
    } else
      throw typeError(
        'The "source" argument of StreamReader.open must be a Uint8Array, a path, a URL or a file descriptor',
      );
    const found = detectHeader(prefix);
    const { deframer: _d, maxFrameLen, ...rest } = options ?? {};
    const max = maxFrameLen === undefined ? undefined : { maxFrameLen };
    const skip = found !== null && (rest.start ?? 0) === 0;
    // A deframer given for a headed stream is used (its validators and
    // observers with it) if it reads the header's checksum.
    if (found && given && given.checksum !== found.checksum)
      throw new FormatMismatchError(
        `the stream's header names ${found.checksum.name} frames; the deframer given reads ${given.checksum.name}`,
        found.checksum.name,
        given.checksum.name,
      );
    const deframer = given ?? new Deframer(found ? found.checksum : guessChecksum(prefix), max);
    // The header frame is never read as a message: a file by path and bytes
    // start after it (so the deframer's validators never see it); a followed
    // file starts after it (frame indexes then count from there); an fd,
    // read where it stands, skips frame 0 as it comes, which a validator
    // would see first, so that is refused.
    let reader: StreamReader;
    if (!skip || found === null) reader = new StreamReader(source, deframer, rest);
    else if (rest.follow === true)
      reader = new StreamReader(source, deframer, { ...rest, start: found.frameLength });
    else if (typeof source !== 'number')
      reader = new StreamReader(source, deframer, rest, found.frameLength);
    else {
      if (deframer.compiled !== null || deframer.observers.length > 0)
        throw typeError(
          'StreamReader.open on an fd of a headed stream takes no deframer with validators or observers (they would see the header): give the path',
        );
      reader = new StreamReader(source, deframer, rest);
      reader.#skipHeader = true;
    }
    reader.#header = found?.header ?? null;
    return reader;
  }

  /** The stream's header (a reader made by {@link StreamReader.open} on a headed stream), else null. */
  get header(): StreamHeader | null {
    return this.#header;
  }

  /** Byte offset of the next frame to read. */
  get position(): number {
    return this.#cursor.position;
  }

  /** Index of the next frame to read. */
  get frameIndex(): number {
    return this.#cursor.frameIndex + 1;
  }

  /** Skip mode: how many ranges, and how many bytes, were skipped so far. */
  get skipped(): { ranges: number; bytes: number } {
    return { ranges: this.#cursor.skippedRanges, bytes: this.#cursor.skippedBytes };
  }

  /** True when the source can only be read asynchronously (a stream). */
  get isAsync(): boolean {
    return this.#sync === null && this.#async !== null;
  }

  /**
   * Calls `cb(payload, info)` for every remaining frame, in order, and
   * returns how many were delivered. Synchronous: bytes and files only (use
   * {@link processAllAsync} for streams).
   */
  processAll(cb: FrameCallback): number {
    checkFunction(cb, 'cb');
    return this.#drainSync(this.#viewVisitor(cb));
  }

  /** {@link processAll} for any source; frames already in memory are delivered without awaiting. */
  processAllAsync(cb: FrameCallback): Promise<number> {
    checkFunction(cb, 'cb');
    return this.#drainAsync(this.#viewVisitor(cb));
  }

  /**
   * Zero-allocation typed access: calls `cb(root, info)` with the root table
   * of every frame, read in place through ONE reusable `ByteBuffer` and ONE
   * reusable root object (`getRoot` is flatc's `getRootAsX`). Reading fields
   * allocates only what the fields are (a BigInt for 64-bit integers, a
   * string for strings). The root is valid until the callback returns.
   *
   * @example
   * ```ts
   * reader.processTyped(Telemetry.getRootAsTelemetry, (t) => { total += t.value(); });
   * ```
   */
  processTyped<T>(getRoot: GetRoot<T>, cb: TypedCallback<T>): number {
    checkFunction(getRoot, 'getRoot');
    checkFunction(cb, 'cb');
    return this.#drainSync(this.#typedVisitor(getRoot, cb));
  }

  /** {@link processTyped} for any source. */
  processTypedAsync<T>(getRoot: GetRoot<T>, cb: TypedCallback<T>): Promise<number> {
    checkFunction(getRoot, 'getRoot');
    checkFunction(cb, 'cb');
    return this.#drainAsync(this.#typedVisitor(getRoot, cb));
  }

  /**
   * The fastest typed read: calls `cb(view, info)` for every remaining frame
   * with ONE reused view of `decoder` (a schema-compiled codec, see
   * `compileSchema`) bound to the payload in place. Allocates nothing per
   * frame beyond what the accessors called return (a string, a bigint).
   * The view is valid until the callback returns. Return `false` to stop.
   *
   * @example
   * ```ts
   * reader.processWith(Telemetry, (t) => { total += t.value(); });
   * ```
   */
  processWith<V extends PayloadView>(decoder: PayloadDecoder<V>, cb: TypedCallback<V>): number {
    checkDecoder(decoder);
    checkFunction(cb, 'cb');
    // #drainSync with the visitor written in (docs/design.md
    // "Schema-compiled codecs": the per-frame overhead): one loop, no
    // closure call per frame.
    return this.#run(() => {
      const c = this.#cursor;
      const info = this.#info;
      const view = decoder.createView();
      let win: Uint8Array | null = null;
      let dv: DataView | null = null;
      let n = 0;
      while (this.#nextSync() === FRAME) {
        info.offset = c.frameOffset;
        info.frameIndex = c.frameIndex;
        n++;
        const w = c.window;
        if (w !== win) {
          win = w;
          dv = new DataView(w.buffer, w.byteOffset, w.byteLength);
        }
        if (cb(view.$bind(w, dv!, c.payloadStart), info) === false) break;
      }
      return n;
    });
  }

  /** {@link processWith} for any source. */
  processWithAsync<V extends PayloadView>(
    decoder: PayloadDecoder<V>,
    cb: TypedCallback<V>,
  ): Promise<number> {
    checkDecoder(decoder);
    checkFunction(cb, 'cb');
    return this.#drainAsync(this.#decoderVisitor(decoder, cb));
  }

  /**
   * A pull iterator over the payloads (bytes and files). Each view is valid
   * until the next step (for a Uint8Array source: for as long as the source).
   * `break` stops cleanly; the reader continues from there next time.
   */
  *messages(): IterableIterator<Uint8Array> {
    this.#enter();
    try {
      const c = this.#cursor;
      for (;;) {
        if (this.#nextSync() === DONE) return;
        const at = c.payloadStart;
        const view = c.window.subarray(at, at + c.payloadLength);
        this.#busy = false;
        yield view;
        this.#enter();
      }
    } finally {
      this.#settle();
    }
  }

  [Symbol.iterator](): IterableIterator<Uint8Array> {
    return this.messages();
  }

  /**
   * `for await (const payload of reader)`: any source; views as in
   * {@link messages}. Following a file, `return()` ends a step waiting for
   * data too (that step throws `ClosedError`).
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    const it = this.#iterate();
    return this.#follow ? followIterator(it, () => void this.close()) : it;
  }

  async *#iterate(): AsyncGenerator<Uint8Array, undefined, undefined> {
    this.#enter();
    try {
      const c = this.#cursor;
      for (;;) {
        if (this.#closed) throw new ClosedError('StreamReader');
        const step = this.#step();
        if (step === DONE) return;
        if (step !== FRAME) {
          await this.#fill();
          continue;
        }
        const at = c.payloadStart;
        const view = c.window.subarray(at, at + c.payloadLength);
        this.#busy = false;
        yield view;
        this.#enter();
      }
    } finally {
      this.#settle();
    }
  }

  /**
   * A `Readable` in object mode of payloads, with backpressure. Payloads are
   * copies (Buffers) unless the source is a Uint8Array, because a stream
   * buffers objects beyond the reader's current frame.
   */
  toStream(): Readable {
    const it = this[Symbol.asyncIterator]();
    const copy = !this.#stableViews;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const reader = this;
    return new Readable({
      objectMode: true,
      read() {
        it.next().then(
          (r) => {
            if (r.done) this.push(null);
            else this.push(copy ? Buffer.from(r.value) : r.value);
          },
          (err: unknown) => this.destroy(err as Error),
        );
      },
      // Destroyed, failed or ended: the reader is done with its source
      // (docs/design.md, "Recovery"). Returning the iterator alone would
      // wait for a read in flight, which may never settle (a FIFO without a
      // writer); closing the source settles it. A stream refused because
      // another call is reading (ReaderBusyError) never had the reader: it
      // leaves it to that call.
      destroy(err, cb) {
        it.return?.(undefined).catch(() => undefined);
        if (err instanceof ReaderBusyError) return cb(err);
        reader.close().then(
          () => cb(err),
          () => cb(err),
        );
      },
    });
  }

  /**
   * Releases the source (closes a file the reader opened, destroys a stream).
   * Idempotent. A call reading at that moment (a callback that closes its
   * own reader) stops with `ClosedError` at its next frame, rather than end
   * as if the stream had ended.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#release();
  }

  // Closes the source, once: on close(), and at the first sticky error
  // (the reader can never read again). The reader stays usable for what it
  // has (position, error).
  #release(): Promise<void> {
    if (this.#released) return Promise.resolve();
    this.#released = true;
    this.#sync?.close();
    return this.#async?.close() ?? Promise.resolve();
  }

  // After a call or an iterator step: a reader that failed for good lets
  // its source go at once, rather than when it is closed or collected.
  #settle(): void {
    this.#busy = false;
    if (this.#cursor.error !== null && !this.#hinted) this.#hint(this.#cursor.error);
    if (this.#follow) void this.close();
    if (this.#cursor.error !== null && !this.#released) void this.#release().catch(() => undefined);
  }

  // A stream without a header failing at its first frames: says which other
  // checksums frame 0 verifies under (docs/design.md, "Stream header").
  #hint(err: Error): void {
    this.#hinted = true;
    if (this.#header !== null || this.#prefix === null || !(err instanceof FlatStreamError)) return;
    if (err.frameIndex === undefined || err.frameIndex > 1) return;
    const code = err.code;
    if (
      code !== 'ERR_FLATSTREAM_CHECKSUM_MISMATCH' &&
      code !== 'ERR_FLATSTREAM_UNEXPECTED_EOF' &&
      code !== 'ERR_FLATSTREAM_INVALID_FRAME'
    )
      return;
    let prefix: Uint8Array | null = null;
    try {
      prefix = this.#prefix();
    } catch {
      return; // the hint is a courtesy: the error stands as it is
    }
    if (prefix !== null) err.message += frameZeroHint(prefix, this.deframer.checksum);
  }

  // A visitor handles the cursor's current frame; false stops the drain.
  #viewVisitor(cb: FrameCallback): () => boolean {
    const c = this.#cursor;
    return () =>
      cb(c.window.subarray(c.payloadStart, c.payloadStart + c.payloadLength), this.#info) !== false;
  }

  #typedVisitor<T>(getRoot: GetRoot<T>, cb: TypedCallback<T>): () => boolean {
    const c = this.#cursor;
    const bb = (this.#bb ??= new ByteBuffer(new Uint8Array(0)));
    const state = bb as unknown as { bytes_: Uint8Array };
    let root: T | undefined;
    return () => {
      if (state.bytes_ !== c.window) state.bytes_ = c.window;
      bb.setPosition(c.payloadStart);
      root = getRoot(bb, root);
      return cb(root, this.#info) !== false;
    };
  }

  // One view, rebound per frame; one DataView per window (a chunk or the
  // carry slab), made when the window changes.
  #decoderVisitor<V extends PayloadView>(
    decoder: PayloadDecoder<V>,
    cb: TypedCallback<V>,
  ): () => boolean {
    const c = this.#cursor;
    const view = decoder.createView();
    let win: Uint8Array | null = null;
    let dv: DataView | null = null;
    return () => {
      const w = c.window;
      if (w !== win) {
        win = w;
        dv = new DataView(w.buffer, w.byteOffset, w.byteLength);
      }
      view.$bind(w, dv!, c.payloadStart);
      return cb(view, this.#info) !== false;
    };
  }

  // Delivers frames to `visit` until the end, or until it returns false.
  #drainSync(visit: () => boolean): number {
    return this.#run(() => {
      let n = 0;
      while (this.#nextSync() === FRAME) {
        this.#setInfo();
        n++;
        if (!visit()) break;
      }
      return n;
    });
  }

  // The same for any source: awaits only when the cursor needs more bytes.
  #drainAsync(visit: () => boolean): Promise<number> {
    return this.#runAsync(async () => {
      let n = 0;
      for (;;) {
        if (this.#closed) throw new ClosedError('StreamReader');
        const step = this.#step();
        if (step === DONE) return n;
        if (step !== FRAME) {
          await this.#fill();
          continue;
        }
        this.#setInfo();
        n++;
        if (!visit()) return n;
      }
    });
  }

  // The cursor's next step, past the header frame of a headed stream.
  #step(): number {
    const c = this.#cursor;
    const step = c.next();
    return step === FRAME && this.#skipHeader && c.frameIndex === 0 ? c.next() : step;
  }

  #setInfo(): void {
    this.#info.offset = this.#cursor.frameOffset;
    this.#info.frameIndex = this.#cursor.frameIndex;
  }

  #nextSync(): number {
    const c = this.#cursor;
    for (;;) {
      if (this.#closed) throw new ClosedError('StreamReader');
      const step = this.#step();
      if (step !== 1) return step;
      if (!this.#sync)
        throw typeError(
          'this source is a stream: use processAllAsync, processTypedAsync or for await',
        );
      let chunk: Uint8Array | null;
      try {
        chunk = this.#sync.readSync();
      } catch (err) {
        throw this.#sourceFailed(err);
      }
      if (chunk) c.push(chunk);
      else {
        if (this.#closed) throw new ClosedError('StreamReader');
        c.end();
        this.#sync.close();
      }
    }
  }

  async #fill(): Promise<void> {
    const c = this.#cursor;
    let chunk: Uint8Array | null = null;
    try {
      if (this.#async) chunk = await this.#async.read();
    } catch (err) {
      if (this.#closed) throw new ClosedError('StreamReader');
      throw this.#sourceFailed(err);
    }
    // Closed while waiting: the source's end is not the stream's.
    if (this.#closed) throw new ClosedError('StreamReader');
    if (chunk) c.push(chunk);
    else c.end();
  }

  // A failing source stops reading like a bad frame: sticky, and located
  // where reading stood (a failed connection never reads as a clean end).
  #sourceFailed(err: unknown): Error {
    const c = this.#cursor;
    if (err instanceof IoError) err = new IoError(err.message, err.cause, c.where());
    return c.fail(err instanceof Error ? err : new IoError(String(err), err, c.where()));
  }

  #enter(): void {
    if (this.#closed) throw new ClosedError('StreamReader');
    if (this.#busy) throw new ReaderBusyError(); // calls never interleave on one cursor
    this.#busy = true;
  }

  #run<T>(fn: () => T): T {
    this.#enter();
    try {
      return fn();
    } finally {
      this.#settle();
    }
  }

  async #runAsync<T>(fn: () => Promise<T>): Promise<T> {
    this.#enter();
    try {
      return await fn();
    } finally {
      this.#settle();
    }
  }

  /** The error that stopped reading, if any. */
  get error(): Error | null {
    return this.#cursor.error;
  }
}

const PREFIX = 64 * 1024;

// The first bytes of a file (at least its whole frame 0 when that is at
// most MAX_HEADER_LEN bytes), read at offset 0. A non-regular file has
// none to give without waiting: null, or an IoError when `required`.
function readPrefix(target: string | URL | number, required = false): Uint8Array | null {
  const own = typeof target !== 'number';
  const name =
    typeof target === 'number'
      ? `fd ${target}`
      : `'${target instanceof URL ? fileURLToPath(target) : target}'`;
  let fd: number;
  try {
    fd = own ? fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK) : target;
  } catch (err) {
    if (!required) return null;
    throw new IoError(`cannot open ${name}: ${(err as Error).message}`, err);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      if (!required) return null;
      throw new IoError(
        `cannot open ${name}: it is ${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : 'not a regular file'}; StreamReader.open reads a regular file's first bytes to find its format (give a FIFO or stream to new StreamReader with a deframer)`,
      );
    }
    const read = (n: number): Uint8Array => {
      const buf = Buffer.alloc(Math.min(n, st.size));
      let got = 0;
      while (got < buf.length) {
        const k = fs.readSync(fd, buf, got, buf.length - got, got);
        if (k === 0) break;
        got += k;
      }
      return buf.subarray(0, got);
    };
    const head = read(PREFIX);
    if (head.length < 4) return head;
    const len = (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
    return len + 12 > head.length && len <= MAX_HEADER_LEN ? read(len + 12) : head;
  } catch (err) {
    if (err instanceof FlatStreamError) throw err;
    if (!required) return null;
    throw new IoError(`cannot read ${name}: ${(err as Error).message}`, err);
  } finally {
    if (own) fs.closeSync(fd);
  }
}
