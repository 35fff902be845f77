/**
 * The one seam between the facade and the engines that do the byte work:
 * the native addon when it loads, otherwise the pure TypeScript fallback
 * (lib/js/), which implements the same five calls with the same results.
 * Every call works on a whole buffer or slab, never on one frame of a batch.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { jsBackend } from './js/frame';

/** What lib/ needs from an engine (native/binding/addon.cc, lib/js/frame.ts). */
export interface Backend {
  /** One-shot checksum; a number for widths up to 4 bytes, a bigint for 8. */
  checksum(kind: number, data: Uint8Array): number | bigint;
  /** Name of the implementation chosen for this CPU (e.g. "avx2", "js"). */
  checksumImpl(kind: number): string;
  /** Fills the checksum field of every frame staged in slab[start, end); returns the frame count. */
  sealFrames(slab: Uint8Array, start: number, end: number, kind: number): number;
  /**
   * Scans buf[start, end) for frames. Writes into `index`: [0] status, [1]
   * frames, [2] consumed - start, [3] declared length, then (offset - start,
   * length) pairs. Returns the number of frames indexed.
   */
  scanFrames(
    buf: Uint8Array,
    start: number,
    end: number,
    kind: number,
    width: number,
    maxFrameLen: number,
    index: Uint32Array,
  ): number;
}

/** Scan statuses, as in native/frame.h. */
export const ScanStatus = {
  End: 0,
  Partial: 1,
  IndexFull: 2,
  ChecksumMismatch: 3,
  InvalidFrame: 4,
} as const;

/** Header slots at the start of a scan index. */
export const INDEX_HEADER = 4;

interface NativeBinding extends Backend {
  napiVersion: number;
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
