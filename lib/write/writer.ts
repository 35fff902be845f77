/**
 * StreamWriter: the hybrid simple/expert writer.
 *
 * Frames are staged in reusable slabs; when a slab is sealed (full, flush(),
 * close(), or the flush timer) ONE engine call fills every built-in checksum
 * of the slab in place and the slab goes to the sink. Nothing crosses into
 * C++ per message.
 *
 * Simple mode (`write(item)`) builds each message with an internal
 * {@link ArenaBuilder} whose buffer sits in the same ArrayBuffer as the slab,
 * so the finished message is moved into the slab with `copyWithin` — no view,
 * no garbage. Expert mode (`writeFinished(builder)`) takes any finished
 * `flatbuffers.Builder`; `writePayload(bytes)` frames raw bytes.
 */
import type { Builder } from 'flatbuffers';
import type { Writable } from 'node:stream';
import { checkBytes, checkInteger, checkOptions, rangeError, typeError } from '../format/args';
import { Arena } from './arena';
import { ArenaBuilder, type BlockSource } from './arena-builder';
import { backend } from '../engine/load';
import {
  ClosedError,
  FlatStreamError,
  IoError,
  ReentrantCallError,
  StagingFullError,
  UnfinishedBuilderError,
  ValidationFailedError,
} from '../format/errors';
import * as exitHook from '../sinks/exit-hook';
import { FileSink } from '../sinks/file-sink';
import { CUSTOM_KIND, type Deframer, Framer } from '../format/framing';
import { type MemoryPolicy, NoShrinkPolicy } from '../format/policy';
import { isStagingSink, type Sink, type Staging, type StagingUnit } from '../sinks/sink';
import type { CompiledValidator } from '../format/validation';
import { WritableSink } from '../sinks/writable-sink';

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

/** Where a writer's frames go: a {@link Sink}, a file path or URL, a file descriptor, or a Node `Writable`. */
export type SinkTarget = Sink | string | URL | number | Writable;

/** Options of a {@link StreamWriter}. */
export interface StreamWriterOptions {
  /**
   * Staging slab size in bytes (default 64 KiB). A frame larger than a slab
   * gets a buffer of its own. A sink that lends its own staging (a
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
  /** Frames dropped because the sink's staging was full (a CaptureSink with `policy: 'drop'`). */
  drops: number;
}

const DEFAULT_SLAB = 64 * 1024;
// Writers with a flush timer and staged frames: held so that the timer, which
// holds its writer weakly, still finds them.
const timed = new Set<StreamWriter>();
// A sink without `needsDrain` that keeps chunks (returns promises) makes
// write*() return false once it holds this many slabs: a sink whose promises
// never settle would otherwise grow the writer's memory without a signal.
const MAX_IN_FLIGHT = 8;
const DEFAULT_BUILDER = 1024;

/** A slab and, right after it in the same ArrayBuffer, room for the internal builder. */
type Unit = StagingUnit;

// Where units of the writer's own slabs store their commit (nobody reads it).
const NO_COMMITS = new Int32Array(1);

// Up to this size a payload from another buffer is copied with DataView
// loads and stores, which allocate nothing; above it `set(subarray)` is
// faster and its 96-byte view is small beside the payload (measured:
// 15.6 ns vs 35.9 ns at 48 B, even at 96 B, 84 ns vs 30 ns at 256 B).
const SMALL_COPY = 96;

function isWritable(x: object): x is Writable {
  const w = x as Partial<Writable>;
  return (
    typeof w.write === 'function' &&
    typeof w.on === 'function' &&
    typeof w.end === 'function' &&
    typeof w.removeListener === 'function'
  );
}

