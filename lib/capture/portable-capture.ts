/**
 * Portable capture (docs/design.md, "Portable capture"): what a CaptureSink
 * runs on when the native addon is not loaded. It answers the same calls as
 * the addon's `CaptureHandle` (native/binding/capture.cc), so CaptureSink
 * has one code path over either; but the slabs are plain process memory and
 * a slab handed over is sealed and appended to the stream file with
 * synchronous writes before `submit` returns, on the event loop, as a
 * FileSink's are. Frames still in the filling slab are written by the exit
 * hook (normal exit, `process.exit()`, an uncaught exception) and on
 * signals, but die with the process on SIGKILL, a crash or an OOM kill.
 *
 * Owns: PortableCapture, CaptureMode, CaptureGuarantees, chooseCaptureMode,
 * warnPortable. Imports: engine (load, contract), format (args, errors,
 * framing).
 */
import fs from 'node:fs';
import os from 'node:os';
import util from 'node:util';
import { backend } from '../engine/load';
import { INDEX_HEADER, IndexSlot, Refusal, ScanStatus, StagingLayout } from '../engine/contract';
import { typeError } from '../format/args';
import { NativeRequiredError } from '../format/errors';
import { CUSTOM_KIND } from '../format/framing';

/**
 * How a {@link CaptureSink} captures: `'native'` (the addon's shared staging
 * and writer thread) or `'portable'` (no addon: synchronous appends on the
 * event loop; docs/capture.md, "Portable mode").
 */
export type CaptureMode = 'native' | 'portable';

/**
 * What survives, for frames a writer's `write*()` accepted and that were
 * not yet flushed to the stream file (docs/capture.md, "What is guaranteed,
 * and when"). Frames `flush()` and `await sink.flushed()` put in the file
 * survive the death of the process in both modes; only `sync()` then
 * `await sink.flushed()` survives an OS crash or a power loss, in both.
 */
export interface CaptureGuarantees {
  /** They reach the stream file on a normal exit, `process.exit()` and an uncaught exception. */
  readonly exit: boolean;
  /** They survive SIGKILL, a crash (a fatal signal, `abort()`) or an OOM kill of the process. */
  readonly processDeath: boolean;
  /** They reach the stream file when the worker that owns the sink is `terminate()`d. */
  readonly workerTerminate: boolean;
  /** They survive an OS crash or a power loss: never, in either mode, before `sync()`. */
  readonly powerLoss: false;
  /** Whether slab writes (and fdatasyncs) run off the event loop, on a native thread. */
  readonly offEventLoop: boolean;
  /** The same, in one sentence. */
  readonly summary: string;
}

/** The guarantees of each mode. */
export const GUARANTEES: Readonly<Record<CaptureMode, CaptureGuarantees>> = Object.freeze({
  native: Object.freeze({
    exit: true,
    processDeath: true,
    workerTerminate: true,
    powerLoss: false,
    offEventLoop: true,
    summary:
      'native: every frame write() accepted survives exit, process.exit(), an uncaught exception, worker.terminate() and the death of the process (SIGKILL, a crash, an OOM kill), staged in shared memory; not an OS crash or a power loss before sync()',
  }),
  portable: Object.freeze({
    exit: true,
    processDeath: false,
    workerTerminate: false,
    powerLoss: false,
    offEventLoop: false,
    summary:
      'portable: every frame write() accepted reaches the file on exit, process.exit() and an uncaught exception; frames not yet flushed (at most one slab, or flushIntervalMs of frames) are lost on SIGKILL, a crash, an OOM kill or worker.terminate(), and the file then ends at the last slab written; not an OS crash or a power loss before sync(); slabs are written on the event loop',
  }),
});

/** The test-only switch that forces portable mode with the addon loaded (docs/design.md, "Portable capture"). */
const FORCE_ENV = 'FLATSTREAM_TEST_PORTABLE_CAPTURE';

