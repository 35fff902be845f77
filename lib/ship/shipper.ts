/**
 * JetStreamShipper: follows a capture file (or a directory of rotated
 * files) and publishes its frames to a NATS JetStream subject, exactly once
 * per stream and in order (docs/design.md, "Shipping to JetStream").
 *
 * One message per batch of whole frames, byte for byte as in the file, with
 * the headers of wire.ts and `Nats-Msg-Id` = `batchMsgId(...)`. The
 * acknowledged position is kept in a checkpoint file (checkpoint.ts) and
 * resumed from. Batches are pipelined on ONE connection that never
 * reconnects by itself: when it fails, it is closed, and the unacknowledged
 * batches are sent again in order on the next one, so JetStream stores each
 * stream's batches in file order (the duplicate window drops the resends it
 * already stored).
 *
 * Owns: JetStreamShipper. Imports: lib/read (follow mode), lib/format, ./wire,
 * ./client, ./checkpoint, ./files.
 */
import { EventEmitter } from 'node:events';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { basename, resolve as resolvePath } from 'node:path';
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { checkInteger, checkOptions, rangeError, typeError } from '../format/args';
import { type BuiltinChecksum, checksums } from '../format/checksum';
import { FlatStreamError, InvalidFrameError, IoError, ShipError } from '../format/errors';
import type { PayloadDecoder, PayloadView } from '../format/decoder';
import type { Deframer } from '../format/framing';
import { StreamReader } from '../read/reader';
import { type Checkpoint, lockCheckpoint, readCheckpoint, writeCheckpoint } from './checkpoint';
import {
  type NatsClient,
  type NatsConnection,
  checkServers,
  isAuthError,
  loadNats,
} from './client';
import {
  DEFAULT_MATCH,
  type StreamFile,
  detectFormat,
  dirStreamId,
  fileStreamId,
  isDirectory,
  fileAfter,
  listStreamFiles,
} from './files';
import { HEADERS_ROOM, frameLength, setBatchHeaders } from './wire';

/** Options of a {@link JetStreamShipper}. */
export interface JetStreamShipperOptions {
  /** NATS server URL(s), e.g. `'nats://127.0.0.1:4222'`. */
  servers: string | string[];
  /** The subject to publish to; a JetStream stream must take it (see `createStream`). */
  subject: string;
  /**
   * A stream file, or a directory of rotated stream files: those whose
   * name matches `match` (default: ending in `.fst`), in natural
   * (numeric-aware) name order, as a `RotatingSink` names them. A file's
   * sequence number (`Flatstream-File`) is 0 for the first file shipped
   * and one more for each next one (kept in the checkpoint with the file's
   * name), so removing files already shipped (retention) renumbers
   * nothing. A file is finished once a later one exists and it has been
   * read to its end. Never rename files of a set being shipped.
   */
  path: string;
  /** The checkpoint file (default: `path` + `.ship-checkpoint`). */
  checkpoint?: string;
  /**
   * The stream's id (`Flatstream-Stream`, the first part of `Nats-Msg-Id`).
   * Default: from the file's header (`h-` + XXH3-64 of the header frame),
   * else from this host's name and the real path (`p-…` for a file, `d-…`
   * for a directory).
   */
  streamId?: string;
  /** The checksum of a stream without a header (a built-in's name or object); default: detected. */
  checksum?: string | BuiltinChecksum;
  /** The most bytes of frames in one message (default 256 KiB, a capture slab; memory: `inFlight` + 1 batches; at most the server's `max_payload` less 4 KiB for headers). A larger frame goes alone. */
  batchBytes?: number;
  /** How many messages may await their acknowledgement at once (default 16). */
  inFlight?: number;
  /** Stops the shipper as {@link JetStreamShipper.close} does. */
  signal?: AbortSignal;
  /** Credentials: user and password, or a token. */
  user?: string;
  pass?: string;
  token?: string;
  /** How long an acknowledgement may take before the connection is deemed broken (default 5000 ms). */
  ackTimeoutMs?: number;
  /** Backoff between connection attempts while the server is away: `initialMs` (100) doubling to `maxMs` (5000), each delay scaled by a random factor in [0.5, 1). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Least time between two checkpoint writes (default 1000 ms); `close()` writes the last one. */
  checkpointIntervalMs?: number;
  /** How often a file waiting for frames and a directory waiting for files are looked at (default 100 ms). */
  pollIntervalMs?: number;
  /** How long `close()` waits for outstanding acknowledgements (default 10000 ms). */
  closeTimeoutMs?: number;
  /** The largest frame accepted, as the reader's `maxFrameLen`. */
  maxFrameLen?: number;
  /** If no JetStream stream takes `subject`, create one of this name over it (file storage). */
  createStream?: string;
  /** A directory: which names are stream files (default `/\.fst$/`; `.orphaned-` files never). */
  match?: RegExp;
}

/** A position in the stream: the file (its sequence number and name) and a byte offset in it. */
export interface ShipPosition {
  readonly file: number;
  readonly name: string;
  readonly offset: number;
}

/** What a shipper did so far (`stats()`). */
export interface ShipperStats {
  /** Message frames acknowledged by JetStream (resends counted once; a header frame, shipped with its file, not counted), and the bytes of all frames acknowledged. */
  readonly frames: number;
  readonly bytes: number;
  /** Messages acknowledged. */
  readonly batches: number;
  /** Messages JetStream reported as duplicates (a resend it had stored). */
  readonly duplicates: number;
  /** Connections that failed and were replaced. */
  readonly reconnects: number;
  /** Batches stored after a later batch of the same stream (see docs/design.md; 0 unless the server rejected one message and accepted the next). */
  readonly reordered: number;
  /** Everything before this is acknowledged (null before the stream's start is known). */
  readonly acked: ShipPosition | null;
  /** Bytes of the current file after the acknowledged position, as of the last look. */
  readonly lagBytes: number;
  /** Whether a connection is up. */
  readonly connected: boolean;
  /** Batches held in memory (sealed and unacknowledged, and the one being filled): at most `inFlight` + 1. */
  readonly heldBatches: number;
  /** Their bytes: at most (`inFlight` + 1) × `batchBytes`, plus a frame larger than a batch. */
  readonly heldBytes: number;
}

