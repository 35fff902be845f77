/**
 * `flatstream ship FILE|DIR --server nats://… --subject …`: a
 * {@link JetStreamShipper} run from the command line until SIGINT/SIGTERM
 * (docs/design.md, "Shipping to JetStream").
 *
 * Owns: the ship subcommand and its help. Imports: lib/ship, lib/format,
 * lib/cli/inspect (argument parsing).
 */
import fs from 'node:fs';
import { FlatStreamError, ShipError } from '../format/errors';
import { JetStreamShipper, type JetStreamShipperOptions } from '../ship/shipper';
import { type Io, UsageError, parseArgs } from './inspect';

/** `flatstream ship --help`. */
export const SHIP_HELP = `usage: flatstream ship FILE|DIR --server nats://HOST:PORT --subject SUBJECT
         [--checkpoint F] [--create-stream NAME] [--stream-id ID] [--checksum NAME]
         [--batch-bytes N] [--in-flight N] [--user U --pass P | --token T]
Publishes the frames of a stream file (followed as it grows), or of a
directory of rotated .fst files (natural name order), to a JetStream
subject: one message per batch of whole frames, exactly as in the file,
with Flatstream-Stream/-File/-Offset/-Frames headers and Nats-Msg-Id
stream:file:fileId:offset:bytes; every file from offset 0, its header frame
included. The acknowledged position is kept in F (default
FILE.ship-checkpoint) and resumed from. While the server is away it retries
with backoff. --create-stream NAME makes a stream over SUBJECT if none takes
it. Progress on stderr when it is a terminal. SIGINT/SIGTERM stop it after
the outstanding acknowledgements (10 s at most) and the checkpoint.
Exit 0 when stopped by a signal, 1 at damage in the stream (everything before
it is shipped) or when the server refuses (no stream for the subject,
credentials, no JetStream), 2 on usage.`;

const SPEC: Record<string, boolean> = {
  '--server': true,
  '--subject': true,
  '--checkpoint': true,
  '--create-stream': true,
  '--stream-id': true,
  '--checksum': true,
  '--batch-bytes': true,
  '--in-flight': true,
  '--user': true,
  '--pass': true,
  '--token': true,
};

function count(v: string | true | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[1-9][0-9]{0,9}$/.test(v))
    throw new UsageError(`${flag} needs a positive integer`);
  return Number(v);
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** `flatstream ship ...`: resolves to the exit code. */
export async function ship(argv: readonly string[], io: Io): Promise<number> {
  const args = parseArgs(argv, SPEC);
  if (args.positional.length !== 1)
    throw new UsageError(`ship takes one FILE or DIR (got ${args.positional.length})`);
  const path = args.positional[0]!;
  const flag = (k: string): string | undefined => {
    const v = args.flags.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  const server = flag('--server');
  const subject = flag('--subject');
  if (server === undefined) throw new UsageError('--server is required');
  if (subject === undefined) throw new UsageError('--subject is required');
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    throw new UsageError(`${path}: no such file or directory`);
  }
  if (!st.isFile() && !st.isDirectory())
    throw new UsageError(`${path}: not a regular file or a directory`);
  const opts: JetStreamShipperOptions = {
    servers: server.split(','),
    subject,
    path,
  };
  const set = <K extends keyof JetStreamShipperOptions>(
    k: K,
    v: JetStreamShipperOptions[K] | undefined,
  ): void => {
    if (v !== undefined) opts[k] = v;
  };
  set('checkpoint', flag('--checkpoint'));
  set('createStream', flag('--create-stream'));
  set('streamId', flag('--stream-id'));
  set('checksum', flag('--checksum'));
  set('batchBytes', count(args.flags.get('--batch-bytes'), '--batch-bytes'));
  set('inFlight', count(args.flags.get('--in-flight'), '--in-flight'));
  set('user', flag('--user'));
  set('pass', flag('--pass'));
  set('token', flag('--token'));
  let shipper: JetStreamShipper;
  try {
    shipper = new JetStreamShipper(opts);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  const stop = (): void => void shipper.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  shipper.on(
    'resume',
    (r: { checkpoint: string; detail?: string; from: { file: number; offset: number } }) => {
      const why =
        r.checkpoint === 'ok'
          ? 'from its checkpoint'
          : r.checkpoint === 'missing'
            ? 'from the start (no checkpoint)'
            : `from the start (checkpoint unreadable: ${r.detail ?? ''}; JetStream drops the resends within its duplicate window)`;
      io.err(
        `flatstream ship: ${path} as stream ${shipper.streamId ?? '?'} to ${subject}, ${why}: file ${r.from.file} offset ${r.from.offset}\n`,
      );
    },
  );
  shipper.on('backoff', (b: { attempt: number; delayMs: number; error: Error }) => {
    if (b.attempt === 1 || io.tty)
      io.err(
        `flatstream ship: server unavailable (${b.error.message}); retrying in ${b.delayMs} ms (attempt ${b.attempt})\n`,
      );
  });
  const progress = io.tty
    ? setInterval(() => {
        const s = shipper.stats();
        io.err(
          `\rshipped ${s.frames} frames, ${mb(s.bytes)}, ${s.batches} messages; lag ${mb(s.lagBytes)}${s.connected ? '' : ' (disconnected)'}   `,
        );
      }, 1000)
    : null;
  progress?.unref();
  let code = 0;
  try {
    await shipper.run();
  } catch (err) {
    code = 1;
    const e = err as Error;
    const what =
      err instanceof ShipError || !(err instanceof FlatStreamError) ? '' : ' (stopped before it)';
    io.err(`${io.tty ? '\n' : ''}flatstream ship: ${e.message}${what}\n`);
  } finally {
    if (progress) clearInterval(progress);
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
  const s = shipper.stats();
  const at = s.acked
    ? `file ${s.acked.file} (${s.acked.name}) offset ${s.acked.offset}`
    : 'nothing';
  io.err(
    `${io.tty && code === 0 ? '\n' : ''}flatstream ship: ${s.frames} frames (${s.bytes} bytes) in ${s.batches} messages acknowledged; checkpoint ${shipper.checkpointPath}: ${at}\n`,
  );
  return code;
}
