/**
 * CaptureSink: crash-safe capture for latency-critical processes
 * (docs/capture.md). The writer stages frames straight into slabs that are a
 * shared mapping of a staging file (memory the kernel keeps when the process
 * dies); a dedicated native thread seals them and writes them to the stream
 * file. The event loop never waits on the disk, except where the `'block'`
 * policy says so. Without the addon the same class runs in portable mode
 * (lib/capture/portable-capture.ts; docs/design.md, "Portable capture").
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkInteger, checkOptions, typeError } from '../format/args';
import { nativeExport } from '../engine/load';
import {
  type CaptureGuarantees,
  type CaptureMode,
  GUARANTEES,
  PortableCapture,
  chooseCaptureMode,
  warnPortable,
} from './portable-capture';
import {
  ClosedError,
  IoError,
  NativeRequiredError,
  RecoveryRefusedError,
  StagingFullError,
  type RecoveryRefusal,
} from '../format/errors';
import * as exitHook from '../sinks/exit-hook';
import { Acquire, Refusal, StagingLayout } from '../engine/contract';
import type { SlabFormat, SlabSource, SlabUnit } from '../sinks/slab-source';
import { checksums } from '../format/checksum';
import { Framer } from '../format/framing';
import {
  type HeaderOptions,
  MAX_HEADER_LEN,
  checkAppend,
  checkHeaderOptions,
  headerFrame,
} from '../format/header';

/**
 * What a capture does when the staging is full: `'drop'` (the default) grows
 * up to `maxBytes`, then drops the newest frames, counted, never waiting;
 * `'grow'` grows up to `maxBytes`, then blocks; `'block'` keeps its `slabs`
 * and blocks (docs/design.md, "Backpressure").
 */
export type CapturePolicy = 'block' | 'drop' | 'grow';

/** Options of a {@link CaptureSink}. */
export interface CaptureSinkOptions {
  /** Bytes per staging slab (default 256 KiB): the largest frame, header included. */
  slabSize?: number;
  /** Staging slabs at the start (default 4). */
  slabs?: number;
  /**
   * When every slab is full and queued (default `'drop'`): `'drop'` adds
   * slabs up to `maxBytes`, then drops the newest frames and counts them
   * (`stats().drops`, a `'drop'` event), never waiting; `'grow'` adds slabs
   * up to `maxBytes`, then waits like `'block'`; `'block'` waits up to
   * `blockTimeoutMs` for the thread to free one of its `slabs`, then throws
   * `StagingFullError`.
   */
  policy?: CapturePolicy;
  /** Longest wait for a free slab, in ms (default 1000). */
  blockTimeoutMs?: number;
  /** `'drop'` and `'grow'`: staging memory cap in bytes (default 16 MiB). */
  maxBytes?: number;
  /** Hand the filling slab to the thread at least this often, in ms (default 1000). */
  flushIntervalMs?: number;
  /** fdatasync the stream file at least this often, in ms (default: only on `sync()`). */
  syncIntervalMs?: number;
  /**
   * Where the staging file lives (default: in /dev/shm, or the OS temp directory where there
   * is no writable /dev/shm, named after the stream's path).
   */
  stagingPath?: string;
  /** Drain when one of these signals arrives (`true`: SIGINT and SIGTERM; default false). */
  flushOnSignal?: boolean | NodeJS.Signals[];
  /** Bound of every synchronous drain, in ms (default 5000). */
  exitTimeoutMs?: number;
  /** Permission bits of a new stream file (default 0o644). */
  mode?: number;
  /**
   * Start an empty stream file with a stream header (docs/design.md,
   * "Stream header"), framed with the writer's framer when it binds. A
   * headed file is checked at bind whether or not this is given: another
   * checksum is a `FormatMismatchError` before a byte is written.
   */
  header?: HeaderOptions;
  /**
   * Refuse to run without the native addon (`NativeRequiredError`) instead
   * of degrading to portable mode, which loses unflushed frames on SIGKILL
   * (default false; see {@link CaptureSink.guarantees}).
   */
  requireNative?: boolean;
}

