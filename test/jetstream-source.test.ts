// JetStreamSource (docs/design.md, "Reading back from JetStream") against a
// real nats-server (test/nats-server.ts): messages published here with the
// contract's headers (lib/ship/wire.ts), read back through a StreamReader.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  BatchContinuityError,
  BatchHeaderError,
  ChecksumFramer,
  ChecksumMismatchError,
  Crc32,
  Deframer,
  FormatMismatchError,
  IoError,
  JetStreamSink,
  JetStreamSource,
  MemorySink,
  StreamWriter,
  UnexpectedEofError,
  XxHash64,
  batchMsgId,
  compileSchema,
  native,
  type FileStart,
} from '../lib/index';
import { bytes, MODE, thrown } from './helpers';
import { haveNatsServer, startNats, type NatsServer } from './nats-server';

const maybe = haveNatsServer() || process.env.CI ? describe : describe.skip;

const framer = new ChecksumFramer(XxHash64);
const deframer = new Deframer(XxHash64);

/** `n` frames of distinct payloads (sizes 1..40), and the payloads. */
function frames(n: number, seed: number): { bytes: Buffer; payloads: Buffer[] } {
  const payloads = Array.from({ length: n }, (_, i) =>
    bytes(1 + ((i * 7 + seed) % 40), seed * 1000 + i),
  );
  return { bytes: Buffer.concat(payloads.map((p) => framer.frame(p))), payloads };
}

interface Pos {
  stream: string;
  file: number;
  offset: number;
  frames: number;
}

/** Publishes `data` with the contract's headers (each value a string, as given, or absent). */
async function publish(
  nc: NatsConnection,
  subject: string,
  data: Uint8Array,
  h: Partial<Record<'stream' | 'file' | 'offset' | 'frames', string | number>>,
  msgID?: string,
): Promise<number> {
  const hdrs = headers();
  if (h.stream !== undefined) hdrs.set('Flatstream-Stream', String(h.stream));
  if (h.file !== undefined) hdrs.set('Flatstream-File', String(h.file));
  if (h.offset !== undefined) hdrs.set('Flatstream-Offset', String(h.offset));
  if (h.frames !== undefined) hdrs.set('Flatstream-Frames', String(h.frames));
  const ack = await jetstream(nc).publish(subject, data, {
    headers: hdrs,
    ...(msgID === undefined ? {} : { msgID }),
  });
  return ack.seq;
}

const pub = (nc: NatsConnection, subject: string, data: Uint8Array, p: Pos, msgID?: string) =>
  publish(
    nc,
    subject,
    data,
    p,
    msgID ?? batchMsgId({ ...p, fileId: `f${p.file}`, bytes: data.length }),
  );

/** Reads everything (follow: false) and returns the payloads and the error, if any. */
async function readAll(
  source: JetStreamSource,
  d: Deframer = deframer,
): Promise<{ got: Buffer[]; error: (Error & Record<string, unknown>) | null }> {
  const reader = await source.reader({ deframer: d });
  const got: Buffer[] = [];
  try {
    await reader.processAllAsync((p) => void got.push(Buffer.from(p)));
    return { got, error: null };
  } catch (e) {
    return { got, error: e as Error & Record<string, unknown> };
  } finally {
    await source.close();
  }
}

