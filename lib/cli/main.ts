#!/usr/bin/env node
/**
 * The `flatstream` command (package.json `bin`; docs/design.md "The
 * flatstream command"):
 *
 *     flatstream gen <schema.fbs|schema.bfbs> -o <dir> [--root-type <ns.Table>]
 *     flatstream info|verify|cat|head|tail|recover|slice|convert FILE [options]
 *     flatstream ship FILE|DIR --server nats://… --subject … [options]
 *
 * Exit codes: 0 ok, 1 damage found, 2 usage.
 *
 * Owns: subcommand dispatch, help, exit codes. Imports: lib/cli/gen,
 * lib/cli/inspect, lib/cli/rewrite, lib/cli/ship.
 */
import { writeSync } from 'node:fs';
import { gen } from './gen';
import { type Io, UsageError, cat, head, info, recover, tail, verify } from './inspect';
import { convert, slice } from './rewrite';
import { SHIP_HELP, ship } from './ship';

const GEN_USAGE =
  'usage: flatstream gen <schema.fbs|schema.bfbs> -o <dir> [--root-type <ns.Table>]';

/** Each subcommand's help (`flatstream <cmd> --help`). */
export const HELP: Readonly<Record<string, string>> = {
  gen: `${GEN_USAGE}
Writes the schema-compiled codecs of a schema as a TypeScript module.`,
  info: `usage: flatstream info FILE [--json] [--checksum NAME]
Prints the header (if any), the checksum (from the header, or detected on
frame 0), the frame count, payload sizes (min/median/max), the first and
last frame offsets, and how the file ends (clean, torn tail, damaged).
Exit 0 if the file ends clean, 1 if not (or it is not a stream), 2 on usage.`,
  verify: `usage: flatstream verify FILE [--json] [--quiet] [--checksum NAME]
Checks every frame; lists each damaged range (offset, bytes, why) and reads
on past it (a checksummed stream). A progress bar on a terminal for files of
64 MiB or more (never when piped, with --json or --quiet).
Exit 0 if every frame verifies, 1 if damage was found, 2 on usage.`,
  cat: `usage: flatstream cat FILE [--schema x.bfbs|auto] [--root T] [--raw hex|base64] [--checksum NAME]
       flatstream cat --from nats://HOST:PORT --stream NAME [--subject S] [--durable D] [cat's options]
Prints one JSON line per message: decoded through the schema (--schema auto,
the default, takes it from the header; every payload is verified against
it first), or --raw: {"frame":N,"offset":O,"hex"|"base64":"..."}.
--from reads the frames shipped to the JetStream stream NAME instead, to
the last message present, through the durable consumer D (acked as read;
without --durable, a consumer of its own, deleted after, or by the server
after 5 minutes idle if cat is killed); offsets are in the shipped file.
Exit 0 at a clean end (with --from, SIGINT/SIGTERM too), 1 at damage (after the messages before it) or a
server error, 2 on usage.`,
  head: `usage: flatstream head [-n N] FILE [--schema x.bfbs|auto] [--root T] [--raw hex|base64] [--checksum NAME]
Prints the first N messages (default 10) as cat does.
Exit 0, 1 at damage before the Nth message, 2 on usage.`,
  tail: `usage: flatstream tail [-n N] [-f] FILE [--schema x.bfbs|auto] [--root T] [--raw hex|base64] [--checksum NAME]
Prints the last N messages (default 10) as cat does. -f then follows the
file as it grows (a torn tail is "not yet written"), and a file rotated
under its path from its start, until SIGINT/SIGTERM (exit 0).
Exit 0, 1 at damage or when the followed file shrinks or goes away, 2 on usage.`,
  slice: `usage: flatstream slice FILE (--from OFFSET | --frames A:B) -o OUT [--checksum NAME]
Writes the frames from byte OFFSET (a frame's start), or the frames whose
index is in A..B-1 ("A:" to the end; a headed stream's messages are
numbered from 1, as cat shows them), to the new file OUT, with the header
if there is one. Every frame is verified; at damage OUT is not written.
Exit 0, 1 at damage, 2 on usage (OUT exists, OFFSET is not a frame's start).`,
  convert: `usage: flatstream convert FILE --to CHECKSUM -o OUT [--checksum NAME]
Re-frames every message with CHECKSUM (none, crc16, crc32, crc32c,
xxhash64, crc64) into the new file OUT, verifying each on the way; a header
is carried over, naming the new checksum. At damage OUT is not written.
Exit 0, 1 at damage, 2 on usage.`,
  recover: `usage: flatstream recover FILE [--truncate] [--json] [--checksum NAME]
Reports how the stream ends (frame counts include a header); --truncate
cuts a torn tail left by a writer that died. Damage inside the file, or
a file that does not look like a torn stream, is reported and never cut.
Exit 0 if clean (or repaired), 1 if a torn tail remains or damage was found,
2 on usage.`,
  ship: SHIP_HELP,
};

