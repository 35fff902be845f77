/**
 * Framers and deframers: how payloads become frames and back.
 *
 *     frame = [u32 LE payload length][checksum, `width` bytes LE][payload]
 *
 * Both are immutable; adapters (`bounded`, `withMaxFrameLen`) return new ones,
 * as flatstream-rs's fluent adapters do. Reading a checksummed stream with a
 * deframer of another checksum (or none) does not fail cleanly: the format has
 * no magic, so it mis-frames. The checksum is agreed out of band.
 */
import { checkBytes, checkInteger, checkOptions, typeError } from './args';
import { type Checksum, NoChecksum, checkChecksum, customValue, isBuiltin } from './checksum';
import { backend } from '../engine/load';
import { InvalidFrameError } from './errors';
import { ChecksumKind } from '../engine/contract';
import { DEFAULT_MAX_FRAME_LEN, LENGTH_FIELD, WIRE_MAX_FRAME_LEN } from './kinds';
import {
  type CompiledValidator,
  CompositeValidator,
  NoValidator,
  type Validator,
  checkValidator,
  compileValidator,
} from './validation';

/** Sees each payload (a zero-copy view, valid during the call). */
export type Observer = (payload: Uint8Array) => void;

/** What framers and deframers share besides the checksum. */
interface Adapters {
  validator: Validator;
  observers: readonly Observer[];
}

const NO_ADAPTERS: Adapters = { validator: NoValidator, observers: [] };

/** Id used for a custom (JS) checksum: the native side then only skips its field. */
export const CUSTOM_KIND: number = ChecksumKind.Custom;

abstract class FrameCodec<Self> {
  /** The checksum agreed for this stream. */
  readonly checksum: Checksum;
  /** Bytes before the payload: 4 + checksum width. */
  readonly headerSize: number;
  /** @internal Built-in id, or CUSTOM_KIND when the checksum runs in JS. */
  readonly kind: number;
  /** The validator every payload must pass (NoValidator unless set). */
  readonly validator: Validator;
  /** Observers, in the order they were added. */
  readonly observers: readonly Observer[];
  /** @internal The validator, compiled (null when there is nothing to check). */
  readonly compiled: CompiledValidator | null;

  constructor(checksum: Checksum, adapters: Adapters) {
    checkChecksum(checksum);
    this.checksum = checksum;
    this.headerSize = LENGTH_FIELD + checksum.width;
    this.kind = isBuiltin(checksum) ? checksum.kind : CUSTOM_KIND;
    this.validator = adapters.validator;
    this.observers = adapters.observers;
    this.compiled = compileValidator(adapters.validator);
  }

  /** @internal */
  protected adapters(): Adapters {
    return { validator: this.validator, observers: this.observers };
  }

  /** @internal The same codec with other adapters. */
  protected abstract derive(adapters: Adapters): Self;

  /**
   * The same, with `v` checked after the current validator (AND): on the
   * write side before a frame is staged, on the read side after the
   * checksum and before user code. Failures are `ValidationFailedError`s.
   */
  withValidator(v: Validator): Self {
    checkValidator(v);
    const validator =
      this.validator === NoValidator ? v : new CompositeValidator(this.validator, v);
    return this.derive({ validator, observers: this.observers });
  }

  /**
   * The same, showing each payload to `fn` (zero-copy, valid during the
   * call): on the write side once staged, on the read side once it passed
   * every check.
   */
  observe(fn: Observer): Self {
    if (typeof fn !== 'function') throw typeError('The "fn" argument must be a function');
    return this.derive({ validator: this.validator, observers: [...this.observers, fn] });
  }
}

/** Options of a {@link Framer}. */
export interface FramerOptions {
  /** Largest payload accepted, in bytes (default and ceiling: 2^32 − 1). */
  maxPayloadLen?: number;
}

/**
 * Turns payloads into frames. Use {@link DefaultFramer} or
 * {@link ChecksumFramer}; `bounded(n)` rejects larger payloads before any
 * byte of them is written.
 */
export class Framer extends FrameCodec<Framer> {
  /** Largest payload accepted (2^32 − 1 unless bounded). */
  readonly maxPayloadLen: number;

  constructor(
    checksum: Checksum = NoChecksum,
    options?: FramerOptions,
    adapters: Adapters = NO_ADAPTERS,
  ) {
    super(checksum, adapters);
    checkOptions(options, 'options');
    const max = options?.maxPayloadLen ?? WIRE_MAX_FRAME_LEN;
    checkInteger(max, 'maxPayloadLen', 0, WIRE_MAX_FRAME_LEN);
    this.maxPayloadLen = max;
  }

  /** A framer like this one that rejects payloads longer than `maxLen` with an InvalidFrameError. */
  bounded(maxLen: number): Framer {
    checkInteger(maxLen, 'maxLen', 0, WIRE_MAX_FRAME_LEN);
    return new Framer(this.checksum, { maxPayloadLen: maxLen }, this.adapters());
  }

