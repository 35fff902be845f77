/**
 * The one seam between the facade and the engines that do the byte work:
 * the native addon when it loads, otherwise the pure TypeScript fallback
 * (lib/engine/js/), which implements the same calls with the same results.
 * Every call works on a whole buffer or slab, never on one frame of a batch.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { jsBackend } from './js/frame';

export type { Backend, ChainFailure, ValidatorChainLike } from './contract';
import type { Backend } from './contract';

export {
  INDEX_HEADER,
  IndexSlot,
  RESYNC_OUT,
  RESYNC_STEP_OUT,
  ResyncOut,
  ResyncStepOut,
  ScanStatus,
} from './contract';

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
 * Something else the addon exports (e.g. the `Arena` class for lib/write/arena.ts),
 * or undefined under the fallback or when this build of the addon lacks it.
 */
export function nativeExport(name: string): unknown {
  return loaded.binding ? (loaded.binding as unknown as Record<string, unknown>)[name] : undefined;
}
