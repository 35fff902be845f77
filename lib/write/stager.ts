/**
 * The staging core of a StreamWriter (docs/design.md, "Slab protocol"): the
 * unit it stages into and the write position in it, the copy or in-place
 * encoding of each payload, its header and the commit after every frame,
 * submitting a unit and acquiring the next, frames larger than a slab, and
 * the writer's sticky failure. Every call into the slab source is made
 * here, under the writer's guard. Nothing crosses into C++ per message.
 *
 * Owns: Stager. Imports: format (args, errors, framing, encoder), sinks
 * (exit hook, slab protocol), write (builder placement, callbacks, payload
 * copy, arena-builder's types).
 */
import { rangeError } from '../format/args';
import type { PayloadEncoder } from '../format/encoder';
import { type FlatStreamError, IoError, StagingFullError } from '../format/errors';
import { CUSTOM_KIND, type Framer } from '../format/framing';
import * as exitHook from '../sinks/exit-hook';
import { checkUnit, sinkFailure, type SlabSource, type SlabUnit } from '../sinks/slab-source';
import type { BlockSource } from './arena-builder';
import { BuilderPlace } from './builder-place';
import * as cb from './callbacks';
import { PayloadCopier } from './payload-copy';

/** Stages a writer's frames into the units of its slab source. */
export class Stager {
  /** The writer's failure: set once, thrown by every later call. */
  failure: FlatStreamError | null = null;
  /** Frames and bytes (headers included) accepted, units and large frames submitted. */
  frames = 0;
  bytes = 0;
  flushes = 0;
  /** Where the internal builder builds. */
  readonly place: BuilderPlace;
  readonly #source: SlabSource;
  readonly #guard: cb.Guard;
  readonly #framer: Framer;
  readonly #headerSize: number;
  readonly #custom: boolean;
  readonly #slabSize: number;
  readonly #large: boolean; // the source takes frames larger than a slab (submitLarge)
  // The source's commit cells, read again with every unit it lends: a
  // rotating source lends units of another file's staging after a rotation.
  #commits: Int32Array;
  readonly #copier = new PayloadCopier();
  #unit: SlabUnit;
  #pos = 0;
  // #slabSize, or 0 once the unit was submitted: the next frame then takes
  // the slow path, which acquires another.
  #limit: number;
  #unitFrames = 0;
  // Who an exit (lib/sinks/exit-hook.ts) and the flush timer must hold while
  // a unit has frames: armed by the first frame of a unit, until its submit.
  #owner: object | null = null;
  #exitSlot = -1;
  #timed: Set<object> | null = null;

  /** Binds `source` to `framer`'s format and takes the first unit. */
  constructor(framer: Framer, source: SlabSource, guard: cb.Guard, arena: BlockSource | undefined) {
    this.#framer = framer;
    this.#source = source;
    this.#guard = guard;
    this.#headerSize = framer.headerSize;
    this.#custom = framer.kind === CUSTOM_KIND;
    source.bind({ kind: framer.kind, headerSize: framer.headerSize });
    source.onFailure((err) => {
      this.failure ??= sinkFailure(err);
    });
    this.#slabSize = source.slabSize;
    this.#large = typeof source.submitLarge === 'function';
    this.#commits = source.commits;
    const unit = source.acquire();
    if (!unit) throw new IoError('the slab source lent a new writer no slab');
    this.#unit = checkUnit(unit, this.#slabSize, this.#commits);
    this.#limit = this.#slabSize;
    this.place = new BuilderPlace(guard, arena, unit.scratch);
  }

  /** Has `owner` held by its exit-hook slot and by `timed` while a unit has frames. */
  holdWhileStaged(owner: object, exitSlot: number, timed: Set<object> | null): void {
    this.#owner = owner;
    this.#exitSlot = exitSlot;
    this.#timed = timed;
  }

  /** Whether the current unit holds frames. */
  get staged(): boolean {
    return this.#pos > 0;
  }

