/**
 * RotatingSink: a slab source that writes a stream as a rotation set of
 * files (lib/format/rotation.ts names them), each a stream of its own, and
 * moves to the next file by size, by age or on `writer.rotate()`
 * (docs/design.md, "Rotation"). Each file is a `FileSink` (through
 * `OwnedSlabs`) or a `CaptureSink`; the next one is opened off the event
 * loop ahead of time, so a rotation is a pointer swap. A file gets its final
 * name only once every earlier file is synced and closed, so a reader knows
 * a file is complete when a later one exists.
 *
 * Owns: RotatingSink, RotatingSinkOptions, RotatingSinkStats. Imports:
 * format (args, errors, checksum, framing, header, rotation), sinks
 * (FileSink, OwnedSlabs, exit hook, slab protocol), capture/capture-sink.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkInteger, checkOptions, typeError } from '../format/args';
import { checksums } from '../format/checksum';
import { ClosedError, type FlatStreamError, IoError } from '../format/errors';
import { Deframer, Framer } from '../format/framing';
import {
  checkHeaderOptions,
  detectHeader,
  guessChecksum,
  type HeaderOptions,
  headerFrame,
} from '../format/header';
import { recoverFileSeam } from '../format/recovery';
import { pendingFile, rotationFile, scanRotation } from '../format/rotation';
import * as exitHook from '../sinks/exit-hook';
import { FileSink } from '../sinks/file-sink';
import { OwnedSlabs } from '../sinks/owned-slabs';
import {
  type RotationInfo,
  type SlabFormat,
  type SlabSource,
  type SlabUnit,
  sinkFailure,
} from '../sinks/slab-source';
import { CaptureSink, type CaptureSinkOptions, defaultStagingPath } from './capture-sink';

/** Options of a {@link RotatingSink}. */
export interface RotatingSinkOptions {
  /**
   * Rotate before a file would grow past this many bytes (its header
   * included): checked when the writer takes a new slab, so a file stays
   * at or under `maxBytes` unless one slab alone is larger. Default: none.
   */
  maxBytes?: number;
  /**
   * Rotate at the first slab boundary (a full slab, a flush, the flush
   * timer) after a file is this many milliseconds old, if it holds a frame
   * of yours. Default: none.
   */
  maxAgeMs?: number;
  /**
   * Write each file through a {@link CaptureSink} with these options
   * (`true`: its defaults); the staging of each file is named after its
   * final name, so `stagingPath` cannot be given. Default: a `FileSink`
   * per file (synchronous writes on the event loop).
   */
  capture?: boolean | Omit<CaptureSinkOptions, 'stagingPath' | 'header' | 'mode'>;
  /** Files without capture: bytes per slab (default 64 KiB; the largest frame is then its own write). */
  slabSize?: number;
  /**
   * Hand the filling slab on at least this often, in ms (default: the
   * capture's `flushIntervalMs`, else 1000): also how late an age rotation
   * may be.
   */
  flushIntervalMs?: number;
  /** Each file starts with this stream header (docs/design.md, "Stream header"); a built-in checksum is needed. */
  header?: HeaderOptions;
  /** Permission bits of new files (default 0o644). */
  mode?: number;
}

/** What opening a {@link RotatingSink} found left by a writer that died. */
export interface RotationSettle {
  /** Files whose staged frames were drained into them (capture). */
  drained: string[];
  /** Pending files that held frames and got their final names. */
  named: string[];
  /** Pending files that held no frame (a file prepared ahead) and were removed. */
  removed: string[];
  /** Without capture: the torn tail cut from the last file when the writer bound (`null`: none). */
  repaired: { file: string; tornBytes: number } | null;
}

/** Counters of a {@link RotatingSink}. */
export interface RotatingSinkStats {
  /** Files opened (the current one included). */
  files: number;
  /** Rotations done (switches to the next file). */
  rotations: number;
  /** Rotations whose next file had not been prepared ahead and was opened on the event loop. */
  syncOpens: number;
  /** Files that could not be prepared (the stream stayed in the current one). */
  prepareFailures: number;
  /**
   * Slabs lent while a rotation was due (size or age) and no next file was
   * ready yet: the current file grew past `maxBytes` (or its age) meanwhile.
   */
  deferred: number;
}

