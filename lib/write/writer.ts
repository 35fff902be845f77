/**
 * StreamWriter: the hybrid simple/expert writer. It only stages frames
 * (docs/design.md, "Data paths", "Slab protocol"): it gets a unit from its
 * slab source, copies (or lets an encoder write) each payload into the
 * slab, writes the header and moves its position; the source seals and
 * sends the slab on when the writer submits it (full, flush(), close(), the
 * flush timer). Nothing crosses into C++ per message.
 *
 * Owns: StreamWriter, its options, stats and item types. Imports: format
 * (args, errors, framing, policy, validation, encoder), sinks (exit hook,
 * slab protocol), write (sink targets, builder placement, payload copy,
 * Arena).
 */
import type { Builder } from 'flatbuffers';
import { checkBytes, checkInteger, checkOptions, rangeError, typeError } from '../format/args';
import type { PayloadEncoder } from '../format/encoder';
import {
  ClosedError,
  FlatStreamError,
  IoError,
  ReentrantCallError,
  StagingFullError,
  UnfinishedBuilderError,
  ValidationFailedError,
} from '../format/errors';
import { CUSTOM_KIND, type Deframer, Framer } from '../format/framing';
import type { MemoryPolicy } from '../format/policy';
import type { CompiledValidator } from '../format/validation';
import * as exitHook from '../sinks/exit-hook';
import type { Sink } from '../sinks/sink';
import { sinkFailure, type SlabSource, type SlabUnit } from '../sinks/slab-source';
import { Arena } from './arena';
import { ArenaBuilder, type BlockSource } from './arena-builder';
import { BuilderPlace, type Guard } from './builder-place';
import { finishedRegion, isBytes, MIN_FLATBUFFER, PayloadCopier } from './payload-copy';
import { resolveTarget, type SinkTarget } from './sink-target';

export type { SinkTarget } from './sink-target';

/** Something that serializes itself into a builder and calls `builder.finish(root)`. */
export interface StreamSerialize {
  serialize(builder: Builder): void;
}

/**
 * What simple mode writes: a `StreamSerialize`, a string (a FlatBuffers
 * string root) or bytes (the payload itself, e.g. a FlatBuffer finished
 * elsewhere; {@link StreamWriter.writeByteVector} wraps bytes in a `[ubyte]` root).
 */
export type WriteItem = StreamSerialize | string | Uint8Array;

/** Options of a {@link StreamWriter}. */
export interface StreamWriterOptions {
  /**
   * Staging slab size in bytes (default 64 KiB). A frame larger than a slab
   * gets a buffer of its own. A slab source that lends its own slabs (a
   * CaptureSink) sets it, and `builderSize`, itself.
   */
  slabSize?: number;
  /**
   * Seal and flush staged frames at least this often, in ms (default: only
   * when full, on flush() and close(); a CaptureSink's own `flushIntervalMs`).
   */
  flushIntervalMs?: number;
  /** Initial capacity of the internal builder, in bytes (default 1024). */
  builderSize?: number;
  /** Where the internal builder grows beyond its baseline (default: plain memory). See {@link StreamWriter.withArena}. */
  arena?: BlockSource;
  /** For a path target: append (default) or truncate (an fd is written where it stands). */
  append?: boolean;
  /**
   * Write what is staged, synchronously, when the process (or worker thread)
   * exits without `close()`: a normal exit, `process.exit()`, an uncaught
   * exception. Default `true` for a file (a path, URL, fd or `FileSink`),
   * `false` otherwise; `true` is allowed for a custom {@link Sink} whose
   * `write()` consumes the chunk synchronously (a promise it returns is not
   * awaited at exit), and refused for a `Writable` and a `CaptureSink`
   * (which has its own). A worker that is `terminate()`d runs no JavaScript:
   * frames it had not flushed are lost.
   */
  flushOnExit?: boolean;
  /** For a path target: repair a torn tail left by a writer that died, then append (see FileSinkOptions.recover). */
  recover?: Deframer;
  /** For a path target with `recover`: the longest torn tail that may be cut (see FileSinkOptions.maxTornBytes). */
  maxTornBytes?: number;
}