maybe(`JetStreamSource (${MODE})`, () => {
  let srv: NatsServer;
  let nc: NatsConnection;
  let n = 0;
  // A fresh JetStream stream per test: its name and subject.
  const fresh = async (): Promise<{ stream: string; subject: string }> => {
    const stream = `S${++n}`;
    const subject = `s${n}.data`;
    await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`s${n}.>`] });
    return { stream, subject };
  };
  const source = (
    stream: string,
    extra: Partial<ConstructorParameters<typeof JetStreamSource>[0]> = {},
  ) => new JetStreamSource({ servers: srv.url, stream, durable: 'd', follow: false, ...extra });

  beforeAll(async () => {
    srv = await startNats();
    nc = await connect({ servers: srv.url });
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await srv?.dispose();
  });

  test('reads the frames of consecutive batches, in order, and acks them all', async () => {
    expect(native).toBe(MODE === 'native');
    const { stream, subject } = await fresh();
    const a = frames(10, 1);
    const b = frames(5, 2);
    await pub(nc, subject, a.bytes, { stream: 'x', file: 0, offset: 0, frames: 10 });
    await pub(nc, subject, b.bytes, { stream: 'x', file: 0, offset: a.bytes.length, frames: 5 });
    const src = source(stream);
    const { got, error } = await readAll(src);
    expect(error).toBeNull();
    expect(got).toEqual([...a.payloads, ...b.payloads]);
    expect(src.stats).toEqual({
      messages: 2,
      bytes: a.bytes.length + b.bytes.length,
      duplicates: 0,
      overlaps: 0,
      acked: 2,
    });
    const info = await (await jetstreamManager(nc)).consumers.info(stream, 'd');
    expect(info.num_ack_pending).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(2);
  }, 30_000);

  test('follow: false on a drained consumer ends at once with nothing', async () => {
    const { stream } = await fresh();
    const { got, error } = await readAll(source(stream));
    expect(error).toBeNull();
    expect(got).toEqual([]);
  }, 30_000);

  test('a duplicate past the window (the same batch under another Msg-Id) is delivered once', async () => {
    const { stream, subject } = await fresh();
    const a = frames(4, 3);
    const b = frames(3, 4);
    const p0 = { stream: 'x', file: 0, offset: 0, frames: 4 };
    await pub(nc, subject, a.bytes, p0, 'first');
    await pub(nc, subject, a.bytes, p0, 'second'); // past the window: stored again
    await pub(nc, subject, b.bytes, { stream: 'x', file: 0, offset: a.bytes.length, frames: 3 });
    const src = source(stream);
    const { got, error } = await readAll(src);
    expect(error).toBeNull();
    expect(got).toEqual([...a.payloads, ...b.payloads]);
    expect(src.stats.duplicates).toBe(1);
    expect(src.stats.acked).toBe(3);
  }, 30_000);

  test('a gap is a BatchContinuityError with both positions, after the frames before it', async () => {
    const { stream, subject } = await fresh();
    const a = frames(4, 5);
    await pub(nc, subject, a.bytes, { stream: 'x', file: 0, offset: 0, frames: 4 });
    const seq = await pub(nc, subject, a.bytes, {
      stream: 'x',
      file: 0,
      offset: a.bytes.length + 10,
      frames: 4,
    });
    const { got, error } = await readAll(source(stream));
    expect(got).toEqual(a.payloads);
    expect(error).toBeInstanceOf(BatchContinuityError);
    expect(error).toMatchObject({
      code: 'ERR_FLATSTREAM_BATCH_CONTINUITY',
      reason: 'gap',
      seq,
      expected: { stream: 'x', file: 0, offset: a.bytes.length },
      received: {
        stream: 'x',
        file: 0,
        offset: a.bytes.length + 10,
        frames: 4,
        bytes: a.bytes.length,
      },
    });
    // Not acked: the next reader of the durable meets it again.
    const info = await (await jetstreamManager(nc)).consumers.info(stream, 'd');
    expect(info.ack_floor.stream_seq).toBe(1);
  }, 30_000);

  test('an overlapping batch and a skipped file are continuity errors too', async () => {
    const { stream, subject } = await fresh();
    const a = frames(4, 6);
    await pub(nc, subject, a.bytes, { stream: 'x', file: 0, offset: 0, frames: 4 });
    await pub(nc, subject, a.bytes, { stream: 'x', file: 0, offset: 8, frames: 4 });
    const r1 = await readAll(source(stream));
    expect(r1.error).toMatchObject({
      reason: 'overlap',
      expected: { offset: a.bytes.length },
      received: { offset: 8 },
    });
    const s2 = await fresh();
    await pub(nc, s2.subject, a.bytes, { stream: 'x', file: 0, offset: 0, frames: 4 });
    await pub(nc, s2.subject, a.bytes, { stream: 'x', file: 2, offset: 0, frames: 4 });
    const r2 = await readAll(source(s2.stream));
    expect(r2.error).toMatchObject({
      reason: 'gap',
      expected: { file: 0, offset: a.bytes.length },
      received: { file: 2, offset: 0 },
    });
    const s3 = await fresh();
    await pub(nc, s3.subject, a.bytes, { stream: 'x', file: 0, offset: 0, frames: 4 });
    await pub(nc, s3.subject, a.bytes, { stream: 'x', file: 1, offset: 100, frames: 4 });
    const r3 = await readAll(source(s3.stream));
    expect(r3.error).toMatchObject({ reason: 'gap', received: { file: 1, offset: 100 } });
  }, 30_000);

  // A file of 10 frames: each frame's bytes and offset.
  const file10 = (seed: number) => {
    const f = frames(10, seed);
    const each = f.payloads.map((p) => framer.frame(p));
    const at = [0];
    for (const e of each) at.push(at[at.length - 1]! + e.length);
    const cut = (from: number, to: number) => Buffer.concat(each.slice(from, to));
    return { ...f, at, cut };
  };

  test('overlap: a batch cut differently on a resend delivers only the frames past the position, once', async () => {
    const { stream, subject } = await fresh();
    const f = file10(40);
    // Frames 0-3; then a resend cut elsewhere: frames 2-6; then frames 7-9.
    await pub(nc, subject, f.cut(0, 4), { stream: 'x', file: 0, offset: 0, frames: 4 });
    await pub(nc, subject, f.cut(2, 7), { stream: 'x', file: 0, offset: f.at[2]!, frames: 5 });
    await pub(nc, subject, f.cut(7, 10), { stream: 'x', file: 0, offset: f.at[7]!, frames: 3 });
    const src = source(stream);
    const { got, error } = await readAll(src);
    expect(error).toBeNull();
    expect(got).toEqual(f.payloads);
    expect(src.stats).toEqual({
      messages: 3,
      bytes: f.bytes.length,
      duplicates: 0,
      overlaps: 1,
      acked: 3,
    });
  }, 30_000);

  test('overlap after a restart: a second source cuts a batch that overlaps the ack floor', async () => {
    const { stream, subject } = await fresh();
    const f = file10(43);
    await pub(nc, subject, f.cut(0, 4), { stream: 'x', file: 0, offset: 0, frames: 4 });
    const first = await readAll(source(stream));
    expect(first).toEqual({ got: f.payloads.slice(0, 4), error: null });
    // Resent cut elsewhere after the first reader acked frames 0-3.
    await pub(nc, subject, f.cut(1, 6), { stream: 'x', file: 0, offset: f.at[1]!, frames: 5 });
    await pub(nc, subject, f.cut(6, 10), { stream: 'x', file: 0, offset: f.at[6]!, frames: 4 });
    const src = source(stream);
    const { got, error } = await readAll(src);
    expect(error).toBeNull();
    expect(got).toEqual(f.payloads.slice(4));
    expect(src.stats).toMatchObject({ messages: 2, overlaps: 1, duplicates: 0, acked: 2 });
  }, 30_000);

  test('overlap: a damaged frame past the position is located at its offset in the file', async () => {
    const { stream, subject } = await fresh();
    const f = file10(41);
    const resend = Buffer.from(f.cut(2, 7));
    resend[f.at[5]! - f.at[2]! + 12] ^= 0xff; // frame 5's first payload byte
    await pub(nc, subject, f.cut(0, 4), { stream: 'x', file: 0, offset: 0, frames: 4 });
    const seq = await pub(nc, subject, resend, {
      stream: 'x',
      file: 0,
      offset: f.at[2]!,
      frames: 5,
    });
    const src = source(stream);
    const { got, error } = await readAll(src);
    expect(got).toEqual(f.payloads.slice(0, 5));
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(src.current).toMatchObject({ offset: f.at[2], skippedBytes: f.at[4]! - f.at[2]! });
    expect(src.locate(error!.offset as number)).toEqual({
      stream: 'x',
      file: 0,
      offset: f.at[5],
      seq,
    });
  }, 30_000);

  test('overlap over a file header: the header is not seen again, no second onFile', async () => {
    const { stream, subject } = await fresh();
    const ms = new MemorySink();
    const w = new StreamWriter(ms, framer, { header: {} });
    const f = frames(6, 42);
    for (const p of f.payloads) w.writePayload(p);
    w.close();
    const bytesOf = Buffer.concat(ms.chunks);
    const h = bytesOf.readUInt32LE(0) + 12;
    const at = [h];
    for (const p of f.payloads) at.push(at[at.length - 1]! + p.length + 12);
    // Header + frames 0-1; a resend of header + frames 0-3; frames 4-5.
    await pub(nc, subject, bytesOf.subarray(0, at[2]), {
      stream: 'h',
      file: 0,
      offset: 0,
      frames: 3,
    });
    await pub(nc, subject, bytesOf.subarray(0, at[4]), {
      stream: 'h',
      file: 0,
      offset: 0,
      frames: 5,
    });
    await pub(nc, subject, bytesOf.subarray(at[4]), {
      stream: 'h',
      file: 0,
      offset: at[4]!,
      frames: 2,
    });
    const files: FileStart[] = [];
    const src = source(stream, { onFile: (fs) => void files.push(fs) });
    const { got, error } = await readAll(src);
    expect(error).toBeNull();
    expect(got).toEqual(f.payloads);
    expect(files.map((x) => [x.file, x.header !== null])).toEqual([[0, true]]);
    expect(src.stats).toMatchObject({ messages: 3, overlaps: 1, duplicates: 0, acked: 3 });
  }, 30_000);

  test('two streams on one consumer: a BatchContinuityError second-stream', async () => {
    const { stream, subject } = await fresh();
    const a = frames(2, 7);
    await pub(nc, subject, a.bytes, { stream: 'agent-1', file: 0, offset: 0, frames: 2 });
    await pub(nc, subject, a.bytes, { stream: 'agent-2', file: 0, offset: 0, frames: 2 });
    const { got, error } = await readAll(source(stream));
    expect(got).toEqual(a.payloads);
    expect(error).toBeInstanceOf(BatchContinuityError);
    expect(error).toMatchObject({
      reason: 'second-stream',
      expected: { stream: 'agent-1', offset: a.bytes.length },
      received: { stream: 'agent-2', offset: 0 },
    });
  }, 30_000);

  const ok = { stream: 'x', file: 0, offset: 0, frames: 2 };
  test.each([
    ['no stream header', { ...ok, stream: undefined }, /no Flatstream-Stream header/],
    ['no offset header', { ...ok, offset: undefined }, /no Flatstream-Offset header/],
    [
      'a non-numeric offset',
      { ...ok, offset: 'abc' },
      /Flatstream-Offset header "abc" is not a non-negative integer/,
    ],
    [
      'a negative file',
      { ...ok, file: '-1' },
      /Flatstream-File header "-1" is not a non-negative integer/,
    ],
    [
      'a huge offset',
      { ...ok, offset: '99999999999999999999' },
      /Flatstream-Offset header "99999999999999999999"/,
    ],
    ['a padded frame count', { ...ok, frames: '02' }, /Flatstream-Frames header "02"/],
    ['an offset past 2^53 with the bytes', { ...ok, offset: String(2 ** 53 - 10) }, /past 2\^53/],
    ['more frames than the bytes hold', { ...ok, frames: 1000 }, /1000 frames cannot be/],
    ['zero frames in bytes', { ...ok, frames: 0 }, /0 frames cannot be/],
  ])(
    'hostile headers: %s -> BatchHeaderError, nothing delivered',
    async (_name, h, why) => {
      const { stream, subject } = await fresh();
      const a = frames(2, 8);
      const seq = await publish(nc, subject, a.bytes, h);
      const { got, error } = await readAll(source(stream));
      expect(got).toEqual([]);
      expect(error).toBeInstanceOf(BatchHeaderError);
      expect(error).toMatchObject({ code: 'ERR_FLATSTREAM_BATCH_HEADER', seq });
      expect(error!.message).toMatch(why);
    },
    30_000,
  );

  test('a corrupt frame is the reader’s ChecksumMismatchError, located in the shipped file', async () => {
    const { stream, subject } = await fresh();
    const a = frames(3, 9);
    const b = frames(3, 10);
    const bad = Buffer.from(b.bytes);
    const second = 12 + b.payloads[0]!.length; // frame 1 of b
    bad[second + 12] ^= 0x01; // a payload byte of it
    await pub(nc, subject, a.bytes, { stream: 'x', file: 0, offset: 1000, frames: 3 });
    await pub(nc, subject, bad, { stream: 'x', file: 0, offset: 1000 + a.bytes.length, frames: 3 });
    const src = source(stream);
    const reader = await src.reader({ deframer });
    const got: Buffer[] = [];
    const error = await reader
      .processAllAsync((p) => void got.push(Buffer.from(p)))
      .catch((e: Error) => e);
    expect(got).toEqual([...a.payloads, b.payloads[0]]);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error).toMatchObject({ offset: a.bytes.length + second, frameIndex: 4 });
    expect(src.locate((error as ChecksumMismatchError).offset!)).toEqual({
      stream: 'x',
      file: 0,
      offset: 1000 + a.bytes.length + second,
      seq: 2,
    });
    await src.close();
  }, 30_000);

  test('a batch that is not whole frames is the reader’s UnexpectedEofError at the end', async () => {
    const { stream, subject } = await fresh();
    const a = frames(3, 11);
    await pub(nc, subject, a.bytes.subarray(0, a.bytes.length - 2), {
      stream: 'x',
      file: 0,
      offset: 0,
      frames: 3,
    });
    const { got, error } = await readAll(source(stream));
    expect(got).toEqual(a.payloads.slice(0, 2));
    expect(error).toBeInstanceOf(UnexpectedEofError);
    const lastStart = a.bytes.length - 12 - a.payloads[2]!.length;
    expect(error).toMatchObject({ offset: lastStart, frameIndex: 2, part: 'payload' });
  }, 30_000);

  test('rotation: each file’s header frame is not yielded; onFile names each file; one reader reads both', async () => {
    const { stream, subject } = await fresh();
    const files: Buffer[] = [];
    for (const seed of [12, 13]) {
      const sink = new MemorySink();
      const w = new StreamWriter(sink, framer, { header: { rootType: `t.F${seed}` } });
      for (const p of frames(3, seed).payloads) w.writePayload(p);
      w.close();
      files.push(sink.toBuffer());
    }
    await pub(nc, subject, files[0]!, { stream: 'x', file: 0, offset: 0, frames: 4 });
    await pub(nc, subject, files[1]!, { stream: 'x', file: 1, offset: 0, frames: 4 });
    const seen: FileStart[] = [];
    const src = source(stream, { onFile: (f) => seen.push(f) });
    const reader = await src.reader(); // the checksum from the header
    expect(reader.deframer.checksum).toBe(XxHash64);
    const got: Buffer[] = [];
    await reader.processAllAsync((p) => void got.push(Buffer.from(p)));
    expect(got).toEqual([...frames(3, 12).payloads, ...frames(3, 13).payloads]);
    expect(seen.map((f) => [f.stream, f.file, f.header?.rootType])).toEqual([
      ['x', 0, 't.F12'],
      ['x', 1, 't.F13'],
    ]);
    expect(src.header?.rootType).toBe('t.F13');
  }, 30_000);

  test('an onFile that throws stops reading with its error as the cause, the message unacked', async () => {
    const { stream, subject } = await fresh();
    const a = frames(2, 22);
    await pub(nc, subject, a.bytes, { stream: 'x', file: 0, offset: 0, frames: 2 });
    const mine = new RangeError('not this file');
    const { got, error } = await readAll(
      source(stream, {
        onFile: () => {
          throw mine;
        },
      }),
    );
    expect(got).toEqual([]);
    // The reader wraps what a source throws in its IoError, located; the
    // cause is the callback's own error, not a wrapper of it.
    expect(error).toBeInstanceOf(IoError);
    expect(error!.message).toBe('source stream failed: not this file (frame 0 at offset 0)');
    expect(error!.cause).toBe(mine);
    const info = await (await jetstreamManager(nc)).consumers.info(stream, 'd');
    expect(info.ack_floor.stream_seq).toBe(0);
  }, 30_000);

  test('rotation to a file of another checksum: FormatMismatchError', async () => {
    const { stream, subject } = await fresh();
    const parts: Buffer[] = [];
    for (const f of [framer, new ChecksumFramer(Crc32)]) {
      const sink = new MemorySink();
      const w = new StreamWriter(sink, f, { header: {} });
      w.writePayload(Buffer.from('abc'));
      w.close();
      parts.push(sink.toBuffer());
    }
    await pub(nc, subject, parts[0]!, { stream: 'x', file: 0, offset: 0, frames: 2 });
    await pub(nc, subject, parts[1]!, { stream: 'x', file: 1, offset: 0, frames: 2 });
    const { got, error } = await readAll(source(stream));
    expect(got).toEqual([Buffer.from('abc')]);
    expect(error).toBeInstanceOf(FormatMismatchError);
    expect(error).toMatchObject({ streamChecksum: 'crc32', writerChecksum: 'xxhash64' });
  }, 30_000);

  test('acks follow the reader: a message is acked only once the reader asked past its frames', async () => {
    const { stream, subject } = await fresh();
    const a = frames(3, 14);
    const b = frames(3, 15);
    const c = frames(3, 16);
    let off = 0;
    for (const [i, f] of [a, b, c].entries()) {
      await pub(nc, subject, f.bytes, { stream: 'x', file: 0, offset: off, frames: 3 });
      off += f.bytes.length;
      void i;
    }
    // Reader 1 stops inside the second message (a crash after delivery,
    // before the ack: its connection closes).
    const s1 = source(stream, { ackWaitMs: 500 });
    const r1 = await s1.reader({ deframer });
    const got1: Buffer[] = [];
    await r1.processAllAsync((p) => {
      got1.push(Buffer.from(p));
      return got1.length < 4; // the first frame of b
    });
    await r1.close();
    await s1.close();
    expect(got1).toEqual([...a.payloads, b.payloads[0]]);
    expect(s1.stats.acked).toBe(1);
    // Reader 2, same durable: b again (from its first frame), then c; a never.
    const s2 = source(stream);
    const { got, error } = await readAll(s2);
    expect(error).toBeNull();
    expect(got).toEqual([...b.payloads, ...c.payloads]);
  }, 60_000);

  test('redelivery after the ack wait while the reader stalls is dropped by position', async () => {
    const { stream, subject } = await fresh();
    const a = frames(3, 17);
    const b = frames(3, 18);
    await pub(nc, subject, a.bytes, { stream: 'x', file: 0, offset: 0, frames: 3 });
    await pub(nc, subject, b.bytes, { stream: 'x', file: 0, offset: a.bytes.length, frames: 3 });
    // Ends once both redeliveries were seen and dropped (or after 20 s).
    const ac = new AbortController();
    const src = source(stream, {
      durable: 'stall',
      ackWaitMs: 300,
      follow: true,
      signal: ac.signal,
    });
    const watch = setInterval(() => src.stats.duplicates >= 2 && ac.abort(), 20);
    const deadline = setTimeout(() => ac.abort(), 20_000);
    const reader = await src.reader({ deframer });
    const got: Buffer[] = [];
    try {
      for await (const p of reader) {
        got.push(Buffer.from(p));
        // Neither message is acked yet: both come again after 300 ms.
        if (got.length === 1) await new Promise((r) => setTimeout(r, 1500));
      }
    } finally {
      clearInterval(watch);
      clearTimeout(deadline);
    }
    expect(got).toEqual([...a.payloads, ...b.payloads]);
    // Each 300 ms of the stall redelivers both: how many times is timing.
    expect(src.stats.duplicates).toBeGreaterThanOrEqual(2);
    await src.close();
  }, 60_000);

  test('a second source on the durable starts after the ack floor: an old duplicate is dropped', async () => {
    const { stream, subject } = await fresh();
    const a = frames(3, 19);
    const b = frames(2, 20);
    const p0 = { stream: 'x', file: 0, offset: 0, frames: 3 };
    await pub(nc, subject, a.bytes, p0);
    const r1 = await readAll(source(stream));
    expect(r1.got).toEqual(a.payloads);
    await pub(nc, subject, a.bytes, p0, 'resent-past-the-window');
    await pub(nc, subject, b.bytes, { stream: 'x', file: 0, offset: a.bytes.length, frames: 2 });
    const s2 = source(stream);
    const r2 = await readAll(s2);
    expect(r2.error).toBeNull();
    expect(r2.got).toEqual(b.payloads);
    expect(s2.stats.duplicates).toBe(1);
  }, 30_000);

  test('memory: reading 1,500 messages of 16 KiB retains none of them (no reaction left per step)', async () => {
    const { stream, subject } = await fresh();
    const payload = bytes(1012, 77); // 1 KiB frames
    const msg = Buffer.concat(Array.from({ length: 16 }, () => framer.frame(payload)));
    const N = 1500;
    for (let i = 0; i < N; i += 100)
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          pub(nc, subject, msg, { stream: 'm', file: 0, offset: (i + j) * msg.length, frames: 16 }),
        ),
      );
    // A child with --expose-gc: the heap and buffers after a GC, before and
    // after reading, with the source (and its never-aborted signal) held.
    const script = `
      const f = require(${JSON.stringify(join(__dirname, '..', 'dist/cjs/index.js'))});
      const { getEventListeners } = require('node:events');
      (async () => {
        const ac = new AbortController();
        const src = new f.JetStreamSource({ servers: ${JSON.stringify(srv.url)}, stream: ${JSON.stringify(stream)}, durable: 'leak', follow: false, batch: 256, signal: ac.signal });
        const reader = await src.reader({ deframer: new f.Deframer(f.XxHash64) });
        const used = () => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
        const before = used();
        let n = 0;
        await reader.processAllAsync(() => void n++);
        const grew = used() - before;
        console.log(JSON.stringify({ n, messages: src.stats.messages, grew, listeners: getEventListeners(ac.signal, 'abort').length }));
      })();
    `;
    const r = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, ['--expose-gc', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (status) => resolve({ status, stdout }));
    });
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      n: number;
      messages: number;
      grew: number;
      listeners: number;
    };
    expect(out).toMatchObject({ n: N * 16, messages: N });
    // 24 MB were read; before the fix every message stayed reachable.
    expect(out.grew).toBeLessThan(10 * 1024 * 1024);
    expect(out.listeners).toBe(0); // each wait's 'abort' listener was removed
  }, 60_000);

  test('deleteOnClose: the consumer it creates has an inactive_threshold (the server removes it if the reader dies)', async () => {
    const { stream, subject } = await fresh();
    const a = frames(2, 78);
    await pub(nc, subject, a.bytes, { stream: 'x', file: 0, offset: 0, frames: 2 });
    const jsm = await jetstreamManager(nc);
    for (const deleteOnClose of [true, false]) {
      const durable = `once-${deleteOnClose}`;
      const src = source(stream, { durable, deleteOnClose });
      await src.peek();
      const info = await jsm.consumers.info(stream, durable);
      expect(info.config.inactive_threshold ?? 0).toBe(deleteOnClose ? 300_000 * 1e6 : 0);
      await src.close();
    }
  }, 30_000);

  test('signal: aborting ends a following iteration as a clean end', async () => {
    const { stream, subject } = await fresh();
    const a = frames(2, 21);
    await pub(nc, subject, a.bytes, { stream: 'x', file: 0, offset: 0, frames: 2 });
    const ac = new AbortController();
    const src = source(stream, { follow: true, signal: ac.signal });
    const reader = await src.reader({ deframer });
    const got: Buffer[] = [];
    const n = await reader.processAllAsync((p) => {
      got.push(Buffer.from(p));
      if (got.length === 2) setImmediate(() => ac.abort());
    });
    expect(n).toBe(2);
    expect(got).toEqual(a.payloads);
  }, 30_000);
});