  /** @internal */
  protected derive(adapters: Adapters): Framer {
    return new Framer(this.checksum, { maxPayloadLen: this.maxPayloadLen }, adapters);
  }

  /** Throws InvalidFrameError if a payload of `length` bytes may not be framed. */
  checkLength(length: number): void {
    if (length > this.maxPayloadLen) throw new InvalidFrameError(length, this.maxPayloadLen);
  }

  /**
   * Writes the length and checksum fields for `payload` at dst[pos].
   * @internal With `sealed` false a built-in checksum field is left as it is:
   * the writer fills those for a whole slab at once with `sealFrames`.
   */
  writeHeader(dst: Uint8Array, pos: number, payload: Uint8Array, sealed: boolean): void {
    const len = payload.length;
    dst[pos] = len;
    dst[pos + 1] = len >>> 8;
    dst[pos + 2] = len >>> 16;
    dst[pos + 3] = len >>> 24;
    // The width fixed at construction, not the checksum's (possibly changing) property.
    const width = this.headerSize - LENGTH_FIELD;
    if (width === 0) return;
    if (this.kind === CUSTOM_KIND)
      storeLE(dst, pos + LENGTH_FIELD, customValue(this.checksum, payload, width), width);
    else if (sealed)
      storeLE(dst, pos + LENGTH_FIELD, BigInt(backend.checksum(this.kind, payload)), width);
  }

  /** The complete header (length and checksum fields) of the frame for `payload`. */
  header(payload: Uint8Array): Uint8Array {
    checkBytes(payload, 'payload');
    this.checkLength(payload.length);
    const out = new Uint8Array(this.headerSize);
    this.writeHeader(out, 0, payload, true);
    return out;
  }

  /** Encodes one frame into a new Buffer (a convenience; writers stage frames in slabs). */
  frame(payload: Uint8Array): Buffer {
    checkBytes(payload, 'payload');
    this.checkLength(payload.length);
    const out = Buffer.allocUnsafe(this.headerSize + payload.length);
    this.writeHeader(out, 0, payload, true);
    out.set(payload, this.headerSize);
    return out;
  }
}

function storeLE(dst: Uint8Array, pos: number, value: bigint, width: number): void {
  for (let i = 0; i < width; i++, value >>= 8n) dst[pos + i] = Number(value & 0xffn);
}

/** Frames with no checksum: `[u32 LE length][payload]`. */
export class DefaultFramer extends Framer {
  constructor(options?: FramerOptions) {
    super(NoChecksum, options);
  }
}

/** Frames with a checksum: `[u32 LE length][checksum][payload]`. */
export class ChecksumFramer extends Framer {
  constructor(checksum: Checksum, options?: FramerOptions) {
    super(checksum, options);
  }
}

/** Options of a {@link Deframer}. */
export interface DeframerOptions {
  /**
   * Largest payload length accepted, in bytes: a larger declared length is an
   * InvalidFrameError raised before anything is sized from it. Default 2 GiB
   * (the FlatBuffers maximum); ceiling 2^32 − 1.
   */
  maxFrameLen?: number;
}

/** Turns a byte stream back into payloads. Use {@link DefaultDeframer} or {@link ChecksumDeframer}. */
export class Deframer extends FrameCodec<Deframer> {
  /** Largest payload length accepted. */
  readonly maxFrameLen: number;

  constructor(
    checksum: Checksum = NoChecksum,
    options?: DeframerOptions,
    adapters: Adapters = NO_ADAPTERS,
  ) {
    super(checksum, adapters);
    checkOptions(options, 'options');
    const max = options?.maxFrameLen ?? DEFAULT_MAX_FRAME_LEN;
    checkInteger(max, 'maxFrameLen', 0, WIRE_MAX_FRAME_LEN);
    this.maxFrameLen = max;
  }

  /** A deframer like this one with another read bound. */
  withMaxFrameLen(maxFrameLen: number): Deframer {
    return new Deframer(this.checksum, { maxFrameLen }, this.adapters());
  }

  /** Alias of {@link withMaxFrameLen}, after flatstream-rs's `bounded()`. */
  bounded(maxLen: number): Deframer {
    return this.withMaxFrameLen(maxLen);
  }

  /** @internal */
  protected derive(adapters: Adapters): Deframer {
    return new Deframer(this.checksum, { maxFrameLen: this.maxFrameLen }, adapters);
  }
}

/** Reads frames with no checksum. */
export class DefaultDeframer extends Deframer {
  constructor(options?: DeframerOptions) {
    super(NoChecksum, options);
  }
}

/** Reads frames with a checksum, verifying every payload before it is delivered. */
export class ChecksumDeframer extends Deframer {
  constructor(checksum: Checksum, options?: DeframerOptions) {
    super(checksum, options);
  }
}
