/**
 * Recovery of a stream whose writer died: scan it with the normal deframer
 * and say how it ends. Only a torn tail (the input ends inside a frame, as a
 * killed writer leaves it) authorises truncation; a checksum mismatch, an
 * invalid length or a validation failure inside the stream is damage, not a
 * torn write, and is thrown with its offset, never truncated away.
 */
import fs from 'node:fs';
import { checkBytes, checkOptions, typeError } from './args';
import { IoError, UnexpectedEofError } from './errors';
import { Deframer } from './framing';
import { StreamReader } from './reader';

/** How a scanned stream ends. */
export interface RecoveryReport {
  /** Intact frames, from the start. */
  frames: number;
  /** Where the intact frames end: the offset to truncate to. */
  lastGoodOffset: number;
  /** `'clean'`: the stream ends between frames; `'torn-tail'`: inside the frame at lastGoodOffset. */
  end: 'clean' | 'torn-tail';
  /** Bytes after lastGoodOffset (0 when clean). */
  tornBytes: number;
}

function scan(reader: StreamReader): RecoveryReport {
  let frames = 0;
  try {
    frames = reader.processAll(() => undefined);
  } catch (err) {
    if (!(err instanceof UnexpectedEofError)) throw err; // damage, not a torn write
    return {
      frames: err.frameIndex!,
      lastGoodOffset: err.offset!,
      end: 'torn-tail',
      tornBytes: err.available,
    };
  }
  return { frames, lastGoodOffset: reader.position, end: 'clean', tornBytes: 0 };
}

function checkDeframer(d: unknown): asserts d is Deframer {
  if (!(d instanceof Deframer)) throw typeError('The "deframer" argument must be a Deframer');
}

/**
 * Scans `bytes` and reports how the stream ends; throws the stop reason
 * (ChecksumMismatchError, InvalidFrameError, ValidationFailedError) if it
 * is damaged before its end.
 *
 * @example
 * ```ts
 * const { end, lastGoodOffset } = recover(bytes, new ChecksumDeframer(XxHash64));
 * const intact = bytes.subarray(0, lastGoodOffset);
 * ```
 */
export function recover(bytes: Uint8Array, deframer: Deframer): RecoveryReport {
  checkBytes(bytes, 'bytes');
  checkDeframer(deframer);
  return scan(new StreamReader(bytes, deframer));
}

/** Options of {@link recoverFile}. */
export interface RecoverFileOptions {
  /** Truncate a torn tail (default false: report only). */
  truncate?: boolean;
}

/**
 * {@link recover} for a file; with `{ truncate: true }` a torn tail is cut
 * off, so the file ends on a frame boundary and can be appended to.
 */
export function recoverFile(
  path: string,
  deframer: Deframer,
  options?: RecoverFileOptions,
): RecoveryReport {
  if (typeof path !== 'string') throw typeError('The "path" argument must be a string');
  checkDeframer(deframer);
  checkOptions(options, 'options');
  const report = scan(new StreamReader(path, deframer));
  try {
    if (report.end === 'torn-tail' && options?.truncate === true)
      fs.truncateSync(path, report.lastGoodOffset);
  } catch (err) {
    throw new IoError(`cannot repair ${path}: ${(err as Error).message}`, err);
  }
  return report;
}