maybe('flatstream cat --from nats://', () => {
  const ROOT = join(__dirname, '..');
  const MAIN = join(ROOT, 'dist/cjs/cli/main.js');
  const EVENTS = readFileSync(join(ROOT, 'test/generated/events.bfbs'));
  let srv: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  let file: Buffer;
  let path: string;
  beforeAll(async () => {
    srv = await startNats();
    nc = await connect({ servers: srv.url });
    dir = mkdtempSync(join(tmpdir(), 'fs-cat-from-'));
    // Three Telemetry messages under a header with the events schema.
    path = join(dir, 'tel.fst');
    const codec = compileSchema(EVENTS, { rootType: 'events.Telemetry' }).root!;
    const w = new StreamWriter(path, new ChecksumFramer(XxHash64), {
      header: { schema: EVENTS, rootType: 'events.Telemetry' },
    });
    for (let i = 0; i < 3; i++)
      w.writePayload(codec.encode({ deviceId: 7n, timestamp: BigInt(1000 + i), value: i / 2 }));
    w.close();
    file = readFileSync(path);
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await srv?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (
    ...args: string[]
  ): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });

  // The file shipped in two messages: the header and frame 1, then frames 2 and 3.
  async function ship(stream: string, damage = false): Promise<number[]> {
    await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`] });
    const h = file.readUInt32LE(0) + 12;
    const cut = h + file.readUInt32LE(h) + 12;
    const second = Buffer.from(file.subarray(cut));
    if (damage) second[second.length - 1] ^= 0xff;
    return [
      await pub(nc, `${stream}.a`, file.subarray(0, cut), {
        stream: 'tel',
        file: 0,
        offset: 0,
        frames: 2,
      }),
      await pub(nc, `${stream}.a`, second, { stream: 'tel', file: 0, offset: cut, frames: 2 }),
    ];
  }

  test('prints exactly what cat FILE prints, schema-decoded and raw; its own consumer is deleted', async () => {
    await ship('CAT1');
    const local = await run('cat', 'tel.fst');
    const remote = await run('cat', '--from', srv.url, '--stream', 'CAT1');
    if (native) {
      expect(local.status).toBe(0);
      expect(local.stdout.split('\n')).toHaveLength(4);
      expect(remote).toEqual({ status: 0, stdout: local.stdout, stderr: '' });
    } else {
      // Verifying payloads against the schema needs the addon, from a file or not.
      expect(local.status).toBe(2);
      expect(remote.status).toBe(2);
      expect(remote.stderr.split('\n')[0]).toBe(local.stderr.split('\n')[0]);
    }
    const h = file.readUInt32LE(0) + 12;
    const raw = await run('cat', '--from', srv.url, '--stream', 'CAT1', '--raw', 'hex');
    const lines: string[] = [];
    for (let i = 1, at = h; at < file.length; i++) {
      const len = file.readUInt32LE(at);
      lines.push(
        JSON.stringify({
          frame: i,
          offset: at,
          hex: file.subarray(at + 12, at + 12 + len).toString('hex'),
        }),
      );
      at += 12 + len;
    }
    expect(raw).toEqual({ status: 0, stdout: `${lines.join('\n')}\n`, stderr: '' });
    expect((await run('cat', 'tel.fst', '--raw', 'hex')).stdout).toBe(raw.stdout);
    const consumers = await (await jetstreamManager(nc)).consumers.list('CAT1').next();
    expect(consumers).toEqual([]);
  }, 60_000);

  test('--subject: two agents on one stream, each read alone through its filter', async () => {
    await (await jetstreamManager(nc)).streams.add({ name: 'CAT4', subjects: ['CAT4.>'] });
    const a = frames(2, 50);
    const b = frames(3, 51);
    await pub(nc, 'CAT4.a', a.bytes, { stream: 'agent-a', file: 0, offset: 0, frames: 2 });
    await pub(nc, 'CAT4.b', b.bytes, { stream: 'agent-b', file: 0, offset: 0, frames: 3 });
    const hex = (p: Buffer[]): string[] => p.map((x) => x.toString('hex'));
    const all = await run(
      'cat',
      '--from',
      srv.url,
      '--stream',
      'CAT4',
      '--raw',
      'hex',
      '--checksum',
      'xxhash64',
    );
    expect(all.status).toBe(1);
    expect(all.stderr).toMatch(
      /second-stream: expected stream "agent-a" file 0 offset \d+, received stream "agent-b" file 0 offset 0/,
    );
    for (const [subject, f] of [
      ['CAT4.a', a],
      ['CAT4.b', b],
    ] as const) {
      const r = await run(
        'cat',
        '--from',
        srv.url,
        '--stream',
        'CAT4',
        '--subject',
        subject,
        '--raw',
        'hex',
        '--checksum',
        'xxhash64',
      );
      expect(r.status).toBe(0);
      expect(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).hex),
      ).toEqual(hex(f.payloads));
    }
  }, 60_000);

  test('--durable: read through it and acked; a second cat finds nothing new', async () => {
    await ship('CAT2');
    const first = await run(
      'cat',
      '--from',
      srv.url,
      '--stream',
      'CAT2',
      '--durable',
      'ops',
      '--raw',
      'hex',
    );
    expect(first.status).toBe(0);
    expect(first.stdout.split('\n')).toHaveLength(4);
    const info = await (await jetstreamManager(nc)).consumers.info('CAT2', 'ops');
    expect(info.ack_floor.stream_seq).toBe(2);
    expect(info.num_ack_pending).toBe(0);
    const again = await run(
      'cat',
      '--from',
      srv.url,
      '--stream',
      'CAT2',
      '--durable',
      'ops',
      '--raw',
      'hex',
    );
    expect(again).toEqual({ status: 0, stdout: '', stderr: '' });
  }, 60_000);

  test('damage: the messages before it, then exit 1 naming the JetStream message and file offset', async () => {
    const [, seq] = await ship('CAT3', true);
    const r = await run('cat', '--from', srv.url, '--stream', 'CAT3', '--raw', 'hex');
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n')).toHaveLength(3); // frames 1 and 2
    const h = file.readUInt32LE(0) + 12;
    let last = h;
    for (let i = 0; i < 2; i++) last += 12 + file.readUInt32LE(last);
    expect(r.stderr).toMatch(
      new RegExp(
        `^flatstream cat: checksum mismatch: .* \\(JetStream message ${seq}: stream "tel" file 0 offset ${last}\\)\\n$`,
      ),
    );
  }, 60_000);

  test('SIGINT mid-read: exit 0 with whole lines printed, and its own consumer deleted', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'CATSIG', subjects: ['CATSIG.>'] });
    const N = 3000;
    const one = (i: number) => framer.frame(bytes(8, 500 + i));
    for (let i = 0; i < N; i += 100)
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          pub(nc, 'CATSIG.a', one(i + j), {
            stream: 'sig',
            file: 0,
            offset: (i + j) * 20,
            frames: 1,
          }),
        ),
      );
    const child = spawn(
      process.execPath,
      [MAIN, 'cat', '--from', srv.url, '--stream', 'CATSIG', '--raw', 'hex'],
      {
        cwd: dir,
      },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        resolve();
      }),
    );
    // The server paused: cat waits on it, mid-read, when SIGINT comes.
    process.kill(srv.pid, 'SIGSTOP');
    try {
      child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      process.kill(srv.pid, 'SIGCONT');
    }
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(stderr).toBe('');
    const lines = stdout.split('\n');
    expect(lines.pop()).toBe(''); // whole lines
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(N); // interrupted, not finished
    const names: string[] = [];
    for await (const c of jsm.consumers.list('CATSIG')) names.push(c.name);
    expect(names).toEqual([]);
  }, 60_000);

  test('usage: no --stream, a FILE with --from, --stream without --from; a server that is not there', async () => {
    const a = await run('cat', '--from', srv.url);
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/^flatstream cat: cat --from needs --stream NAME\n/);
    const b = await run('cat', 'tel.fst', '--from', srv.url, '--stream', 'X');
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/give no FILE/);
    const c = await run('cat', 'tel.fst', '--stream', 'X');
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/--stream goes with --from/);
    const d = await run('cat', '--from', 'nats://127.0.0.1:1', '--stream', 'X', '--raw', 'hex');
    expect(d.status).toBe(1);
    expect(d.stderr).toMatch(/^flatstream cat: cannot connect to nats:\/\/127\.0\.0\.1:1: /);
    const e = await run('cat', '--from', srv.url, '--stream', 'NOPE', '--raw', 'hex');
    expect(e.status).toBe(1);
    expect(e.stderr).toMatch(
      /^flatstream cat: JetStream stream "NOPE", consumer "flatstream-cat-\d+-[0-9a-f]{8}": stream not found/,
    );
  }, 60_000);
});

maybe(`JetStreamSource: faults (${MODE})`, () => {
  test('the server stopped and restarted under a following source: it reads on, nothing lost or doubled', async () => {
    const srv = await startNats();
    let nc = await connect({ servers: srv.url });
    try {
      await (await jetstreamManager(nc)).streams.add({ name: 'R', subjects: ['r.>'] });
      const a = frames(3, 30);
      const b = frames(3, 31);
      await pub(nc, 'r.a', a.bytes, { stream: 'x', file: 0, offset: 0, frames: 3 });
      const ac = new AbortController();
      const src = new JetStreamSource({
        servers: srv.url,
        stream: 'R',
        durable: 'd',
        signal: ac.signal,
        connectOptions: { reconnectTimeWait: 100, maxReconnectAttempts: -1 },
      });
      const reader = await src.reader({ deframer });
      const got: Buffer[] = [];
      const deadline = setTimeout(() => ac.abort(), 40_000);
      for await (const p of reader) {
        got.push(Buffer.from(p));
        if (got.length === 3) {
          await nc.close();
          await srv.stop();
          await srv.restart();
          nc = await connect({ servers: srv.url });
          await pub(nc, 'r.a', b.bytes, {
            stream: 'x',
            file: 0,
            offset: a.bytes.length,
            frames: 3,
          });
        }
        if (got.length === 6) ac.abort();
      }
      clearTimeout(deadline);
      expect(got).toEqual([...a.payloads, ...b.payloads]);
      expect(src.stats.duplicates).toBe(0);
    } finally {
      await nc.close();
      await srv.dispose();
    }
  }, 60_000);

  test('refused credentials: the reader fails with an IoError naming the server', async () => {
    const srv = await startNats({ auth: { user: 'u', pass: 'p' } });
    try {
      const src = new JetStreamSource({
        servers: srv.url,
        stream: 'S',
        durable: 'd',
        connectOptions: { user: 'u', pass: 'wrong' },
      });
      const reader = await src.reader({ deframer });
      const e = await reader.processAllAsync(() => undefined).catch((err: Error) => err);
      expect(e).toBeInstanceOf(IoError);
      expect((e as Error).message).toMatch(
        new RegExp(`^cannot connect to ${srv.url.replace(/\./g, '\\.')}: .*Authorization`, 'i'),
      );
    } finally {
      await srv.dispose();
    }
  }, 30_000);

  test('the consumer deleted under a following source: an IoError, not a retry loop', async () => {
    const srv = await startNats();
    const nc = await connect({ servers: srv.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'DEL', subjects: ['del.>'] });
      const a = frames(2, 32);
      await pub(nc, 'del.a', a.bytes, { stream: 'x', file: 0, offset: 0, frames: 2 });
      const ac = new AbortController();
      const deadline = setTimeout(() => ac.abort(), 30_000);
      const src = new JetStreamSource({
        servers: srv.url,
        stream: 'DEL',
        durable: 'd',
        signal: ac.signal,
      });
      const reader = await src.reader({ deframer });
      const got: Buffer[] = [];
      const error = await (async () => {
        for await (const p of reader) {
          got.push(Buffer.from(p));
          if (got.length === 2) await jsm.consumers.delete('DEL', 'd');
        }
        return null;
      })().catch((e: Error) => e);
      clearTimeout(deadline);
      expect(ac.signal.aborted).toBe(false);
      expect(got).toEqual(a.payloads);
      expect(error).toBeInstanceOf(IoError);
      expect(error!.message).toMatch(/consumer/i);
    } finally {
      await nc.close();
      await srv.dispose();
    }
  }, 60_000);

  test('a reader process SIGKILLed between delivery and ack: the next reader resumes at a message boundary, nothing lost', async () => {
    const srv = await startNats();
    const nc = await connect({ servers: srv.url });
    try {
      await (await jetstreamManager(nc)).streams.add({ name: 'K', subjects: ['k.>'] });
      const batches = Array.from({ length: 6 }, (_, i) => frames(4, 40 + i));
      let off = 0;
      for (const f of batches) {
        await pub(nc, 'k.a', f.bytes, { stream: 'x', file: 0, offset: off, frames: 4 });
        off += f.bytes.length;
      }
      const all = batches.flatMap((f) => f.payloads.map((p) => p.toString('hex')));
      // The child prints each payload as it gets it, and stalls (never
      // asking for the next chunk) after the 10th: inside the third message.
      const script = `
        const f = require(${JSON.stringify(join(__dirname, '..', 'dist/cjs/index.js'))});
        (async () => {
          const src = new f.JetStreamSource({ servers: ${JSON.stringify(srv.url)}, stream: 'K', durable: 'd', ackWaitMs: 500 });
          const reader = await src.reader({ deframer: new f.Deframer(f.XxHash64) });
          let n = 0;
          for await (const p of reader) {
            process.stdout.write(Buffer.from(p).toString('hex') + '\\n');
            if (++n === 10) await new Promise(() => setInterval(() => {}, 1000));
          }
        })();
      `;
      const child = spawn(process.execPath, ['-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.split('\n').length > 10) resolve();
        });
      });
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const first = out.trim().split('\n');
      expect(first).toEqual(all.slice(0, 10));
      const src = new JetStreamSource({
        servers: srv.url,
        stream: 'K',
        durable: 'd',
        follow: false,
      });
      const { got, error } = await readAll(src);
      expect(error).toBeNull();
      const second = got.map((p) => p.toString('hex'));
      // Message 3, inside which it died, comes again whole, then the rest.
      // Messages 1 and 2 were acked (the child asked past them), unless the
      // kill came before the client flushed those acks: then they come
      // again too. A message boundary at or before frame 8 in any case,
      // never a frame lost (the exact ack rule in-process: "acks follow the
      // reader" above).
      const from = all.length - second.length;
      expect([0, 4, 8]).toContain(from);
      expect(second).toEqual(all.slice(from));
    } finally {
      await nc.close();
      await srv.dispose();
    }
  }, 60_000);
});

describe('JetStreamSource and JetStreamSink: arguments', () => {
  const base = { servers: 'nats://127.0.0.1:1', stream: 'S', durable: 'd' };
  test.each([
    [
      { ...base, servers: '' },
      'The "servers" option must be a URL string or a non-empty array of them',
    ],
    [
      { ...base, servers: [1] },
      'The "servers" option must be a URL string or a non-empty array of them',
    ],
    [{ ...base, stream: '' }, 'The "stream" option must be a non-empty string'],
    [{ ...base, durable: 7 }, 'The "durable" option must be a non-empty string'],
    [{ ...base, follow: 'no' }, 'The "follow" option must be a boolean'],
    [{ ...base, signal: {} }, 'The "signal" option must be an AbortSignal'],
    [{ ...base, onFile: 1 }, /"onFile"/],
  ])('source: %j -> TypeError ERR_INVALID_ARG_TYPE', (opts, message) => {
    const e = thrown(() => new JetStreamSource(opts as never));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(e.message).toMatch(message);
  });

  test.each([
    [{ ...base, batch: 0 }, 'batch'],
    [{ ...base, batch: 10_001 }, 'batch'],
    [{ ...base, ackWaitMs: 99 }, 'ackWaitMs'],
  ])('source: %j -> RangeError ERR_OUT_OF_RANGE', (opts, name) => {
    const e = thrown(() => new JetStreamSource(opts as never));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_OUT_OF_RANGE');
    expect(e.message).toMatch(name);
  });

  const sinkBase = { servers: 'nats://127.0.0.1:1', subject: 's', framer };
  test.each([
    [{ ...sinkBase, subject: '' }, 'The "subject" option must be a non-empty string'],
    [{ ...sinkBase, framer: deframer }, `The "framer" option must be the Framer the writer uses`],
    [
      { ...sinkBase, streamId: 'a:b' },
      'The "streamId" option must be a non-empty string without spaces or colons',
    ],
  ])('sink: %j -> TypeError', (opts, message) => {
    const e = thrown(() => new JetStreamSink(opts as never));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toBe(message);
  });

  test.each([
    [{ ...sinkBase, maxSlabs: 0 }, 'maxSlabs'],
    [{ ...sinkBase, retryForMs: -1 }, 'retryForMs'],
    [{ ...sinkBase, closeTimeoutMs: 1.5 }, 'closeTimeoutMs'],
  ])('sink: %j -> RangeError', (opts, name) => {
    const e = thrown(() => new JetStreamSink(opts as never));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toMatch(name);
  });

  test('a signal aborted before reading: a clean end without connecting (no server needed)', async () => {
    const ac = new AbortController();
    ac.abort();
    const src = new JetStreamSource({ ...base, signal: ac.signal });
    const reader = await src.reader({ deframer });
    expect(await reader.processAllAsync(() => undefined)).toBe(0);
    expect(reader.error).toBeNull();
  });

  test('a signal aborted while connecting ends the iteration cleanly at once', async () => {
    const ac = new AbortController();
    // 192.0.2.1 (TEST-NET-1) never answers: the connection attempt hangs.
    const src = new JetStreamSource({
      ...base,
      servers: 'nats://192.0.2.1:4222',
      signal: ac.signal,
    });
    const it = src[Symbol.asyncIterator]();
    const step = it.next();
    setImmediate(() => ac.abort());
    await expect(step).resolves.toEqual({ done: true, value: undefined });
  });

  test('a source is iterated once, one step at a time', async () => {
    const src = new JetStreamSource(base);
    const it = src[Symbol.asyncIterator]();
    expect(() => src[Symbol.asyncIterator]()).toThrow('a JetStreamSource is iterated once');
    const first = it.next();
    await expect(it.next()).rejects.toThrow(
      'JetStreamSource: next() called while a step is in progress',
    );
    await expect(first).rejects.toThrow(/cannot connect to nats:\/\/127\.0\.0\.1:1/);
    await expect(it.next()).rejects.toThrow(/cannot connect/); // the error stays
    await src.close();
  });
});
