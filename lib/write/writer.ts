/**
 * StreamWriter: the hybrid simple/expert writer. It only stages frames
 * (docs/design.md, "Data paths", "Slab protocol"): it takes a unit from its
 * slab source, copies (or lets an encoder write) each payload into the slab,
 * writes the header and moves its position; the source seals the slab and
 * sends it on when the writer submits it (full, flush(), close(), the flush
 * timer). Nothing crosses into C++ per message.
 *
 * Owns: StreamWriter. Imports: format (args, errors, framing, policy,
 * encoder), sinks (exit hook, slab protocol), write (options, sink targets,
 * builder placement, payload copy, guarded callbacks, Arena).
 */
import type { Builder } from 'flatbuffers';
import { checkBytes, rangeError, typeError } from '../format/args';
import type { PayloadEncoder } from '../format/encoder';
import {
  ClosedError,
  type FlatStreamError,
  IoError,
  ReentrantCallError,
  StagingFullError,
  UnfinishedBuilderError,
} from '../format/errors';
import { CUSTOM_KIND, Framer } from '../format/framing';
import type { MemoryPolicy } from '../format/policy';
import * as exitHook from '../sinks/exit-hook';
import type { Sink } from '../sinks/sink';
import { checkUnit, sinkFailure, type SlabSource, type SlabUnit } from '../sinks/slab-source';
import { Arena } from './arena';
import { ArenaBuilder, type BlockSource } from './arena-builder';
import { BuilderPlace } from './builder-place';
import * as cb from './callbacks';
import { isBytes, MIN_FLATBUFFER, PayloadCopier } from './payload-copy';
import { resolveTarget, type SinkTarget } from './sink-target';
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
const timed = new Set<StreamWriter>();

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
  #large: boolean; // the source takes frames larger than a slab (submitLarge)
  #commits: Int32Array;
  #unit: SlabUnit;
  #pos = 0;
  // #slabSize, or 0 once the unit was submitted: the next frame then takes
  // the slow path, which acquires another.
  #limit: number;
  #unitFrames = 0;
  // Up while the writer runs user code: every entry point then refuses with
  // ReentrantCallError (docs/design.md, "Re-entrancy and writer input").
  #guard: cb.Guard = { active: false };
  #place: BuilderPlace;
  #copier = new PayloadCopier();
  #closed = false;
  #exitSlot = -1; // this writer's slot in lib/sinks/exit-hook.ts, or -1
  #failure: FlatStreamError | null = null;
  #finished: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #frames = 0;
  #bytes = 0;
  #flushes = 0;

  constructor(sink: SinkTarget, framer: Framer, options?: StreamWriterOptions) {
    if (!(framer instanceof Framer)) throw typeError('The "framer" argument must be a Framer');
    const o = checkWriterOptions(framer, options);
    this.framer = framer;
    this.#headerSize = framer.headerSize;
    this.#custom = framer.kind === CUSTOM_KIND;
    const target = resolveTarget(sink, options, o.slabSize, o.builderSize);
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
    this.#unit = checkUnit(unit, this.#slabSize, this.#commits);
    this.#limit = this.#slabSize;
    this.#place = new BuilderPlace(this.#guard, o.arena, unit.scratch);
    if (target.flushOnExit) this.#exitSlot = exitHook.register(this, StreamWriter.#flushAtExit);
    const ms = o.flushIntervalMs ?? source.flushIntervalMs;
    // The timer holds a writer weakly (an unclosed writer nobody references
    // is collected) except while it has staged frames (held in `timed`); a
    // source given as such (a CaptureSink) keeps its writer held.
    if (ms !== undefined)
      this.#timer = startTimer(source === sink ? this : new WeakRef(this), ms, StreamWriter.#tick);
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
    // Read once, before the builder is cleared: a getter is user code too.
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

  /** Simple mode: writes `bytes` in a FlatBuffer whose root is a `[ubyte]` vector. */
  writeByteVector(bytes: Uint8Array): boolean {
    this.#check('writeByteVector()');
    checkBytes(bytes, 'bytes');
    const b = this.#place.ready();
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
      this.#stage(bytes, start, bytes.length - start);
    } else {
      // Any other builder is user code: read and checked completely first.
      const { bytes, start } = cb.readRegion(this.#guard, builder);
      this.#stage(bytes, start, bytes.length - start);
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
    if (this.#source.sync) this.#call(sourceSync);
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
    return this.#call(sourceDrain);
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
      this.#failure ??= sinkFailure(err); // thrown below: the source must still be closed
    } finally {
      this.#closed = true;
    }
    const inFlight = this.#source.settled?.();
    // Closed even when it failed: it still holds a descriptor, a thread or staged data.
    if (!this.#failure && this.#source.flush) this.#quietly(sourceFlush);
    const closing = this.#quietly(sourceClose);
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
    const s = this.#source;
    return {
      frames: this.#frames,
      bytes: this.#bytes,
      flushes: this.#flushes,
      slabsAllocated: s.slabsAllocated ?? 0,
      slabsInFlight: s.slabsInFlight ?? 0,
      builderShrinks: this.#place.shrinks,
      drops: s.drops,
    };
  }

  #check(what: string): void {
    if (this.#guard.active) throw new ReentrantCallError(`StreamWriter.${what}`);
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new ClosedError('StreamWriter');
  }

  // The source's needsDrain may be user code (a sink's getter), and a
  // callback may read ours: the guard is restored, not cleared.
  #ready(): boolean {
    const was = this.#guard.active;
    this.#guard.active = true;
    try {
      return !this.#source.needsDrain;
    } finally {
      this.#guard.active = was;
    }
  }

  #writeBytes(payload: Uint8Array): boolean {
    this.#stage(payload, 0, payload.length);
    return this.#ready();
  }

  #stageBuilt(b: ArenaBuilder): boolean {
    const bytes = b.backing();
    const start = b.finishedStart();
    const shrinkTo = this.#place.shrinkTarget(b, bytes.length - start);
    this.#stage(bytes, start, bytes.length - start);
    if (shrinkTo !== null) this.#place.shrink(b, shrinkTo);
    return this.#ready();
  }

  // Stages src[start, start + len) as one frame.
  #stage(src: Uint8Array, start: number, len: number): void {
    const framer = this.framer;
    if (len > framer.maxPayloadLen) framer.checkLength(len);
    if (framer.compiled) cb.validate(this.#guard, framer.compiled, src, start, len);
    const size = this.#headerSize + len;
    if (this.#pos + size > this.#limit) {
      if (size > this.#slabSize && !this.#large) {
        throw rangeError(
          `A frame of ${size} bytes does not fit the sink's staging slabs of ${this.#slabSize} bytes (raise its slabSize)`,
        );
      }
      this.#submit();
      // A sink that detached (transferred) the slab took the message being
      // staged beside it (simple mode) with it.
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

  // writeWith's reserve: the encoder writes in the slab's free space.
  #encode<T>(encoder: PayloadEncoder<T>, value: T): void {
    const g = this.#guard;
    let end = this.#limit === 0 ? -1 : this.#encodeIn(encoder, value);
    if (end < 0 && (this.#pos > 0 || this.#limit === 0)) {
      this.#submit();
      if (!this.#nextUnit())
        return this.#source.dropped(this.#headerSize + cb.encodedSize(g, encoder, value));
      end = this.#encodeIn(encoder, value);
    }
    if (end < 0) {
      // Larger than an empty slab: encoded on its own, staged as bytes.
      const size = cb.encodedSize(g, encoder, value);
      const buf = new Uint8Array(size);
      end = cb.encodeInto(g, encoder, value, buf, new DataView(buf.buffer), 0, size);
      if (end !== size) throw cb.badReturn(encoder, 'encodeInto()', end, `${size} (its sizeOf())`);
      return this.#stage(buf, 0, size);
    }
    const at = this.#pos + this.#headerSize;
    const framer = this.framer;
    if (end - at > framer.maxPayloadLen) framer.checkLength(end - at);
    if (framer.compiled) cb.validate(g, framer.compiled, this.#unit.slab, at, end - at);
    this.#commit(at, end - at);
  }

  // The payload's end in the current slab, or -1 when it does not fit.
  #encodeIn<T>(encoder: PayloadEncoder<T>, value: T): number {
    const at = this.#pos + this.#headerSize;
    if (at > this.#limit) return -1;
    const { slab, view } = this.#unit;
    return cb.encodeInto(this.#guard, encoder, value, slab, view, at, this.#limit);
  }

  // Commits the payload at slab[at, at + len): observers, header, position.
  #commit(at: number, len: number): void {
    const framer = this.framer;
    const pos = this.#pos;
    const unit = this.#unit;
    const slab = unit.slab;
    // Observers see the staged payload before it counts (one that throws
    // leaves nothing staged); a custom checksum is computed after them.
    if (framer.observers.length) cb.observe(this.#guard, framer, slab.subarray(at, at + len));
    if (this.#custom) {
      cb.customHeader(this.#guard, framer, slab, pos, slab.subarray(at, at + len));
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
    if (this.framer.observers.length) cb.observe(this.#guard, this.framer, payload);
    if (this.#custom) cb.customHeader(this.#guard, this.framer, buf, 0, payload);
    else this.framer.writeHeader(buf, 0, payload, false);
    this.#frames++;
    this.#bytes += buf.length;
    this.#flushes++;
    this.#call(sourceSubmitLarge, buf);
  }

  // Hands the current unit to the source (nothing when it is empty).
  #submit(): void {
    const end = this.#pos;
    if (end === 0) return;
    const frames = this.#unitFrames;
    // Reset first: a source that throws must not make us re-send it.
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
      if (unit !== null) checkUnit(unit, this.#slabSize, this.#commits);
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
    if (this.#source.flush) this.#call(sourceFlush);
  }

  // Calls the source under the guard: its failure is the writer's from then on.
  #call<A, R>(fn: (s: SlabSource, arg?: A) => R, arg?: A): R {
    this.#guard.active = true;
    try {
      return fn(this.#source, arg);
    } catch (err) {
      throw (this.#failure ??= sinkFailure(err));
    } finally {
      this.#guard.active = false;
    }
  }

  // As #call, for close(): the failure is recorded, not thrown.
  #quietly<R>(fn: (s: SlabSource) => R): R | undefined {
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

// The source calls #call makes, as functions: no closure per call.
const sourceFlush = (s: SlabSource): void => s.flush!();
const sourceSync = (s: SlabSource): void => s.sync!();
const sourceDrain = (s: SlabSource): Promise<void> => s.drain();
const sourceClose = (s: SlabSource): void | Promise<void> => s.close();
const sourceSubmitLarge = (s: SlabSource, frame?: Uint8Array): void => s.submitLarge!(frame!);

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
