/**
 * StreamReader: reads frames back without copying them. The engine scans a
 * whole buffer per call (bounds, checksums) and returns an index of
 * (offset, length) pairs; payloads are handed out as views into the source.
 */
import { checkBytes, checkFunction, typeError } from './args';
import { INDEX_HEADER, ScanStatus, backend } from './backend';
import { customValue } from './checksum';
import {
  ChecksumMismatchError,
  FlatStreamError,
  type FrameLocation,
  InvalidFrameError,
  UnexpectedEofError,
} from './errors';
import { CUSTOM_KIND, Deframer } from './framing';
import { Kind, LENGTH_FIELD } from './kinds';

/** Where a payload sits in the stream. */
export interface FrameInfo {
  /** Byte offset of the frame (its length field) in the stream. */
  readonly offset: number;
  /** 0-based index of the frame in the stream. */
  readonly frameIndex: number;
}

/**
 * Called for each payload. `payload` is a zero-copy view into the source;
 * `info` is reused between calls (copy its fields to keep them). Return
 * `false` to stop early.
 */
export type FrameCallback = (payload: Uint8Array, info: FrameInfo) => boolean | void;

/** The little-endian unsigned integer of `width` bytes at buf[pos]. */
function loadLE(buf: Uint8Array, pos: number, width: number): bigint {
  let v = 0n;
  for (let i = width; i-- > 0;) v = (v << 8n) | BigInt(buf[pos + i]!);
  return v;
}

// Frames indexed per engine call: one crossing per 4096 frames is well below
// the noise of the per-frame callback.
const INDEX_FRAMES = 4096;

/**
 * Reads frames from a `Uint8Array`/`Buffer`.
 *
 * Reading is sequential: `processAll` continues where the previous call
 * stopped (after an early stop, at the next frame). After an error the reader
 * stays at the offending frame and every later call throws the same error.
 *
 * @example
 * ```ts
 * const reader = new StreamReader(bytes, new ChecksumDeframer(XxHash64));
 * const n = reader.processAll((payload, { offset }) => { handle(payload); });
 * ```
 */
export class StreamReader {
  readonly deframer: Deframer;
  #source: Uint8Array;
  #pos = 0;
  #frameIndex = 0;
  #error: FlatStreamError | null = null;
  #index = new Uint32Array(INDEX_HEADER + 2 * INDEX_FRAMES);
  #info = { offset: 0, frameIndex: 0 };

  constructor(source: Uint8Array, deframer: Deframer) {
    checkBytes(source, 'source');
    if (!(deframer instanceof Deframer))
      throw typeError('The "deframer" argument must be a Deframer');
    this.#source = source;
    this.deframer = deframer;
  }

  /** Byte offset of the next frame to read. */
  get position(): number {
    return this.#pos;
  }

  /** Index of the next frame to read. */
  get frameIndex(): number {
    return this.#frameIndex;
  }

  /**
   * Calls `cb(payload, info)` for every remaining frame, in order. Returns
   * the number of frames delivered by this call. Throws the first error met
   * (after delivering every good frame before it).
   */
  processAll(cb: FrameCallback): number {
    checkFunction(cb, 'cb');
    if (this.#error) throw this.#error;
    const buf = this.#source;
    const end = buf.length;
    const index = this.#index;
    const { kind, checksum, maxFrameLen } = this.deframer;
    const engineKind = kind === CUSTOM_KIND ? Kind.None : kind;
    const info = this.#info;
    let delivered = 0;
    for (;;) {
      const base = this.#pos;
      const n = backend.scanFrames(buf, base, end, engineKind, checksum.width, maxFrameLen, index);
      for (let i = 0; i < n; i++) {
        const off = base + index[INDEX_HEADER + 2 * i]!;
        const payload = buf.subarray(off, off + index[INDEX_HEADER + 2 * i + 1]!);
        const frameStart = off - this.deframer.headerSize;
        if (kind === CUSTOM_KIND) this.#verifyCustom(frameStart, payload);
        this.#pos = off + payload.length;
        info.offset = frameStart;
        info.frameIndex = this.#frameIndex++;
        delivered++;
        if (cb(payload, info) === false) return delivered;
      }
      const status = index[0]!;
      if (status === ScanStatus.End) return delivered;
      if (status !== ScanStatus.IndexFull) throw this.#fail(status, base + index[2]!, index[3]!);
    }
  }

  #verifyCustom(frameStart: number, payload: Uint8Array): void {
    const { checksum } = this.deframer;
    if (checksum.width === 0) return;
    const expected = loadLE(this.#source, frameStart + LENGTH_FIELD, checksum.width);
    const calculated = customValue(checksum, payload);
    if (expected !== calculated) {
      this.#pos = frameStart;
      throw (this.#error = new ChecksumMismatchError(
        expected,
        calculated,
        this.#where(frameStart),
      ));
    }
  }

  #where(offset: number): FrameLocation {
    return { offset, frameIndex: this.#frameIndex };
  }

  // Builds the error for a scan that stopped at `offset`, and makes it sticky.
  #fail(status: number, offset: number, length: number): FlatStreamError {
    this.#pos = offset;
    const { headerSize, maxFrameLen, checksum, kind } = this.deframer;
    const where = this.#where(offset);
    const available = this.#source.length - offset;
    let err: FlatStreamError;
    if (status === ScanStatus.InvalidFrame) {
      err = new InvalidFrameError(length, maxFrameLen, where);
    } else if (status === ScanStatus.Partial) {
      const part =
        available < LENGTH_FIELD ? 'length' : available < headerSize ? 'checksum' : 'payload';
      const needed = part === 'length' ? headerSize : headerSize + length;
      err = new UnexpectedEofError(part, needed, available, where);
    } else if (status === ScanStatus.ChecksumMismatch) {
      const expected = loadLE(this.#source, offset + LENGTH_FIELD, checksum.width);
      const payload = this.#source.subarray(offset + headerSize, offset + headerSize + length);
      const calculated = BigInt(backend.checksum(kind, payload));
      err = new ChecksumMismatchError(expected, calculated, where);
    } else {
      err = new FlatStreamError(`unknown scan status ${status}`, 'ERR_FLATSTREAM', where);
    }
    this.#error = err;
    return err;
  }
}
