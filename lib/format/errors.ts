/**
 * Typed errors. Every error thrown by flatstream for bad input or a failed
 * operation is a {@link FlatStreamError} with a stable `code`; argument
 * mistakes are Node-style `TypeError`/`RangeError`s with `ERR_INVALID_ARG_TYPE`
 * / `ERR_OUT_OF_RANGE` codes. Read-side errors carry the byte `offset` of the
 * frame where reading stopped and its `frameIndex` (0-based).
 */

/** Stable error codes, one per error class. */
export type FlatStreamErrorCode =
  | 'ERR_FLATSTREAM'
  | 'ERR_FLATSTREAM_CHECKSUM_MISMATCH'
  | 'ERR_FLATSTREAM_UNEXPECTED_EOF'
  | 'ERR_FLATSTREAM_INVALID_FRAME'
  | 'ERR_FLATSTREAM_VALIDATION_FAILED'
  | 'ERR_FLATSTREAM_IO'
  | 'ERR_FLATSTREAM_CLOSED'
  | 'ERR_FLATSTREAM_UNFINISHED'
  | 'ERR_FLATSTREAM_BUSY'
  | 'ERR_FLATSTREAM_SCHEMA'
  | 'ERR_FLATSTREAM_NATIVE_REQUIRED'
  | 'ERR_FLATSTREAM_STAGING_FULL'
  | 'ERR_FLATSTREAM_RECOVERY_REFUSED'
  | 'ERR_FLATSTREAM_REENTRANT_CALL'
  | 'ERR_FLATSTREAM_FILE_CHANGED'
  | 'ERR_FLATSTREAM_BAD_HEADER'
  | 'ERR_FLATSTREAM_FORMAT_MISMATCH'
  | 'ERR_FLATSTREAM_BATCH_HEADER'
  | 'ERR_FLATSTREAM_BATCH_CONTINUITY'
  | 'ERR_FLATSTREAM_NATS_CLIENT_MISSING'
  | 'ERR_FLATSTREAM_SHIP';

/** Where a read-side error happened. */
export interface FrameLocation {
  /** Byte offset of the frame (its length field) in the stream. */
  offset: number;
  /** 0-based index of the frame in the stream. */
  frameIndex: number;
}

/** Base class of every flatstream error. */
export class FlatStreamError extends Error {
  readonly code: FlatStreamErrorCode;
  /** Byte offset of the offending frame (read side), if known. */
  readonly offset: number | undefined;
  /** 0-based index of the offending frame (read side), if known. */
  readonly frameIndex: number | undefined;

  constructor(
    message: string,
    code: FlatStreamErrorCode = 'ERR_FLATSTREAM',
    where?: FrameLocation,
    options?: { cause?: unknown },
  ) {
    super(
      where ? `${message} (frame ${where.frameIndex} at offset ${where.offset})` : message,
      options,
    );
    this.name = new.target.name;
    this.code = code;
    this.offset = where?.offset;
    this.frameIndex = where?.frameIndex;
  }
}

/** A frame's stored checksum differs from the one computed over its payload. */
export class ChecksumMismatchError extends FlatStreamError {
  constructor(
    readonly expected: bigint,
    readonly calculated: bigint,
    where: FrameLocation,
  ) {
    super(
      `checksum mismatch: stored 0x${expected.toString(16)}, calculated 0x${calculated.toString(16)}`,
      'ERR_FLATSTREAM_CHECKSUM_MISMATCH',
      where,
    );
  }
}

/** Which part of a frame the input ended in. */
export type TornPart = 'length' | 'checksum' | 'payload';

/** The input ended inside a frame (a clean end is only between frames). */
export class UnexpectedEofError extends FlatStreamError {
  constructor(
    /** The part of the frame that was cut short. */
    readonly part: TornPart,
    /** Bytes the frame needs in total (header + payload, or header when the length is cut). */
    readonly needed: number,
    /** Bytes of the frame that were present. */
    readonly available: number,
    where: FrameLocation,
  ) {
    super(
      `unexpected end of stream in the frame's ${part}: ${available} of ${needed} bytes present`,
      'ERR_FLATSTREAM_UNEXPECTED_EOF',
      where,
    );
  }
}

/** A frame's length exceeds the configured bound (read side) or a payload is too large (write side). */
export class InvalidFrameError extends FlatStreamError {
  constructor(
    readonly length: number,
    readonly limit: number,
    where?: FrameLocation,
  ) {
    super(
      `frame length ${length} exceeds the limit of ${limit} bytes`,
      'ERR_FLATSTREAM_INVALID_FRAME',
      where,
    );
  }
}

/** A validator rejected a payload. */
export class ValidationFailedError extends FlatStreamError {
  constructor(
    readonly validator: string,
    readonly reason: string,
    where?: FrameLocation,
  ) {
    super(`validation failed (${validator}): ${reason}`, 'ERR_FLATSTREAM_VALIDATION_FAILED', where);
  }
}

/** An I/O operation failed; `errno`/`syscall`/`systemCode` come from the underlying Node error. */
export class IoError extends FlatStreamError {
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  /** The system error code, e.g. `'ENOSPC'`. */
  readonly systemCode: string | undefined;