/** What opening a capture drained from a writer that died. */
export interface CaptureRecovery {
  /** Staged slabs written to the stream file at open. */
  slabs: number;
  frames: number;
  bytes: number;
  /** Bytes cut from the stream's end (a torn tail). */
  tornBytes: number;
  /** Whether the stream had to be walked frame by frame to find its end. */
  walked: boolean;
  /**
   * Frames (and bytes) a dead writer had staged for another file at this
   * path (the stream was rotated or replaced since): never written into this
   * stream, but into {@link orphanPath}.
   */
  orphanedFrames: number;
  orphanedBytes: number;
  /** The new stream file beside this one that holds the orphaned frames, or null. */
  orphanPath: string | null;
}

/** The `'drop'` event: frames dropped since the staging filled up (one event per episode). */
export interface CaptureDropEvent {
  frames: number;
  bytes: number;
}

/**
 * The events a {@link CaptureSink} emits, each with its listener's
 * arguments: `sink.on('drop', (e) => …)` gets `e` typed as a
 * {@link CaptureDropEvent}, and an event not listed here is a type error.
 */
export interface CaptureSinkEvents {
  /** Frames the `'drop'` policy dropped: one event per episode, after the write that started it. */
  drop: [event: CaptureDropEvent];
  /** The writer thread failed (the writer's next call throws the same error); emitted only to a listener. */
  error: [err: IoError];
}

type Listener<K extends keyof CaptureSinkEvents> = (...args: CaptureSinkEvents[K]) => void;

/**
 * The typed listener methods of {@link CaptureSink} (merged into the class;
 * the `EventEmitter` methods run them).
 */
export interface CaptureSink {
  on<K extends keyof CaptureSinkEvents>(event: K, listener: Listener<K>): this;
  once<K extends keyof CaptureSinkEvents>(event: K, listener: Listener<K>): this;
  addListener<K extends keyof CaptureSinkEvents>(event: K, listener: Listener<K>): this;
  prependListener<K extends keyof CaptureSinkEvents>(event: K, listener: Listener<K>): this;
  prependOnceListener<K extends keyof CaptureSinkEvents>(event: K, listener: Listener<K>): this;
  off<K extends keyof CaptureSinkEvents>(event: K, listener: Listener<K>): this;
  removeListener<K extends keyof CaptureSinkEvents>(event: K, listener: Listener<K>): this;
  removeAllListeners(event?: keyof CaptureSinkEvents): this;
  listenerCount<K extends keyof CaptureSinkEvents>(event: K, listener?: Listener<K>): number;
  listeners<K extends keyof CaptureSinkEvents>(event: K): Listener<K>[];
  emit<K extends keyof CaptureSinkEvents>(event: K, ...args: CaptureSinkEvents[K]): boolean;
}

/** Latency of the writer thread's slab writes, in microseconds. */
export interface CaptureLatency {
  p50: number;
  p99: number;
  p999: number;
  /** Since open. */
  max: number;
  /** Writes the percentiles are over (the last 8192 at most). */
  samples: number;
}

/** Counters of a {@link CaptureSink}, since it was opened. */
export interface CaptureStats {
  /** Frames and bytes handed to the writer thread. */
  frames: number;
  bytes: number;
  /** Frames and bytes in the stream file. */
  framesWritten: number;
  bytesWritten: number;
  /** Frames (and their bytes) dropped by the `'drop'` policy. */
  drops: number;
  droppedBytes: number;
  /** Slabs handed over and not yet written. */
  queueDepth: number;
  /** Staging slabs allocated. */
  slabs: number;
  /** Times the staging could not grow because its filesystem was full. */
  growFailures: number;
  /** Slabs the writer thread added before the producer needed them (growth off the event loop). */
  grownAhead: number;
  /** Slabs handed over. */
  flushes: number;
  /** Slab writes by the thread. */
  writes: number;
  fsyncs: number;
  /** Failed writes or syncs (the first one stops the thread). */
  errors: number;
  /** Frames and bytes a writer that died had staged, written at open (see {@link CaptureSink.recovery}). */
  recoveredFrames: number;
  recoveredBytes: number;
  writeLatency: CaptureLatency;
}

