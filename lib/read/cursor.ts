/**
 * FrameCursor: finds frames in a stream that arrives in chunks, with one
 * engine scan per batch of frames and no copy of any frame that lies inside
 * a chunk. Only a frame split across chunks is carried over: its bytes are
 * gathered in a small slab that grows up to the deframer's bound (never from
 * an unchecked length) and shrinks back under the memory policy.
 *
 * Pull-based and synchronous: `next()` says FRAME (the current frame is
 * described by `window`, `payloadStart`, `payloadLength`, `frameOffset`,
 * `frameIndex`), NEED (call `push(chunk)` or `end()`), or DONE. Readers drive
 * it from sync sources (bytes, files) and async ones (streams) alike.
 */
import { type ValidatorChainLike, backend } from '../engine/load';
import {
  INDEX_HEADER,
  IndexSlot,
  RESYNC_STEP_OUT,
  ResyncStepOut,
  ScanStatus,
  WIRE_MAX_FRAME_LEN,
} from '../engine/contract';
import { customValue } from '../format/checksum';
import {
  ChecksumMismatchError,
  FlatStreamError,
  type FrameLocation,
  InvalidFrameError,
  UnexpectedEofError,
  ValidationFailedError,
} from '../format/errors';
import { CUSTOM_KIND, type Deframer, type Observer } from '../format/framing';
import type { CompiledValidator } from '../format/validation';
import { Kind, LENGTH_FIELD } from '../format/kinds';
import { type MemoryPolicy, NoShrinkPolicy } from '../format/policy';

/** A range of the stream that skip mode did not deliver, and why. */
export interface SkippedRange {
  /** Stream offset where it starts (a frame's length field). */
  offset: number;
  /** Its length in bytes. */
  length: number;
  reason: string;
}

export const FRAME = 0;
export const NEED = 1;
export const DONE = 2;
export type Step = typeof FRAME | typeof NEED | typeof DONE;

// Frames indexed per engine call: one crossing per 4096 frames is far below
// the cost of handing the frames out.
const INDEX_FRAMES = 4096;
const EMPTY = new Uint8Array(0);

// A scan index holds offsets relative to the scan's start in u32 slots, so
// one engine call never scans more than this (docs/design.md, "Recovery"):
// a longer window is scanned in pieces.
const SCAN_WINDOW = WIRE_MAX_FRAME_LEN;

/** The little-endian unsigned integer of `width` bytes at buf[pos]. */
function loadLE(buf: Uint8Array, pos: number, width: number): bigint {
  let v = 0n;
  for (let i = width; i-- > 0;) v = (v << 8n) | BigInt(buf[pos + i]!);
  return v;
}

export class FrameCursor {
  /** Buffer holding the current frame (a chunk, or the carry-over slab). */
  window: Uint8Array = EMPTY;
  /** The current frame's payload: window[payloadStart, payloadStart + payloadLength). */
  payloadStart = 0;
  payloadLength = 0;
  /** Stream offset of the current frame's length field. */
  frameOffset = 0;
  /** 0-based index of the current frame. */
  frameIndex = -1;
  /** Skip mode: ranges skipped, and their bytes. */
  skippedRanges = 0;
  skippedBytes = 0;

  readonly #header: number;
  readonly #kind: number;
  readonly #custom: boolean;
  readonly #deframer: Deframer;
  readonly #policy: MemoryPolicy;
  readonly #validator: CompiledValidator | null;
  readonly #batch: ValidatorChainLike | undefined;
  readonly #perFrame: boolean;
  readonly #observers: readonly Observer[];
  readonly #slabBaseline: number;
  #index = new Uint32Array(INDEX_HEADER + 2 * INDEX_FRAMES);
  #slab: Uint8Array;
  #inSlab = false; // window is the slab
  #winBase = 0; // stream offset of window[0]
  #start = 0; // first unconsumed byte of window
  #end = 0; // end of valid bytes in window
  #batchN = 0;
  #batchI = 0;
  #batchBase = 0;
  #status = -1; // status of the last scan; -1: nothing scanned yet for this window
  #rest: Uint8Array | null = null; // chunk to continue with once the slab's frame is out
  #restPos = 0;
  #restBase = 0;
  #pushed = 0; // stream bytes received so far
  #eof = false;
  #error: Error | null = null;
  readonly #skip: boolean;
  readonly #onSkip: ((range: SkippedRange) => void) | null;
  #resyncing = false;
  #skipFrom = 0; // stream offset where the range being skipped starts
  #skipReason = '';
  #resyncOut = new Float64Array(RESYNC_STEP_OUT);
  // The search's state across calls (docs/design.md "Skip mode"), offsets in
  // the window: the next candidate, the natural one (-1: none or ruled out),
  // the window end at which the next call can progress, and each offset's
  // evidence (memo[i] for window[i]; zero at and past #memoHigh).
  #candidate = 0;
  #natural = -1;
  #need = 0;
  #memo: Uint8Array = EMPTY;
  #memoHigh = 0;
  /** Skip mode: payload bytes checksummed while resynchronising (work, for tests and bench). */
  resyncChecksummed = 0;