/** Counters of a {@link StreamWriter}. */
export interface WriterStats {
  /** Frames accepted. */
  frames: number;
  /** Bytes accepted, headers included. */
  bytes: number;
  /** Chunks handed to the sink. */
  flushes: number;
  /** Staging slabs allocated so far (constant in steady state). */
  slabsAllocated: number;
  /** Slabs the sink still holds (asynchronous sinks). */
  slabsInFlight: number;
  /** Times the internal builder gave memory back under its memory policy. */
  builderShrinks: number;
  /** Frames dropped because the slab source had no free slab (a CaptureSink with `policy: 'drop'`). */
  drops: number;
}

const DEFAULT_SLAB = 64 * 1024;
// Writers with a flush timer and staged frames: held so that the timer, which
// holds its writer weakly, still finds them.
const timed = new Set<StreamWriter>();
const DEFAULT_BUILDER = 1024;

/**
 * Writes framed FlatBuffers messages to a sink.
 *
 * @example
 * ```ts
 * const writer = new StreamWriter('events.fst', new ChecksumFramer(XxHash64));
 * writer.write({ serialize: (b) => b.finish(Telemetry.createTelemetry(b, id, ts, v)) }); // simple mode
 * writer.writeFinished(myBuilder);                                                        // expert mode
 * writer.close();
 * ```
 */
export class StreamWriter {
  /** The framer, as given. */
  readonly framer: Framer;
  /** Where frames go: the Sink (given, or made from a path, fd or Writable), or the SlabSource (a CaptureSink). */
  readonly sink: Sink | SlabSource;
  #source: SlabSource;
  #headerSize: number;
  #custom: boolean;
  #slabSize: number;
  // Whether the source takes frames larger than a slab (submitLarge).
  #large: boolean;
  #commits: Int32Array;
  #unit: SlabUnit;
  #pos = 0;
  // Capacity of the current unit: #slabSize, or 0 once it was submitted
  // (the next frame then takes the slow path, which acquires another).
  #limit: number;
  #unitFrames = 0;
  // Up while the writer runs user code: every entry point then refuses with
  // ReentrantCallError (docs/design.md, "Re-entrancy and writer input").
  #guard: Guard = { active: false };
  #place: BuilderPlace;
  #copier = new PayloadCopier();
  #closed = false;
  // This writer's slot in lib/sinks/exit-hook.ts, or -1 (no flush at exit).
  #exitSlot = -1;
  #failure: FlatStreamError | null = null;
  #finished: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #frames = 0;
  #bytes = 0;
  #flushes = 0;

  constructor(sink: SinkTarget, framer: Framer, options?: StreamWriterOptions) {
    if (!(framer instanceof Framer)) throw typeError('The "framer" argument must be a Framer');
    checkOptions(options, 'options');
    const slabSize = options?.slabSize ?? DEFAULT_SLAB;
    checkInteger(slabSize, 'slabSize', framer.headerSize + 1, 2 ** 30);
    const builderSize = options?.builderSize ?? DEFAULT_BUILDER;
    checkInteger(builderSize, 'builderSize', 8, 2 ** 30);
    if (options?.flushIntervalMs !== undefined)
      checkInteger(options.flushIntervalMs, 'flushIntervalMs', 1, 2 ** 31 - 1);
    const flushOnExit = options?.flushOnExit;
    if (flushOnExit !== undefined && typeof flushOnExit !== 'boolean') {
      throw typeError(
        `The "flushOnExit" option must be of type boolean. Received type ${typeof flushOnExit}`,
      );
    }
    const arena = options?.arena;
    if (
      arena !== undefined &&
      (typeof arena !== 'object' || arena === null || typeof arena.block !== 'function')
    ) {
      throw typeError('The "arena" option must be an Arena');
    }
    this.framer = framer;
    this.#headerSize = framer.headerSize;
    this.#custom = framer.kind === CUSTOM_KIND;
    const target = resolveTarget(sink, options, slabSize, builderSize);
    const source = (this.#source = target.source);
    this.sink = target.sink;
    source.bind({ kind: framer.kind, headerSize: framer.headerSize });
    source.onFailure((err) => {
      this.#failure ??= sinkFailure(err);
    });
    this.#slabSize = source.slabSize;
    this.#large = typeof source.submitLarge === 'function';
    this.#commits = source.commits;
    const unit = source.acquire();
    if (!unit) throw new IoError('the slab source lent a new writer no slab');
    this.#unit = unit;
    this.#limit = this.#slabSize;
    this.#place = new BuilderPlace(this.#guard, arena, unit.scratch);
    if (target.flushOnExit) this.#exitSlot = exitHook.register(this, StreamWriter.#flushAtExit);
    const flushIntervalMs = options?.flushIntervalMs ?? source.flushIntervalMs;
    if (flushIntervalMs !== undefined) {
      // The timer holds the writer weakly: an unclosed writer that nobody
      // references is collected (its timer then stops), except while it has
      // staged frames for the timer to flush (held in `timed`). A source
      // given as such (a CaptureSink) keeps its writer held by the timer.
      this.#timer = startTimer(
        source === this.sink ? this : new WeakRef<StreamWriter>(this),
        flushIntervalMs,
        StreamWriter.#tick,
      );
    }
  }