interface Batch {
  readonly file: number;
  readonly name: string;
  /** Its file's own id (files.ts `FileFormat.fileId`), in its `Nats-Msg-Id`. */
  readonly fileId: string;
  readonly offset: number;
  end: number;
  frames: number;
  used: number;
  buf: Uint8Array;
  readonly pooled: boolean;
  sentEpoch: number;
  acked: boolean;
  seq: number;
  /** Its plan (file, offset, end) is in the checkpoint on disk: it may be published. */
  planned: boolean;
  /** Re-cut from a checkpoint's plan: it ends exactly here (else -1). */
  readonly forcedEnd: number;
  /** It starts with its file's header frame (not counted in `stats().frames`). */
  readonly header: boolean;
}

// Hands the cursor's window and payload start to the shipper (the frame's
// bytes are read in place, header included: docs/design.md, "Shipping to
// JetStream"). One instance, rebound per frame, allocation-free.
class FrameGrab implements PayloadView {
  w: Uint8Array = new Uint8Array(0);
  at = 0;
  $bind(buf: Uint8Array, _view: DataView, at: number): this {
    this.w = buf;
    this.at = at;
    return this;
  }
}

// A batch that stopped growing for this long is sealed: the reader waits at
// the end of the file (reading the next chunk takes far less).
const LINGER_MS = 2;
const DEFAULT_BATCH = 256 * 1024;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

// A file-system call of the shipper: its error as an IoError (a
// FlatStreamError, e.g. detectFormat's ShipError, as it is), so run() never
// rejects with a raw Node error (docs/design.md, "Shipping to JetStream").
async function io<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof FlatStreamError) throw err;
    throw new IoError(`${what}: ${(err as Error).message}`, err);
  }
}

function errName(err: unknown): string {
  return (err as Error | undefined)?.name ?? '';
}

/**
 * Ships a capture file (or a directory of rotated files) to NATS
 * JetStream, exactly once and in order per stream (docs/design.md,
 * "Shipping to JetStream"). Needs the optional peer dependencies
 * `@nats-io/transport-node` and `@nats-io/jetstream`.
 *
 * Events: `'connect'` (`{ server, stream }`: the JetStream stream),
 * `'disconnect'` (`error`), `'backoff'` (`{ attempt, delayMs, error }`),
 * `'resume'` (`{ checkpoint: 'ok' | 'missing' | 'torn', detail?, from }`),
 * `'file'` (a {@link StreamFile}: reading moved to it), `'checkpoint'`
 * (the {@link ShipPosition} just made durable).
 *
 * @example
 * ```ts
 * const shipper = new JetStreamShipper({ servers: 'nats://127.0.0.1:4222', subject: 'telemetry.a1', path: 'events.fst' });
 * process.once('SIGTERM', () => void shipper.close());
 * await shipper.run(); // resolves once closed; rejects with a ShipError, or the read error at damage
 * ```
 */
export class JetStreamShipper extends EventEmitter {
  readonly #servers: string[];
  readonly #subject: string;
  readonly #path: string;
  readonly #checkpointPath: string;
  readonly #checksum: BuiltinChecksum | undefined;
  readonly #batchBytes: number;
  readonly #inFlight: number;
  readonly #auth: { user?: string; pass?: string; token?: string };
  readonly #ackTimeoutMs: number;
  readonly #backoffInitial: number;
  readonly #backoffMax: number;
  readonly #cpInterval: number;
  readonly #pollMs: number;
  readonly #closeTimeoutMs: number;
  readonly #maxFrameLen: number | undefined;
  readonly #createStream: string | undefined;
  readonly #match: RegExp;
  readonly #signal: AbortSignal | undefined;

  #streamId: string | null;
  #nats: NatsClient | null = null;
  #nc: NatsConnection | null = null;
  #js: JetStreamClient | null = null;
  #epoch = 0;
  #connectedOnce = false;
  #probing = false;
  #inflightCount = 0;
  #maxPayload = 1024 * 1024;
  #connecting = false;

  #pending: Batch[] = [];
  #cur: Batch | null = null;
  #pool: Uint8Array[] = [];
  #lingerArmed = false;
  #takes = 0;
  #takesSeen = -1;
  #forced: (readonly [number, number, number])[] = []; // a checkpoint's plan still to re-cut
  #hdr = 4;
  #headerLen = 0; // the current file's header frame length (0 without one)
  #fileId = ''; // the current file's own id (files.ts)
  #fileIndex = 0;
  #fileName = '';
  #position = 0; // end of the last frame taken from the current file
  #size = 0; // the current file's size at the last look
  #fh: FileHandle | null = null; // the current file, for the linger's look at its end

  #acked: ShipPosition | null = null;
  #cpWritten: ShipPosition | null = null;
  #cpWriting: Promise<void> | null = null;
  #cpTimer: NodeJS.Timeout | null = null;
  #cpDirty = false;
  #cpLast = 0;
  #unlock: (() => void) | null = null;
  #cpDurable = 0;
  #connected: Promise<void>;
  #onConnected: () => void = () => undefined;

  #frames = 0;
  #bytes = 0;
  #batches = 0;
  #duplicates = 0;
  #reconnects = 0;
  #reordered = 0;
  #attempt = 0;

  #running = false;
  #stopping = false;
  #fatal: Error | null = null;
  #stop = new AbortController(); // ends waits (backoff, polls) when stopping
  readonly #drainStop = new AbortController(); // ends the drain's backoff wait when closing is final
  #readAbort: AbortController | null = null;
  #roomWaiter: (() => void) | null = null;
  #drainWaiter: (() => void) | null = null;
  #closing: Promise<void> | null = null;
  #done: Promise<void> | null = null;
  readonly #grab = new FrameGrab();
  readonly #decoder: PayloadDecoder<FrameGrab>;
  readonly #onFrame: (v: FrameGrab, info: { offset: number }) => boolean;

