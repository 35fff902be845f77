#!/usr/bin/env node
/**
 * The `flatstream` command (package.json `bin`):
 *
 *     flatstream gen <schema.fbs|schema.bfbs> -o <dir> [--root-type <ns.Table>]
 *
 * Owns: argument parsing and exit codes. Imports: lib/cli/gen.
 */
import { gen } from './gen';

const USAGE = 'usage: flatstream gen <schema.fbs|schema.bfbs> -o <dir> [--root-type <ns.Table>]';

/** Runs the command line `argv` (without node and the script); returns the exit code. */
export function main(argv: readonly string[]): number {
  if (argv[0] !== 'gen') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let input: string | undefined;
  let out: string | undefined;
  let rootType: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '--out') out = argv[++i];
    else if (a === '--root-type') rootType = argv[++i];
    else if (input === undefined && !a.startsWith('-')) input = a;
    else {
      process.stderr.write(`flatstream gen: unexpected argument ${a}\n${USAGE}\n`);
      return 2;
    }
  }
  if (input === undefined || out === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const file = gen(input, out, rootType === undefined ? {} : { rootType });
    process.stdout.write(`wrote ${file}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