  /**
   * A writer whose internal builder grows inside `arena` (default: a new
   * {@link Arena}), which you can share with your own {@link ArenaBuilder}s
   * in expert mode and reset when no builder uses its blocks any more.
   */
  static withArena(
    sink: SinkTarget,
    framer: Framer,
    arena: BlockSource = new Arena(),
    options?: StreamWriterOptions,
  ): StreamWriter {
    return new StreamWriter(sink, framer, { ...options, arena });
  }

  /**
   * Sets the memory policy of the internal builder (simple mode) and returns
   * this writer. A shrink goes back to the larger of `policy.baseline` and
   * the builder's scratch beside the slab (`builderSize`).
   */
  withMemoryPolicy(policy: MemoryPolicy): this {
    this.#place.setPolicy(policy);
    return this;
  }

  /**
   * Simple mode: builds `item` with the internal builder and stages it.
   * A `StreamSerialize` must call `builder.finish(root)`; a string is written
   * as a FlatBuffers string root; bytes are framed as they are (the payload,
   * as by {@link writePayload}; see {@link writeByteVector} for a `[ubyte]` root).
   * Returns false when the sink asks the producer to wait (`await writer.drain()`).
   * If anything throws, nothing of this message is staged.
   */
  write(item: WriteItem): boolean {
    this.#check('write()');
    // Bytes are the payload itself, as flatstream-rs has no byte-vector impl.
    if (isBytes(item)) return this.#writeBytes(item);
    if (typeof item === 'string') {
      const b = this.#place.ready();
      b.finish(b.createString(item));
      return this.#stageBuilt(b);
    }
    // Read once, before the builder is cleared: a getter is user code too,
    // and whatever it does to the writer is over before this message starts.
    const serialize = typeof item === 'object' && item !== null ? item.serialize : undefined;
    if (typeof serialize !== 'function') {
      throw typeError('The "item" argument must be a StreamSerialize, a string or a Uint8Array');
    }
    const b = this.#place.ready();
    this.#guard.active = true;
    try {
      serialize.call(item, b);
    } finally {
      this.#guard.active = false;
    }
    if (!b.finished) throw new UnfinishedBuilderError('serialize() returned');
    return this.#stageBuilt(b);
  }

  /**
   * Simple mode: writes `bytes` wrapped in a FlatBuffer whose root is a
   * `[ubyte]` vector. Read it back with `new ByteBuffer(payload)`: the
   * vector starts at the root offset.
   */
  writeByteVector(bytes: Uint8Array): boolean {
    this.#check('writeByteVector()');
    checkBytes(bytes, 'bytes');
    const b = this.#place.ready();
    b.finish(b.createByteVector(bytes));
    return this.#stageBuilt(b);
  }

  /**
   * Expert mode: stages the finished buffer of any `flatbuffers.Builder`
   * (an {@link ArenaBuilder} included). The builder stays yours: clear and
   * reuse it as you like once this returns.
   */
  writeFinished(builder: Builder): boolean {
    this.#check('writeFinished()');
    if (
      typeof builder !== 'object' ||
      builder === null ||
      typeof builder.dataBuffer !== 'function'
    ) {
      throw typeError('The "builder" argument must be a flatbuffers.Builder');
    }
    if (builder instanceof ArenaBuilder) {
      if (!builder.finished) throw new UnfinishedBuilderError('writeFinished()');
      const bytes = builder.backing();
      const start = builder.finishedStart();
      // Its buffer may have been detached (transferred) since finish().
      if (bytes.length - start < MIN_FLATBUFFER)
        throw new UnfinishedBuilderError('writeFinished()');
      this.#stage(bytes, start, bytes.length - start);
    } else {
      // Read through its public API, which is user code for a duck-typed
      // builder: validated completely before the slab is touched.
      const region = this.#readRegion(builder);
      this.#stage(region.bytes, region.start, region.bytes.length - region.start);
    }
    return this.#ready();
  }