/** Why a new sink cannot run natively: null when it can. */
export type NativeLack = 'not-loaded' | 'no-external-buffers' | null;

/**
 * The mode of a new sink: native when the addon's capture is there and
 * usable (or required: NativeRequiredError otherwise), portable otherwise.
 * The addon's capture lends its staging to JS as external ArrayBuffers,
 * which some hosts forbid (Electron's memory cage): `externalBuffers` is
 * the addon's probe (its Arena class's). `lack` says why portable mode
 * was not asked for, and is null when it was (or when native runs).
 */
export function chooseCaptureMode(
  nativeCtor: unknown,
  requireNative: unknown,
  externalBuffers: boolean,
): { mode: CaptureMode; lack: NativeLack } {
  if (requireNative !== undefined && typeof requireNative !== 'boolean')
    throw typeError(
      `The "requireNative" option must be of type boolean. Received type ${typeof requireNative}`,
    );
  const lack: NativeLack =
    typeof nativeCtor !== 'function'
      ? 'not-loaded'
      : !externalBuffers
        ? 'no-external-buffers'
        : null;
  if (requireNative === true) {
    if (lack === 'not-loaded') throw new NativeRequiredError('CaptureSink');
    if (lack !== null)
      throw new NativeRequiredError('CaptureSink (in a host that forbids external ArrayBuffers)');
    return { mode: 'native', lack: null };
  }
  if (lack === null && process.env[FORCE_ENV] !== '1') return { mode: 'native', lack: null };
  return { mode: 'portable', lack };
}

let warned = false;

/** Says once per process (per thread) that a capture degraded to portable mode, and why. */
export function warnPortable(lack: Exclude<NativeLack, null>): void {
  if (warned) return;
  warned = true;
  const why =
    lack === 'not-loaded'
      ? 'the native addon is not loaded'
      : 'this host forbids the external ArrayBuffers the native capture lends its staging as';
  process.emitWarning(
    `flatstream: CaptureSink runs in portable mode (${why}): frames are written synchronously on the event loop and reach the file on exit, process.exit() and an uncaught exception, but frames not yet flushed are lost on SIGKILL, a crash or an OOM kill; pass { requireNative: true } to refuse instead`,
    { code: 'FLATSTREAM_CAPTURE_PORTABLE' },
  );
}

type SystemError = Error &
  NodeJS.ErrnoException & {
    refusal?: number;
    tornBytes?: number;
    offset?: number;
    frameIndex?: number;
  };

/** A system error shaped as Node's fs and the addon make them: `CODE: description, syscall 'detail'`. */
function systemError(code: string, syscall: string, detail: string): SystemError {
  const errno = (os.constants.errno as Record<string, number>)[code] ?? 0;
  const description = util.getSystemErrorMap().get(-errno)?.[1] ?? code;
  return Object.assign(new Error(`${code}: ${description}, ${syscall} '${detail}'`), {
    code,
    errno: -errno,
    syscall,
    path: detail,
  });
}

/** A refused recovery, with what CaptureSink builds its RecoveryRefusedError from. */
function refusal(
  path: string,
  why: number,
  tornBytes: number,
  offset: number,
  frameIndex: number,
): SystemError {
  const what =
    why === Refusal.NoIntactFrame
      ? `: ${tornBytes} bytes that do not start with an intact frame (not a stream?); left untouched`
      : why === Refusal.TailTooLong
        ? `: a torn tail of ${tornBytes} bytes after frame ${frameIndex} at offset ${offset} is longer than one slab; left untouched`
        : ': not a regular file';
  return Object.assign(systemError('EINVAL', 'open', path + what), {
    refusal: why,
    tornBytes,
    offset,
    frameIndex,
  });
}

// Streams open in a portable capture of this thread, by device and inode:
// a second sink on one of them is refused (EBUSY), as the native stream
// lock refuses it. Another process or thread is not seen (docs/design.md,
// "Portable capture").
const openStreams = new Set<string>();

