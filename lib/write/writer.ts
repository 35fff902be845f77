/**
 * StreamWriter: the hybrid simple/expert writer. It only stages frames
 * (docs/design.md, "Data paths", "Slab protocol"): its Stager
 * (lib/write/stager.ts) takes units from the slab source, stages each
 * payload into the slab and submits full units; the source seals them and
 * sends them on. This file is the public API: argument checks, simple and
 * expert mode, flush, sync, drain, close, the flush timer and the exit hook.
 *
 * Owns: StreamWriter. Imports: format (args, errors, framing, policy,
 * encoder), sinks (exit hook, slab protocol), write (options, sink targets,
 * stager, callbacks, payload copy, Arena, ArenaBuilder).
 */
import type { Builder } from 'flatbuffers';
import { checkBytes, typeError } from '../format/args';
import type { PayloadEncoder } from '../format/encoder';
import { ClosedError, ReentrantCallError, UnfinishedBuilderError } from '../format/errors';
import { Framer } from '../format/framing';
import { encodeHeader } from '../format/header';
import type { MemoryPolicy } from '../format/policy';
import * as exitHook from '../sinks/exit-hook';
import type { Sink } from '../sinks/sink';
import { type RotationInfo, sinkFailure, type SlabSource } from '../sinks/slab-source';
import { Arena } from './arena';
import { ArenaBuilder, type BlockSource } from './arena-builder';
import * as cb from './callbacks';
import { isBytes, MIN_FLATBUFFER } from './payload-copy';
import { resolveTarget, type SinkTarget } from './sink-target';
import { Stager } from './stager';
import {
  checkWriterOptions,
  type StreamWriterOptions,
  type WriteItem,
  type WriterStats,
} from './writer-options';

export type { SinkTarget } from './sink-target';
export type {
  StreamSerialize,
  StreamWriterOptions,
  WriteItem,
  WriterStats,
} from './writer-options';