/** @internal The native handle (native/binding/capture.cc). */
interface Handle {
  bind(kind: number, headerSize: number): void;
  header(): ArrayBuffer | null;
  slot(i: number): ArrayBuffer | null;
  acquire(grow: boolean, waitMs: number): number;
  submit(slot: number, len: number, frames: number): void;
  requestSync(): void;
  lastTicket(): number;
  completed(): number;
  notifyAt(ticket: number): void;
  notifyBelow(slots: number): void;
  inUse(): number;
  unref(): void;
  flushSync(timeoutMs: number): void;
  close(timeoutMs: number): void;
  stats(): Omit<CaptureStats, 'drops' | 'droppedBytes' | 'recoveredFrames' | 'recoveredBytes'>;
  recovery(): CaptureRecovery;
  error(): (Error & NodeJS.ErrnoException) | null;
  inject(errno: number, afterWrites: number, delayMs: number): void;
}
type HandleCtor = new (...args: unknown[]) => Handle;

const SCRATCH = 4096; // the writer's builder scratch beside each slab
const REFUSALS: Record<number, RecoveryRefusal> = {
  [Refusal.NoIntactFrame]: 'no-intact-frame',
  [Refusal.TailTooLong]: 'tail-too-long',
  [Refusal.NotRegular]: 'not-a-regular-file',
};
// docs/design.md, "Capture staging: space, claims and identity": 1 MiB per
// sink at the start, so that many sinks share a small /dev/shm; growth is
// cheap and reserved for real.
const DEFAULTS = {
  slabSize: 256 << 10,
  slabs: 4,
  blockTimeoutMs: 1000,
  maxBytes: 16 << 20,
  flushIntervalMs: 1000,
  exitTimeoutMs: 5000,
  mode: 0o644,
};
const POLICIES: readonly CapturePolicy[] = ['block', 'drop', 'grow'];

// Set by CaptureSink.open around its constructor call: the native open is
// then asynchronous (docs/design.md, "Rotation").
let preparing: { open: (stream: string, staging: string, config: number[]) => void } | undefined;

// Sinks the signal handlers drain; one listener per signal, shared. (Exits
// go through lib/sinks/exit-hook.ts, the library's one 'exit' listener.)
const signalSinks = new Map<NodeJS.Signals, Set<CaptureSink>>();

// An exit or signal path cannot throw to anyone: say it on stderr.
function quietly(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    try {
      fs.writeSync(2, `flatstream: ${(err as Error).message}\n`);
    } catch {
      // stderr is gone too
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  const sinks = signalSinks.get(signal);
  for (const sink of sinks ?? []) quietly(() => sink.flushSync());
  // Only ours: do what the signal would have done without us.
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal);
    signalSinks.delete(signal);
    process.kill(process.pid, signal);
  }
}

// In RAM (/dev/shm) where there is one, else in the OS temp directory
// (docs/design.md, "Platforms").
export function defaultStagingPath(stream: string): string {
  const hash = createHash('sha256').update(stream).digest('hex').slice(0, 16);
  const name = `flatstream-${process.getuid?.() ?? 0}-${hash}.staging`;
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return `/dev/shm/${name}`;
  } catch {
    return path.join(os.tmpdir(), name);
  }
}

type NativeError = Error &
  NodeJS.ErrnoException & {
    refusal?: number;
    tornBytes?: number;
    offset?: number;
    frameIndex?: number;
  };

function asIoError(e: NativeError, what: string): IoError {
  return new IoError(`${what}: ${e.message}`, e);
}

// The native side's refusals become RecoveryRefusedError; the rest IoError.
function openError(e: NativeError, what: string): IoError | RecoveryRefusedError {
  const reason = e.refusal === undefined ? undefined : REFUSALS[e.refusal];
  if (!reason) return asIoError(e, what);
  const where =
    reason === 'not-a-regular-file'
      ? undefined
      : { offset: e.offset ?? 0, frameIndex: e.frameIndex ?? 0 };
  return new RecoveryRefusedError(reason, e.tornBytes ?? 0, `${what}: ${e.message}`, where);
}

function checkSignals(value: unknown): NodeJS.Signals[] {
  if (value === undefined || value === false) return [];
  if (value === true) return ['SIGINT', 'SIGTERM'];
  if (
    Array.isArray(value) &&
    value.every((s) => typeof s === 'string' && s in os.constants.signals)
  ) {
    return value as NodeJS.Signals[];
  }
  throw typeError('The "flushOnSignal" option must be a boolean or an array of signal names');
}

