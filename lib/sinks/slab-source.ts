/**
 * The slab protocol (docs/design.md, "Slab protocol"): the one way a
 * StreamWriter gets memory to stage frames in and hands staged frames on.
 * Both the writer's own slabs ({@link OwnedSlabs}, over any plain `Sink`)
 * and a `CaptureSink` (slabs lent from its staging file) implement it; the
 * writer only stages, the source seals and decides where the bytes go.
 *
 * Owns: SlabUnit, SlabSource, RotationInfo, isSlabSource, checkUnit, sinkFailure.
 * Imports: errors.
 */
import { FlatStreamError, IoError } from '../format/errors';

/**
 * Memory a {@link SlabSource} lends a writer: a slab to stage frames in and,
 * right after it in the same ArrayBuffer, scratch space for the writer's
 * internal builder.
 */
export interface SlabUnit {
  /** The slab and the scratch, one view. */
  all: Uint8Array;
  /** The slab: `slabSize` bytes where frames are staged. */
  slab: Uint8Array;
  /** A DataView over `slab` (same buffer, same byteOffset). */
  view: DataView;
  /** The builder's scratch, right after the slab. */
  scratch: Uint8Array;
  /** Index into {@link SlabSource.commits} of this unit's commit cell. */
  cell: number;
}

/** One rotation: the file closed and the file its successor frames went to. */
export interface RotationInfo {
  /** The file left (complete: closed and synced). */
  file: string;
  /** Frames and bytes of the writer's frames in it (its stream header not counted). */
  frames: number;
  bytes: number;
  /** The file the writer went on in. */
  next: string;
}

/** The frame format a writer stages in, given to {@link SlabSource.bind}. */
export interface SlabFormat {
  /** The framer's checksum kind (CUSTOM_KIND: the writer writes whole headers itself). */
  kind: number;
  /** Length field plus checksum field, in bytes. */
  headerSize: number;
}

/**
 * Where a StreamWriter's frames live and go.
 *
 * The writer calls {@link bind} once, then {@link acquire} whenever it needs
 * a unit; it stages frames into `unit.slab` from offset 0, writes the bytes
 * of whole frames staged so far to `commits[unit.cell]` after every frame,
 * and hands the unit back with {@link submit}, built-in checksum fields
 * still blank: the source seals them and sends the bytes on. The scratch of
 * a submitted unit stays the writer's until its next `acquire()` (a source
 * never gives it to anyone else).
 *
 * Every method may be called with the writer's re-entrancy guard up: a
 * source must not call back into its writer.
 */
export interface SlabSource {
  /** Bytes per slab. A frame larger than this goes to {@link submitLarge}, or is refused without it. */
  readonly slabSize: number;
  /** The source's wish for the writer's flush timer, in ms (undefined: none). */
  readonly flushIntervalMs: number | undefined;
  /** The commit cells (see {@link SlabUnit.cell}): what survives the process when they are shared memory. */
  readonly commits: Int32Array;
  /** Frames dropped so far because {@link acquire} had no unit: counted here only. */
  readonly drops: number;
  /** True while the source asks the producer to wait (Node's "accepted, slow down"). */
  readonly needsDrain: boolean;
  /** Called once by the writer, before anything else. Throws when the source already belongs to a writer. */
  bind(format: SlabFormat): void;
  /** The next unit to stage into; null when the source's policy drops this frame. Throws on failure. */
  acquire(): SlabUnit | null;
  /** Hands `unit` over with `end` bytes of `frames` whole frames (built-in checksum fields blank). */
  submit(unit: SlabUnit, end: number, frames: number): void;
  /**
   * Takes one frame larger than a slab, in a buffer of its own with its
   * header written (built-in checksum field blank) (optional: a source
   * without it refuses such frames with a RangeError).
   */
  submitLarge?(frame: Uint8Array): void;
  /** Counts a frame of `bytes` bytes the writer dropped because {@link acquire} returned null. */
  dropped(bytes: number): void;
  /** Registers what to call when the source fails on its own (a thread, a promise), so the writer's next call throws. */
  onFailure(fn: (err: Error) => void): void;
  /** Resolves when {@link needsDrain} is false again; rejects with the source's failure. */
  drain(): Promise<void>;
  /** Pushes what was submitted on towards its destination (optional). */
  flush?(): void;
  /** Makes what was submitted durable (optional). */
  sync?(): void;
  /** Releases resources after the writer's last submit; called once by the writer's `close()`. */
  close(): void | Promise<void>;
  /** Resolves when every submitted unit has been released (optional: at once without it). */
  settled?(): Promise<void>;
  /**
   * Moves on to the next file (optional; a `RotatingSink`): called by
   * `StreamWriter.rotate()` after the writer handed its unit back, so every
   * frame staged before the call goes to the file being left and every
   * later one to the next. Resolves once the file left is synced and
   * closed (docs/design.md, "Rotation").
   */
  rotate?(): Promise<RotationInfo>;
  /** Whether the writer should flush it at exit (a synchronous file sink inside); default false. */
  readonly flushOnExit?: boolean;
  /** Slabs the source allocated, and slabs it still holds for a sink (optional: 0 without). */
  readonly slabsAllocated?: number;
  readonly slabsInFlight?: number;
}