  constructor(options: JetStreamShipperOptions) {
    super();
    checkOptions(options, 'options');
    if (options === undefined) throw typeError('The "options" argument must be an object');
    const o = options;
    const servers = checkServers(o.servers);
    if (typeof o.subject !== 'string' || !/^[^\s*>]+$/.test(o.subject))
      throw typeError('The "subject" option must be a subject without spaces or wildcards');
    if (typeof o.path !== 'string' || o.path === '')
      throw typeError('The "path" option must be a path string');
    if (o.checkpoint !== undefined && (typeof o.checkpoint !== 'string' || o.checkpoint === ''))
      throw typeError('The "checkpoint" option must be a path string');
    if (
      o.streamId !== undefined &&
      (typeof o.streamId !== 'string' || !/^[!-~]{1,200}$/.test(o.streamId))
    )
      throw typeError(
        'The "streamId" option must be 1 to 200 printable ASCII characters without spaces',
      );
    let checksum: BuiltinChecksum | undefined;
    if (o.checksum !== undefined) {
      const name =
        typeof o.checksum === 'string' ? o.checksum : (o.checksum as { name?: unknown })?.name;
      checksum = (checksums as Record<string, BuiltinChecksum>)[String(name)];
      if (checksum === undefined || (typeof o.checksum !== 'string' && o.checksum !== checksum))
        throw typeError(
          `The "checksum" option must be a built-in checksum or its name (${Object.keys(checksums).join(', ')})`,
        );
    }
    const int = (
      v: number | undefined,
      name: string,
      min: number,
      max: number,
      dflt: number,
    ): number => {
      if (v === undefined) return dflt;
      checkInteger(v, name, min, max);
      return v;
    };
    this.#batchBytes = int(o.batchBytes, 'batchBytes', 1024, 64 << 20, DEFAULT_BATCH);
    this.#inFlight = int(o.inFlight, 'inFlight', 1, 1024, 16);
    this.#ackTimeoutMs = int(o.ackTimeoutMs, 'ackTimeoutMs', 1, 3_600_000, 5000);
    checkOptions(o.backoff, 'backoff');
    this.#backoffInitial = int(o.backoff?.initialMs, 'backoff.initialMs', 1, 3_600_000, 100);
    this.#backoffMax = int(o.backoff?.maxMs, 'backoff.maxMs', 1, 3_600_000, 5000);
    if (this.#backoffMax < this.#backoffInitial)
      throw rangeError('backoff.maxMs must be at least backoff.initialMs');
    this.#cpInterval = int(o.checkpointIntervalMs, 'checkpointIntervalMs', 0, 3_600_000, 1000);
    this.#pollMs = int(o.pollIntervalMs, 'pollIntervalMs', 1, 3_600_000, 100);
    this.#closeTimeoutMs = int(o.closeTimeoutMs, 'closeTimeoutMs', 0, 3_600_000, 10_000);
    if (o.maxFrameLen !== undefined) checkInteger(o.maxFrameLen, 'maxFrameLen', 0, 2 ** 32 - 1);
    for (const k of ['user', 'pass', 'token', 'createStream'] as const)
      if (o[k] !== undefined && typeof o[k] !== 'string')
        throw typeError(`The "${k}" option must be a string`);
    if (o.match !== undefined && !(o.match instanceof RegExp))
      throw typeError('The "match" option must be a RegExp');
    if (
      o.signal !== undefined &&
      (typeof o.signal !== 'object' || o.signal === null || typeof o.signal.aborted !== 'boolean')
    )
      throw typeError('The "signal" option must be an AbortSignal');
    this.#servers = servers;
    this.#subject = o.subject;
    this.#path = resolvePath(o.path);
    this.#checkpointPath = resolvePath(
      o.checkpoint ?? `${o.path.replace(/[/\\]+$/, '')}.ship-checkpoint`,
    );
    this.#streamId = o.streamId ?? null;
    this.#checksum = checksum;
    this.#auth = { user: o.user, pass: o.pass, token: o.token };
    this.#maxFrameLen = o.maxFrameLen;
    this.#createStream = o.createStream;
    this.#match = o.match ?? DEFAULT_MATCH;
    this.#signal = o.signal;
    const grab = this.#grab;
    this.#decoder = { name: 'frame', createView: () => grab };
    this.#onFrame = (v, info) => this.#take(v, info.offset);
    this.#connected = new Promise((resolve) => (this.#onConnected = resolve));
  }

  /** The stream id (known once `run()` has looked at the file). */
  get streamId(): string | null {
    return this.#streamId;
  }

  /** The checkpoint file's path. */
  get checkpointPath(): string {
    return this.#checkpointPath;
  }