/**
 * A crash-safe {@link SlabSource} for a {@link StreamWriter}: the writer
 * stages frames straight into slabs this sink lends from its staging file,
 * so frames that the writer's `write()` accepted survive the death of the
 * process; a native thread seals them and writes them to `path`. It takes
 * no loose chunks (it is not a `Sink`): give it to one writer. See
 * docs/capture.md for the guarantees.
 *
 * Without the native addon it runs in portable mode ({@link captureMode}):
 * plain slabs appended with synchronous writes when handed over, written at
 * exit, but lost on SIGKILL until then ({@link guarantees}); one process
 * warning says so. `requireNative: true` refuses instead.
 *
 * Emits `'error'` (an {@link IoError}) when the writer thread (in portable
 * mode, a write) fails, on the next turn, if a listener is attached; the
 * writer's next call throws it either way.
 * Emits `'drop'` (a {@link CaptureDropEvent}) once per drop episode. The
 * events and their arguments are typed: {@link CaptureSinkEvents}.
 *
 * @example
 * ```ts
 * const sink = new CaptureSink('events.fst');
 * const writer = new StreamWriter(sink, new ChecksumFramer(XxHash64));
 * writer.write(event);
 * ```
 */
export class CaptureSink extends EventEmitter implements SlabSource {
  /** The stream file, absolute. */
  readonly path: string;
  /** The staging file; null in portable mode, which has none. */
  readonly stagingPath: string | null;
  /** `'native'`, or `'portable'` when the addon is not loaded (docs/capture.md, "Portable mode"). */
  readonly captureMode: CaptureMode;
  /** What survives, in this mode, of frames written and not yet flushed. */
  readonly guarantees: CaptureGuarantees;
  readonly policy: CapturePolicy;
  #recovery!: CaptureRecovery;
  readonly slabSize: number;
  readonly flushIntervalMs: number | undefined;
  readonly commits!: Int32Array;
  #handle!: Handle;
  #units: SlabUnit[] = [];
  #blockTimeoutMs: number;
  #exitTimeoutMs: number;
  #signals: NodeJS.Signals[];
  #bound = false;
  #closed = false;
  // This sink's slot in lib/sinks/exit-hook.ts.
  #exitSlot = -1;
  #failure: IoError | null = null;
  #drops = 0;
  #droppedBytes = 0;
  #pressure = false;
  #highWater: number;
  #drainWaiters: (() => void)[] = [];
  #episode: CaptureDropEvent | null = null;
  #waiters: { ticket: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  #closing: Promise<void> | null = null;
  #onFailure: ((err: Error) => void) | null = null;
  #header: HeaderOptions | undefined;