  constructor(message: string, cause?: unknown, where?: FrameLocation) {
    super(message, 'ERR_FLATSTREAM_IO', where, { cause });
    const e = cause as NodeJS.ErrnoException | undefined;
    this.errno = typeof e?.errno === 'number' ? e.errno : undefined;
    this.syscall = typeof e?.syscall === 'string' ? e.syscall : undefined;
    this.systemCode = typeof e?.code === 'string' ? e.code : undefined;
  }
}

/** An operation on a writer or reader that was already closed. */
export class ClosedError extends FlatStreamError {
  constructor(what: string) {
    super(`${what} is closed`, 'ERR_FLATSTREAM_CLOSED');
  }
}

/** A builder handed to the writer was not finished (`builder.finish(root)` was not called). */
export class UnfinishedBuilderError extends FlatStreamError {
  constructor(what: string) {
    super(
      `${what}: the FlatBuffer was not finished (call builder.finish(root) before writing)`,
      'ERR_FLATSTREAM_UNFINISHED',
    );
  }
}

/** A reader was used again while one of its calls (or iterators) was still reading. */
export class ReaderBusyError extends FlatStreamError {
  constructor() {
    super('StreamReader is already being read by another call or iterator', 'ERR_FLATSTREAM_BUSY');
  }
}

/** A feature that needs the native addon was used where it did not load (or `FLATSTREAM_NATIVE=0`). */
export class NativeRequiredError extends FlatStreamError {
  constructor(what: string) {
    super(`${what} needs the native addon, which is not loaded`, 'ERR_FLATSTREAM_NATIVE_REQUIRED');
  }
}

/**
 * A capture's staging stayed full for longer than its `blockTimeoutMs`
 * (the writer thread cannot keep up with the producer); nothing of the
 * message was staged.
 */
export class StagingFullError extends FlatStreamError {
  constructor(
    readonly waitedMs: number,
    readonly slabs: number,
  ) {
    super(
      `capture staging full: all ${slabs} slabs still queued after ${waitedMs} ms`,
      'ERR_FLATSTREAM_STAGING_FULL',
    );
  }
}

/** Why recovery refused to cut a file (see {@link RecoveryRefusedError}). */
export type RecoveryRefusal =
  /** No intact frame precedes the torn tail, and the file is longer than one frame header. */
  | 'no-intact-frame'
  /** The torn tail is longer than the largest frame its writer could have been writing. */
  | 'tail-too-long'
  /** The file is not a regular file (a FIFO, a device, a directory). */
  | 'not-a-regular-file';

/**
 * Recovery found something that does not look like a stream torn by a dying
 * writer, and left the file untouched. Only a plausible torn tail is ever cut
 * (docs/design.md, "Recovery"): at least one intact frame before it (unless
 * the whole file is shorter than one frame header), and no longer than the
 * largest frame the writer could have been writing.
 */
export class RecoveryRefusedError extends FlatStreamError {
  constructor(
    readonly reason: RecoveryRefusal,
    /** Bytes after the last intact frame. */
    readonly tornBytes: number,
    message: string,
    where?: FrameLocation,
  ) {
    super(message, 'ERR_FLATSTREAM_RECOVERY_REFUSED', where);
  }
}

/**
 * A callback the library was running (a `serialize()`, a custom checksum's
 * `compute()`, a validator, an observer, a sink's `write()`) called back into
 * the same writer. The inner call is refused and changes nothing; what the
 * writer had accepted before stays intact, and the outer call goes on.
 */
export class ReentrantCallError extends FlatStreamError {
  constructor(what: string) {
    super(
      `${what} was called from inside a callback of the same writer (serialize, checksum, validator, observer or sink)`,
      'ERR_FLATSTREAM_REENTRANT_CALL',
    );
  }
}

/** How a followed file changed under its reader (see {@link FollowedFileChangedError}). */
export type FileChange =
  /** The file is now shorter than the frames already delivered. */
  | 'truncated'
  /** The path now names another file (a rotation, a replacement). */
  | 'replaced'
  /** The path names nothing any more. */
  | 'removed';

/**
 * A file followed by a `StreamReader` (`follow: true`) changed in a way
 * growth cannot explain: frames it delivered are gone, or its path names
 * another file or none. `offset`/`frameIndex` are where the reader stood
 * (every frame before was delivered); `size` is the file's size now (the
 * new file's for `'replaced'`, -1 for `'removed'`). A torn tail cut by a
 * recovery is not such a change: it was never delivered (docs/design.md,
 * "Follow mode").
 */
export class FollowedFileChangedError extends FlatStreamError {
  constructor(
    readonly reason: FileChange,
    readonly size: number,
    message: string,
    where: FrameLocation,
  ) {
    super(message, 'ERR_FLATSTREAM_FILE_CHANGED', where);
  }
}

/**
 * Frame 0 of a stream is a flatstream header (its payload carries the
 * `FSH1` identifier and verifies) that this library cannot read: another
 * header version, or a truncated or hostile payload (docs/design.md,
 * "Stream header").
 */