const SCRATCH = 4096;
const DEFAULT_SLAB = 64 * 1024;
const RETRY_MS = 1000; // a failed preparation is tried again at most this often

interface Part {
  seq: number;
  /** The final name. */
  file: string;
  /** Where it is now: `pending` until its predecessor is closed, then `file`. */
  at: string;
  source: SlabSource;
  capture: CaptureSink | null;
  fileSink: FileSink | null;
  /** The writer's frames and bytes in it, and its size (header included). */
  frames: number;
  bytes: number;
  size: number;
  born: number;
  retired: boolean;
}

function errnoOf(err: unknown): string | undefined {
  const c = (err as NodeJS.ErrnoException | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * A {@link SlabSource} that writes a stream as numbered files
 * (`events.000001.fst`, `events.000002.fst`, …; see `listRotation`), moving
 * to the next by `maxBytes`, `maxAgeMs` or `writer.rotate()`. Frames staged
 * before a rotation are in the file left, later ones in the next; every
 * file starts with the stream header when `header` is given. The next file
 * is prepared off the event loop as soon as the current one is taken into
 * use (docs/design.md, "Rotation").
 *
 * Emits `'rotate'` ({@link RotationInfo}) once a file left is synced and
 * closed, and `'prepareError'` (an `IoError`) when the next file cannot be
 * prepared: the stream then stays in the current file and tries again.
 *
 * @example
 * ```ts
 * const sink = new RotatingSink('logs/events.fst', { maxBytes: 64 << 20, capture: true, header: {} });
 * const writer = new StreamWriter(sink, new ChecksumFramer(XxHash64));
 * writer.write(event);
 * await writer.rotate(); // { file: 'logs/events.000001.fst', next: 'logs/events.000002.fst', … }
 * ```
 */
export class RotatingSink extends EventEmitter implements SlabSource {
  /** The base path the set is named after. */
  readonly base: string;
  readonly slabSize: number;
  readonly flushIntervalMs: number;
  /** Without capture, the writer flushes the current file at exit. */
  readonly flushOnExit: boolean;
  /** Large frames: only without capture (a capture refuses frames larger than a slab). */
  readonly submitLarge?: (frame: Uint8Array) => void;
  #maxBytes: number;
  #maxAgeMs: number;
  #capture: Omit<CaptureSinkOptions, 'stagingPath' | 'header' | 'mode'> | null;
  #header: HeaderOptions | undefined;
  #mode: number;
  #format: SlabFormat | null = null;
  #seq: number;
  #cur: Part | null = null;
  #next: Part | null = null;
  #preparing = false;
  #preparingAt = ''; // the pending name of the file being prepared
  #prepared: Promise<void> = Promise.resolve(); // settles once that is decided
  #preparedWaiters: ((ready: boolean) => void)[] = [];
  #lastPrepareFailure = -Infinity;
  #chain: Promise<unknown> = Promise.resolve();
  #retiring = new Set<Part>();
  #closed = false;
  #closing: Promise<void> | null = null;
  #failure: FlatStreamError | null = null;
  #onFailure: ((err: Error) => void) | null = null;
  #drops = 0;
  #exitSlot: number;
  #stats: RotatingSinkStats = {
    files: 0,
    rotations: 0,
    syncOpens: 0,
    prepareFailures: 0,
    deferred: 0,
  };

  /**
   * A rotation set at `base`. Synchronous, like opening a `CaptureSink`:
   * what a writer that died left in the set is settled first (staged frames
   * drained into their files, a file it had taken into use given its final
   * name, a file it had only prepared removed); the first file is opened
   * when a writer binds, numbered after the last one present.
   */
  constructor(base: string | URL, options?: RotatingSinkOptions) {
    super();
    if (typeof base !== 'string' && !(base instanceof URL))
      throw typeError('The "base" argument must be a string or a URL');
    checkOptions(options, 'options');
    const o = options ?? {};
    if (o.maxBytes !== undefined) checkInteger(o.maxBytes, 'maxBytes', 1, Number.MAX_SAFE_INTEGER);
    if (o.maxAgeMs !== undefined) checkInteger(o.maxAgeMs, 'maxAgeMs', 1, 2 ** 31 - 1);
    if (o.slabSize !== undefined) checkInteger(o.slabSize, 'slabSize', 64, 2 ** 30);
    if (o.flushIntervalMs !== undefined)
      checkInteger(o.flushIntervalMs, 'flushIntervalMs', 1, 2 ** 31 - 1);
    if (o.mode !== undefined) checkInteger(o.mode, 'mode', 0, 0o7777);
    if (o.header !== undefined) checkHeaderOptions(o.header);
    const cap = o.capture;
    if (cap !== undefined && typeof cap !== 'boolean') {
      checkOptions(cap, 'capture');
      for (const k of ['stagingPath', 'header', 'mode'] as const)
        if ((cap as Record<string, unknown>)[k] !== undefined)
          throw typeError(
            `The "capture.${k}" option cannot be given: the rotating sink sets it per file`,
          );
    }
    this.base = path.resolve(typeof base === 'string' ? base : fileURLToPath(base));
    this.#maxBytes = o.maxBytes ?? Infinity;
    this.#maxAgeMs = o.maxAgeMs ?? Infinity;
    this.#capture = cap === undefined || cap === false ? null : cap === true ? {} : { ...cap };
    this.#header = o.header;
    this.#mode = o.mode ?? 0o644;
    if (this.#capture) {
      if (o.slabSize !== undefined)
        throw typeError('The "slabSize" option applies without capture: give capture.slabSize');
      this.slabSize = this.#capture.slabSize ?? 256 << 10;
    } else {
      this.slabSize = o.slabSize ?? DEFAULT_SLAB;
      this.submitLarge = (frame) => {
        this.#check();
        const cur = this.#current();
        cur.frames++;
        cur.bytes += frame.length;
        cur.size += frame.length;
        cur.source.submitLarge!(frame);
      };
    }
    this.flushIntervalMs = o.flushIntervalMs ?? this.#capture?.flushIntervalMs ?? 1000;
    this.flushOnExit = this.#capture === null;
    this.#seq = this.#settle() + 1;
    this.#exitSlot = exitHook.register(this, RotatingSink.#atExit);
  }

  /** What opening found left by a writer that died (see {@link RotationSettle}). */
  readonly recovery: RotationSettle = { drained: [], named: [], removed: [], repaired: null };
  #last: string | null = null; // the last file of the set when it was settled

  /** The file frames go to now (its final name), or null before a writer binds. */
  get current(): string | null {
    return this.#cur?.file ?? null;
  }

  /**
   * Resolves true once the next file is prepared (a rotation then does not
   * wait on the disk), false if preparing it failed or the sink is closed.
   */
  whenPrepared(): Promise<boolean> {
    if (this.#next) return Promise.resolve(true);
    if (!this.#preparing) this.#prepare();
    if (!this.#preparing) return Promise.resolve(this.#next !== null);
    return new Promise((resolve) => this.#preparedWaiters.push(resolve));
  }

  /** Counters since the sink was made. */
  stats(): RotatingSinkStats {
    return { ...this.#stats };
  }

  // --- the slab protocol -------------------------------------------------

  get commits(): Int32Array {
    return this.#current().source.commits;
  }

  get drops(): number {
    return this.#drops + (this.#cur?.source.drops ?? 0);
  }

  get needsDrain(): boolean {
    return this.#cur?.source.needsDrain ?? false;
  }

  get slabsAllocated(): number {
    return this.#cur?.source.slabsAllocated ?? 0;
  }

  get slabsInFlight(): number {
    return this.#cur?.source.slabsInFlight ?? 0;
  }

  bind(format: SlabFormat): void {
    this.#check();
    if (this.#format) throw typeError('This RotatingSink already belongs to a StreamWriter');
    if (this.#header !== undefined && this.#checksum(format) === undefined)
      throw typeError('The "header" option needs a built-in checksum: a header names it');
    this.#format = format;
    this.#repairLast();
    this.#cur = this.#openNow(this.#seq++, true);
    exitHook.arm(this.#exitSlot, this);
    this.#prepare();
  }

  acquire(): SlabUnit | null {
    this.#check();
    const cur = this.#current();
    if (cur.frames > 0 && (cur.size + this.slabSize > this.#maxBytes || this.#aged(cur))) {
      const next = this.#next;
      if (next) {
        this.#next = null;
        void this.#switch(next).catch(() => undefined); // a failure reaches the writer through onFailure
      } else {
        this.#stats.deferred++;
        this.#prepare();
      }
    }
    return this.#current().source.acquire();
  }

  submit(unit: SlabUnit, end: number, frames: number): void {
    this.#check();
    const cur = this.#current();
    if (end === 0) {
      // A unit handed back empty before a rotation (Stager.release).
      if (cur.capture) cur.source.submit(unit, 0, 0);
      return;
    }
    cur.frames += frames;
    cur.bytes += end;
    cur.size += end;
    cur.source.submit(unit, end, frames);
  }

  dropped(bytes: number): void {
    this.#current().source.dropped(bytes);
  }

  onFailure(fn: (err: Error) => void): void {
    this.#onFailure = fn;
  }

  drain(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    return this.#cur ? this.#cur.source.drain() : Promise.resolve();
  }

  flush(): void {
    this.#check();
    this.#current().source.flush?.();
  }

  sync(): void {
    this.#check();
    this.#current().source.sync?.();
  }

  /** See `StreamWriter.rotate()`: the writer has handed its unit back. */
  rotate(): Promise<RotationInfo> {
    this.#check();
    let next = this.#next;
    this.#next = null;
    if (next === null) {
      next = this.#openNow(this.#seq++, false); // throws: the stream stays in the current file
      this.#stats.syncOpens++;
    }
    const done = this.#switch(next);
    // A caller that ignores the promise must not meet an unhandled
    // rejection (the writer's next call throws the failure anyway).
    done.catch(() => undefined);
    return done;
  }

  settled(): Promise<void> {
    return this.#cur?.source.settled?.() ?? Promise.resolve();
  }

  /** Syncs and closes the current file (and gives it its final name); removes a prepared one. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    const cur = this.#cur;
    if (this.#next) this.#discard(this.#next);
    this.#next = null;
    // A file still being prepared is removed once its open settles.
    const done = Promise.allSettled([
      cur ? this.#retireInOrder(cur, null) : undefined,
      this.#prepared,
    ]);
    this.#closing = done.then(async () => {
      // After a failure the chain stopped: files it did not reach are
      // closed as they are (their descriptors, threads and stagings go;
      // their names stay pending).
      const left = [...this.#retiring, ...(cur ? [cur] : [])].filter((p) => !p.retired);
      for (const p of left) {
        p.retired = true;
        this.#retiring.delete(p);
        try {
          if (p.capture) await p.capture.close();
          else p.fileSink!.close();
        } catch {
          // the failure already reported is the one that matters
        }
      }
      exitHook.unregister(this.#exitSlot, this);
      if (this.#failure) throw this.#failure;
    });
    this.#closing.catch(() => undefined); // reported through the writer's finished()
    return this.#closing;
  }

  // --- rotation ----------------------------------------------------------

  // Without capture, a writer that died mid-write may have left the last
  // file with a torn frame: cut under the rule of docs/design.md,
  // "Recovery", with the writer's checksum. Damage, or a file that is not a
  // torn stream, is left as it is (a reader reports it).
  #repairLast(): void {
    const checksum = this.#checksum(this.#format!);
    if (this.#capture || this.#last === null || checksum === undefined) return;
    try {
      const r = recoverFileSeam(this.#last, new Deframer(checksum), { truncate: true });
      if (r.end === 'torn-tail')
        this.recovery.repaired = { file: this.#last, tornBytes: r.tornBytes };
    } catch {
      // not ours to cut
    }
  }

  #aged(cur: Part): boolean {
    return this.#maxAgeMs !== Infinity && Date.now() - cur.born >= this.#maxAgeMs;
  }

  // The switch: synchronous. The file left is synced and closed after every
  // earlier one, then its successor gets its final name.
  #switch(next: Part): Promise<RotationInfo> {
    const old = this.#current();
    this.#drops += old.source.drops;
    this.#cur = next;
    next.born = Date.now();
    this.#stats.rotations++;
    const done = this.#retireInOrder(old, next);
    this.#prepare();
    return done.then(() => {
      const info: RotationInfo = {
        file: old.file,
        frames: old.frames,
        bytes: old.bytes,
        next: next.file,
      };
      if (this.listenerCount('rotate') > 0) process.nextTick(() => this.emit('rotate', info));
      return info;
    });
  }

  // Retires `old` after what is before it, then renames `next` (if any).
  #retireInOrder(old: Part, next: Part | null): Promise<void> {
    this.#retiring.add(old);
    const step = this.#chain.then(async () => {
      if (this.#failure) throw this.#failure;
      await this.#retire(old);
      this.#finalName(old);
      if (next) this.#finalName(next);
    });
    this.#chain = step.catch((err: unknown) => {
      this.#fail(err);
    });
    return step;
  }

  async #retire(p: Part): Promise<void> {
    if (p.retired) return;
    try {
      if (p.capture) {
        if (!p.capture.closed) p.capture.sync();
        await p.capture.close();
      } else {
        const sink = p.fileSink!;
        try {
          const fd = sink.fd;
          if (fd >= 0) await new Promise<void>((ok, ko) => fs.fsync(fd, (e) => (e ? ko(e) : ok())));
        } finally {
          sink.close(); // the descriptor goes even when the sync failed
        }
      }
    } catch (err) {
      throw err instanceof IoError
        ? err
        : new IoError(`cannot sync and close ${p.at}: ${(err as Error).message}`, err);
    } finally {
      p.retired = true;
      this.#retiring.delete(p);
    }
  }

  // The file's final name, once every earlier file is complete.
  #finalName(p: Part): void {
    if (p.at === p.file) return;
    try {
      renameNoReplace(p.at, p.file);
    } catch (err) {
      throw new IoError(`cannot rename ${p.at} to ${p.file}: ${(err as Error).message}`, err);
    }
    p.at = p.file;
  }

  // Prepares the next file off the event loop, unless one is ready or coming.
  #prepare(): void {
    if (this.#next || this.#preparing || this.#closed || this.#failure || !this.#format) return;
    if (Date.now() - this.#lastPrepareFailure < RETRY_MS) return;
    this.#preparing = true;
    const seq = this.#seq++;
    this.#preparingAt = pendingFile(this.base, seq);
    this.#prepared = this.#openLater(seq).then(
      (part) => {
        this.#preparing = false;
        if (this.#closed || this.#failure) {
          for (const w of this.#preparedWaiters.splice(0)) w(false);
          return this.#discard(part);
        }
        if (part.seq < this.#current().seq) {
          // A rotation opened a later file meanwhile: this one would break the order.
          this.#discard(part);
          return this.#prepare();
        }
        this.#next = part;
        for (const w of this.#preparedWaiters.splice(0)) w(true);
      },
      (err: unknown) => {
        this.#preparing = false;
        this.#lastPrepareFailure = Date.now();
        this.#stats.prepareFailures++;
        for (const w of this.#preparedWaiters.splice(0)) w(false);
        // Outside this promise: a listener that throws is its own uncaught error.
        const e = sinkFailure(err);
        if (this.listenerCount('prepareError') > 0)
          process.nextTick(() => this.emit('prepareError', e));
      },
    );
  }

  #checksum(format: SlabFormat) {
    return Object.values(checksums).find((c) => c.kind === format.kind);
  }

  #headerBytes(): Buffer | null {
    if (this.#header === undefined) return null;
    return headerFrame(new Framer(this.#checksum(this.#format!)!), this.#header);
  }

  #captureOptions(file: string): CaptureSinkOptions {
    return {
      ...this.#capture,
      stagingPath: defaultStagingPath(file),
      mode: this.#mode,
      ...(this.#header === undefined ? {} : { header: this.#header }),
    };
  }

  #part(
    seq: number,
    at: string,
    source: SlabSource,
    c: CaptureSink | null,
    f: FileSink | null,
    size: number,
  ): Part {
    this.#stats.files++;
    source.onFailure((err) => this.#fail(err));
    const file = rotationFile(this.base, seq);
    return {
      seq,
      file,
      at,
      source,
      capture: c,
      fileSink: f,
      frames: 0,
      bytes: 0,
      size,
      born: Date.now(),
      retired: false,
    };
  }

  // Opens file `seq` now, on the event loop: the first file (at its final
  // name), or a rotation that found no file prepared (pending).
  #openNow(seq: number, first: boolean): Part {
    const file = rotationFile(this.base, seq);
    const at = first ? file : pendingFile(this.base, seq);
    if (this.#capture) {
      if (fs.existsSync(at)) throw exists(at);
      let sink: CaptureSink;
      try {
        sink = new CaptureSink(at, this.#captureOptions(file));
      } catch (err) {
        removeQuietly(at);
        throw err;
      }
      return this.#boundCapture(seq, at, sink);
    }
    let fd: number;
    try {
      const { O_WRONLY, O_CREAT, O_EXCL, O_APPEND } = fs.constants;
      fd = fs.openSync(at, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, this.#mode);
    } catch (err) {
      throw new IoError(`cannot create ${at}: ${(err as Error).message}`, err);
    }
    const head = this.#headerBytes();
    try {
      if (head) {
        let off = 0;
        while (off < head.length) off += fs.writeSync(fd, head, off);
      }
    } catch (err) {
      fs.closeSync(fd);
      removeQuietly(at); // never a torn header left behind
      throw new IoError(`cannot write the stream header of ${at}: ${(err as Error).message}`, err);
    }
    return this.#fileSinkPart(seq, at, fd, head?.length ?? 0);
  }

  #fileSinkPart(seq: number, at: string, fd: number, size: number): Part {
    const sink = new FileSink(fd, { autoClose: true });
    const source = new OwnedSlabs(sink, this.slabSize, SCRATCH);
    source.bind(this.#format!);
    return this.#part(seq, at, source, null, sink, size);
  }

  // A capture opened at `at`, bound to the writer's format (the header, a
  // small write, and the thread's start); on failure closed and removed.
  #boundCapture(seq: number, at: string, sink: CaptureSink): Part {
    try {
      sink.bind(this.#format!);
    } catch (err) {
      sink.closeSync();
      removeQuietly(at);
      throw err;
    }
    return this.#part(seq, at, sink, sink, null, fs.statSync(at).size);
  }

  // Prepares file `seq` at its pending name off the event loop: a capture's
  // native open on a libuv thread, a file's open and header write by fs.
  async #openLater(seq: number): Promise<Part> {
    const file = rotationFile(this.base, seq);
    const at = pendingFile(this.base, seq);
    if (this.#capture) {
      if (await existsAsync(at)) throw exists(at);
      let sink: CaptureSink;
      try {
        sink = await CaptureSink.open(at, this.#captureOptions(file));
      } catch (err) {
        // The native open makes the stream file before it can fail on the
        // staging: nothing of ours is left behind (it was not there above).
        removeQuietly(at);
        throw err;
      }
      return this.#boundCapture(seq, at, sink);
    }
    const { O_WRONLY, O_CREAT, O_EXCL, O_APPEND } = fs.constants;
    const fd = await new Promise<number>((ok, ko) =>
      fs.open(at, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, this.#mode, (e, fd) =>
        e ? ko(new IoError(`cannot create ${at}: ${e.message}`, e)) : ok(fd),
      ),
    );
    const head = this.#headerBytes();
    try {
      let off = 0;
      while (head && off < head.length) {
        off += await new Promise<number>((ok, ko) =>
          fs.write(fd, head, off, head.length - off, null, (e, n) => (e ? ko(e) : ok(n))),
        );
      }
    } catch (err) {
      fs.close(fd, () => undefined);
      removeQuietly(at);
      throw new IoError(`cannot write the stream header of ${at}: ${(err as Error).message}`, err);
    }
    return this.#fileSinkPart(seq, at, fd, head?.length ?? 0);
  }

  // A prepared file never used: closed and removed (it holds no frame of yours).
  #discard(p: Part): void {
    try {
      if (p.capture) p.capture.closeSync();
      else p.fileSink!.close();
    } catch {
      // it held nothing
    }
    p.retired = true;
    removeQuietly(p.at);
  }

  #current(): Part {
    if (this.#cur === null) throw new ClosedError('RotatingSink (not bound to a writer)');
    return this.#cur;
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new ClosedError('RotatingSink');
  }

  #fail(err: unknown): void {
    if (this.#failure) return;
    this.#failure = sinkFailure(err);
    this.#onFailure?.(this.#failure);
  }

  // What a writer that died left in the set (docs/design.md, "Rotation"):
  // staged frames drained into their files, in order; a pending file that
  // holds frames of the writer gets its final name, one that holds none is
  // removed. Returns the largest sequence number present (0: none).
  #settle(): number {
    let last = 0;
    for (const m of scanRotation(this.base)) {
      // Only regular files are members; anything else at such a name is not
      // ours and is left as it is, and its number is used up: the numbering
      // goes on past it, never into it.
      last = Math.max(last, m.seq);
      if (!fs.lstatSync(m.file).isFile()) continue;
      const file = rotationFile(this.base, m.seq);
      const staging = defaultStagingPath(file);
      if (this.#capture && fs.existsSync(staging)) {
        new CaptureSink(m.file, { stagingPath: staging }).closeSync();
        this.recovery.drained.push(file);
      }
      if (!m.pending) {
        this.#last = file;
        continue;
      }
      const there = lstatQuietly(file);
      if (there !== null) {
        // A rename cut short between its link and its unlink: one file, two names.
        if (there.ino === fs.lstatSync(m.file).ino && there.dev === fs.lstatSync(m.file).dev)
          fs.unlinkSync(m.file);
        continue;
      }
      const held = holdsFrames(m.file);
      if (held === 'none') {
        fs.unlinkSync(m.file);
        this.recovery.removed.push(m.file);
      } else if (held === 'frames') {
        renameNoReplace(m.file, file);
        this.recovery.named.push(file);
        this.#last = file;
      }
      // 'unknown': not a stream of ours (or one without a checksum): left as it is.
    }
    return last;
  }

  // A normal exit, process.exit() or an uncaught exception: the files left
  // are synced and closed and their successors renamed, synchronously, in
  // order; a prepared file is removed. The current file stays open for the
  // writer's own exit flush (a capture drains through its own exit hook).
  static #atExit(r: RotatingSink): void {
    const parts = [...r.#retiring].sort((a, b) => a.seq - b.seq);
    for (const p of parts) {
      if (p.retired) continue;
      if (p.capture) p.capture.closeSync();
      else {
        const fd = p.fileSink!.fd;
        if (fd >= 0) fs.fsyncSync(fd);
        p.fileSink!.close();
      }
      p.retired = true;
      // After a failure no file gets its final name: an earlier one may be
      // incomplete, so its successors keep their pending names for the next
      // sink's settle (docs/design.md, "Rotation").
      if (!r.#failure) r.#finalName(p);
    }
    if (r.#cur && !r.#failure && parts.every((p) => p.retired)) r.#finalName(r.#cur);
    if (r.#next) r.#discard(r.#next);
    r.#next = null;
    // A file still being prepared: a plain one is removed; a capture's
    // native open may still be running, so its file stays for the next
    // sink's settle, which also removes its staging.
    if (r.#preparing && r.#capture === null) removeQuietly(r.#preparingAt);
  }
}

function exists(at: string): IoError {
  const e = Object.assign(new Error(`EEXIST: file already exists, open '${at}'`), {
    code: 'EEXIST',
    errno: -17,
    syscall: 'open',
  });
  return new IoError(`cannot create ${at}: ${e.message}`, e);
}

function existsAsync(p: string): Promise<boolean> {
  return new Promise((ok) => fs.lstat(p, (e) => ok(!e || errnoOf(e) !== 'ENOENT')));
}

/**
 * Renames `from` to `to` only if nothing is at `to` (EEXIST otherwise, even
 * for a symlink or a directory that is not ours): a hard link, then the old
 * name removed. A crash between the two leaves one file under both names,
 * which the next settle resolves.
 */
function renameNoReplace(from: string, to: string): void {
  fs.linkSync(from, to);
  fs.unlinkSync(from);
}

function lstatQuietly(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

function removeQuietly(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch {
    // already gone
  }
}

function readStart(file: string): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(64 * 1024);
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

// What a pending file holds: 'none' (nothing, or a stream header alone),
// 'frames' (a header or a first frame that verifies under a built-in
// checksum, and more), or 'unknown' (nothing shows it is a stream we wrote:
// it is never renamed into the set nor removed).
function holdsFrames(file: string): 'none' | 'frames' | 'unknown' {
  const size = fs.statSync(file).size;
  if (size === 0) return 'none';
  const bytes = readStart(file);
  let head = 0;
  try {
    head = detectHeader(bytes)?.frameLength ?? 0;
  } catch {
    return 'unknown'; // a malformed header
  }
  if (head > 0) return size > head ? 'frames' : 'none';
  return guessChecksum(bytes).width > 0 ? 'frames' : 'unknown';
}