// Writers with a flush timer and staged frames: held so that the timer, which
// holds its writer weakly, still finds them.
const timed = new Set<object>();

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
  #stager: Stager;
  // Up while the writer runs user code: every entry point then refuses with
  // ReentrantCallError (docs/design.md, "Re-entrancy and writer input").
  #guard: cb.Guard = { active: false };
  #closed = false;
  #exitSlot = -1; // this writer's slot in lib/sinks/exit-hook.ts, or -1
  #finished: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(sink: SinkTarget, framer: Framer, options?: StreamWriterOptions) {
    if (!(framer instanceof Framer)) throw typeError('The "framer" argument must be a Framer');
    const o = checkWriterOptions(framer, options);
    this.framer = framer;
    const target = resolveTarget(sink, options, o.slabSize, o.builderSize, framer);
    const source = (this.#source = target.source);
    this.sink = target.sink;
    this.#stager = new Stager(framer, source, this.#guard, o.arena);
    if (target.flushOnExit) this.#exitSlot = exitHook.register(this, StreamWriter.#flushAtExit);
    const ms = o.flushIntervalMs ?? source.flushIntervalMs;
    // The timer holds a writer weakly (an unclosed writer nobody references
    // is collected) except while it has staged frames (held in `timed`); a
    // source given as such (a CaptureSink) keeps its writer held.
    const weak = source !== sink;
    if (ms !== undefined)
      this.#timer = startTimer(weak ? new WeakRef(this) : this, ms, StreamWriter.#tick);
    this.#stager.holdWhileStaged(this, this.#exitSlot, this.#timer && weak ? timed : null);
    // A plain Sink or Writable: the header is the first frame staged (docs/design.md, "Stream header").
    if (target.writeHeader) {
      this.write(encodeHeader(framer.checksum, options!.header!));
      // stats() counts the user's frames only (docs/design.md, "Rotation").
      this.#stager.frames = 0;
      this.#stager.bytes = 0;
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
    this.#stager.place.setPolicy(policy);
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
      const b = this.#stager.place.ready();
      b.finish(b.createString(item));
      return this.#stageBuilt(b);
    }
    // Read once, before the builder is cleared: a getter is user code too.
    const serialize = typeof item === 'object' && item !== null ? item.serialize : undefined;
    if (typeof serialize !== 'function') {
      throw typeError('The "item" argument must be a StreamSerialize, a string or a Uint8Array');
    }
    const b = this.#stager.place.ready();
    this.#guard.active = true;
    try {
      serialize.call(item, b);
    } finally {
      this.#guard.active = false;
    }
    if (!b.finished) throw new UnfinishedBuilderError('serialize() returned');
    return this.#stageBuilt(b);
  }

  /** Simple mode: writes `bytes` in a FlatBuffer whose root is a `[ubyte]` vector. */
  writeByteVector(bytes: Uint8Array): boolean {
    this.#check('writeByteVector()');
    checkBytes(bytes, 'bytes');
    const b = this.#stager.place.ready();
    b.finish(b.createByteVector(bytes));
    return this.#stageBuilt(b);
  }

  /**
   * Expert mode: stages the finished buffer of any `flatbuffers.Builder`
   * (an {@link ArenaBuilder} included). The builder stays yours.
   */
  writeFinished(builder: Builder): boolean {
    this.#check('writeFinished()');
    if (typeof builder !== 'object' || builder === null || typeof builder.dataBuffer !== 'function')
      throw typeError('The "builder" argument must be a flatbuffers.Builder');
    if (builder instanceof ArenaBuilder) {
      if (!builder.finished) throw new UnfinishedBuilderError('writeFinished()');
      const bytes = builder.backing();
      const start = builder.finishedStart();
      // Its buffer may have been detached (transferred) since finish().
      if (bytes.length - start < MIN_FLATBUFFER)
        throw new UnfinishedBuilderError('writeFinished()');
      this.#stager.stage(bytes, start, bytes.length - start);
    } else {
      // Any other builder is user code: read and checked completely first.
      const { bytes, start } = cb.readRegion(this.#guard, builder);
      this.#stager.stage(bytes, start, bytes.length - start);
    }
    return this.#stager.ready();
  }

  /** Frames raw bytes (e.g. a FlatBuffer finished elsewhere) and stages them. */
  writePayload(payload: Uint8Array): boolean {
    this.#check('writePayload()');
    checkBytes(payload, 'payload');
    return this.#writeBytes(payload);
  }

  /**
   * Reserve/commit: `encoder` writes the payload of `value` straight into
   * the free space of the current slab; the frame is then committed as any
   * other (header, checksum, validators, observers). When it does not fit,
   * the slab is submitted and the encoder tries once more in an empty one;
   * a payload larger than an empty slab is encoded on its own (`sizeOf`)
   * and staged as a too-large `writePayload` is. An encoder that throws
   * stages nothing. Returns false when the sink asks the producer to wait.
   */
  writeWith<T>(encoder: PayloadEncoder<T>, value: T): boolean {
    this.#check('writeWith()');
    const e = encoder as Partial<PayloadEncoder<T>> | null;
    if (
      typeof e !== 'object' ||
      e === null ||
      typeof e.encodeInto !== 'function' ||
      typeof e.sizeOf !== 'function'
    )
      throw typeError('The "encoder" argument must be a PayloadEncoder');
    this.#stager.encode(encoder, value);
    return this.#stager.ready();
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
    if (this.#source.sync) this.#stager.call(sourceSync);
  }

  /**
   * Closes the current file and goes on in the next one (a `RotatingSink`):
   * every frame written before the call is in the file left, every later
   * one in the next; nothing is lost or written twice. The switch is
   * synchronous and does not wait on the disk when the next file was
   * prepared ahead (the sink does that off the event loop); the promise
   * resolves once the file left is synced and closed. Throws a TypeError
   * (`ERR_INVALID_ARG_TYPE`) for a sink that cannot rotate, and the sink's
   * error when the next file cannot be opened (the writer then goes on in
   * the current one). docs/design.md, "Rotation".
   */
  rotate(): Promise<RotationInfo> {
    this.#check('rotate()');
    if (typeof this.#source.rotate !== 'function')
      throw typeError(
        "writer.rotate() needs a sink that rotates (a RotatingSink); this writer's sink does not",
      );
    this.#stager.release();
    return this.#stager.call(sourceRotate, undefined, true);
  }

  /**
   * Resolves once the sink no longer asks the producer to wait (or, for a
   * sink without `needsDrain`, once it holds fewer than 8 slabs); rejects
   * with the writer's failure.
   */
  drain(): Promise<void> {
    if (this.#guard.active) return Promise.reject(new ReentrantCallError('StreamWriter.drain()'));
    if (this.#stager.failure) return Promise.reject(this.#stager.failure);
    if (this.#stager.ready()) return Promise.resolve();
    return this.#stager.call(sourceDrain);
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
    const stager = this.#stager;
    try {
      if (!stager.failure) stager.submit();
    } catch (err) {
      stager.failure ??= sinkFailure(err); // thrown below: the source must still be closed
    } finally {
      this.#closed = true;
    }
    const inFlight = this.#source.settled?.();
    // Closed even when it failed: it still holds a descriptor, a thread or staged data.
    if (!stager.failure && this.#source.flush) this.#quietly(sourceFlush);
    const closing = this.#quietly(sourceClose);
    if (this.#exitSlot >= 0) exitHook.unregister(this.#exitSlot, this);
    const done = Promise.all([inFlight, closing]).then(() => undefined);
    done.catch(() => undefined); // reported through finished()
    this.#finished = done;
    if (stager.failure) throw stager.failure;
  }

  /**
   * Resolves when every chunk has been released by the sink and the sink is
   * closed (after close()); rejects with the writer's IoError.
   */
  finished(): Promise<void> {
    const pending = this.#finished ?? this.#source.settled?.() ?? Promise.resolve();
    return pending.then(() => {
      if (this.#stager.failure) throw this.#stager.failure;
    });
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while the sink asks the producer to wait (see {@link drain}). */
  get needsDrain(): boolean {
    return !this.#stager.ready();
  }

  /** Counters since the writer was made. */
  stats(): WriterStats {
    const s = this.#source;
    const st = this.#stager;
    return {
      frames: st.frames,
      bytes: st.bytes,
      flushes: st.flushes,
      slabsAllocated: s.slabsAllocated ?? 0,
      slabsInFlight: s.slabsInFlight ?? 0,
      builderShrinks: st.place.shrinks,
      drops: s.drops,
    };
  }

  #check(what: string): void {
    if (this.#guard.active) throw new ReentrantCallError(`StreamWriter.${what}`);
    if (this.#stager.failure) throw this.#stager.failure;
    if (this.#closed) throw new ClosedError('StreamWriter');
  }

  #writeBytes(payload: Uint8Array): boolean {
    this.#stager.stage(payload, 0, payload.length);
    return this.#stager.ready();
  }

  #stageBuilt(b: ArenaBuilder): boolean {
    const bytes = b.backing();
    const start = b.finishedStart();
    const place = this.#stager.place;
    const shrinkTo = place.shrinkTarget(b, bytes.length - start);
    this.#stager.stage(bytes, start, bytes.length - start);
    if (shrinkTo !== null) place.shrink(b, shrinkTo);
    return this.#stager.ready();
  }

  #flush(): void {
    this.#stager.submit();
    if (this.#source.flush) this.#stager.call(sourceFlush);
  }

  // As the stager's call, for close(): the failure is recorded, not thrown.
  #quietly<R>(fn: (s: SlabSource) => R): R | undefined {
    try {
      return this.#stager.call(fn);
    } catch {
      return undefined;
    }
  }

  // The exit hook's flush (lib/sinks/exit-hook.ts): static, so registering
  // holds no closure over the writer. Throws go to stderr there.
  static #flushAtExit(w: StreamWriter): void {
    if (w.#closed || w.#stager.failure || !w.#stager.staged) return;
    w.#flush();
  }

  static #tick(w: StreamWriter): void {
    if (w.#guard.active || w.#closed || w.#stager.failure || !w.#stager.staged) return;
    try {
      w.#flush();
    } catch {
      // Recorded as the failure: the next call throws it.
    }
  }
}

// The source calls the writer makes, as functions: no closure per call.
const sourceFlush = (s: SlabSource): void => s.flush!();
const sourceSync = (s: SlabSource): void => s.sync!();
const sourceDrain = (s: SlabSource): Promise<void> => s.drain();
const sourceClose = (s: SlabSource): void | Promise<void> => s.close();
const sourceRotate = (s: SlabSource): Promise<RotationInfo> => s.rotate!();

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