/** Whether `x` implements the slab protocol (rather than being a plain `Sink`). */
export function isSlabSource(x: object): x is SlabSource {
  const s = x as Partial<SlabSource>;
  return (
    typeof s.bind === 'function' &&
    typeof s.acquire === 'function' &&
    typeof s.submit === 'function'
  );
}

/** A sink's or source's failure as the writer reports it: a FlatStreamError as is, anything else an IoError. */
export function sinkFailure(err: unknown): FlatStreamError {
  if (err instanceof FlatStreamError) return err;
  return new IoError(`sink failed: ${(err as Error)?.message ?? String(err)}`, err);
}

// instanceof first: the tag check builds a string (another realm's arrays only).
function isU8(x: unknown): x is Uint8Array {
  return (
    x instanceof Uint8Array ||
    (ArrayBuffer.isView(x) && Object.prototype.toString.call(x) === '[object Uint8Array]')
  );
}

/**
 * Checks a unit from {@link SlabSource.acquire} once, before anything is
 * staged into it: the writer copies the builder's message from the scratch
 * with one `copyWithin` over `all` and stores the commit at `cell`, so a
 * unit whose parts are not where the protocol says would be written wrong,
 * silently (docs/design.md, "Slab protocol"). TypeError
 * ERR_INVALID_RETURN_VALUE otherwise.
 */
export function checkUnit(unit: SlabUnit, slabSize: number, commits: Int32Array): SlabUnit {
  const u = unit as Partial<SlabUnit> | null;
  const ok =
    typeof u === 'object' &&
    u !== null &&
    isU8(u.all) &&
    isU8(u.slab) &&
    isU8(u.scratch) &&
    u.view instanceof DataView &&
    u.slab.length === slabSize &&
    u.slab.buffer === u.all.buffer &&
    u.slab.byteOffset === u.all.byteOffset &&
    u.scratch.buffer === u.all.buffer &&
    u.scratch.byteOffset === u.all.byteOffset + slabSize &&
    u.all.length === slabSize + u.scratch.length &&
    u.view.buffer === u.all.buffer &&
    u.view.byteOffset === u.all.byteOffset &&
    u.view.byteLength === slabSize &&
    Number.isInteger(u.cell) &&
    (u.cell as number) >= 0 &&
    (u.cell as number) < commits.length;
  if (!ok) {
    throw Object.assign(
      new TypeError(
        `The slab source's acquire() must return null or a unit of a ${slabSize}-byte slab followed by its scratch in one buffer, a DataView over the slab and a commit cell inside commits`,
      ),
      { code: 'ERR_INVALID_RETURN_VALUE' },
    );
  }
  return unit;
}