  /**
   * Ships until {@link close} or the `signal`; resolves then, after the
   * last checkpoint is written. Rejects with a `ShipError` for what a retry
   * cannot fix (no JetStream stream takes the subject, credentials refused,
   * a frame over `max_payload`, a checkpoint of another stream), with the
   * reader's error at damage (`ChecksumMismatchError`, `InvalidFrameError`,
   * `FollowedFileChangedError`, ... with its `offset`) after every frame
   * before it was acknowledged, or with `NatsClientMissingError`.
   */
  run(): Promise<void> {
    if (this.#running) return Promise.reject(typeError('run() was already called'));
    this.#running = true;
    this.#done = this.#run();
    return this.#done;
  }

  /**
   * Stops reading, waits (up to `closeTimeoutMs`) for the acknowledgements
   * of what was read, writes the checkpoint and closes the connection.
   * Idempotent; resolves when `run()` has ended (never rejects).
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#halt(null);
      this.#closing = (this.#done ?? Promise.resolve()).then(
        () => undefined,
        () => undefined,
      );
    }
    return this.#closing;
  }

  /** Counters, the acknowledged position and the lag. */
  stats(): ShipperStats {
    const acked = this.#acked;
    return {
      frames: this.#frames,
      bytes: this.#bytes,
      batches: this.#batches,
      duplicates: this.#duplicates,
      reconnects: this.#reconnects,
      reordered: this.#reordered,
      acked,
      lagBytes:
        acked !== null && acked.file === this.#fileIndex
          ? Math.max(0, this.#size - acked.offset)
          : this.#size,
      connected: this.#nc !== null && !this.#connecting,
      heldBatches: this.#pending.length + (this.#cur !== null ? 1 : 0),
      heldBytes: this.#pending.reduce((n, b) => n + b.buf.length, this.#cur?.buf.length ?? 0),
    };
  }

  // ---- the run -----------------------------------------------------------

  async #run(): Promise<void> {
    const onAbort = (): void => void this.close();
    this.#signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.#signal?.aborted) return;
      this.#nats = await loadNats();
      const start = await this.#prepare();
      if (start === null) return; // stopped while waiting for the file
      this.#connect();
      await this.#readLoop(start);
    } catch (err) {
      this.#halt(err as Error);
    } finally {
      this.#signal?.removeEventListener('abort', onAbort);
      await this.#shutdown();
    }
    if (this.#fatal) throw this.#fatal;
  }

  // Events are emitted from the shipper's own asynchronous work: a listener
  // that throws stops the shipper with its error (run() rejects with it)
  // instead of becoming an unhandled rejection that would end the host.
  #emit(name: string, ...args: unknown[]): void {
    try {
      this.emit(name, ...args);
    } catch (err) {
      this.#halt(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #connect(): void {
    this.#connectLoop().catch((err: unknown) => this.#halt(err as Error));
  }

  // Stops everything that waits; the first fatal error is what run() rejects with.
  #halt(err: Error | null): void {
    if (err && !this.#fatal) this.#fatal = err;
    // A fatal connection error while draining: nothing more can go out.
    if (this.#connectionFatal()) {
      this.#drainStop.abort();
      this.#drainWaiter?.();
    }
    if (this.#stopping) return;
    this.#stopping = true;
    this.#stop.abort();
    this.#readAbort?.abort();
    this.#wakeRoom();
    this.#onConnected(); // a reader waiting for the first connection
  }

  // Where reading starts: the checkpoint, checked against the file set.
  async #prepare(): Promise<{
    file: StreamFile;
    format: Awaited<ReturnType<typeof detectFormat>>;
    offset: number;
  } | null> {
    let dir: boolean;
    try {
      dir = await isDirectory(this.#path);
    } catch (err) {
      throw new IoError(`cannot ship ${this.#path}: ${(err as Error).message}`, err);
    }
    let lock: (() => void) | number;
    try {
      lock = lockCheckpoint(this.#checkpointPath);
    } catch (err) {
      throw new IoError(
        `cannot lock the checkpoint ${this.#checkpointPath}: ${(err as Error).message}`,
        err,
      );
    }
    if (typeof lock === 'number')
      throw new ShipError(
        'busy',
        `another shipper${lock === process.pid ? ' in this process' : lock > 0 ? ` (pid ${lock})` : ''} holds the checkpoint ${this.#checkpointPath}`,
        this.#path,
      );
    this.#unlock = lock;
    let cp: ReturnType<typeof readCheckpoint>;
    try {
      cp = readCheckpoint(this.#checkpointPath);
    } catch (err) {
      throw new IoError(
        `cannot read the checkpoint ${this.#checkpointPath}: ${(err as Error).message}`,
        err,
      );
    }
    let file: StreamFile;
    if (dir) {
      // Resumed by name, so files removed before it (retention) renumber nothing.
      for (;;) {
        const files = await io(
          `cannot list ${this.#path}`,
          listStreamFiles(this.#path, this.#match),
        );
        if (cp.state === 'ok') {
          const c = cp.checkpoint;
          const at = files.find((f) => f.name === c.name);
          if (at === undefined)
            throw new ShipError(
              'checkpoint',
              `the checkpoint ${this.#checkpointPath} names file ${c.file} (${c.name}) of ${this.#path}, which is not there`,
              this.#path,
            );
          file = { index: c.file, ...at };
          break;
        }
        if (files.length > 0) {
          file = { index: 0, ...files[0]! };
          break;
        }
        await sleep(this.#pollMs, this.#stop.signal);
        if (this.#stopping) return null;
      }
    } else file = { index: 0, name: basename(this.#path), path: this.#path };
    const format = await this.#waitFormat(file.path);
    if (format === null) return null;
    this.#streamId ??= dir
      ? await dirStreamId(this.#path)
      : await fileStreamId(this.#path, format.headerFrame);
    // Every file is shipped from offset 0, its header frame included: a
    // consumer reads each file's format from it (docs/design.md, "Shipping
    // to JetStream").
    let offset = 0;
    if (cp.state === 'ok') {
      const c = cp.checkpoint;
      if (c.stream !== this.#streamId || c.file !== file.index || c.name !== file.name)
        throw new ShipError(
          'checkpoint',
          `the checkpoint ${this.#checkpointPath} is for stream ${c.stream} file ${c.file} (${c.name}) at ${c.offset}, not for stream ${this.#streamId} file ${file.index} (${file.name}): remove it to ship from the start`,
          file.path,
        );
      offset = c.offset;
      // The batches that may have been published are cut again exactly.
      this.#forced = c.plan.filter(([f, o]) => f > file.index || (f === file.index && o >= offset));
    }
    this.#acked = { file: file.index, name: file.name, offset };
    this.#cpWritten = this.#acked; // written again only once something is acknowledged
    this.#emit('resume', {
      checkpoint: cp.state,
      ...(cp.state === 'torn' ? { detail: cp.detail } : {}),
      from: this.#acked,
    });
    return { file, format, offset };
  }

  async #waitFormat(path: string): Promise<Awaited<ReturnType<typeof detectFormat>>> {
    for (;;) {
      const f = await io(
        `cannot read ${path}`,
        detectFormat(path, this.#checksum, this.#maxFrameLen),
      );
      if (f !== null) return f;
      await sleep(this.#pollMs, this.#stop.signal);
      if (this.#stopping) return null;
    }
  }

  // Reads file after file; each file with follow mode, reopened at the last
  // frame taken whenever reading paused for room in the window.
  async #readLoop(first: {
    file: StreamFile;
    format: Awaited<ReturnType<typeof detectFormat>>;
    offset: number;
  }): Promise<void> {
    const dir = first.file.path !== this.#path;
    // Batches are cut to the server's max_payload: known once connected.
    await this.#connected;
    let file = first.file;
    let format = first.format!;
    let start = first.offset;
    for (;;) {
      this.#fileIndex = file.index;
      this.#fileName = file.name;
      this.#hdr = 4 + format.deframer.checksum.width;
      this.#headerLen = format.start;
      this.#fileId = format.fileId;
      this.#position = start;
      this.#emit('file', file);
      const finished = await this.#readFile(file, format.deframer, dir);
      if (!finished || this.#stopping) return;
      this.#seal(false);
      const files = await io(`cannot list ${this.#path}`, listStreamFiles(this.#path, this.#match));
      const next = fileAfter(files, file.name);
      if (next === undefined || !files.some((f) => f.name === file.name))
        throw new ShipError(
          'checkpoint',
          `the stream files of ${this.#path} changed under the shipper (file ${file.index}, ${file.name}, is gone)`,
          file.path,
        );
      const f = await this.#waitFormat(next.path);
      if (f === null) return;
      file = { index: file.index + 1, ...next };
      format = f;
      start = 0; // the header frame too (docs/design.md, "Shipping to JetStream")
    }
  }

  // Reads one file from `start`; true when it is finished (a directory's
  // file with a later one, read to its end), false when stopping.
  async #readFile(file: StreamFile, deframer: Deframer, dir: boolean): Promise<boolean> {
    let finished = false;
    let lastSize = -1;
    let still = 0;
    let lastPos = -1;
    // Opened before the watch starts: a file removed meanwhile (retention)
    // leaves no interval behind.
    try {
      this.#fh = await open(file.path, 'r');
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code === 'ENOENT' && dir
        ? new ShipError(
            'checkpoint',
            `the stream files of ${this.#path} changed under the shipper (file ${file.index}, ${file.name}, is gone)`,
            file.path,
            undefined,
            err,
          )
        : new IoError(`cannot open ${file.path}: ${(err as Error).message}`, err);
    }
    const watch = setInterval(() => {
      (async () => {
        try {
          this.#size = (await stat(file.path)).size;
        } catch {
          return; // the reader reports a file gone
        }
        if (!dir || this.#readAbort === null) return;
        const files = await listStreamFiles(this.#path, this.#match).catch(() => []);
        if (fileAfter(files, file.name) === undefined) return;
        const size = this.#size;
        if (size === this.#position && size === lastSize) {
          finished = true;
          this.#readAbort?.abort();
          return;
        }
        // A later file exists, and this one ends in bytes that do not grow
        // into a frame: a torn tail no writer will complete.
        still = size === lastSize && this.#position === lastPos ? still + 1 : 0;
        if (still >= 20 && this.#roomWaiter === null)
          this.#halt(
            new ShipError(
              'torn-file',
              `${file.path} ends in a torn frame (${size - this.#position} bytes) and a later file exists: no writer will complete it`,
              file.path,
              { offset: this.#position, frameIndex: -1 },
            ),
          );
        lastSize = size;
        lastPos = this.#position;
      })().catch((err: unknown) => this.#halt(err as Error));
    }, this.#pollMs);
    watch.unref();
    try {
      while (!this.#stopping && !finished) {
        await this.#room();
        if (this.#stopping || finished) break;
        this.#armLinger(); // a batch held while paused goes out even if no frame comes
        const ac = new AbortController();
        this.#readAbort = ac;
        // A frame longer than a message can hold is refused from its length
        // field alone: follow mode would otherwise wait for bytes up to the
        // deframer's bound (2 GiB), for a frame that could never be shipped.
        const limit = Math.min(deframer.maxFrameLen, this.#maxPayload - HEADERS_ROOM - this.#hdr);
        const reader = new StreamReader(file.path, deframer.withMaxFrameLen(limit), {
          follow: true,
          start: this.#position,
          signal: ac.signal,
          pollIntervalMs: this.#pollMs,
          readSize: Math.max(256 * 1024, this.#batchBytes * 2),
        });
        try {
          await reader.processWithAsync(this.#decoder, this.#onFrame);
        } catch (err) {
          if (!ac.signal.aborted) {
            // Damage (or a file changed under us): everything before it is
            // sent; what comes after is never read.
            this.#seal(false);
            this.#halt(
              err instanceof InvalidFrameError &&
                err.limit === limit &&
                err.length <= deframer.maxFrameLen
                ? new ShipError(
                    'frame-too-large',
                    `a frame of ${err.length} bytes (as its length field says) does not fit the server's max_payload (${this.#maxPayload} bytes, ${HEADERS_ROOM} kept for headers)`,
                    file.path,
                    { offset: err.offset!, frameIndex: -1 },
                    err,
                  )
                : (err as Error),
            );
          }
        } finally {
          this.#readAbort = null;
          await reader.close();
        }
      }
    } finally {
      clearInterval(watch);
      const fh = this.#fh!;
      this.#fh = null;
      await fh.close();
    }
    return finished && !this.#stopping;
  }

  // Waits until the window has room for more reading (half of it free, so
  // a reader is not reopened for every acknowledgement).
  #room(): Promise<void> {
    if (this.#pending.length <= this.#inFlight >> 1 || this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      this.#roomWaiter = resolve;
    });
  }

  #wakeRoom(): void {
    const w = this.#roomWaiter;
    if (w && (this.#pending.length <= this.#inFlight >> 1 || this.#stopping)) {
      this.#roomWaiter = null;
      w();
    }
  }

  // One frame from the reader: copied into the current batch. Returns false
  // (ending this reading session) when the window is full.
  #take(v: FrameGrab, offset: number): boolean {
    const w = v.w;
    const from = v.at - this.#hdr;
    const n = this.#hdr + frameLength(w, from);
    let b = this.#cur;
    // A batch is full when the next frame does not fit (the same cut on
    // every run over the same bytes); a re-cut one ends where its plan says.
    if (b !== null && b.forcedEnd < 0 && b.used + n > b.buf.length) {
      this.#seal(true);
      b = null;
    }
    if (b === null) {
      b = this.#newBatch(offset, n);
      if (b === null) return false;
      this.#cur = b;
    }
    if (b.forcedEnd >= 0 && b.end + n > b.forcedEnd) {
      this.#halt(
        new ShipError(
          'checkpoint',
          `the checkpoint's plan ends a batch at ${b.forcedEnd} in file ${b.file} (${b.name}), but a frame there spans ${offset}..${offset + n}: the file is not the one shipped before`,
          this.#path,
          { offset, frameIndex: -1 },
        ),
      );
      return false;
    }
    const buf = b.buf;
    let at = b.used;
    if (n <= 64) for (let i = from, e = from + n; i < e; i++) buf[at++] = w[i]!;
    else buf.set(w.subarray(from, from + n), at);
    b.used += n;
    b.frames++;
    b.end = offset + n;
    this.#position = b.end;
    this.#takes++;
    if (b.end === b.forcedEnd) this.#seal(true);
    else this.#armLinger();
    return this.#pending.length < this.#inFlight;
  }

  #armLinger(): void {
    if (this.#lingerArmed) return;
    this.#lingerArmed = true;
    setTimeout(this.#linger, LINGER_MS);
  }

  // Seals the current batch once no frame came for LINGER_MS and no whole
  // frame follows it in the file: the reader waits for the writer. Never by
  // timing alone (a cut where the bytes were all there would differ from
  // the cut a later run makes), not while reading is paused for room in
  // the window, never a re-cut batch short of its planned end.
  readonly #linger = (): void => {
    this.#lingerArmed = false;
    if (this.#takes !== this.#takesSeen) {
      this.#takesSeen = this.#takes;
      this.#armLinger();
      return;
    }
    if (this.#roomWaiter !== null || this.#stopping || this.#cur === null) return;
    const fh = this.#fh;
    if (fh === null) return;
    const takes = this.#takes;
    void this.#atEnd(fh, this.#position).then(
      (end) => {
        if (this.#takes !== takes)
          this.#armLinger(); // frames came meanwhile
        else if (end) this.#seal(false);
        else this.#armLinger();
      },
      () => undefined, // the file is gone: the reader reports it
    );
  };

  // Whether nothing whole follows `pos` in the file: the reader is waiting
  // for the writer, not reading the next chunk.
  async #atEnd(fh: FileHandle, pos: number): Promise<boolean> {
    const size = (await fh.stat()).size;
    if (size - pos < 4) return true;
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, pos);
    return pos + this.#hdr + frameLength(b, 0) > size;
  }

  #newBatch(offset: number, first: number): Batch | null {
    let forcedEnd = -1;
    const f = this.#forced[0];
    if (f !== undefined) {
      if (f[0] !== this.#fileIndex || f[1] !== offset) {
        this.#halt(
          new ShipError(
            'checkpoint',
            `the checkpoint's plan has a batch at file ${f[0]} offset ${f[1]}; reading is at file ${this.#fileIndex} offset ${offset}`,
            this.#path,
            { offset, frameIndex: -1 },
          ),
        );
        return null;
      }
      forcedEnd = f[2];
      this.#forced.shift();
    }
    const want = forcedEnd >= 0 ? forcedEnd - offset : first;
    if (want > this.#maxPayload - HEADERS_ROOM) {
      this.#halt(
        new ShipError(
          forcedEnd >= 0 ? 'checkpoint' : 'frame-too-large',
          `${forcedEnd >= 0 ? 'a planned batch' : 'a frame'} of ${want} bytes does not fit the server's max_payload (${this.#maxPayload} bytes, ${HEADERS_ROOM} kept for headers)`,
          this.#path,
          { offset, frameIndex: -1 },
        ),
      );
      return null;
    }
    const size = this.#effectiveBatch();
    const pooled = want <= size;
    const buf = pooled ? (this.#pool.pop() ?? new Uint8Array(size)) : new Uint8Array(want);
    return {
      file: this.#fileIndex,
      name: this.#fileName,
      fileId: this.#fileId,
      offset,
      end: offset,
      frames: 0,
      used: 0,
      buf,
      pooled,
      sentEpoch: -1,
      acked: false,
      seq: 0,
      planned: false,
      forcedEnd,
      header: offset === 0 && this.#headerLen > 0,
    };
  }

  #effectiveBatch(): number {
    return Math.min(this.#batchBytes, this.#maxPayload - HEADERS_ROOM);
  }

  // Hands the current batch on: its plan is made durable, then it is
  // published. A re-cut batch is sealed only at its planned end (`full`);
  // short of it, it is dropped and read again next time.
  #seal(full: boolean): void {
    const b = this.#cur;
    if (b === null || b.frames === 0) return;
    if (b.forcedEnd >= 0 && !(full && b.end === b.forcedEnd)) return;
    this.#cur = null;
    this.#pending.push(b);
    this.#persist();
  }

  // ---- publishing --------------------------------------------------------

  #pump(): void {
    const js = this.#js;
    if (js === null || this.#connecting) return;
    const limit = this.#probing ? 1 : this.#inFlight;
    const epoch = this.#epoch;
    const nats = this.#nats!;
    for (const b of this.#pending) {
      if (this.#inflightCount >= limit || !b.planned) break; // in order, planned first
      if (b.sentEpoch === epoch || b.acked) continue;
      b.sentEpoch = epoch;
      this.#inflightCount++;
      const h = nats.headers();
      const msgID = setBatchHeaders(h, {
        stream: this.#streamId!,
        file: b.file,
        fileId: b.fileId,
        offset: b.offset,
        frames: b.frames,
        bytes: b.used,
      });
      let p: Promise<PubAck>;
      try {
        p = js.publish(this.#subject, b.buf.subarray(0, b.used), {
          msgID,
          headers: h,
          timeout: this.#ackTimeoutMs,
        });
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (ack) => this.#onAck(b, epoch, ack),
        (err) => this.#onFail(epoch, err),
      ).catch((err: unknown) => this.#halt(err as Error));
    }
  }

  #onAck(b: Batch, epoch: number, ack: PubAck): void {
    // An ack after the shutdown stopped taking them is not recorded: the
    // batch is sent again by the next run, and the duplicate window drops it.
    if (this.#final) return;
    if (epoch === this.#epoch) {
      this.#inflightCount--;
      if (this.#probing) this.#probing = false;
    }
    if (b.acked) return;
    b.acked = true;
    b.seq = ack.seq;
    if (ack.duplicate) this.#duplicates++;
    else
      for (const later of this.#pending)
        if (later.acked && later.seq < ack.seq && this.#after(later, b)) {
          this.#reordered++;
          break;
        }
    this.#attempt = 0;
    let moved = false;
    while (this.#pending.length > 0 && this.#pending[0]!.acked) {
      const d = this.#pending.shift()!;
      this.#frames += d.header ? d.frames - 1 : d.frames;
      this.#bytes += d.used;
      this.#batches++;
      this.#acked = { file: d.file, name: d.name, offset: d.end };
      if (d.pooled && d.buf.length === this.#effectiveBatch()) this.#pool.push(d.buf);
      moved = true;
    }
    if (moved) this.#persist();
    this.#wakeRoom();
    if (this.#pending.length === 0) this.#drainWaiter?.();
    this.#pump();
  }

  #after(a: Batch, b: Batch): boolean {
    return a.file > b.file || (a.file === b.file && a.offset > b.offset);
  }

  #onFail(epoch: number, err: unknown): void {
    if (epoch !== this.#epoch) return; // that connection was already given up
    this.#inflightCount--;
    const name = errName(err);
    if (isAuthError(err)) {
      this.#halt(
        new ShipError(
          'auth',
          `publishing to ${this.#subject} was refused: ${(err as Error).message}`,
          this.#path,
          undefined,
          err,
        ),
      );
      return;
    }
    if (name === 'JetStreamApiError' && /maximum|size/i.test((err as Error).message)) {
      this.#halt(
        new ShipError(
          'rejected',
          `JetStream refused a message: ${(err as Error).message}`,
          this.#path,
          undefined,
          err,
        ),
      );
      return;
    }
    this.#broken(err);
  }

  // The connection failed (or an acknowledgement did not come): give it up
  // and send the unacknowledged batches again, in order, on a new one.
  #broken(err: unknown): void {
    if (this.#connecting || this.#nc === null) return;
    this.#epoch++;
    this.#inflightCount = 0;
    const nc = this.#nc;
    this.#nc = null;
    this.#js = null;
    void nc.close().catch(() => undefined);
    this.#reconnects++;
    this.#emit('disconnect', err);
    if (!this.#stopping || this.#draining()) this.#connect();
  }

  // Stopping, but what was read may still go out (until closeTimeoutMs).
  #draining(): boolean {
    return !this.#closeExpired && this.#pending.length > 0 && !this.#connectionFatal();
  }

  #connectionFatal(): boolean {
    const f = this.#fatal;
    return (
      f instanceof ShipError &&
      (f.reason === 'auth' ||
        f.reason === 'stream-not-found' ||
        f.reason === 'jetstream-disabled' ||
        f.reason === 'rejected')
    );
  }

  async #connectLoop(): Promise<void> {
    if (this.#connecting) return;
    this.#connecting = true;
    const nats = this.#nats!;
    try {
      for (;;) {
        if (this.#stopping && !this.#draining()) return;
        let nc: NatsConnection | null = null;
        try {
          const conn = await nats.connect({
            servers: this.#servers,
            reconnect: false,
            timeout: this.#ackTimeoutMs,
            name: 'flatstream-ship',
            ...(this.#auth.user !== undefined ? { user: this.#auth.user } : {}),
            ...(this.#auth.pass !== undefined ? { pass: this.#auth.pass } : {}),
            ...(this.#auth.token !== undefined ? { token: this.#auth.token } : {}),
          });
          nc = conn;
          const jsm = await nats.jetstreamManager(conn, { timeout: this.#ackTimeoutMs });
          let stream: string;
          try {
            stream = await jsm.streams.find(this.#subject);
          } catch (err) {
            if (errName(err) !== 'StreamNotFoundError') throw err;
            if (this.#createStream === undefined)
              throw new ShipError(
                'stream-not-found',
                `no JetStream stream takes the subject ${this.#subject} on ${this.#servers.join(',')} (create one, or give createStream)`,
                this.#path,
                undefined,
                err,
              );
            await jsm.streams.add({ name: this.#createStream, subjects: [this.#subject] });
            stream = this.#createStream;
          }
          if (this.#stopping && !this.#draining()) {
            void conn.close().catch(() => undefined);
            return;
          }

          const mp = conn.info?.max_payload;
          if (typeof mp === 'number' && mp > HEADERS_ROOM) this.#maxPayload = mp;
          this.#js = nats.jetstream(conn, { timeout: this.#ackTimeoutMs });
          this.#nc = conn;
          this.#epoch++;
          this.#inflightCount = 0;
          this.#probing = true; // one message first: order is kept while JetStream settles
          this.#connectedOnce = true;
          const mine = conn;
          void conn.closed().then((err: Error | void) => {
            if (this.#nc === mine) this.#broken(err ?? new Error('connection closed'));
          });
          this.#connecting = false;
          this.#emit('connect', { server: conn.getServer(), stream });
          this.#onConnected();
          this.#pump();
          return;
        } catch (err) {
          if (nc !== null) void nc.close().catch(() => undefined);
          if (err instanceof ShipError) {
            this.#halt(err);
            return;
          }
          if (isAuthError(err)) {
            this.#halt(
              new ShipError(
                'auth',
                `${this.#servers.join(',')} refused the credentials: ${(err as Error).message}`,
                this.#path,
                undefined,
                err,
              ),
            );
            return;
          }
          if (errName(err) === 'JetStreamNotEnabled' && !this.#connectedOnce) {
            this.#halt(
              new ShipError(
                'jetstream-disabled',
                `${this.#servers.join(',')} has no JetStream: ${(err as Error).message}`,
                this.#path,
                undefined,
                err,
              ),
            );
            return;
          }
          const delayMs = Math.round(
            Math.min(this.#backoffMax, this.#backoffInitial * 2 ** Math.min(this.#attempt, 30)) *
              (0.5 + Math.random() / 2),
          );
          this.#attempt++;
          this.#emit('backoff', { attempt: this.#attempt, delayMs, error: err });
          // While draining, only the end of the drain ends the wait.
          await sleep(delayMs, this.#stopping ? this.#drainStop.signal : this.#stop.signal);
        }
      }
    } finally {
      this.#connecting = false;
    }
  }

  #closeExpired = false;
  #final = false; // the last checkpoint is being written: no ack, no other write, no timer

  // ---- checkpoint --------------------------------------------------------

  // Writes the checkpoint: at once when a sealed batch needs its plan on
  // disk before it may be published, else (the acknowledged position moved)
  // at most every checkpointIntervalMs. One write at a time; what changes
  // meanwhile goes into the next.
  #persist(): void {
    if (this.#final) return; // #shutdown writes the last one itself
    if (this.#cpWriting !== null) {
      this.#cpDirty = true;
      return;
    }
    this.#cpWriting = this.#persistLoop()
      .catch((err: unknown) => this.#halt(err as Error))
      .finally(() => {
        this.#cpWriting = null;
      });
  }

  async #persistLoop(final = false): Promise<void> {
    for (;;) {
      this.#cpDirty = false;
      const pos = this.#acked;
      if (pos === null || this.#streamId === null) return;
      const batches = this.#pending.slice();
      const needPlan = batches.some((b) => !b.planned);
      const w = this.#cpWritten;
      const moved = w === null || w.file !== pos.file || w.offset !== pos.offset;
      if (!needPlan && !moved) return;
      if (!needPlan && !final) {
        const wait = this.#cpLast + this.#cpInterval - Date.now();
        if (wait > 0) {
          if (this.#cpTimer === null && !this.#final) {
            this.#cpTimer = setTimeout(() => {
              this.#cpTimer = null;
              this.#persist();
            }, wait);
            this.#cpTimer.unref();
          }
          return;
        }
      }
      // The plan: the sealed batches, the re-cut batch being filled (its end
      // is known), and the old plan's batches not re-cut yet.
      const plan: [number, number, number][] = batches.map((b) => [b.file, b.offset, b.end]);
      const cur = this.#cur;
      if (cur !== null && cur.forcedEnd >= 0) plan.push([cur.file, cur.offset, cur.forcedEnd]);
      for (const f of this.#forced) plan.push([f[0], f[1], f[2]]);
      const cp: Checkpoint = {
        stream: this.#streamId,
        file: pos.file,
        name: pos.name,
        offset: pos.offset,
        plan,
      };
      // A plan is written at once, without fsync (atomic for a process that
      // dies); the position, or a plan after checkpointIntervalMs, durably.
      const durable = final || Date.now() - this.#cpDurable >= this.#cpInterval;
      try {
        await writeCheckpoint(this.#checkpointPath, cp, durable);
      } catch (err) {
        // Nothing more is published until a plan is on disk (a full disk
        // stalls shipping; the frames wait in the file). Try again later.
        this.#emit('checkpointError', err);
        if (!final && !this.#final && this.#cpTimer === null) {
          this.#cpTimer = setTimeout(() => {
            this.#cpTimer = null;
            this.#persist();
          }, 1000);
          this.#cpTimer.unref();
        }
        return;
      }
      this.#cpLast = Date.now();
      if (durable) this.#cpDurable = this.#cpLast;
      this.#cpWritten = pos;
      for (const b of batches) b.planned = true;
      this.#emit('checkpoint', pos);
      this.#pump();
      if (!this.#cpDirty) return;
    }
  }

  // ---- the end -----------------------------------------------------------

  #clearCpTimer(): void {
    if (this.#cpTimer !== null) {
      clearTimeout(this.#cpTimer);
      this.#cpTimer = null;
    }
  }

  async #shutdown(): Promise<void> {
    this.#halt(null);
    this.#seal(false);
    // What was read goes out, if a connection can take it in time.
    if (this.#closeTimeoutMs > 0 && this.#draining()) {
      if (this.#nc === null && !this.#connecting) this.#connect();
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, this.#closeTimeoutMs);
        const self = this;
        function done(): void {
          clearTimeout(t);
          self.#drainWaiter = null;
          resolve();
        }
        this.#drainWaiter = done;
        this.#pump();
      });
    }
    this.#closeExpired = true;
    // No more acks: the connection is given up before the last checkpoint,
    // so nothing moves the position (or starts a write) while it is written
    // (docs/design.md, "Shipping to JetStream").
    this.#final = true;
    this.#drainStop.abort(); // a backoff sleep of the drain's reconnect
    const nc = this.#nc;
    this.#nc = null;
    this.#js = null;
    this.#epoch++;
    if (nc !== null) await nc.close().catch(() => undefined);
    this.#clearCpTimer();
    while (this.#cpWriting !== null) await this.#cpWriting;
    this.#clearCpTimer();
    await this.#persistLoop(true);
    this.#clearCpTimer();
    this.#unlock?.();
    this.#unlock = null;
  }
}