  /** Frames raw bytes (e.g. a FlatBuffer finished elsewhere) and stages them. */
  writePayload(payload: Uint8Array): boolean {
    this.#check('writePayload()');
    checkBytes(payload, 'payload');
    return this.#writeBytes(payload);
  }

  /**
   * Reserve/commit: `encoder` writes the payload of `value` straight into
   * the free space of the current slab, and the frame is committed as any
   * other (header, checksum, validators, observers). When it does not fit,
   * the slab is submitted and the encoder tries once more in an empty one;
   * a payload larger than an empty slab is encoded on its own (its
   * `sizeOf`) and staged as a too-large `writePayload` would be. An encoder
   * that throws stages nothing. Returns false when the sink asks the
   * producer to wait.
   */
  writeWith<T>(encoder: PayloadEncoder<T>, value: T): boolean {
    this.#check('writeWith()');
    if (
      typeof encoder !== 'object' ||
      encoder === null ||
      typeof encoder.encodeInto !== 'function' ||
      typeof encoder.sizeOf !== 'function'
    ) {
      throw typeError('The "encoder" argument must be a PayloadEncoder');
    }
    this.#encode(encoder, value);
    return this.#ready();
  }

  /** Seals the staged frames, hands them to the sink and flushes it (bytes reach the OS for file sinks). */
  flush(): void {
    this.#check('flush()');
    this.#flush();
  }

