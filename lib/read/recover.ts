/**
 * Recovery of a stream whose writer died: scan it with the normal deframer
 * and say how it ends. Only a plausible torn tail (the input ends inside a
 * frame, as a killed writer leaves it) authorises truncation; a checksum
 * mismatch, an invalid length or a validation failure inside the stream is
 * damage, not a torn write, and is thrown with its offset, never truncated
 * away. What counts as plausible is in docs/design.md, "Recovery".
 */
import fs from 'node:fs';
import { checkBytes, checkInteger, checkOptions, typeError } from '../format/args';
import { IoError, RecoveryRefusedError, UnexpectedEofError } from '../format/errors';
import { Deframer } from '../format/framing';
import {
  type RecoverFileOptions,
  type RecoverOptions,
  type RecoveryReport,
  installFileRecovery,
} from '../format/recovery';
import { StreamReader } from './reader';

export type { RecoverFileOptions, RecoverOptions, RecoveryReport } from '../format/recovery';

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

function maxTornOf(deframer: Deframer, options: RecoverOptions | undefined): number {
  const max = options?.maxTornBytes ?? deframer.headerSize + deframer.maxFrameLen;
  checkInteger(max, 'maxTornBytes', 0, Number.MAX_SAFE_INTEGER);
  return max;
}

// The rule of docs/design.md, "Recovery" (the capture sink's reopen applies
// the same one): a torn tail is a dying writer's only when at least one
// intact frame precedes it (or the whole input is shorter than one frame
// header: a writer killed inside its first length field), and when it is no
// longer than the largest frame that writer could have been writing.
// Anything else is a file that is not (only) ours: refused, untouched.
function judge(report: RecoveryReport, deframer: Deframer, maxTorn: number): RecoveryReport {
  if (report.end !== 'torn-tail') return report;
  const where = { offset: report.lastGoodOffset, frameIndex: report.frames };
  const total = report.lastGoodOffset + report.tornBytes;
  if (report.frames === 0 && total >= deframer.headerSize) {
    throw new RecoveryRefusedError(
      'no-intact-frame',
      report.tornBytes,
      `refusing to recover: no intact frame precedes the ${report.tornBytes} torn bytes, so this does not look like a stream whose writer died`,
      where,
    );
  }
  if (report.tornBytes > maxTorn) {
    throw new RecoveryRefusedError(
      'tail-too-long',
      report.tornBytes,
      `refusing to recover: the torn tail of ${report.tornBytes} bytes is longer than the largest frame its writer could have been writing (${maxTorn} bytes)`,
      where,
    );
  }
  return report;
}

/**
 * Scans `bytes` and reports how the stream ends; throws the stop reason
 * (ChecksumMismatchError, InvalidFrameError, ValidationFailedError) if it
 * is damaged before its end, and `RecoveryRefusedError` if its torn tail is
 * not one a dying writer could have left (no intact frame before it, or
 * longer than `maxTornBytes`): the verdict {@link recoverFile} acts on.
 *
 * @example
 * ```ts
 * const { end, lastGoodOffset } = recover(bytes, new ChecksumDeframer(XxHash64));
 * const intact = bytes.subarray(0, lastGoodOffset);
 * ```
 */
export function recover(
  bytes: Uint8Array,
  deframer: Deframer,
  options?: RecoverOptions,
): RecoveryReport {
  checkBytes(bytes, 'bytes');
  checkDeframer(deframer);
  checkOptions(options, 'options');
  const maxTorn = maxTornOf(deframer, options);
  return judge(scan(new StreamReader(bytes, deframer)), deframer, maxTorn);
}

function refuseNonRegular(path: string, st: fs.Stats): never {
  const what = st.isFIFO()
    ? 'a FIFO'
    : st.isDirectory()
      ? 'a directory'
      : st.isSocket()
        ? 'a socket'
        : st.isCharacterDevice() || st.isBlockDevice()
          ? 'a device'
          : 'not a regular file';
  throw new RecoveryRefusedError(
    'not-a-regular-file',
    0,
    `refusing to recover ${path}: it is ${what}, not a regular file`,
  );
}

/**
 * {@link recover} for a file; with `{ truncate: true }` a torn tail is cut
 * off, so the file ends on a frame boundary and can be appended to. Only a
 * regular file is opened (a FIFO, a device or a directory is refused with
 * `RecoveryRefusedError` reason `'not-a-regular-file'`, without blocking);
 * a refused file is left untouched.
 */
export function recoverFile(
  path: string,
  deframer: Deframer,
  options?: RecoverFileOptions,
): RecoveryReport {
  if (typeof path !== 'string') throw typeError('The "path" argument must be a string');
  checkDeframer(deframer);
  checkOptions(options, 'options');
  const maxTorn = maxTornOf(deframer, options);
  const truncate = options?.truncate === true;
  let fd: number;
  let readOnly: unknown = null; // why the file could not be opened for writing
  try {
    // stat first, so that no device or FIFO is ever opened; then open with
    // O_NONBLOCK and check the fd itself, for a path swapped in between
    // (opening a FIFO that way never waits for a writer).
    const st = fs.statSync(path);
    if (!st.isFile()) refuseNonRegular(path, st);
    const { O_RDONLY, O_RDWR, O_NONBLOCK } = fs.constants;
    try {
      fd = fs.openSync(path, (truncate ? O_RDWR : O_RDONLY) | O_NONBLOCK);
    } catch (err) {
      // A file that needs no cut needs no write access: scan it read-only,
      // and report the refusal to write only if there is something to cut.
      const code = (err as NodeJS.ErrnoException).code;
      if (!truncate || (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS')) throw err;
      readOnly = err;
      fd = fs.openSync(path, O_RDONLY | O_NONBLOCK);
    }
  } catch (err) {
    if (err instanceof RecoveryRefusedError) throw err;
    throw new IoError(`cannot recover ${path}: ${(err as Error).message}`, err);
  }
  try {
    let st: fs.Stats;
    try {
      st = fs.fstatSync(fd);
    } catch (err) {
      throw new IoError(`cannot recover ${path}: ${(err as Error).message}`, err);
    }
    if (!st.isFile()) refuseNonRegular(path, st);
    const report = judge(scan(new StreamReader(fd, deframer)), deframer, maxTorn);
    if (report.end === 'torn-tail' && truncate) {
      try {
        if (readOnly) throw readOnly;
        fs.ftruncateSync(fd, report.lastGoodOffset);
      } catch (err) {
        throw new IoError(`cannot repair ${path}: ${(err as Error).message}`, err);
      }
    }
    return report;
  } finally {
    fs.closeSync(fd);
  }
}

// Lets FileSink's `recover` option reach this file scan without the sinks
// importing the read side (lib/format/recovery.ts).
installFileRecovery(recoverFile);