const USAGE = `usage: flatstream <command> [options]  (flatstream <command> --help)
commands:
  info FILE      header, frames, sizes, checksum, how the file ends
  verify FILE    check every frame, list damaged ranges
  cat FILE       messages as NDJSON (through a schema, or --raw hex|base64);
                 --from nats://… reads them from a JetStream stream
  head FILE      the first messages (-n N)
  tail FILE      the last messages (-n N); -f follows the file
  recover FILE   report a torn tail; --truncate repairs it
  slice FILE     frames from an offset or an index range, to a new file
  convert FILE   re-framed with another checksum, to a new file
  ship FILE|DIR  publish the frames to NATS JetStream, exactly once (--server, --subject)
  gen SCHEMA     schema-compiled codecs as a TypeScript module
exit codes: 0 ok, 1 damage found, 2 usage`;

const COMMANDS: Record<string, (argv: readonly string[], io: Io) => number | Promise<number>> = {
  info,
  verify,
  cat,
  head,
  tail,
  recover,
  slice,
  convert,
  ship,
};

/**
 * Runs the command line `argv` (without node and the script); returns the
 * exit code (a promise of it for `tail -f`).
 */
export function main(argv: readonly string[], io?: Io): number | Promise<number> {
  // stdout is gathered into 64 KiB writes (one write per line made `cat`
  // of 200,000 messages 6x slower); stderr is written at once.
  let held: string[] = [];
  let heldLength = 0;
  const flush = (): void => {
    if (heldLength === 0) return;
    const s = held.join('');
    held = [];
    heldLength = 0;
    writeAll(1, s);
  };
  const out: Io = io ?? {
    out: (s: string) => {
      held.push(s);
      heldLength += s.length;
      if (heldLength >= 64 * 1024) flush();
    },
    err: (s: string) => {
      flush();
      writeAll(2, s);
    },
    tty: process.stderr.isTTY === true,
    flush,
  };
  const code = run(argv, out);
  if (typeof code === 'number') {
    flush();
    return code;
  }
  return code.finally(flush);
}

function run(argv: readonly string[], out: Io): number | Promise<number> {
  const cmd = argv[0];
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd === undefined ? out.err : out.out)(`${USAGE}\n`);
    return cmd === undefined ? 2 : 0;
  }
  if (!(cmd in HELP)) {
    out.err(`flatstream: unknown command ${cmd}\n${USAGE}\n`);
    return 2;
  }
  const rest = argv.slice(1);
  if (rest.includes('--help') || rest.includes('-h')) {
    out.out(`${HELP[cmd]!}\n`);
    return 0;
  }
  if (cmd === 'gen') return genCommand(rest, out);
  const failed = (err: unknown): number => {
    if (err instanceof UsageError) {
      out.err(`flatstream ${cmd}: ${err.message}\n${HELP[cmd]!.split('\n')[0]!}\n`);
      return 2;
    }
    // A file that is not ours, read as a stream, fails as one: damage.
    out.err(`flatstream ${cmd}: ${(err as Error).message}\n`);
    return 1;
  };
  try {
    const code = COMMANDS[cmd]!(rest, out);
    return typeof code === 'number' ? code : code.catch(failed);
  } catch (err) {
    return failed(err);
  }
}

function genCommand(argv: readonly string[], io: Io): number {
  let input: string | undefined;
  let out: string | undefined;
  let rootType: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '--out') out = argv[++i];
    else if (a === '--root-type') rootType = argv[++i];
    else if (input === undefined && !a.startsWith('-')) input = a;
    else {
      io.err(`flatstream gen: unexpected argument ${a}\n${GEN_USAGE}\n`);
      return 2;
    }
  }
  if (input === undefined || out === undefined) {
    io.err(`${GEN_USAGE}\n`);
    return 2;
  }
  try {
    const file = gen(input, out, rootType === undefined ? {} : { rootType });
    io.out(`wrote ${file}\n`);
    return 0;
  } catch (err) {
    io.err(`${(err as Error).message}\n`);
    return 1;
  }
}

// Synchronous writes, whole, so output is complete when the exit code is
// set; a closed pipe (| head) ends the output quietly.
function writeAll(fd: number, s: string): void {
  const buf = Buffer.from(s);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    }
  }
}

if (require.main === module)
  void Promise.resolve(main(process.argv.slice(2))).then((code) => {
    process.exitCode = code;
  });