  /** Flushes, then makes written bytes durable (fsync) if the sink can. */
  sync(): void {
    this.#check('sync()');
    this.#flush();
    if (this.#source.sync) this.#call(StreamWriter.#sourceSync);
  }

  /**
   * Resolves once the sink no longer asks the producer to wait (or, for a
   * sink without `needsDrain`, once it holds fewer than 8 slabs); rejects
   * with the writer's failure.
   */
  drain(): Promise<void> {
    if (this.#guard.active) return Promise.reject(new ReentrantCallError('StreamWriter.drain()'));
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#ready()) return Promise.resolve();
    return this.#call(StreamWriter.#sourceDrain);
  }

  /**
   * Seals and hands over what is staged, then closes the sink. Idempotent.
   * Synchronous sinks are closed when this returns; await {@link finished}
   * for asynchronous ones (a `Writable`).
   */
  close(): void {
    if (this.#guard.active) throw new ReentrantCallError('StreamWriter.close()');
    if (this.#closed) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    timed.delete(this);
    try {
      if (!this.#failure) this.#submit();
    } catch (err) {
      // Recorded, not thrown yet: the sink must still be closed below.
      this.#failure ??= sinkFailure(err);
    } finally {
      this.#closed = true;
    }
    const source = this.#source;
    const inFlight = source.settled?.();
    // The source is closed even when it failed or flushing it fails: it
    // still holds a descriptor, a thread, or staged data to hand on.
    if (!this.#failure && source.flush) this.#quietly(StreamWriter.#sourceFlush);
    const closing = this.#quietly(StreamWriter.#sourceClose);
    if (this.#exitSlot >= 0) exitHook.unregister(this.#exitSlot, this);
    const done = Promise.all([inFlight, closing]).then(() => undefined);
    done.catch(() => undefined); // reported through finished()
    this.#finished = done;
    if (this.#failure) throw this.#failure;
  }

  /**
   * Resolves when every chunk has been released by the sink and the sink is
   * closed (after close()); rejects with the writer's IoError.
   */
  finished(): Promise<void> {
    const pending = this.#finished ?? this.#source.settled?.() ?? Promise.resolve();
    return pending.then(() => {
      if (this.#failure) throw this.#failure;
    });
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while the sink asks the producer to wait (see {@link drain}). */
  get needsDrain(): boolean {
    return !this.#ready();
  }

  /** Counters since the writer was made. */
  stats(): WriterStats {
    const source = this.#source;
    return {
      frames: this.#frames,
      bytes: this.#bytes,
      flushes: this.#flushes,
      slabsAllocated: source.slabsAllocated ?? 0,
      slabsInFlight: source.slabsInFlight ?? 0,
      builderShrinks: this.#place.shrinks,
      drops: source.drops,
    };
  }

  #check(what: string): void {
    if (this.#guard.active) throw new ReentrantCallError(`StreamWriter.${what}`);
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new ClosedError('StreamWriter');
  }

  // Whether the source lets the producer go on. Its needsDrain may run user
  // code (a sink's getter); a callback may read this writer's needsDrain,
  // so the guard is restored, not cleared.
  #ready(): boolean {
    const guard = this.#guard;
    const was = guard.active;
    guard.active = true;
    try {
      return !this.#source.needsDrain;
    } finally {
      guard.active = was;
    }
  }

  #writeBytes(payload: Uint8Array): boolean {
    this.#stage(payload, 0, payload.length);
    return this.#ready();
  }

  // Stages the internal builder's finished message.
  #stageBuilt(b: ArenaBuilder): boolean {
    const bytes = b.backing();
    const start = b.finishedStart();
    const len = bytes.length - start;
    const shrinkTo = this.#place.shrinkTarget(b, len);
    this.#stage(bytes, start, len);
    if (shrinkTo !== null) this.#place.shrink(b, shrinkTo);
    return this.#ready();
  }

  // Stages src[start, start + len) as one frame.
  #stage(src: Uint8Array, start: number, len: number): void {
    const framer = this.framer;
    if (len > framer.maxPayloadLen) framer.checkLength(len);
    const compiled = framer.compiled;
    if (compiled) this.#validate(compiled, src, start, len);
    const size = this.#headerSize + len;
    if (this.#pos + size > this.#limit) {
      if (size > this.#slabSize && !this.#large) {
        throw rangeError(
          `A frame of ${size} bytes does not fit the sink's staging slabs of ${this.#slabSize} bytes (raise its slabSize)`,
        );
      }
      this.#submit();
      // A sink that detached (transferred) the slab it was handed took the
      // message being staged beside it (simple mode) with it.
      if (start + len > src.length) {
        throw (this.#failure ??= new IoError(
          'sink failed: it detached (transferred) the chunk it was lent, and the message being staged with it',
        ));
      }
      if (size > this.#slabSize) return this.#stageLarge(src, start, len);
      if (this.#limit === 0 && !this.#nextUnit()) return this.#source.dropped(size);
    }
    const at = this.#pos + this.#headerSize;
    this.#copier.copy(this.#unit, at, src, start, len);
    this.#commit(at, len);
  }

  // writeWith: the encoder writes in place; see writeWith for the retry.
  #encode<T>(encoder: PayloadEncoder<T>, value: T): void {
    let end = this.#limit === 0 ? -1 : this.#encodeIn(encoder, value);
    if (end < 0 && (this.#pos > 0 || this.#limit === 0)) {
      this.#submit();
      if (!this.#nextUnit()) {
        return this.#source.dropped(this.#headerSize + this.#sizeOf(encoder, value));
      }
      end = this.#encodeIn(encoder, value);
    }
    if (end < 0) {
      // Larger than an empty slab: encoded on its own, staged as bytes.
      const size = this.#sizeOf(encoder, value);
      const buf = new Uint8Array(size);
      end = this.#callEncoder(encoder, value, buf, new DataView(buf.buffer), 0, size);
      if (end !== size) throw badReturn(encoder, 'encodeInto()', end, `${size} (its sizeOf())`);
      return this.#stage(buf, 0, size);
    }
    const at = this.#pos + this.#headerSize;
    const len = end - at;
    const framer = this.framer;
    if (len > framer.maxPayloadLen) framer.checkLength(len);
    if (framer.compiled) this.#validate(framer.compiled, this.#unit.slab, at, len);
    this.#commit(at, len);
  }

  // The payload's end in the current slab, or -1 when it does not fit.
  #encodeIn<T>(encoder: PayloadEncoder<T>, value: T): number {
    const at = this.#pos + this.#headerSize;
    if (at > this.#limit) return -1;
    const unit = this.#unit;
    return this.#callEncoder(encoder, value, unit.slab, unit.view, at, this.#limit);
  }

  #callEncoder<T>(
    encoder: PayloadEncoder<T>,
    value: T,
    buf: Uint8Array,
    view: DataView,
    at: number,
    limit: number,
  ): number {
    let end: unknown;
    this.#guard.active = true;
    try {
      end = encoder.encodeInto(value, buf, view, at, limit);
    } finally {
      this.#guard.active = false;
    }
    if (end === -1) return -1;
    if (typeof end !== 'number' || !Number.isInteger(end) || end < at || end > limit)
      throw badReturn(encoder, 'encodeInto()', end, `an integer from ${at} to ${limit}, or -1`);
    return end;
  }

  #sizeOf<T>(encoder: PayloadEncoder<T>, value: T): number {
    let size: unknown;
    this.#guard.active = true;
    try {
      size = encoder.sizeOf(value);
    } finally {
      this.#guard.active = false;
    }
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > 2 ** 32 - 1)
      throw badReturn(encoder, 'sizeOf()', size, 'an integer from 0 to 4294967295');
    return size;
  }

  // Commits the payload at slab[at, at + len): observers, header, position.
  #commit(at: number, len: number): void {
    const framer = this.framer;
    const pos = this.#pos;
    const unit = this.#unit;
    const slab = unit.slab;
    // Observers see the staged payload before it counts as accepted: one
    // that throws leaves nothing of this frame staged. A custom checksum is
    // computed after them, over the staged copy.
    if (framer.observers.length) this.#observe(slab.subarray(at, at + len));
    if (this.#custom) {
      this.#guard.active = true; // may throw: nothing is staged until #pos moves
      try {
        framer.writeHeader(slab, pos, slab.subarray(at, at + len), false);
      } finally {
        this.#guard.active = false;
      }
    } else {
      // Built-in checksum fields are filled for the whole slab by its source.
      slab[pos] = len;
      slab[pos + 1] = len >>> 8;
      slab[pos + 2] = len >>> 16;
      slab[pos + 3] = len >>> 24;
    }
    this.#pos = at + len;
    // What survives if the process dies now (a CaptureSink's shared memory).
    this.#commits[unit.cell] = this.#pos;
    this.#unitFrames++;
    this.#frames++;
    this.#bytes += at + len - pos;
    if (pos === 0) {
      // The slab's first frame: an exit or the timer must write it (until #submit).
      if (this.#exitSlot >= 0) exitHook.arm(this.#exitSlot, this);
      if (this.#timer) timed.add(this);
    }
  }

  // A frame larger than a slab, in a buffer of its own (the source may keep it).
  #stageLarge(src: Uint8Array, start: number, len: number): void {
    const h = this.#headerSize;
    const buf = new Uint8Array(h + len);
    buf.set(src.subarray(start, start + len), h);
    const payload = buf.subarray(h);
    // As in #commit: observers first, then the checksum over what they saw.
    if (this.framer.observers.length) this.#observe(payload);
    this.#guard.active = this.#custom;
    try {
      this.framer.writeHeader(buf, 0, payload, this.#custom);
    } finally {
      this.#guard.active = false;
    }
    this.#frames++;
    this.#bytes += buf.length;
    this.#flushes++;
    this.#guard.active = true;
    try {
      this.#source.submitLarge!(buf);
    } catch (err) {
      throw (this.#failure ??= sinkFailure(err));
    } finally {
      this.#guard.active = false;
    }
  }

  // Hands the current unit to the source (nothing when it is empty).
  #submit(): void {
    const end = this.#pos;
    if (end === 0) return;
    const frames = this.#unitFrames;
    // Reset before handing over: a source that throws must not make us re-send it.
    this.#pos = 0;
    this.#limit = 0;
    this.#unitFrames = 0;
    this.#flushes++;
    if (this.#exitSlot >= 0) exitHook.disarm(this.#exitSlot);
    if (this.#timer) timed.delete(this);
    this.#guard.active = true;
    try {
      this.#source.submit(this.#unit, end, frames);
    } catch (err) {
      throw (this.#failure ??= sinkFailure(err));
    } finally {
      this.#guard.active = false;
    }
  }

  // The next unit from the source; false when its policy drops the frame.
  #nextUnit(): boolean {
    let unit: SlabUnit | null;
    this.#guard.active = true;
    try {
      unit = this.#source.acquire();
    } catch (err) {
      if (err instanceof StagingFullError) throw err; // transient: the next write tries again
      throw (this.#failure ??= sinkFailure(err));
    } finally {
      this.#guard.active = false;
    }
    if (unit === null) return false;
    this.#unit = unit;
    this.#limit = this.#slabSize;
    this.#place.follow(unit.scratch);
    return true;
  }

  #flush(): void {
    this.#submit();
    if (this.#source.flush) this.#call(StreamWriter.#sourceFlush);
  }

  // No closures in the staging paths: a function that creates one (even one
  // it never runs) allocates a context per call for what it captures
  // (docs/design.md, "Re-entrancy and writer input"). Hence these methods.
  #validate(compiled: CompiledValidator, src: Uint8Array, start: number, len: number): void {
    // Built-in validators run no user code; a JS one is a callback.
    let bad: { validator: string; reason: string } | null;
    if (compiled.batch) {
      bad = compiled.check(src, start, len);
    } else {
      this.#guard.active = true;
      try {
        bad = compiled.check(src, start, len);
      } finally {
        this.#guard.active = false;
      }
    }
    if (bad) throw new ValidationFailedError(bad.validator, bad.reason);
  }

  #observe(view: Uint8Array): void {
    this.#guard.active = true;
    try {
      for (const fn of this.framer.observers) fn(view);
    } finally {
      this.#guard.active = false;
    }
  }

  #readRegion(builder: Builder): { bytes: Uint8Array; start: number } {
    this.#guard.active = true;
    try {
      return finishedRegion(builder);
    } finally {
      this.#guard.active = false;
    }
  }

  static #sourceFlush(s: SlabSource): void {
    s.flush!();
  }

  static #sourceSync(s: SlabSource): void {
    s.sync!();
  }

  static #sourceDrain(s: SlabSource): Promise<void> {
    return s.drain();
  }

  static #sourceClose(s: SlabSource): void | Promise<void> {
    return s.close();
  }

  // Calls the source under the guard: a failure is the writer's from then on.
  #call<T>(fn: (s: SlabSource) => T): T {
    this.#guard.active = true;
    try {
      return fn(this.#source);
    } catch (err) {
      throw (this.#failure ??= sinkFailure(err));
    } finally {
      this.#guard.active = false;
    }
  }

  // As #call, for close(): the failure is recorded, not thrown.
  #quietly<T>(fn: (s: SlabSource) => T): T | undefined {
    try {
      return this.#call(fn);
    } catch {
      return undefined;
    }
  }

  // The exit hook's flush (lib/sinks/exit-hook.ts): static, so registering
  // holds no closure over the writer. Throws go to stderr there.
  static #flushAtExit(w: StreamWriter): void {
    if (w.#closed || w.#failure || w.#pos === 0) return;
    w.#flush();
  }

  static #tick(w: StreamWriter): void {
    if (w.#guard.active || w.#closed || w.#failure || w.#pos === 0) return;
    try {
      w.#flush();
    } catch {
      // Recorded in #failure: the next call throws it.
    }
  }
}

function badReturn(
  encoder: { name: unknown },
  what: string,
  got: unknown,
  want: string,
): TypeError {
  return Object.assign(
    new TypeError(
      `Expected ${what} of the encoder ${String(encoder.name)} to return ${want}. Received ${typeof got === 'number' ? got : typeof got}`,
    ),
    { code: 'ERR_INVALID_RETURN_VALUE' },
  );
}

/**
 * A flush timer for `target`, held strongly (a writer) or weakly (a WeakRef).
 * Made outside the class: a closure made in the constructor would share its
 * context, which holds `this` for the other closures made there.
 */
function startTimer(
  target: StreamWriter | WeakRef<StreamWriter>,
  ms: number,
  tick: (w: StreamWriter) => void,
): NodeJS.Timeout {
  const timer = setInterval(() => {
    const w = target instanceof WeakRef ? target.deref() : target;
    if (w) tick(w);
    else clearInterval(timer);
  }, ms);
  timer.unref();
  return timer;
}