const LATENCY_SAMPLES = 8192;
const WALK_WINDOW = 1 << 20;
const LENGTH_FIELD = 4;
let sleepCell: Int32Array | undefined;

/** Blocks the thread for `ms` milliseconds (an injected slow disk). */
function sleep(ms: number): void {
  sleepCell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** Whole frames of `headerSize`-byte headers in slab[from, to): their count. */
function countFrames(slab: Uint8Array, from: number, to: number, headerSize: number): number {
  const view = new DataView(slab.buffer, slab.byteOffset, slab.byteLength);
  let frames = 0;
  let pos = from;
  while (to - pos >= headerSize) {
    const next = pos + headerSize + view.getUint32(pos, true);
    if (next > to) break;
    pos = next;
    frames++;
  }
  if (pos !== to) throw new Error(`staged bytes are not whole frames at offset ${pos}`);
  return frames;
}

/** The native handle's stats() (CaptureStats without the sink's own counters). */
interface PortableStats {
  frames: number;
  bytes: number;
  framesWritten: number;
  bytesWritten: number;
  flushes: number;
  writes: number;
  fsyncs: number;
  errors: number;
  queueDepth: number;
  slabs: number;
  growFailures: number;
  grownAhead: number;
  writeLatency: { p50: number; p99: number; p999: number; max: number; samples: number };
}

/** The native handle's recovery() (CaptureRecovery). */
interface PortableRecovery {
  slabs: number;
  frames: number;
  bytes: number;
  tornBytes: number;
  walked: boolean;
  orphanedFrames: number;
  orphanedBytes: number;
  orphanPath: string | null;
}

interface Slot {
  buffer: ArrayBuffer;
  bytes: Uint8Array;
  state: number;
  /** Bytes of the slot already in the stream file (a flushSync wrote them). */
  written: number;
  /** The slot's commit cell in the header's Int32Array. */
  cell: number;
}

/**
 * The portable implementation of the capture handle CaptureSink drives
 * (lib/capture/capture-sink.ts). Constructor arguments are the native
 * handle's; `stagingPath` is not used (there is no staging file).
 */
export class PortableCapture {
  readonly #path: string;
  readonly #slabSize: number;
  readonly #scratch: number;
  readonly #maxSlots: number;
  readonly #notify: () => void;
  readonly #header: ArrayBuffer;
  readonly #commits: Int32Array;
  readonly #slots: Slot[] = [];
  #fd: number;
  #key: string;
  #kind = StagingLayout.unboundKind as number;
  #headerSize = 0;
  #error: SystemError | null = null;
  #closed = false;
  #dirty = false; // bytes written since the last fdatasync
  #syncTimer: NodeJS.Timeout | null = null;
  #fault = { errno: 0, afterWrites: 0, delayMs: 0 };
  #latency = new Float64Array(LATENCY_SAMPLES);
  #samples = 0;
  #maxLatency = 0;
  #recovery: PortableRecovery = {
    slabs: 0,
    frames: 0,
    bytes: 0,
    tornBytes: 0,
    walked: false,
    orphanedFrames: 0,
    orphanedBytes: 0,
    orphanPath: null,
  };
  #stats = {
    frames: 0,
    bytes: 0,
    framesWritten: 0,
    bytesWritten: 0,
    flushes: 0,
    writes: 0,
    fsyncs: 0,
    errors: 0,
  };
  #tickets = 0;
  #completed = 0;

  constructor(
    path: string,
    _stagingPath: string,
    slabSize: number,
    scratch: number,
    _slabs: number,
    maxSlots: number,
    mode: number,
    syncIntervalMs: number,
    _exitTimeoutMs: number,
    notify: () => void,
  ) {
    this.#path = path;
    this.#slabSize = slabSize;
    this.#scratch = scratch;
    this.#maxSlots = maxSlots;
    this.#notify = notify;
    this.#header = new ArrayBuffer(
      StagingLayout.headerSize + maxSlots * StagingLayout.slotRecordSize,
    );
    this.#commits = new Int32Array(this.#header);
    const { O_RDWR, O_CREAT, O_APPEND } = fs.constants;
    // As the native open (native/capture/posix_io.cc): O_NONBLOCK, so a FIFO
    // at the path never blocks the open (refused below), and O_NOCTTY, so a
    // terminal never becomes the process's controlling one.
    const fd = fs.openSync(
      path,
      O_RDWR | O_CREAT | O_APPEND | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOCTTY ?? 0),
      mode,
    );
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw refusal(path, Refusal.NotRegular, 0, 0, 0);
      this.#key = `${st.dev}:${st.ino}`;
      if (openStreams.has(this.#key))
        throw systemError('EBUSY', 'open', `${path}: another CaptureSink of this process holds it`);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    openStreams.add(this.#key);
    this.#fd = fd;
    if (syncIntervalMs > 0) {
      this.#syncTimer = setInterval(() => this.#periodicSync(), syncIntervalMs);
      this.#syncTimer.unref();
    }
  }

  /**
   * Binds the frame format and walks the stream to its last whole frame,
   * verifying built-in checksums, and cuts a plausible torn tail (the rule
   * of docs/design.md, "Recovery", as the native tail walk applies it).
   */
  bind(kind: number, headerSize: number): void {
    if (headerSize < LENGTH_FIELD || headerSize > LENGTH_FIELD + 8)
      throw systemError('EINVAL', 'bind', 'invalid frame format');
    const size = fs.fstatSync(this.#fd).size;
    if (size > 0) this.#walk(size, kind, headerSize);
    this.#kind = kind;
    this.#headerSize = headerSize;
  }

  #walk(fileSize: number, kind: number, headerSize: number): void {
    let size = fileSize;
    this.#recovery.walked = true;
    const width = headerSize - LENGTH_FIELD;
    // A custom checksum runs in JS and is unknown here: its field is skipped.
    const scanKind = kind === CUSTOM_KIND ? 0 : kind;
    const index = new Uint32Array(INDEX_HEADER + 2 * 4096);
    let window = Buffer.allocUnsafe(Math.min(WALK_WINDOW, size));
    let pos = 0;
    let frames = 0;
    while (pos < size) {
      const want = Math.min(window.length, size - pos);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(this.#fd, window, got, want - got, pos + got);
        if (n <= 0) break;
        got += n;
      }
      if (got < want) size = pos + got; // the file shrank under us: it ends here
      backend.scanFrames(window, 0, got, scanKind, width, 0xffffffff, index);
      const consumed = index[IndexSlot.consumed]!;
      pos += consumed;
      frames += index[IndexSlot.frames]!;
      const status = index[IndexSlot.status]!;
      // No validators and no length bound: anything but these is damage too
      // (and must not be scanned again from the same offset for ever).
      if (
        status !== ScanStatus.End &&
        status !== ScanStatus.Partial &&
        status !== ScanStatus.IndexFull
      )
        throw systemError(
          'EINVAL',
          'open',
          `${this.#path}: the frame at offset ${pos} fails its checksum (damage, or another frame format); not appending`,
        );
      if (status === ScanStatus.Partial) {
        if (pos + got - consumed >= size) break; // the file ends inside this frame
        // A frame longer than the window: read it whole, if the file holds it
        // whole; a length that runs past the end is the torn-tail case below
        // (a damaged length must not make us allocate what it says).
        const need = headerSize + index[IndexSlot.length]!;
        if (pos + need > size) break;
        if (consumed === 0 && need > window.length) window = Buffer.allocUnsafe(need);
      }
    }
    if (pos < size) {
      const torn = size - pos;
      if (pos === 0 && size >= headerSize)
        throw refusal(this.#path, Refusal.NoIntactFrame, torn, 0, 0);
      if (torn > this.#slabSize) throw refusal(this.#path, Refusal.TailTooLong, torn, pos, frames);
      fs.ftruncateSync(this.#fd, pos);
      fs.fdatasyncSync(this.#fd);
      this.#recovery.tornBytes += torn;
    }
  }

  /** The commit cells, laid out as the native staging header's slot records. */
  header(): ArrayBuffer {
    return this.#header;
  }

  /** Slot i's memory: the slab, then the builder's scratch. */
  slot(i: number): ArrayBuffer | null {
    return this.#slots[i]?.buffer ?? null;
  }

  /**
   * A free slot. A slot is free again as soon as its submit returns (it was
   * written), so one is all a writer uses; none is ever queued, so the
   * in-use count returned with it is 0.
   */
  acquire(_grow: boolean, _waitMs: number): number {
    let i = this.#slots.findIndex((s) => s.state === StagingLayout.slotFree);
    if (i < 0) {
      if (this.#slots.length >= this.#maxSlots) return -1; // Acquire.None: not reached by one writer
      i = this.#slots.length;
      const buffer = new ArrayBuffer(this.#slabSize + this.#scratch);
      this.#slots.push({
        buffer,
        bytes: new Uint8Array(buffer, 0, this.#slabSize),
        state: StagingLayout.slotFree,
        written: 0,
        cell:
          (StagingLayout.headerSize +
            i * StagingLayout.slotRecordSize +
            StagingLayout.commitFieldOffset) /
          4,
      });
    }
    const slot = this.#slots[i]!;
    slot.state = StagingLayout.slotFilling;
    slot.written = 0;
    this.#commits[slot.cell] = 0;
    return i;
  }

  /** Seals and appends slot `i`'s `len` bytes (what a flushSync wrote is not written again). */
  submit(i: number, len: number, _frames: number): void {
    const slot = this.#slots[i];
    if (!slot || slot.state !== StagingLayout.slotFilling)
      throw systemError('EINVAL', 'submit', `slot ${i} is not lent`);
    slot.state = StagingLayout.slotFree;
    this.#commits[slot.cell] = 0;
    this.#stats.flushes++;
    this.#append(slot, len);
  }

  // Writes slot.bytes[slot.written, end), sealed, at the stream's end. A
  // failed write is cut back off the file, so the stream still ends on a
  // frame boundary, and is this capture's failure from then on.
  #append(slot: Slot, end: number): void {
    if (this.#error) throw this.#error;
    const from = slot.written;
    if (end <= from) return;
    let frames: number;
    try {
      frames =
        this.#kind === CUSTOM_KIND
          ? countFrames(slot.bytes, from, end, this.#headerSize)
          : backend.sealFrames(slot.bytes, from, end, this.#kind);
    } catch (err) {
      throw this.#fail(
        systemError(
          'EINVAL',
          'write',
          `${this.#path}: staged bytes are not whole frames (${String((err as Error).message)})`,
        ),
      );
    }
    slot.written = end;
    this.#stats.frames += frames;
    this.#stats.bytes += end - from;
    this.#tickets++;
    const started = performance.now();
    let done = 0;
    try {
      if (this.#fault.delayMs > 0) sleep(this.#fault.delayMs);
      if (this.#fault.errno !== 0 && this.#fault.afterWrites-- <= 0) {
        // A torn write, as a full disk leaves one: half the bytes, then the error.
        done += fs.writeSync(this.#fd, slot.bytes, from, (end - from) >> 1);
        throw this.#injected();
      }
      while (done < end - from) {
        const n = fs.writeSync(this.#fd, slot.bytes, from + done, end - from - done);
        if (n <= 0) throw systemError('EIO', 'write', this.#path);
        done += n;
      }
    } catch (err) {
      this.#stats.errors++;
      // Cut what reached the file of this slab: the `done` bytes at its
      // end (O_APPEND put them there). Never below them, so that a file
      // someone else truncated meanwhile is not grown or cut further.
      if (done > 0) {
        try {
          const size = fs.fstatSync(this.#fd).size;
          if (size >= done) fs.ftruncateSync(this.#fd, size - done);
        } catch {
          // the write's error is the one to report
        }
      }
      throw this.#fail(err as SystemError);
    }
    this.#record(performance.now() - started);
    this.#dirty = true;
    this.#completed++;
    this.#stats.writes++;
    this.#stats.framesWritten += frames;
    this.#stats.bytesWritten += end - from;
  }

  #injected(): SystemError {
    const code = util.getSystemErrorName(-this.#fault.errno);
    return systemError(code, 'write', this.#path);
  }

  #record(ms: number): void {
    const us = ms * 1000;
    this.#latency[this.#samples++ % LATENCY_SAMPLES] = us;
    if (us > this.#maxLatency) this.#maxLatency = us;
  }

  #fail(err: SystemError): SystemError {
    this.#error ??= err;
    return this.#error;
  }

  #periodicSync(): void {
    if (!this.#dirty || this.#error || this.#closed) return;
    try {
      this.requestSync();
    } catch {
      setImmediate(this.#notify); // CaptureSink reads error() and fails
    }
  }

  /** fdatasync of the stream file, now. */
  requestSync(): void {
    if (this.#error) throw this.#error;
    try {
      fs.fdatasyncSync(this.#fd);
    } catch (err) {
      this.#stats.errors++;
      throw this.#fail(err as SystemError);
    }
    this.#dirty = false;
    this.#stats.fsyncs++;
  }

  /** Hand-overs so far; every one is complete when submit returns, unless it failed. */
  lastTicket(): number {
    return this.#tickets;
  }

  completed(): number {
    return this.#completed;
  }

  /** Nothing is ever pending: CaptureSink is told to look again, asynchronously. */
  notifyAt(_ticket: number): void {
    setImmediate(this.#notify);
  }

  notifyBelow(_slots: number): void {
    setImmediate(this.#notify);
  }

  /** Slots queued for writing: never any. */
  inUse(): number {
    return 0;
  }

  unref(): void {
    // no thread-safe function to release
  }

  /** Writes what the lent slots committed and the file lacks; stays open. */
  flushSync(_timeoutMs: number): void {
    for (const slot of this.#slots) {
      if (slot.state === StagingLayout.slotFilling) this.#append(slot, this.#commits[slot.cell]!);
    }
  }

  /** Writes what the lent slots committed, then closes the stream file. Idempotent. */
  close(timeoutMs: number): void {
    if (this.#closed) return;
    try {
      if (!this.#error) this.flushSync(timeoutMs);
    } finally {
      this.#closed = true;
      if (this.#syncTimer) clearInterval(this.#syncTimer);
      openStreams.delete(this.#key);
      fs.closeSync(this.#fd);
      this.#fd = -1;
    }
  }

  stats(): PortableStats {
    const n = Math.min(this.#samples, LATENCY_SAMPLES);
    const sorted = this.#latency.slice(0, n).sort();
    const pct = (q: number): number => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(q * n))]!);
    return {
      ...this.#stats,
      queueDepth: 0,
      slabs: this.#slots.length,
      growFailures: 0,
      grownAhead: 0,
      writeLatency: {
        p50: pct(0.5),
        p99: pct(0.99),
        p999: pct(0.999),
        max: this.#maxLatency,
        samples: n,
      },
    };
  }

  recovery(): PortableRecovery {
    return { ...this.#recovery };
  }

  error(): SystemError | null {
    return this.#error;
  }

  /** Test hook (CaptureSink._injectFault): writes after `afterWrites` more fail with `errno`. */
  inject(errno: number, afterWrites: number, delayMs: number): void {
    this.#fault = { errno, afterWrites, delayMs };
  }
}