export class HeaderError extends FlatStreamError {
  constructor(message: string) {
    super(message, 'ERR_FLATSTREAM_BAD_HEADER', { offset: 0, frameIndex: 0 });
  }
}

/**
 * Appending to a stream would mix formats: its header names another
 * checksum than the writer's framer, or a header was asked for on a stream
 * that has none. Nothing was written (docs/design.md, "Stream header").
 */
export class FormatMismatchError extends FlatStreamError {
  constructor(
    message: string,
    /** The checksum the stream's header names (`'unknown'` without a header). */
    readonly streamChecksum: string,
    /** The checksum of the writer's framer. */
    readonly writerChecksum: string,
  ) {
    super(message, 'ERR_FLATSTREAM_FORMAT_MISMATCH');
  }
}

/**
 * The NATS client packages a JetStream feature loads on first use are not
 * installed: they are optional peer dependencies of flatstream
 * (docs/design.md, "Shipping to JetStream"). `packages` names what to install.
 */
export class NatsClientMissingError extends FlatStreamError {
  constructor(
    /** The packages to install (`npm install ...`). */
    readonly packages: readonly string[],
    cause?: unknown,
  ) {
    super(
      `the NATS client is not installed: npm install ${packages.join(' ')} (optional peer dependencies of flatstream, needed only for JetStream)`,
      'ERR_FLATSTREAM_NATS_CLIENT_MISSING',
      undefined,
      { cause },
    );
  }
}

/**
 * A JetStream message read by a `JetStreamSource` does not carry the
 * position headers of the message contract (docs/design.md, "Shipping to
 * JetStream"): one missing, not a canonical non-negative integer, or too
 * large. Nothing of the message was delivered.
 */
export class BatchHeaderError extends FlatStreamError {
  constructor(
    /** What is wrong with the headers. */
    readonly reason: string,
    /** The message's sequence number in the JetStream stream. */
    readonly seq: number,
  ) {
    super(`JetStream message ${seq}: ${reason}`, 'ERR_FLATSTREAM_BATCH_HEADER');
  }
}

/** How a message breaks the continuity of a stream (see {@link BatchContinuityError}). */
export type BatchBreak =
  /** It starts past the end of what was delivered: bytes are missing between. */
  | 'gap'
  /** It starts inside what was delivered and ends past it: batches that overlap. */
  | 'overlap'
  /** It names another stream than the messages before it on the same consumer. */
  | 'second-stream';

/**
 * A message read by a `JetStreamSource` does not continue the stream where
 * the messages before it ended (docs/design.md, "Reading back from
 * JetStream"). `expected` is where the next message had to start (the
 * stream, the file and the byte offset in it); `received` is the message's
 * own position. Every message before it was delivered; it was not.
 */
export class BatchContinuityError extends FlatStreamError {
  constructor(
    readonly reason: BatchBreak,
    readonly expected: { readonly stream: string; readonly file: number; readonly offset: number },
    readonly received: {
      readonly stream: string;
      readonly file: number;
      readonly offset: number;
      readonly frames: number;
      readonly bytes: number;
    },
    /** The message's sequence number in the JetStream stream. */
    readonly seq: number,
  ) {
    const at = (p: { stream: string; file: number; offset: number }): string =>
      `stream ${JSON.stringify(p.stream)} file ${p.file} offset ${p.offset}`;
    super(
      `JetStream message ${seq}: ${reason}: expected ${at(expected)}, received ${at(received)} (${received.bytes} bytes)`,
      'ERR_FLATSTREAM_BATCH_CONTINUITY',
    );
  }
}

/** Why a {@link ShipError} stopped a shipper. */
export type ShipFailure =
  /** No JetStream stream takes the subject (and none was to be created). */
  | 'stream-not-found'
  /** The server refused the credentials, or the subject is not permitted. */
  | 'auth'
  /** The server has no JetStream. */
  | 'jetstream-disabled'
  /** A frame is larger than the server's `max_payload`. */
  | 'frame-too-large'
  /** The checkpoint belongs to another stream, or names a file that is not there. */
  | 'checkpoint'
  /** A finished file of a rotation set ends in a torn frame (it can never be completed). */
  | 'torn-file'
  /** The server refused a message for a reason a retry cannot fix. */
  | 'rejected'
  /** A stream without a header whose checksum cannot be told (give the `checksum` option). */
  | 'unknown-checksum'
  /** Another shipper (this process or another live one) holds the checkpoint. */
  | 'busy';

/**
 * A `JetStreamShipper` stopped for a reason retrying cannot fix
 * (docs/design.md, "Shipping to JetStream"). `offset`, when set, is the
 * byte offset in the file being shipped (`file`) where it stopped; every
 * frame before it that was read was published and acknowledged.
 */
export class ShipError extends FlatStreamError {
  constructor(
    readonly reason: ShipFailure,
    message: string,
    /** The file being shipped (its path), if any. */
    readonly file?: string,
    where?: FrameLocation,
    cause?: unknown,
  ) {
    super(message, 'ERR_FLATSTREAM_SHIP', where, { cause });
  }
}