  constructor(
    deframer: Deframer,
    policy: MemoryPolicy = NoShrinkPolicy,
    slabSize = 64 * 1024,
    onSkip: ((range: SkippedRange) => void) | null = null,
  ) {
    this.#deframer = deframer;
    this.#header = deframer.headerSize;
    this.#custom = deframer.kind === CUSTOM_KIND;
    this.#kind = this.#custom ? Kind.None : deframer.kind;
    this.#policy = policy;
    this.#validator = deframer.compiled;
    // Built-in validators run inside the engine's scan; others per frame here,
    // as do all of them behind a custom checksum (verified here, and first).
    this.#batch = this.#custom ? undefined : (deframer.compiled?.batch ?? undefined);
    this.#perFrame = deframer.compiled !== null && this.#batch === undefined;
    this.#observers = deframer.observers;
    this.#slabBaseline = slabSize;
    this.#slab = new Uint8Array(slabSize);
    this.#skip = onSkip !== null;
    this.#onSkip = onSkip;
  }

  /** Stream offset of the next frame. */
  get position(): number {
    return this.#winBase + this.#start;
  }

  /** The sticky error, once one was thrown. */
  get error(): Error | null {
    return this.#error;
  }

  /** Current slab capacity (the carry-over buffer). */
  get slabSize(): number {
    return this.#slab.length;
  }

  /** Where the next frame starts: for errors raised outside the cursor (a failing source). */
  where(): FrameLocation {
    return { offset: this.position, frameIndex: this.frameIndex + 1 };
  }