  constructor(file: string | URL, options?: CaptureSinkOptions) {
    super();
    const nativeCtor = nativeExport('CaptureHandle') as HandleCtor | undefined;
    const arena = nativeExport('Arena') as { externalBuffers?: boolean } | undefined;
    const { mode, lack } = chooseCaptureMode(
      nativeCtor,
      options?.requireNative,
      arena?.externalBuffers !== false,
    );
    const Ctor = mode === 'native' ? nativeCtor! : (PortableCapture as HandleCtor);
    this.captureMode = mode;
    this.guarantees = GUARANTEES[mode];
    if (typeof file !== 'string' && !(file instanceof URL))
      throw typeError('The "path" argument must be a string or a URL');
    checkOptions(options, 'options');
    // An option given as undefined takes its default, as in Node's own APIs.
    const given = Object.entries(options ?? {}).filter(([, v]) => v !== undefined);
    const o: typeof DEFAULTS & CaptureSinkOptions = { ...DEFAULTS, ...Object.fromEntries(given) };
    checkInteger(o.slabSize, 'slabSize', 64, StagingLayout.maxSlabSize);
    checkInteger(o.slabs, 'slabs', 1, StagingLayout.maxSlots);
    checkInteger(o.blockTimeoutMs, 'blockTimeoutMs', 0, 2 ** 31 - 1);
    checkInteger(o.maxBytes, 'maxBytes', 1, Number.MAX_SAFE_INTEGER);
    checkInteger(o.flushIntervalMs, 'flushIntervalMs', 1, 2 ** 31 - 1);
    checkInteger(o.exitTimeoutMs, 'exitTimeoutMs', 0, 2 ** 31 - 1);
    checkInteger(o.mode, 'mode', 0, 0o7777);
    if (o.syncIntervalMs !== undefined)
      checkInteger(o.syncIntervalMs, 'syncIntervalMs', 1, 2 ** 31 - 1);
    const policy = o.policy ?? 'drop';
    if (!POLICIES.includes(policy))
      throw typeError(
        `The "policy" option must be 'block', 'drop' or 'grow'. Received ${String(policy)}`,
      );
    if (o.header !== undefined) checkHeaderOptions(o.header);
    this.#header = o.header;
    if (o.stagingPath !== undefined && typeof o.stagingPath !== 'string')
      throw typeError('The "stagingPath" option must be a string');
    this.#signals = checkSignals(o.flushOnSignal);
    const maxSlots =
      policy === 'block'
        ? o.slabs
        : Math.max(o.slabs, Math.min(StagingLayout.maxSlots, Math.floor(o.maxBytes / o.slabSize)));
    // needsDrain while more than half the staging is in use: well before
    // anything is dropped (docs/design.md, "Backpressure").
    this.#highWater = Math.floor(maxSlots / 2);

    this.path = path.resolve(typeof file === 'string' ? file : fileURLToPath(file));
    this.stagingPath =
      mode === 'portable' ? null : path.resolve(o.stagingPath ?? defaultStagingPath(this.path));
    this.policy = policy;
    this.slabSize = o.slabSize;
    this.flushIntervalMs = o.flushIntervalMs;
    this.#blockTimeoutMs = o.blockTimeoutMs;
    this.#exitTimeoutMs = o.exitTimeoutMs;
    const config = [o.slabSize, SCRATCH, o.slabs, maxSlots, o.mode, o.syncIntervalMs ?? 0];
    const prepared = preparing;
    preparing = undefined;
    if (prepared !== undefined && mode === 'native') {
      // CaptureSink.open: the native open happens off the event loop first.
      prepared.open(this.path, this.stagingPath!, config);
      return;
    }
    try {
      this.#handle = new Ctor(this.path, this.stagingPath ?? '', ...config, o.exitTimeoutMs, () =>
        this.#onNotify(),
      );
    } catch (err) {
      throw openError(err as NativeError, `cannot open capture of ${this.path}`);
    }
    this.#opened();
    if (lack !== null) warnPortable(lack);
  }

  /**
   * Opens a capture as the constructor does, with the native open (the
   * stream and staging files, claims, recovery, the staging's reservation
   * and mappings) on a libuv thread: the event loop does not wait on the
   * disk (docs/design.md, "Rotation"). Rejects with the constructor's errors.
   */
  static open(file: string | URL, options?: CaptureSinkOptions): Promise<CaptureSink> {
    const open = nativeExport('openCaptureAsync') as
      | ((...args: [string, string, ...number[], (e: Error | null, p?: unknown) => void]) => void)
      | undefined;
    // Without the addon: portable mode (its open is synchronous), or the
    // constructor's NativeRequiredError under requireNative.
    if (typeof open !== 'function') {
      try {
        return Promise.resolve(new CaptureSink(file, options));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return new Promise<CaptureSink>((resolve, reject) => {
      let sink: CaptureSink;
      preparing = {
        open: (stream, staging, config) => {
          open(stream, staging, ...config, (err, handle) => {
            if (err)
              return reject(openError(err as NativeError, `cannot open capture of ${stream}`));
            try {
              const Ctor = nativeExport('CaptureHandle') as HandleCtor;
              sink.#handle = new Ctor(handle, sink.#exitTimeoutMs, () => sink.#onNotify());
              sink.#opened();
              resolve(sink);
            } catch (e) {
              reject(e);
            }
          });
        },
      };
      try {
        sink = new CaptureSink(file, options);
        // A host without external ArrayBuffers: portable mode, opened already.
        if (sink.captureMode === 'portable') resolve(sink);
      } catch (err) {
        reject(err);
      } finally {
        preparing = undefined;
      }
    });
  }

  // The rest of opening, once the native handle is there.
  #opened(): void {
    const recovery = (this.#recovery = this.#handle.recovery());
    if (recovery.orphanedFrames > 0)
      process.emitWarning(
        `${recovery.orphanedFrames} frames a dead writer had staged for an earlier file at ${this.path} (rotated or replaced since) were written to ${recovery.orphanPath}, not into the stream`,
        { code: 'FLATSTREAM_ORPHANED_FRAMES' },
      );
    const header = this.#handle.header();
    if (!header) {
      this.#handle.close(0);
      throw new NativeRequiredError('CaptureSink (in a host that forbids external ArrayBuffers)');
    }
    (this as { commits: Int32Array }).commits = new Int32Array(header);
    // Held (armed) while open: an exit drains it, whether or not anything
    // else still references it.
    this.#exitSlot = exitHook.register(this, CaptureSink.#closeAtExit);
    exitHook.arm(this.#exitSlot, this);
    for (const signal of this.#signals) {
      let set = signalSinks.get(signal);
      if (!set) {
        signalSinks.set(signal, (set = new Set()));
        process.on(signal, onSignal);
      }
      set.add(this);
    }
  }

  /**
   * What opening drained from a writer that died (zeros when there was
   * nothing), and what the tail walk cut once a writer bound.
   */
  get recovery(): CaptureRecovery {
    return this.#recovery;
  }

  /** Slab protocol: called once by the StreamWriter this sink belongs to. */
  bind(format: SlabFormat): void {
    this.#check();
    if (this.#bound) throw typeError('This CaptureSink already belongs to a StreamWriter');
    this.#checkHeader(format);
    try {
      this.#handle.bind(format.kind, format.headerSize);
    } catch (err) {
      throw openError(err as NativeError, `cannot capture to ${this.path}`);
    } finally {
      this.#recovery = this.#handle.recovery(); // the tail walk's, if there was one
    }
    this.#bound = true;
  }

  // The header check and write, before the capture binds (docs/design.md,
  // "Stream header"): the file's start is read; an empty file gets the
  // header frame, written whole before the capture's thread appends.
  #checkHeader(format: SlabFormat): void {
    const checksum = Object.values(checksums).find((c) => c.kind === format.kind);
    let fd: number;
    try {
      fd = fs.openSync(this.path, fs.constants.O_RDWR | fs.constants.O_APPEND);
    } catch {
      return; // the capture's own bind reports what is wrong with the file
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size > 0) {
        if (checksum === undefined) return;
        const n = Math.min(size, 64 * 1024);
        let buf = Buffer.alloc(n);
        let got = fs.readSync(fd, buf, 0, n, 0);
        const len = got >= 4 ? buf.readUInt32LE(0) : 0;
        if (len + 12 > got && len <= MAX_HEADER_LEN && size > got) {
          buf = Buffer.alloc(Math.min(size, len + 12));
          got = fs.readSync(fd, buf, 0, buf.length, 0);
        }
        checkAppend(
          buf.subarray(0, got),
          new Framer(checksum),
          this.#header !== undefined,
          `'${this.path}'`,
        );
      } else if (this.#header !== undefined) {
        if (checksum === undefined)
          throw typeError('The "header" option needs a built-in checksum: a header names it');
        const frame = headerFrame(new Framer(checksum), this.#header);
        let off = 0;
        try {
          while (off < frame.length) off += fs.writeSync(fd, frame, off);
        } catch (err) {
          // Never leave a torn header as frame 0: the file was empty.
          try {
            fs.ftruncateSync(fd, 0);
          } catch {
            // the write's error is the one to report
          }
          throw new IoError(
            `cannot write the stream header of ${this.path}: ${(err as Error).message}`,
            err,
          );
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Slab protocol: lends the next slab; null when the `'drop'` policy drops the frame. */
  acquire(): SlabUnit | null {
    this.#check();
    const grow = this.policy !== 'block';
    const wait = this.policy === 'drop' ? 0 : this.#blockTimeoutMs;
    let slot: number;
    try {
      slot = this.#handle.acquire(grow, wait);
    } catch (err) {
      throw this.#fail(asIoError(err as Error, `cannot grow the staging of ${this.path}`));
    }
    if (slot >= 0) {
      const inUse = Math.floor(slot / Acquire.inUseUnit);
      slot -= inUse * Acquire.inUseUnit;
      this.#pressure = inUse > this.#highWater;
      this.#episode = null;
      return this.#units[slot] ?? this.#mapUnit(slot);
    }
    if (slot === Acquire.None) {
      this.#pressure = true;
      return null;
    }
    if (slot === Acquire.Timeout) throw new StagingFullError(wait, this.#handle.stats().slabs);
    throw this.#threadFailure();
  }

  /**
   * Slab protocol: hands a slab to the writer thread, which seals and writes
   * it (portable mode: seals and appends it before returning).
   */
  submit(unit: SlabUnit, end: number, frames: number): void {
    this.#check();
    try {
      this.#handle.submit(
        (unit.cell * 4 - StagingLayout.commitFieldOffset - StagingLayout.headerSize) /
          StagingLayout.slotRecordSize,
        end,
        frames,
      );
    } catch (err) {
      throw this.#fail(asIoError(err as Error, `cannot write ${this.path}`)); // portable mode
    }
  }

  /** Frames dropped by the policy since open (also `stats().drops`). */
  get drops(): number {
    return this.#drops;
  }

  /** Slab protocol: counts a frame the writer dropped because no slab was free. */
  dropped(bytes: number): void {
    this.#drops++;
    this.#droppedBytes += bytes;
    const episode = this.#episode ?? this.#startEpisode();
    episode.frames++;
    episode.bytes += bytes;
  }

  // One 'drop' event per episode (until a slab is free again), emitted
  // outside the write that dropped, so a listener cannot re-enter it. Its own
  // method: a closure in dropped() would allocate a context per dropped frame.
  #startEpisode(): { frames: number; bytes: number } {
    const counts = (this.#episode = { frames: 0, bytes: 0 });
    setImmediate(() => {
      if (this.listenerCount('drop') > 0) this.emit('drop', { ...counts });
    }).unref();
    return counts;
  }

  /** Slab protocol: the writer's hook for failures of the thread. */
  onFailure(fn: (err: Error) => void): void {
    this.#onFailure = fn;
  }

  /** The writer already handed its slab to the thread: nothing to do. */
  flush(): void {
    this.#check();
  }

  /**
   * Queues an fdatasync of the stream file after everything handed over so
   * far (portable mode: does it before returning).
   */
  sync(): void {
    this.#check();
    try {
      this.#handle.requestSync();
    } catch (err) {
      throw this.#fail(asIoError(err as Error, `cannot sync ${this.path}`)); // portable mode
    }
  }

  /**
   * Resolves once everything handed to the thread before this call is in the
   * stream file (and fdatasync'ed, if `sync()` was called last); rejects with
   * the thread's IoError.
   */
  flushed(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return this.#closing ?? Promise.resolve();
    const ticket = this.#handle.lastTicket();
    if (this.#handle.completed() >= ticket) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ ticket, resolve, reject });
      this.#handle.notifyAt(ticket);
    });
  }

  /**
   * True while more than half the staging (`maxBytes`, or `slabs` under
   * `'block'`) is in use: Node's "accepted, slow down". Frames are still
   * staged; dropping starts only when all of it is in use.
   */
  get needsDrain(): boolean {
    return this.#pressure;
  }

  /** Resolves as soon as the writer thread has freed enough staging that {@link needsDrain} is false. */
  drain(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (!this.#pressure || this.#closed) return Promise.resolve();
    if (this.#handle.inUse() <= this.#highWater) {
      this.#pressure = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.#drainWaiters.push(resolve);
      this.#handle.notifyBelow(this.#highWater + 1);
    });
  }

  /**
   * Drains and closes: the returned promise settles when the thread has
   * written everything, stopped, and the staging is marked clean.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    if (this.#failure || (!this.#closed && this.#handle.error())) {
      // Nothing to wait for: the thread stopped. Released now, so that a
      // reopen right after this call finds the stream free.
      this.#shutdown();
      this.#closing = Promise.reject(this.#failure ?? this.#threadFailure());
      this.#closing.catch(() => undefined);
      return this.#closing;
    }
    this.#closing = this.flushed()
      .catch(() => undefined) // a failed thread: close reports it below
      .then(() => {
        this.#shutdown();
        if (this.#failure) throw this.#failure;
      });
    this.#closing.catch(() => undefined); // reported through the writer's finished()
    return this.#closing;
  }

  /**
   * Synchronously writes everything staged (the filling slab included) to
   * the stream file, blocking up to `exitTimeoutMs`, and closes. For exit
   * paths; the writer must not be used afterwards.
   */
  closeSync(): void {
    if (this.#closed) return;
    this.#shutdown();
    if (this.#failure) throw this.#failure;
  }

  /**
   * Synchronously writes everything staged (the filling slab's frames
   * included) to the stream file, blocking up to `exitTimeoutMs`; the sink
   * stays open. Used on signals.
   */
  flushSync(): void {
    if (this.#closed) return;
    try {
      this.#handle.flushSync(this.#exitTimeoutMs);
    } catch (err) {
      throw this.#fail(asIoError(err as Error, `cannot flush ${this.path}`));
    }
  }

  /** Counters since open (see docs/capture.md). */
  stats(): CaptureStats {
    return {
      ...this.#handle.stats(),
      drops: this.#drops,
      droppedBytes: this.#droppedBytes,
      recoveredFrames: this.#recovery.frames,
      recoveredBytes: this.#recovery.bytes,
    };
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * @internal Test hook: the thread's slab writes after `afterWrites` more
   * successful ones fail with `code`; `delayMs` slows every write.
   */
  _injectFault(fault: { code?: string; afterWrites?: number; delayMs?: number }): void {
    const errno =
      fault.code === undefined ? 0 : (os.constants.errno as Record<string, number>)[fault.code];
    if (errno === undefined) throw typeError(`unknown errno name ${fault.code}`);
    this.#handle.inject(errno, fault.afterWrites ?? 0, fault.delayMs ?? 0);
  }

  #mapUnit(slot: number): SlabUnit {
    const buffer = this.#handle.slot(slot);
    if (!buffer) throw new NativeRequiredError('CaptureSink (external ArrayBuffers)');
    const all = new Uint8Array(buffer, 0, this.slabSize + SCRATCH);
    const unit: SlabUnit = {
      all,
      slab: all.subarray(0, this.slabSize),
      view: new DataView(buffer, 0, this.slabSize),
      scratch: all.subarray(this.slabSize),
      cell:
        (StagingLayout.headerSize +
          slot * StagingLayout.slotRecordSize +
          StagingLayout.commitFieldOffset) /
        4,
    };
    this.#units[slot] = unit;
    return unit;
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new ClosedError('CaptureSink');
  }

  #threadFailure(): IoError {
    const e = this.#handle.error();
    return this.#fail(e ? asIoError(e, this.#failedWhat()) : new IoError(this.#failedWhat()));
  }

  #failedWhat(): string {
    return this.captureMode === 'native' ? 'capture writer thread failed' : 'capture write failed';
  }

  #fail(err: IoError): IoError {
    if (this.#failure) return this.#failure;
    this.#failure = err;
    this.#onFailure?.(err);
    for (const w of this.#waiters.splice(0)) w.reject(err);
    for (const resolve of this.#drainWaiters.splice(0)) resolve(); // the writer's next call throws
    // Never from inside the writer's call that failed (a listener could not
    // call it back): on the next turn, as the thread's failures arrive.
    setImmediate(() => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    return err;
  }

  // From the writer thread (through the thread-safe function): progress or failure.
  #onNotify(): void {
    if (this.#closed) return;
    if (this.#handle.error()) {
      this.#threadFailure();
      this.#handle.unref();
      return;
    }
    const done = this.#handle.completed();
    const still = this.#waiters.filter((w) => w.ticket > done);
    for (const w of this.#waiters) if (w.ticket <= done) w.resolve();
    this.#waiters = still;
    if (this.#drainWaiters.length && this.#handle.inUse() <= this.#highWater) {
      this.#pressure = false;
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
    if (still.length) this.#handle.notifyAt(Math.min(...still.map((w) => w.ticket)));
    if (this.#drainWaiters.length) this.#handle.notifyBelow(this.#highWater + 1);
    if (!still.length && !this.#drainWaiters.length) this.#handle.unref();
  }

  // The exit hook's flush: drain and close, synchronously (bounded by exitTimeoutMs).
  static #closeAtExit(sink: CaptureSink): void {
    sink.closeSync();
  }

  #shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    exitHook.unregister(this.#exitSlot, this);
    for (const signal of this.#signals) {
      const sinks = signalSinks.get(signal);
      sinks?.delete(this);
      if (sinks?.size === 0) {
        // The last sink that asked for it: the signal is the application's again.
        process.removeListener(signal, onSignal);
        signalSinks.delete(signal);
      }
    }
    if (this.#handle.error()) this.#threadFailure();
    try {
      this.#handle.close(this.#exitTimeoutMs);
    } catch (err) {
      this.#fail(asIoError(err as Error, `cannot close capture of ${this.path}`));
    }
    // Drained (or failed, and #fail rejected them): nothing is left to wait for.
    for (const w of this.#waiters.splice(0)) w.resolve();
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
    this.#pressure = false;
  }
}