function toSink(target: SinkTarget, options: StreamWriterOptions | undefined): Sink {
  if (typeof target === 'string' || typeof target === 'number' || target instanceof URL) {
    const { append, recover, maxTornBytes } = options ?? {};
    return new FileSink(target, {
      ...(append === undefined ? {} : { append }),
      ...(recover === undefined ? {} : { recover }),
      ...(maxTornBytes === undefined ? {} : { maxTornBytes }),
    });
  }
  if (typeof target === 'object' && target !== null) {
    if (isWritable(target)) return new WritableSink(target);
    if (typeof (target as Sink).write === 'function') return target as Sink;
  }
  throw typeError('The "sink" argument must be a Sink, a path, a file descriptor or a Writable');
}

function isBytes(x: unknown): x is Uint8Array {
  return (
    x instanceof Uint8Array ||
    (ArrayBuffer.isView(x) && Object.prototype.toString.call(x) === '[object Uint8Array]')
  );
}

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
  /** The sink frames go to. */
  readonly sink: Sink;
  #headerSize: number;
  #custom: boolean;
  #kind: number;
  #slabSize: number;
  // Capacity of the current unit: #slabSize, or 0 while a staging sink has
  // lent none (every write then takes the slow path, which asks for one).
  #limit: number;
  #builderSize: number;
  #staging: Staging | null = null;
  #commits: Int32Array = NO_COMMITS;
  #unitFrames = 0;
  #arena: BlockSource | undefined;
  #unit!: Unit;
  #free: Unit[] = [];
  #pos = 0;
  #builder: ArenaBuilder | null = null;
  #moveBuilder = false;
  #srcBytes: Uint8Array | null = null;
  #srcView: DataView | null = null;
  #policy: MemoryPolicy = NoShrinkPolicy;
  #closed = false;
  // True while the writer runs a user callback (serialize, a custom
  // checksum, a JS validator, an observer, a sink, a memory policy, a custom
  // arena): every entry point then refuses with ReentrantCallError
  // (docs/design.md, "Re-entrancy and writer input").
  #inCallback = false;
  // A sink without `needsDrain` never asks to wait: its getter is not read per write.
  #drainAware: boolean;
  // This writer's slot in lib/sinks/exit-hook.ts, or -1 (no flush at exit).
  #exitSlot = -1;
  #failure: FlatStreamError | null = null;
  #finished: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #frames = 0;
  #bytes = 0;
  #flushes = 0;
  #slabsAllocated = 0;
  #inFlight = 0;
  // drain() callers waiting for #inFlight to drop (sinks without needsDrain).
  #drainWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  #shrinks = 0;

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
    this.#kind = framer.kind;
    this.#slabSize = slabSize;
    this.#limit = slabSize;
    this.#builderSize = builderSize;
    this.#arena = arena;
    if (
      flushOnExit === true &&
      typeof sink === 'object' &&
      sink !== null &&
      !(sink instanceof URL)
    ) {
      // Checked before the sink is wrapped or bound: a refused writer leaves
      // the stream without our listeners and a staging sink unbound.
      if (sink instanceof WritableSink || isWritable(sink)) throw asyncExitSink('a Writable');
      if (isStagingSink(sink as Sink)) {
        throw asyncExitSink('a CaptureSink (it has its own exit hook)');
      }
    }
    this.sink = toSink(sink, options);
    this.#drainAware = 'needsDrain' in this.sink;
    let flushIntervalMs = options?.flushIntervalMs;
    if (isStagingSink(this.sink)) {
      const staging = this.sink.bindStaging({ kind: framer.kind, headerSize: framer.headerSize });
      this.#staging = staging;
      staging.onFailure((err) => {
        this.#failure ??= asIoError(err);
      });
      this.#commits = staging.commits;
      this.#slabSize = staging.slabSize;
      flushIntervalMs ??= staging.flushIntervalMs;
      const unit = staging.acquire();
      if (!unit) throw new Error('a new staging sink has no free slab'); // cannot happen
      this.#useUnit(unit);
    } else {
      this.#unit = this.#newUnit();
      // The first frame opens the slab (and arms the exit hook): see #stage.
      this.#limit = 0;
      if (flushOnExit ?? this.sink instanceof FileSink) {
        this.#exitSlot = exitHook.register(this, StreamWriter.#flushAtExit);
      }
    }
    if (flushIntervalMs !== undefined) {
      // The timer holds the writer weakly: an unclosed writer that nobody
      // references is collected (its timer then stops), except while it has
      // staged frames for the timer to flush (held in `timed`).
      // A staging sink's writer stays held by its timer, as the sink expects.
      this.#timer = startTimer(
        this.#staging ? this : new WeakRef<StreamWriter>(this),
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

  /** Sets the memory policy of the internal builder (simple mode) and returns this writer. */
  withMemoryPolicy(policy: MemoryPolicy): this {
    if (
      typeof policy !== 'object' ||
      policy === null ||
      typeof policy.shouldShrink !== 'function'
    ) {
      throw typeError('The "policy" argument must be a MemoryPolicy');
    }
    this.#policy = policy;
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
      const b = this.#readyBuilder();
      b.finish(b.createString(item));
      return this.#stageBuilt(b);
    }
    // Read once, before the builder is cleared: a getter is user code too,
    // and whatever it does to the writer is over before this message starts.
    const serialize = typeof item === 'object' && item !== null ? item.serialize : undefined;
    if (typeof serialize !== 'function') {
      throw typeError('The "item" argument must be a StreamSerialize, a string or a Uint8Array');
    }
    const b = this.#readyBuilder();
    this.#inCallback = true;
    try {
      serialize.call(item, b);
    } finally {
      this.#inCallback = false;
    }
    if (!b.finished) throw new UnfinishedBuilderError('serialize() returned');
    return this.#stageBuilt(b);
  }

  // The internal builder, cleared, beside the current slab.
  #readyBuilder(): ArenaBuilder {
    const b = (this.#builder ??= this.#makeBuilder());
    if (this.#moveBuilder) {
      // The slab beside the builder went to the sink: build beside the new one.
      this.#moveBuilder = false;
      if (b.backing().length === this.#builderSize) b.useBlock(this.#unit.scratch);
    }
    b.clear();
    return b;
  }

  // Stages the internal builder's finished message.
  #stageBuilt(b: ArenaBuilder): boolean {
    const bytes = b.backing();
    const start = b.finishedStart();
    const len = bytes.length - start;
    // Asked before staging: a policy that throws leaves nothing staged.
    const shrink = this.#policy !== NoShrinkPolicy && this.#shouldShrink(len, b.capacity);
    this.#stage(bytes, start, len);
    if (shrink) this.#shrinkBuilder(b);
    return this.#drainAware ? this.#sinkReady() : this.#inFlight < MAX_IN_FLIGHT;
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
    let bytes: Uint8Array;
    let start: number;
    if (builder instanceof ArenaBuilder) {
      if (!builder.finished) throw new UnfinishedBuilderError('writeFinished()');
      bytes = builder.backing();
      start = builder.finishedStart();
      // Its buffer may have been detached (transferred) since finish().
      if (bytes.length - start < MIN_FLATBUFFER)
        throw new UnfinishedBuilderError('writeFinished()');
    } else {
      // Anything else is read through its public API, which is user code
      // for a duck-typed builder: validated completely before the slab is
      // touched (docs/design.md, "Re-entrancy and writer input").
      const region = this.#readRegion(builder);
      bytes = region.bytes;
      start = region.start;
    }
    this.#stage(bytes, start, bytes.length - start);
    return this.#drainAware ? this.#sinkReady() : this.#inFlight < MAX_IN_FLIGHT;
  }

  /** Frames raw bytes (e.g. a FlatBuffer finished elsewhere) and stages them. */
  writePayload(payload: Uint8Array): boolean {
    this.#check('writePayload()');
    checkBytes(payload, 'payload');
    return this.#writeBytes(payload);
  }

  #writeBytes(payload: Uint8Array): boolean {
    this.#stage(payload, 0, payload.length);
    return this.#drainAware ? this.#sinkReady() : this.#inFlight < MAX_IN_FLIGHT;
  }

  /**
   * Simple mode: writes `bytes` wrapped in a FlatBuffer whose root is a
   * `[ubyte]` vector (what `write(bytes)` used to do; `write(bytes)` now
   * frames the bytes themselves). Read it back with
   * `new ByteBuffer(payload)`: the vector starts at the root offset.
   */
  writeByteVector(bytes: Uint8Array): boolean {
    this.#check('writeByteVector()');
    checkBytes(bytes, 'bytes');
    const b = this.#readyBuilder();
    b.finish(b.createByteVector(bytes));
    return this.#stageBuilt(b);
  }

  /** Seals the staged frames, hands them to the sink and flushes it (bytes reach the OS for file sinks). */
  flush(): void {
    this.#check('flush()');
    this.#flush();
  }

  #flush(): void {
    this.#seal();
    this.#call(() => this.sink.flush?.());
  }

  /** Flushes, then makes written bytes durable (fsync) if the sink can. */
  sync(): void {
    this.#check('sync()');
    this.#flush();
    this.#call(() => this.sink.sync?.());
  }

  /**
   * Resolves once the sink no longer asks the producer to wait (or, for a
   * sink without `needsDrain`, once it holds fewer than 8 slabs); rejects
   * with the writer's failure.
   */
  drain(): Promise<void> {
    if (this.#inCallback) return Promise.reject(new ReentrantCallError('StreamWriter.drain()'));
    if (this.#failure) return Promise.reject(this.#failure);
    if (!this.#drainAware) {
      if (this.#inFlight < MAX_IN_FLIGHT) return Promise.resolve();
      return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
    }
    if (this.#sinkReady() || !this.sink.drain) return Promise.resolve();
    return this.#call(() => this.sink.drain!());
  }

  /**
   * Seals and hands over what is staged, then closes the sink. Idempotent.
   * Synchronous sinks are closed when this returns; await {@link finished}
   * for asynchronous ones (a `Writable`).
   */
  close(): void {
    if (this.#inCallback) throw new ReentrantCallError('StreamWriter.close()');
    if (this.#closed) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    timed.delete(this);
    try {
      if (!this.#failure) this.#seal();
    } catch (err) {
      // Recorded, not thrown yet: the sink must still be closed below.
      this.#failure ??= asIoError(err);
    } finally {
      this.#closed = true;
    }
    const inFlight = this.#finished;
    // The sink is closed even when it failed or flushing it fails: it still
    // holds a descriptor, a thread, or staged data to hand on.
    if (!this.#failure) {
      this.#inCallback = true;
      try {
        this.sink.flush?.();
      } catch (err) {
        this.#failure = asIoError(err);
      } finally {
        this.#inCallback = false;
      }
    }
    let closing: void | Promise<void> = undefined;
    this.#inCallback = true;
    try {
      closing = this.sink.close?.();
    } catch (err) {
      this.#failure ??= asIoError(err);
    } finally {
      this.#inCallback = false;
    }
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
    return this.#finished.then(() => {
      if (this.#failure) throw this.#failure;
    });
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while the sink asks the producer to wait (see {@link drain}). */
  get needsDrain(): boolean {
    return this.#drainAware ? !this.#sinkReady() : this.#inFlight >= MAX_IN_FLIGHT;
  }

  stats(): WriterStats {
    return {
      frames: this.#frames,
      bytes: this.#bytes,
      flushes: this.#flushes,
      slabsAllocated: this.#slabsAllocated,
      slabsInFlight: this.#inFlight,
      builderShrinks: this.#shrinks,
      drops: this.#staging?.drops ?? 0,
    };
  }

  #check(what: string): void {
    if (this.#inCallback) throw new ReentrantCallError(`StreamWriter.${what}`);
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new ClosedError('StreamWriter');
  }

  #makeBuilder(): ArenaBuilder {
    const unit = this.#unit;
    // Its baseline buffer is the scratch space beside the current slab; it
    // grows into the arena (or plain memory) when a message needs more. A
    // BlockSource of the user's own is a callback like any other.
    const arena = this.#arena;
    const source: BlockSource =
      arena === undefined
        ? { block: (n) => new Uint8Array(n) }
        : arena instanceof Arena
          ? arena
          : { block: (n) => this.#guarded(() => arena.block(n)) };
    const b = new ArenaBuilder(source, { initialSize: 8 });
    b.useBlock(unit.scratch);
    return b;
  }

  #shrinkBuilder(b: ArenaBuilder): void {
    b.useBlock(this.#unit.scratch);
    this.#shrinks++;
  }

  #newUnit(): Unit {
    const all = new Uint8Array(this.#slabSize + this.#builderSize);
    this.#slabsAllocated++;
    const slab = all.subarray(0, this.#slabSize);
    return {
      all,
      slab,
      view: new DataView(all.buffer, 0, this.#slabSize),
      scratch: all.subarray(this.#slabSize),
      cell: 0,
    };
  }

  // Stages src[start, start + len) as one frame.
  #stage(src: Uint8Array, start: number, len: number): void {
    const framer = this.framer;
    let opened = false; // this frame is the first of an own slab
    if (len > framer.maxPayloadLen) framer.checkLength(len);
    const compiled = framer.compiled;
    if (compiled) {
      // Built-in validators run no user code; a JS one is a callback.
      const bad = compiled.batch
        ? compiled.check(src, start, len)
        : this.#validateJs(compiled, src, start, len);
      if (bad) throw new ValidationFailedError(bad.validator, bad.reason);
    }
    const size = this.#headerSize + len;
    if (this.#pos + size > this.#limit) {
      if (size > this.#slabSize && this.#staging) {
        throw rangeError(
          `A frame of ${size} bytes does not fit the sink's staging slabs of ${this.#slabSize} bytes (raise its slabSize)`,
        );
      }
      this.#seal();
      // A sink that detached (transferred) the slab it was handed took the
      // message being staged beside it (simple mode) with it.
      if (start + len > src.length) {
        throw (this.#failure ??= new IoError(
          'sink failed: it detached (transferred) the chunk it was lent, and the message being staged with it',
        ));
      }
      if (size > this.#slabSize) {
        this.#stageOversized(src, start, len);
        return;
      }
      if (this.#limit === 0) {
        if (this.#staging) {
          if (!this.#nextUnit()) {
            this.#staging.dropped(size);
            return;
          }
        } else {
          // The slab opens (#limit) only once this frame is staged: a frame
          // that throws leaves the next one to open it, and arm the hooks.
          opened = true;
        }
      }
    }
    const pos = this.#pos;
    const unit = this.#unit;
    const slab = unit.slab;
    const at = pos + this.#headerSize;
    // Identity, not `.buffer`: that getter costs ~20 ns per read.
    if (src === unit.scratch) {
      // The internal builder's scratch follows the slab in this ArrayBuffer: no view needed.
      const from = this.#slabSize + start;
      unit.all.copyWithin(at, from, from + len);
    } else if (start === 0 && len === src.length) {
      slab.set(src, at);
    } else if (len <= SMALL_COPY) {
      this.#copySmall(src, start, len, at);
    } else {
      slab.set(src.subarray(start, start + len), at);
    }
    // Observers see the staged payload before it counts as accepted: one
    // that throws leaves nothing of this frame staged. A custom checksum is
    // computed after them, over the staged copy, so whatever an observer
    // did to its view, the frame stays consistent.
    if (framer.observers.length) this.#observe(slab.subarray(at, at + len));
    if (this.#custom) {
      // May throw: nothing is staged until #pos moves.
      this.#inCallback = true;
      try {
        framer.writeHeader(slab, pos, slab.subarray(at, at + len), false);
      } finally {
        this.#inCallback = false;
      }
    } else {
      // Built-in checksum fields are filled for the whole slab by sealFrames.
      slab[pos] = len;
      slab[pos + 1] = len >>> 8;
      slab[pos + 2] = len >>> 16;
      slab[pos + 3] = len >>> 24;
    }
    this.#pos = at + len;
    // What survives if the process dies now (a staging sink's shared memory).
    this.#commits[unit.cell] = this.#pos;
    this.#unitFrames++;
    this.#frames++;
    this.#bytes += size;
    // Once per slab: an exit or the timer must write it (held until #seal).
    if (opened) {
      this.#limit = this.#slabSize;
      if (this.#exitSlot >= 0) exitHook.arm(this.#exitSlot, this);
      if (this.#timer) timed.add(this);
    }
  }

  #observe(view: Uint8Array): void {
    this.#inCallback = true;
    try {
      for (const fn of this.framer.observers) fn(view);
    } finally {
      this.#inCallback = false;
    }
  }

  #shouldShrink(len: number, capacity: number): boolean {
    this.#inCallback = true;
    try {
      return this.#policy.shouldShrink(len, capacity) === true;
    } finally {
      this.#inCallback = false;
    }
  }

  // The sink's needsDrain getter is user code for a custom sink or stream.
  // (Also reached from the needsDrain getter, which a callback may read:
  // the flag is restored, not cleared.)
  #sinkReady(): boolean {
    const was = this.#inCallback;
    this.#inCallback = true;
    try {
      return this.sink.needsDrain !== true;
    } finally {
      this.#inCallback = was;
    }
  }

  // No closures in the staging paths: a function that creates one (even
  // one it never runs) allocates a context per call for what it captures,
  // measured as ~50 B and 12 GCs per 400 k writes (docs/design.md,
  // "Re-entrancy and writer input").
  #validateJs(
    compiled: CompiledValidator,
    src: Uint8Array,
    start: number,
    len: number,
  ): { validator: string; reason: string } | null {
    this.#inCallback = true;
    try {
      return compiled.check(src, start, len);
    } finally {
      this.#inCallback = false;
    }
  }

  #readRegion(builder: Builder): { bytes: Uint8Array; start: number } {
    this.#inCallback = true;
    try {
      return finishedRegion(builder);
    } finally {
      this.#inCallback = false;
    }
  }

  // Runs a user callback; nested calls (an arena block inside serialize) keep the flag.
  #guarded<T>(fn: () => T): T {
    if (this.#inCallback) return fn();
    this.#inCallback = true;
    try {
      return fn();
    } finally {
      this.#inCallback = false;
    }
  }

  // Copies a small payload from another buffer (an expert-mode builder)
  // without creating a view of it: 4 bytes per DataView load/store.
  #copySmall(src: Uint8Array, start: number, len: number, at: number): void {
    if (src !== this.#srcBytes) {
      this.#srcBytes = src;
      this.#srcView = new DataView(src.buffer, src.byteOffset, src.byteLength);
    }
    const from = this.#srcView!;
    const to = this.#unit.view;
    let i = 0;
    for (; i + 4 <= len; i += 4) to.setInt32(at + i, from.getInt32(start + i, true), true);
    const slab = this.#unit.slab;
    for (; i < len; i++) slab[at + i] = src[start + i]!;
  }

  // A frame larger than a slab gets a buffer of its own (the sink may keep it).
  #stageOversized(src: Uint8Array, start: number, len: number): void {
    const buf = new Uint8Array(this.#headerSize + len);
    buf.set(src.subarray(start, start + len), this.#headerSize);
    const payload = buf.subarray(this.#headerSize);
    // As in #stage: observers first (one that throws leaves the frame
    // unwritten), then the checksum over what they saw.
    if (this.framer.observers.length) this.#observe(payload);
    if (this.#custom) {
      this.#inCallback = true;
      try {
        this.framer.writeHeader(buf, 0, payload, true);
      } finally {
        this.#inCallback = false;
      }
    } else {
      this.framer.writeHeader(buf, 0, payload, false);
      backend.sealFrames(buf, 0, buf.length, this.#kind);
    }
    this.#frames++;
    this.#bytes += buf.length;
    this.#handOver(buf, null);
  }

  #seal(): void {
    const end = this.#pos;
    if (end === 0) return;
    const unit = this.#unit;
    if (this.#staging) {
      // The sink seals the checksums (off this thread) and lends the next
      // unit when the next frame needs one.
      this.#pos = 0;
      this.#limit = 0;
      this.#flushes++;
      const frames = this.#unitFrames;
      this.#unitFrames = 0;
      // No closure here (#call's): #seal runs once per dropped frame under
      // a full staging, and a closure allocates its context on every call.
      try {
        this.#staging.submit(unit, end, frames);
      } catch (err) {
        throw (this.#failure ??= asIoError(err));
      }
      return;
    }
    if (!this.#custom) backend.sealFrames(unit.slab, 0, end, this.#kind);
    // Reset before handing over: a throwing sink must not make us re-send it.
    this.#pos = 0;
    this.#limit = 0; // the next frame opens the slab again
    if (this.#exitSlot >= 0) exitHook.disarm(this.#exitSlot);
    if (this.#timer) timed.delete(this);
    if (this.#handOver(unit.slab.subarray(0, end), unit)) {
      // The sink keeps this slab for now: stage into another one. The
      // internal builder may hold the message being staged in the old
      // unit's scratch; it moves to the new unit after that message.
      this.#unit = this.#free.pop() ?? this.#newUnit();
      this.#moveBuilder = this.#builder?.backing() === unit.scratch;
    } else if (unit.all.byteLength === 0) {
      // The sink detached (transferred) the slab it was lent and returned
      // no promise: the writer's memory, and any message being built beside
      // it, are gone. A contract violation, reported as the sink's failure.
      throw (this.#failure ??= new IoError(
        'sink failed: it detached (transferred) the chunk it was lent; a sink must copy a chunk, or return a promise and keep it intact until it settles',
      ));
    }
  }

  // Stages into `unit` from now on.
  #useUnit(unit: Unit): void {
    this.#unit = unit;
    this.#pos = 0;
    this.#limit = this.#slabSize;
    this.#builderSize = unit.scratch.length;
  }

  // Asks the staging sink for a unit; false when its policy drops this frame.
  #nextUnit(): boolean {
    const old = this.#unit;
    let unit: Unit | null;
    try {
      unit = this.#staging!.acquire();
    } catch (err) {
      if (err instanceof StagingFullError) throw err; // transient: the next write tries again
      throw (this.#failure ??= asIoError(err));
    }
    if (!unit) return false;
    this.#useUnit(unit);
    // The internal builder may hold the message being staged in the old
    // unit's scratch: it moves to the new unit's after that message.
    if (unit !== old) this.#moveBuilder = this.#builder?.backing() === old.scratch;
    return true;
  }

  // Gives a chunk to the sink. Returns true if the sink keeps it for a while
  // (it returned a promise); `unit` then goes back to the free list when released.
  #handOver(chunk: Uint8Array, unit: Unit | null): boolean {
    this.#flushes++;
    const r = this.#call(() => this.sink.write(chunk));
    if (!r) return false;
    let kept: Promise<void>;
    try {
      if (typeof (r as Promise<void>).then !== 'function') return false;
      // A thenable that calls back twice, or both ways, must not release
      // the slab twice (it would then be staged into twice at once):
      // Promise.resolve settles once (and returns a real promise as is).
      kept = Promise.resolve(r);
    } catch (err) {
      throw (this.#failure ??= asIoError(err));
    }
    this.#inFlight++;
    const released = kept.then(
      () => {
        this.#inFlight--;
        // A slab the sink detached (transferred) is not reused.
        if (unit && unit.all.byteLength !== 0) this.#free.push(unit);
        if (this.#drainWaiters.length && this.#inFlight < MAX_IN_FLIGHT) this.#settleWaiters();
      },
      (err: unknown) => {
        this.#inFlight--;
        this.#failure ??= asIoError(err);
        this.#settleWaiters();
      },
    );
    const before = this.#finished;
    this.#finished = Promise.all([before, released]).then(() => undefined);
    return true;
  }

  #settleWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) {
      if (this.#failure) w.reject(this.#failure);
      else w.resolve();
    }
  }

  // The exit hook's flush (lib/sinks/exit-hook.ts): static, so registering holds
  // no closure over the writer. Throws go to stderr there.
  static #flushAtExit(w: StreamWriter): void {
    if (w.#closed || w.#failure || w.#pos === 0) return;
    w.#flush();
  }

  static #tick(w: StreamWriter): void {
    w.#onTimer();
  }

  #onTimer(): void {
    if (this.#inCallback || this.#closed || this.#failure || this.#pos === 0) return;
    try {
      this.#flush();
    } catch {
      // #call recorded it in #failure: the next call throws it.
    }
  }

  // Calls the sink: a failure is the writer's failure from then on.
  #call<T>(fn: () => T): T {
    this.#inCallback = true;
    try {
      return fn();
    } catch (err) {
      throw (this.#failure ??= asIoError(err));
    } finally {
      this.#inCallback = false;
    }
  }
}

// A finished FlatBuffer holds at least its root offset (4 bytes).
const MIN_FLATBUFFER = 4;

/**
 * Where the finished FlatBuffer of a stock (or duck-typed) builder lies,
 * checked completely: TypeError for wrong types, RangeError for a position
 * that is not an integer inside the buffer, UnfinishedBuilderError when the
 * region is not a finished buffer (finish() leaves position == space, and
 * the root offset at the start points inside the region).
 */
function finishedRegion(builder: Builder): { bytes: Uint8Array; start: number } {
  const bb: unknown = builder.dataBuffer();
  if (
    typeof bb !== 'object' ||
    bb === null ||
    typeof (bb as { bytes?: unknown }).bytes !== 'function' ||
    typeof (bb as { position?: unknown }).position !== 'function'
  ) {
    throw typeError("The builder's dataBuffer() must return a flatbuffers.ByteBuffer");
  }
  const buf = bb as { bytes(): unknown; position(): unknown };
  const bytes = buf.bytes();
  if (!isBytes(bytes)) {
    throw typeError("The builder's dataBuffer().bytes() must return a Uint8Array");
  }
  const start = buf.position();
  if (typeof start !== 'number') {
    throw typeError(
      `The builder's dataBuffer().position() must return a number. Received type ${typeof start}`,
    );
  }
  if (!Number.isInteger(start) || start < 0 || start > bytes.length) {
    throw rangeError(
      `The value of the builder's dataBuffer().position() is out of range. It must be an integer >= 0 and <= ${bytes.length}. Received ${start}`,
    );
  }
  const len = bytes.length - start;
  if (start !== (builder as unknown as { space: unknown }).space || len < MIN_FLATBUFFER) {
    throw new UnfinishedBuilderError('writeFinished()');
  }
  const root =
    (bytes[start]! |
      (bytes[start + 1]! << 8) |
      (bytes[start + 2]! << 16) |
      (bytes[start + 3]! << 24)) >>>
    0;
  if (root < MIN_FLATBUFFER || root > len - MIN_FLATBUFFER) {
    throw new UnfinishedBuilderError('writeFinished()');
  }
  return { bytes, start };
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

function asyncExitSink(what: string): TypeError {
  return Object.assign(
    new TypeError(
      `The "flushOnExit" option cannot be true for ${what}: it cannot take frames synchronously at exit`,
    ),
    { code: 'ERR_INVALID_ARG_VALUE' },
  );
}

function asIoError(err: unknown): FlatStreamError {
  if (err instanceof FlatStreamError) return err;
  return new IoError(`sink failed: ${(err as Error)?.message ?? String(err)}`, err);
}
