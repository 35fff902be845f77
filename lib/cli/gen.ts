/**
 * `flatstream gen`: writes the schema-compiled codecs of a schema as a TS
 * module (docs/design.md "Schema-compiled codecs"). A `.bfbs` is read as
 * is; a `.fbs` goes through flatc (`flatc -b --schema --bfbs-builtins`),
 * which must then be on PATH.
 *
 * Owns: the gen command. Imports: lib/codec/compile, lib/format/errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { generateModule } from '../codec/compile';
import { FlatStreamError } from '../format/errors';

/** Options of {@link gen}. */
export interface GenOptions {
  /** The table whose encoder writes the file identifier (default: the schema's root_type). */
  rootType?: string;
  /** The flatc to run for a `.fbs` (default: `flatc` on PATH). */
  flatc?: string;
}

/** Reads a .bfbs, or converts a .fbs with flatc. */
export function readBinarySchema(input: string, flatc = 'flatc'): Uint8Array {
  const ext = extname(input);
  if (ext === '.bfbs') return readFileSync(input);
  if (ext !== '.fbs')
    throw new FlatStreamError(
      `flatstream gen: ${input} is neither a .fbs nor a .bfbs schema`,
      'ERR_FLATSTREAM_SCHEMA',
    );
  const dir = mkdtempSync(join(tmpdir(), 'flatstream-gen-'));
  try {
    try {
      // --bfbs-builtins: the .bfbs then records id, required, nested_flatbuffer,
      // flexbuffer…, so that what the codecs refuse can be seen
      execFileSync(flatc, ['-b', '--schema', '--bfbs-builtins', '-o', dir, input], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === 'ENOENT')
        throw new FlatStreamError(
          `flatstream gen: ${flatc} is not on PATH; it is needed to read ${input} (install flatc, e.g. Debian's flatbuffers-compiler, or pass a .bfbs made with flatc -b --schema)`,
          'ERR_FLATSTREAM_SCHEMA',
        );
      throw new FlatStreamError(
        `flatstream gen: flatc failed on ${input}: ${e.stderr?.toString().trim() || e.message}`,
        'ERR_FLATSTREAM_SCHEMA',
      );
    }
    return readFileSync(join(dir, `${basename(input, ext)}.bfbs`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Generates `<outDir>/<schema name>.codecs.ts` and returns its path.
 * Throws `FlatStreamError` (`ERR_FLATSTREAM_SCHEMA`) for an unreadable or
 * unsupported schema.
 */
export function gen(input: string, outDir: string, options: GenOptions = {}): string {
  const bfbs = readBinarySchema(input, options.flatc);
  const text = generateModule(
    bfbs,
    basename(input),
    options.rootType === undefined ? undefined : { rootType: options.rootType },
  );
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `${basename(input, extname(input))}.codecs.ts`);
  writeFileSync(out, text);
  return out;
}
