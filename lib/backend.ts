/**
 * The one seam between the facade and the engines that do the byte work:
 * the native addon when it loads, otherwise the pure TypeScript fallback
 * (lib/js/), which implements the same calls with the same results.
 * Every call works on a whole buffer or slab, never on one frame of a batch.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { jsBackend } from './js/frame';

/** Why a payload failed a validator chain: the validator's position in it, and its reason. */
export interface ChainFailure {
  index: number;
  reason: string;
}

/**
 * Validators run on each payload inside a scan, after its checksum
 * (AND, in order, first failure wins). The addon accepts only its own
 * `ValidatorChain` (`nativeExport('ValidatorChain')`, native/binding/validator.cc);
 * the TypeScript engine accepts any object with this `check`, that one included.
 */
export interface ValidatorChainLike {
  /** null when buf[offset, offset + length) passes every validator. */
  check(buf: Uint8Array, offset: number, length: number): ChainFailure | null;
}

/** What lib/ needs from an engine (native/binding/addon.cc, lib/js/frame.ts). */
export interface Backend {
  /** One-shot checksum; a number for widths up to 4 bytes, a bigint for 8. */
  checksum(kind: number, data: Uint8Array): number | bigint;
  /** Name of the implementation chosen for this CPU (e.g. "avx2", "js"). */
  checksumImpl(kind: number): string;
  /** Fills the checksum field of every frame staged in slab[start, end); returns the frame count. */
  sealFrames(slab: Uint8Array, start: number, end: number, kind: number): number;
  /**
   * Scans buf[start, end) for frames. Per frame: the bound, the checksum
   * field and payload present, the checksum, then `validators`; the first
   * check that fails stops the scan at that frame. Writes into `index` a
   * header of {@link INDEX_HEADER} slots (see {@link IndexSlot}), then
   * (offset - start, length) pairs. Returns the number of frames indexed.
   */
  scanFrames(
    buf: Uint8Array,
    start: number,
    end: number,
    kind: number,
    width: number,
    maxFrameLen: number,
    index: Uint32Array,
    validators?: ValidatorChainLike,
  ): number;
  /**
   * After a bad frame at `start`: the smallest offset p > start at which
   * `run` consecutive complete frames pass the bound, the checksum and
   * `validators`, or at least one does and the frames end exactly at `end`.
   * Returns p (absolute), or -1 when no offset of buf(start, end) does yet.
   * `out` (Float64Array, at least {@link RESYNC_OUT} long) receives [0]
   * keep: every offset in (start, keep) is ruled out for good, so bytes
   * before it may be dropped (the first offset whose run needs more data,
   * at most p and end), and [1] the frames of the run found (0 if none; fewer
   * than `run` when they end the buffer). Throws a RangeError for kind 0:
   * without a checksum noise looks like frames.
   *
   * With a `memo` (a Uint8Array of at least `end` bytes, zeroed when a
   * search starts and kept, shifted with the bytes, across calls): one step
   * of skip mode's search instead (docs/design.md "Skip mode"), and `run` is
   * unused. Candidates are `natural` first (the offset right after a frame
   * whose length was sane but whose checksum failed; -1: none), then every
   * offset from `start` on; the first one the evidence rule accepts is
   * returned. `eof`: the stream ends at `end`. `out` (required, at least
   * {@link RESYNC_STEP_OUT} long) receives [0] keep (candidates before it
   * are ruled out; equals the result when found), [1] need (when not found:
   * the `end` at which calling again can progress), [2] 1 if `natural` is
   * still undecided (pass it again), [3] payload bytes checksummed by this
   * call; [4] (bytes checksummed in the search) and [5] (bytes of the search
   * dropped before buf[0]) carry its work budget across calls: zero them
   * when a search starts.
   */
  resyncFrames(
    buf: Uint8Array,
    start: number,
    end: number,
    kind: number,
    width: number,
    maxFrameLen: number,
    run: number,
    validators?: ValidatorChainLike,
    out?: Float64Array,
    memo?: Uint8Array,
    natural?: number,
    eof?: boolean,
  ): number;
}

export {
  INDEX_HEADER,
  IndexSlot,
  RESYNC_OUT,
  RESYNC_STEP_OUT,
  ResyncOut,
  ResyncStepOut,
  ScanStatus,
} from './engine/contract';

interface NativeBinding extends Backend {
  napiVersion: number;
  /** The addon's side of lib/engine/contract.ts (native/binding/addon.cc Layout). */
  layout: unknown;
}

function packageRoot(): string {
  // lib/*.ts under ts-jest and dist/cjs/*.js when built: walk up to our package.json.
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'flatstream'
    ) {
      return dir;
    }
    if (dirname(dir) === dir) return join(__dirname, '..');
  }
}

function loadNative(): { binding: NativeBinding | null; error: Error | null } {
  if (process.env.FLATSTREAM_NATIVE === '0') {
    return { binding: null, error: new Error('disabled by FLATSTREAM_NATIVE=0') };
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    return { binding: load(packageRoot()), error: null };
  } catch (err) {
    return { binding: null, error: err as Error };
  }
}

const loaded = loadNative();

/** True when the native addon is in use; false when the TypeScript fallback is. */
export const native: boolean = loaded.binding !== null;

/** Why the native addon is not in use (null when it is). */
export const nativeError: Error | null = loaded.error;

if (!native && process.env.FLATSTREAM_NATIVE !== '0') {
  // Said once per process; FLATSTREAM_NATIVE=0 is a deliberate choice and stays quiet.
  process.emitWarning(
    `flatstream: native addon unavailable, using the TypeScript fallback (${loaded.error?.message ?? 'unknown'})`,
    { code: 'FLATSTREAM_NO_NATIVE' },
  );
}

/** The engine in use. */
export const backend: Backend = loaded.binding ?? jsBackend;

/**
 * Something else the addon exports (e.g. the `Arena` class for lib/arena.ts),
 * or undefined under the fallback or when this build of the addon lacks it.
 */
export function nativeExport(name: string): unknown {
  return loaded.binding ? (loaded.binding as unknown as Record<string, unknown>)[name] : undefined;
}