  /**
   * Whether the source lets the producer go on. Its needsDrain may be user
   * code (a sink's getter), and a callback may ask: the guard is restored,
   * not cleared.
   */
  ready(): boolean {
    const was = this.#guard.active;
    this.#guard.active = true;
    try {
      return !this.#source.needsDrain;
    } finally {
      this.#guard.active = was;
    }
  }

  /** Stages src[start, start + len) as one frame. */
  stage(src: Uint8Array, start: number, len: number): void {
    const framer = this.#framer;
    if (len > framer.maxPayloadLen) framer.checkLength(len);
    if (framer.compiled) cb.validate(this.#guard, framer.compiled, src, start, len);
    const size = this.#headerSize + len;
    if (this.#pos + size > this.#limit) {
      if (size > this.#slabSize && !this.#large) {
        throw rangeError(
          `A frame of ${size} bytes does not fit the sink's staging slabs of ${this.#slabSize} bytes (raise its slabSize)`,
        );
      }
      this.submit();
      // A sink that detached (transferred) the slab took the message being
      // staged beside it (simple mode) with it.
      if (start + len > src.length) {
        throw (this.failure ??= new IoError(
          'sink failed: it detached (transferred) the chunk it was lent, and the message being staged with it',
        ));
      }
      if (size > this.#slabSize) return this.#stageLarge(src, start, len);
      if (this.#limit === 0 && !this.#nextUnit()) return this.#source.dropped(size);
    }
    const at = this.#pos + this.#headerSize;
    const unit = this.#unit;
    if (unit.slab.length === 0) throw this.#lost(); // a serialize() that detached it
    this.#copier.copy(unit, at, src, start, len);
    this.#commit(at, len);
  }

  /**
   * Reserve/commit (StreamWriter.writeWith): the encoder writes in the
   * slab's free space; -1 submits the slab and retries once in an empty
   * one; still -1, the payload is encoded on its own and staged as bytes.
   */
  encode<T>(encoder: PayloadEncoder<T>, value: T): void {
    const g = this.#guard;
    let end = this.#limit === 0 ? -1 : this.#encodeIn(encoder, value);
    if (end < 0 && (this.#pos > 0 || this.#limit === 0)) {
      this.submit();
      if (!this.#nextUnit())
        return this.#source.dropped(this.#headerSize + cb.encodedSize(g, encoder, value));
      end = this.#encodeIn(encoder, value);
    }
    if (this.#unit.slab.length === 0) throw this.#lost(); // the encoder detached it
    if (end < 0) {
      const size = cb.encodedSize(g, encoder, value);
      const buf = new Uint8Array(size);
      end = cb.encodeInto(g, encoder, value, buf, new DataView(buf.buffer), 0, size);
      if (end !== size) throw cb.badReturn(encoder, 'encodeInto()', end, `${size} (its sizeOf())`);
      return this.stage(buf, 0, size);
    }
    const at = this.#pos + this.#headerSize;
    const framer = this.#framer;
    if (end - at > framer.maxPayloadLen) framer.checkLength(end - at);
    if (framer.compiled) cb.validate(g, framer.compiled, this.#unit.slab, at, end - at);
    this.#commit(at, end - at);
  }

  /** Hands the current unit to the source (nothing when it is empty). */
  submit(): void {
    const end = this.#pos;
    if (end === 0) return;
    const frames = this.#unitFrames;
    // Reset first: a source that throws must not make us re-send it.
    this.#pos = 0;
    this.#limit = 0;
    this.#unitFrames = 0;
    this.flushes++;
    if (this.#exitSlot >= 0) exitHook.disarm(this.#exitSlot);
    this.#timed?.delete(this.#owner!);
    this.#guard.active = true;
    try {
      this.#source.submit(this.#unit, end, frames);
    } catch (err) {
      throw (this.failure ??= sinkFailure(err));
    } finally {
      this.#guard.active = false;
    }
  }

  /**
   * Hands the current unit back before the source rotates (docs/design.md,
   * "Rotation"): submitted when it holds frames, else returned empty (a
   * zero-length submit), so that the next frame acquires a unit of the
   * new file.
   */
  release(): void {
    if (this.#pos > 0) return this.submit();
    if (this.#limit === 0) return;
    this.#limit = 0;
    this.#guard.active = true;
    try {
      this.#source.submit(this.#unit, 0, 0);
    } catch (err) {
      throw (this.failure ??= sinkFailure(err));
    } finally {
      this.#guard.active = false;
    }
  }

  /**
   * Calls the source under the guard: its failure is the writer's from then
   * on, unless `transient` (an error the source recovers from: a rotation
   * whose next file could not be opened).
   */
  call<A, R>(fn: (s: SlabSource, arg?: A) => R, arg?: A, transient = false): R {
    this.#guard.active = true;
    try {
      return fn(this.#source, arg);
    } catch (err) {
      if (transient) throw err;
      throw (this.failure ??= sinkFailure(err));
    } finally {
      this.#guard.active = false;
    }
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
    const framer = this.#framer;
    const pos = this.#pos;
    const unit = this.#unit;
    const slab = unit.slab;
    // Observers see the staged payload before it counts (one that throws
    // leaves nothing staged); a custom checksum is computed after them.
    if (framer.observers.length) cb.observe(this.#guard, framer, slab.subarray(at, at + len));
    if (this.#custom) {
      cb.customHeader(this.#guard, framer, slab, pos, slab.subarray(at, at + len));
    }
    // User code that saw the slab (an observer, a custom checksum) may have
    // detached it: nothing would be written, silently.
    if (slab.length === 0) throw this.#lost();
    if (!this.#custom) {
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
    this.frames++;
    this.bytes += at + len - pos;
    if (pos === 0) {
      // The unit's first frame: an exit or the timer must write it (until submit).
      if (this.#exitSlot >= 0) exitHook.arm(this.#exitSlot, this.#owner!);
      this.#timed?.add(this.#owner!);
    }
  }

  // A frame larger than a slab, in a buffer of its own (the source may keep it).
  #stageLarge(src: Uint8Array, start: number, len: number): void {
    const h = this.#headerSize;
    const framer = this.#framer;
    const buf = new Uint8Array(h + len);
    buf.set(src.subarray(start, start + len), h);
    const payload = buf.subarray(h);
    if (framer.observers.length) cb.observe(this.#guard, framer, payload);
    if (this.#custom) cb.customHeader(this.#guard, framer, buf, 0, payload);
    else framer.writeHeader(buf, 0, payload, false);
    this.frames++;
    this.bytes += buf.length;
    this.flushes++;
    this.call(submitLarge, buf);
  }

  // User code transferred the ArrayBuffer of the slab being staged into:
  // the frames staged in it are gone, so the writer fails for good.
  #lost(): FlatStreamError {
    return (this.failure ??= new IoError(
      'the slab being staged into was detached (transferred) by user code (serialize, an observer, a custom checksum or an encoder): the frames staged in it are lost',
    ));
  }

  // The next unit from the source; false when its policy drops the frame.
  #nextUnit(): boolean {
    let unit: SlabUnit | null;
    this.#guard.active = true;
    try {
      unit = this.#source.acquire();
      // Checked once per unit it lends, not again when the same comes back.
      if (unit !== null && unit !== this.#unit) {
        const commits = this.#source.commits;
        checkUnit(unit, this.#slabSize, commits);
        this.#commits = commits;
      }
    } catch (err) {
      if (err instanceof StagingFullError) throw err; // transient: the next write tries again
      throw (this.failure ??= sinkFailure(err));
    } finally {
      this.#guard.active = false;
    }
    if (unit === null) return false;
    this.#unit = unit;
    this.#limit = this.#slabSize;
    this.place.follow(unit.scratch);
    return true;
  }
}

// As a function, not a closure per call.
const submitLarge = (s: SlabSource, frame?: Uint8Array): void => s.submitLarge!(frame!);