  /** Makes `err` (e.g. the source's IoError) the sticky error. */
  fail(err: Error): Error {
    return (this.#error ??= err);
  }

  /**
   * Makes the stream start at byte `offset` (a file read from there):
   * frame offsets and errors count from it, frame indexes from
   * `firstIndex` (1 after a stream header). Before any chunk only.
   */
  startAt(offset: number, firstIndex = 0): void {
    this.frameIndex = firstIndex - 1;
    this.#pushed = offset;
    this.#setWindow(EMPTY, offset, 0, 0, false);
  }

  /** Bytes received past {@link position}: the prefix of a frame not yet whole (at NEED). */
  get held(): number {
    return this.#pushed - this.position;
  }

  /** Those bytes (a view, valid until the next push). */
  heldBytes(): Uint8Array {
    return this.window.subarray(this.#start, this.#end);
  }

  /**
   * Forgets the held prefix (at NEED, outside skip mode's search): the
   * stream continues at {@link position} again, where the next chunk must
   * start. A follower reads a frame that was not whole again from its start
   * (docs/design.md, "Follow mode").
   */
  dropHeld(): void {
    const at = this.position;
    this.#pushed = at;
    this.#rest = null;
    this.#setWindow(EMPTY, at, 0, 0, false);
  }

  /** Gives the cursor the next chunk of the stream (after next() said NEED). */
  push(chunk: Uint8Array): void {
    // Payload views of a Buffer would be Buffers, whose subarray() goes
    // through a species constructor: ~15 ns more per frame. Views of a plain
    // Uint8Array over the same memory are not.
    if (chunk.constructor !== Uint8Array)
      chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    const base = this.#pushed;
    this.#pushed += chunk.length;
    if (chunk.length === 0) return;
    if (this.#resyncing) {
      // Looking for where good frames resume: gather everything.
      this.#ensureSlab(this.#end + chunk.length).set(chunk, this.#end);
      this.#end += chunk.length;
    } else if (this.#inSlab && this.#start < this.#end) {
      this.#complete(chunk, 0, base);
    } else {
      this.#setWindow(chunk, base, 0, chunk.length, false);
    }
  }

  /** Says the stream has ended (after next() said NEED). */
  end(): void {
    this.#eof = true;
  }

  /** Moves to the next frame. Throws the first error met, and again on every later call. */
  next(): Step {
    if (this.#error) throw this.#error;
    for (;;) {
      if (this.#batchI < this.#batchN) {
        const i = INDEX_HEADER + 2 * this.#batchI;
        const start = this.#batchBase + this.#index[i]!;
        const len = this.#index[i + 1]!;
        const frameAt = start - this.#header;
        // Before moving on: if a custom checksum or a validator throws, this frame is retried.
        if (this.#custom) this.#verifyCustom(frameAt, start, len);
        if (this.#perFrame && this.#validate(frameAt, start, len)) continue;
        this.#batchI++;
        if (this.#observers.length) this.#observe(start, len);
        this.payloadStart = start;
        this.payloadLength = len;
        this.frameOffset = this.#winBase + frameAt;
        this.frameIndex++;
        this.#start = start + len;
        return FRAME;
      }
      if (this.#resyncing) {
        if (this.#resync()) continue;
        return NEED;
      }
      const status = this.#status;
      if (status === ScanStatus.IndexFull || (status === -1 && this.#start < this.#end)) {
        this.#scan();
        continue;
      }
      if (status === ScanStatus.End || status === -1) {
        // Everything in the window is consumed.
        if (this.#inSlab) this.#leaveSlab();
        if (this.#rest) {
          const rest = this.#rest;
          this.#rest = null;
          this.#setWindow(rest, this.#restBase, this.#restPos, rest.length, false);
          continue;
        }
        return this.#eof ? DONE : NEED;
      }
      if (this.#skip && status >= ScanStatus.ChecksumMismatch) {
        this.#skipBadFrame(status);
        continue;
      }
      if (status === ScanStatus.Partial) {
        if (this.#eof && this.#skip) {
          this.#beginResync(
            this.#batchBase + this.#index[IndexSlot.consumed]!,
            'torn frame at the end',
          );
          continue;
        }
        if (this.#eof) throw this.#fail(status);
        if (!this.#inSlab) {
          this.#carry(); // rescanned from the slab, so errors point into it
          continue;
        }
        if (this.#start > 0) this.#compact(); // the pending frame must start the slab
        return NEED;
      }
      throw this.#fail(status);
    }
  }

  // Skip mode: the scan stopped at a bad frame. A frame that verified but
  // failed a validator has a trustworthy length: skip exactly it. Otherwise
  // the length may be garbage: resynchronise on the checksum, trying first
  // the frame right after one whose length was sane (docs/design.md "Skip mode").
  #skipBadFrame(status: number): void {
    const at = this.#batchBase + this.#index[IndexSlot.consumed]!;
    const length = this.#index[IndexSlot.length]!;
    if (status === ScanStatus.ValidationFailed) {
      const bad = this.#validator!.check(this.window, at + this.#header, length);
      const size = this.#header + length;
      this.#start = at + size;
      this.#batchN = this.#batchI = 0;
      this.#status = -1;
      this.#report(
        this.#winBase + at,
        size,
        `validation failed (${bad?.validator}): ${bad?.reason}`,
      );
      return;
    }
    const mismatch = status === ScanStatus.ChecksumMismatch;
    this.#beginResync(
      at,
      mismatch ? 'checksum mismatch' : 'invalid frame length',
      mismatch ? this.#header + length : -1,
    );
  }

  // `natural`: where the next frame starts if the bad frame's length is
  // right, relative to `at` (-1: unknown).
  #beginResync(at: number, reason: string, natural = -1): void {
    this.#skipFrom = this.#winBase + at;
    this.#skipReason = reason;
    // Everything from the bad frame on goes to the slab, where more data can join it.
    const rest = this.window.subarray(at, this.#end);
    const slab = this.#ensureSlab(rest.length);
    if (this.window === slab) slab.copyWithin(0, at, this.#end);
    else slab.set(rest, 0);
    this.#setWindow(slab, this.#winBase + at, 0, rest.length, true);
    this.#resyncing = true;
    if (this.#rest) {
      // The chunk that completed the bad frame goes on after it.
      const more = this.#rest.subarray(this.#restPos);
      this.#ensureSlab(this.#end + more.length).set(more, this.#end);
      this.#end += more.length;
      this.#rest = null;
    }
    this.#memo.fill(0, 0, this.#memoHigh);
    this.#memoHigh = 0;
    this.#candidate = 1;
    this.#natural = natural;
    this.#need = 0;
    this.#resyncOut.fill(0); // the search's work budget starts afresh
  }

  // One step of the search for where intact frames resume. True when reading
  // can go on (found, or nothing left at the end). Each candidate is decided
  // once; the search is only called again once the data it waits for is there.
  #resync(): boolean {
    if (!this.#eof && this.#end < this.#need) {
      this.#status = -1;
      return false;
    }
    const d = this.#deframer;
    const out = this.#resyncOut;
    if (this.#memo.length < this.#end) {
      const memo = new Uint8Array(Math.max(this.#end, this.#slab.length));
      memo.set(this.#memo.subarray(0, this.#memoHigh), 0);
      this.#memo = memo;
    }
    const p = backend.resyncFrames(
      this.window,
      this.#candidate,
      this.#end,
      this.#kind,
      d.checksum.width,
      d.maxFrameLen,
      1,
      this.#batch,
      out,
      this.#memo,
      this.#natural,
      this.#eof,
    );
    this.#memoHigh = Math.max(this.#memoHigh, this.#end);
    this.resyncChecksummed += out[ResyncStepOut.checksummed]!;
    if (p >= 0) {
      this.#resyncing = false;
      this.#setWindow(this.window, this.#winBase, p, this.#end, true);
      this.#report(this.#skipFrom, this.#winBase + p - this.#skipFrom, this.#skipReason);
      return true;
    }
    if (this.#eof) {
      this.#resyncing = false;
      this.#setWindow(this.window, this.#winBase, this.#end, this.#end, true);
      this.#status = ScanStatus.End;
      this.#report(this.#skipFrom, this.#winBase + this.#end - this.#skipFrom, this.#skipReason);
      return true;
    }
    const keep = out[ResyncStepOut.keep]!;
    this.#need = out[ResyncStepOut.need]!;
    if (out[ResyncStepOut.naturalPending] === 0) this.#natural = -1;
    this.#candidate = keep;
    // Candidates before `keep` are ruled out for good: drop their bytes.
    if (keep > 0) {
      const end = this.#end;
      this.window.copyWithin(0, keep, end);
      this.#memo.copyWithin(0, keep, end);
      this.#memo.fill(0, end - keep, this.#memoHigh);
      this.#memoHigh = end - keep;
      this.#winBase += keep;
      this.#end -= keep;
      out[ResyncStepOut.dropped] = out[ResyncStepOut.dropped]! + keep;
      this.#candidate = 0;
      this.#need -= keep;
      if (this.#natural >= 0) this.#natural -= keep;
    }
    this.#status = -1;
    return false;
  }

  // Moves the slab's unconsumed bytes to its start (after a resync, frames
  // before a partial one were read from the slab itself).
  #compact(): void {
    const start = this.#start;
    this.#slab.copyWithin(0, start, this.#end);
    this.#setWindow(this.#slab, this.#winBase + start, 0, this.#end - start, true);
  }

  // Called once the cursor's state is past the range: onSkip may throw (the
  // error reaches the caller; the next call goes on after the range).
  #report(offset: number, length: number, reason: string): void {
    this.skippedRanges++;
    this.skippedBytes += length;
    this.#onSkip!({ offset, length, reason });
  }

  #setWindow(win: Uint8Array, base: number, start: number, end: number, inSlab: boolean): void {
    this.window = win;
    this.#winBase = base;
    this.#start = start;
    this.#end = end;
    this.#inSlab = inSlab;
    this.#batchN = this.#batchI = 0;
    this.#status = -1;
  }

  #scan(): void {
    const d = this.#deframer;
    const start = this.#start;
    // Scanned in pieces of at most SCAN_WINDOW bytes (a window can be a
    // 4 GiB Uint8Array): a frame the piece's end cuts is rescanned from its
    // start, as the first frame of the next piece.
    const end = Math.min(this.#end, start + SCAN_WINDOW);
    this.#batchN = backend.scanFrames(
      this.window,
      start,
      end,
      this.#kind,
      d.checksum.width,
      d.maxFrameLen,
      this.#index,
      this.#batch,
    );
    this.#batchI = 0;
    this.#batchBase = start;
    this.#status = this.#index[IndexSlot.status]!;
    if (this.#status === ScanStatus.Partial && end < this.#end) {
      if (this.#batchN > 0) this.#status = ScanStatus.IndexFull;
      else this.#scanWhole(start);
    }
  }

  // The frame at `start` is longer than SCAN_WINDOW (a payload of 4 GiB
  // minus a few bytes, with maxFrameLen near its ceiling): its offsets fit
  // the index but its end does not, so it is checked here, with the scan's
  // checks in the scan's order (the bound was checked by the scan).
  #scanWhole(start: number): void {
    const w = this.window;
    const idx = this.#index;
    const len =
      (w[start]! | (w[start + 1]! << 8) | (w[start + 2]! << 16) | (w[start + 3]! << 24)) >>> 0;
    if (this.#header + len > this.#end - start) return; // really cut: Partial stands
    const payload = w.subarray(start + this.#header, start + this.#header + len);
    idx[IndexSlot.consumed] = 0;
    idx[IndexSlot.length] = len;
    idx[IndexSlot.validator] = 0;
    if (this.#kind !== Kind.None) {
      const expected = loadLE(w, start + LENGTH_FIELD, this.#deframer.checksum.width);
      if (BigInt(backend.checksum(this.#kind, payload)) !== expected) {
        this.#status = idx[IndexSlot.status] = ScanStatus.ChecksumMismatch;
        return;
      }
    }
    const bad = this.#batch?.check(w, start + this.#header, len) ?? null;
    if (bad) {
      this.#status = idx[IndexSlot.status] = ScanStatus.ValidationFailed;
      idx[IndexSlot.validator] = bad.index;
      return;
    }
    idx[INDEX_HEADER] = this.#header;
    idx[INDEX_HEADER + 1] = len;
    this.#batchN = idx[IndexSlot.frames] = 1;
    this.#status = idx[IndexSlot.status] =
      start + this.#header + len === this.#end ? ScanStatus.End : ScanStatus.IndexFull;
  }

  // The window (a chunk) ends inside a frame: keep that frame's bytes.
  #carry(): void {
    const have = this.#end - this.#start;
    const slab = this.#ensureSlab(have);
    slab.set(this.window.subarray(this.#start, this.#end), 0);
    this.#setWindow(slab, this.#winBase + this.#start, 0, have, true);
  }

  // Appends from chunk[pos..] to the frame pending in the slab, only as many
  // bytes as that frame needs; what follows it stays in the chunk, uncopied.
  #complete(chunk: Uint8Array, pos: number, chunkBase: number): void {
    const max = this.#deframer.maxFrameLen;
    for (;;) {
      const have = this.#end;
      let needed: number = LENGTH_FIELD;
      if (have >= LENGTH_FIELD) {
        const s = this.#slab;
        const len = (s[0]! | (s[1]! << 8) | (s[2]! << 16) | (s[3]! << 24)) >>> 0;
        if (len > max) break; // the scan reports it; nothing is sized from it
        needed = this.#header + len;
      }
      const take = Math.min(needed - have, chunk.length - pos);
      if (take <= 0) break; // the frame is whole, or the chunk is used up
      this.#ensureSlab(have + take).set(chunk.subarray(pos, pos + take), have);
      this.#end = have + take;
      pos += take;
    }
    this.#setWindow(this.#slab, this.#winBase, 0, this.#end, true);
    if (pos < chunk.length) {
      this.#rest = chunk;
      this.#restPos = pos;
      this.#restBase = chunkBase;
    }
  }

  #ensureSlab(size: number): Uint8Array {
    if (size <= this.#slab.length) return this.#slab;
    // Grows geometrically; the bound was checked before `size` was computed.
    const next = new Uint8Array(
      Math.max(size, Math.min(2 * this.#slab.length, this.#deframer.maxFrameLen + this.#header)),
    );
    next.set(this.#slab.subarray(0, this.#end), 0);
    this.#slab = next;
    if (this.#inSlab) this.window = next;
    return next;
  }

  #leaveSlab(): void {
    const used = this.payloadLength + this.#header;
    if (
      this.#slab.length > this.#slabBaseline &&
      this.#policy.shouldShrink(used, this.#slab.length)
    ) {
      this.#slab = new Uint8Array(Math.max(this.#slabBaseline, this.#policy.baseline));
    }
    const base = this.#winBase + this.#end;
    this.#setWindow(EMPTY, base, 0, 0, false);
  }

  // True when skip mode skipped the frame (by its length: it verified).
  #validate(frameAt: number, start: number, len: number): boolean {
    const bad = this.#validator!.check(this.window, start, len);
    if (!bad) return false;
    if (this.#skip) {
      this.#batchI++;
      this.#start = start + len;
      this.#report(
        this.#winBase + frameAt,
        this.#header + len,
        `validation failed (${bad.validator}): ${bad.reason}`,
      );
      return true;
    }
    this.#start = frameAt;
    this.#batchN = this.#batchI = 0;
    throw (this.#error = new ValidationFailedError(
      bad.validator,
      bad.reason,
      this.#where(frameAt),
    ));
  }

  #observe(start: number, len: number): void {
    const view = this.window.subarray(start, start + len);
    for (const fn of this.#observers) fn(view);
  }

  #verifyCustom(frameAt: number, start: number, len: number): void {
    const c = this.#deframer.checksum;
    if (c.width === 0) return;
    const expected = loadLE(this.window, frameAt + LENGTH_FIELD, c.width);
    const calculated = customValue(c, this.window.subarray(start, start + len));
    if (expected !== calculated) {
      this.#start = frameAt;
      this.#batchN = this.#batchI = 0;
      throw (this.#error = new ChecksumMismatchError(expected, calculated, this.#where(frameAt)));
    }
  }

  #where(at: number): FrameLocation {
    return { offset: this.#winBase + at, frameIndex: this.frameIndex + 1 };
  }

  // The error for a scan that stopped at the window's consumed point; sticky.
  #fail(status: number): FlatStreamError {
    const at = this.#batchBase + this.#index[IndexSlot.consumed]!;
    const length = this.#index[IndexSlot.length]!;
    this.#start = at;
    const d = this.#deframer;
    const where = this.#where(at);
    const available = this.#end - at;
    let err: FlatStreamError;
    if (status === ScanStatus.InvalidFrame) {
      err = new InvalidFrameError(length, d.maxFrameLen, where);
    } else if (status === ScanStatus.Partial) {
      const part =
        available < LENGTH_FIELD ? 'length' : available < this.#header ? 'checksum' : 'payload';
      err = new UnexpectedEofError(
        part,
        part === 'length' ? this.#header : this.#header + length,
        available,
        where,
      );
    } else if (status === ScanStatus.ChecksumMismatch) {
      const w = this.window;
      const expected = loadLE(w, at + LENGTH_FIELD, d.checksum.width);
      const payload = w.subarray(at + this.#header, at + this.#header + length);
      err = new ChecksumMismatchError(
        expected,
        BigInt(backend.checksum(this.#kind, payload)),
        where,
      );
    } else if (status === ScanStatus.ValidationFailed) {
      const bad = this.#validator!.check(this.window, at + this.#header, length);
      err = new ValidationFailedError(
        bad?.validator ?? 'unknown',
        bad?.reason ?? 'rejected',
        where,
      );
    } else {
      err = new FlatStreamError(`unknown scan status ${status}`, 'ERR_FLATSTREAM', where);
    }
    return (this.#error = err);
  }
}
