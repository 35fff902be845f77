/**
 * The one seam between the sinks and the read side (docs/design.md "Module
 * rules"). A FileSink opened with `recover` must scan the file it is about
 * to append to, and scanning frames is the reader's work
 * (lib/read/recover.ts). The write side may not import lib/read/ (the
 * writer would sit above the reader again), so lib/read/recover.ts installs
 * its `recoverFile` here when it loads, and lib/index.ts loads it; a sink
 * calls {@link recoverFileSeam}. The recovery types live here so both sides
 * can name them.
 *
 * Owns: the recovery report and options types, the installed scan.
 * Imports: format/framing (types only).
 */
import type { Deframer } from './framing';

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

/** Options of {@link recover}. */
export interface RecoverOptions {
  /**
   * The longest torn tail that may be cut: the largest frame (header and
   * payload) the writer could have been writing when it died. Default: one
   * header plus the deframer's `maxFrameLen`. A writer that stages frames
   * in slabs never leaves more than one slab torn, so its slab size is a
   * tighter bound. A longer tail is refused (`RecoveryRefusedError`,
   * reason `'tail-too-long'`).
   */
  maxTornBytes?: number;
}

/** Options of {@link recoverFile}. */
export interface RecoverFileOptions extends RecoverOptions {
  /** Truncate a torn tail (default false: report only). */
  truncate?: boolean;
}

type FileRecovery = (
  path: string,
  deframer: Deframer,
  options?: RecoverFileOptions,
) => RecoveryReport;

let installed: FileRecovery | undefined;

/** Called once by lib/read/recover.ts as it loads. */
export function installFileRecovery(fn: FileRecovery): void {
  installed = fn;
}

/**
 * `recoverFile` of lib/read/recover.ts, for the sinks. Throws if the read
 * side was never loaded, which cannot happen through the package's entry
 * point (lib/index.ts exports recoverFile).
 */
export function recoverFileSeam(
  path: string,
  deframer: Deframer,
  options?: RecoverFileOptions,
): RecoveryReport {
  if (installed === undefined)
    throw new Error('flatstream: lib/read/recover.ts was not loaded, so recovery is unavailable');
  return installed(path, deframer, options);
}
