// JetStreamSink (docs/design.md, "Direct JetStream sink") against a real
// nats-server (test/nats-server.ts), read back through JetStreamSource.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  ChecksumFramer,
  JetStreamSink,
  JetStreamSource,
  MemorySink,
  StreamWriter,
  XxHash64,
  native,
  Crc32,
  DefaultFramer,
  FlatStreamError,
  IoError,
} from '../lib/index';
import { bytes, MODE, thrown } from './helpers';
import { haveNatsServer, startNats, type NatsServer } from './nats-server';

const maybe = haveNatsServer() || process.env.CI ? describe : describe.skip;

async function addStream(url: string, name: string, subjects: string[]): Promise<void> {
  const nc = await connect({ servers: url });
  await (await jetstreamManager(nc)).streams.add({ name, subjects });
  await nc.close();
}

/** Payloads of sizes 0..299 bytes, deterministic. */
function payloads(n: number, seed = 1): Buffer[] {
  return Array.from({ length: n }, (_, i) => bytes((i * 37) % 300, seed + i));
}

async function readBack(
  url: string,
  stream: string,
  durable: string,
): Promise<{ got: Buffer[]; source: JetStreamSource }> {
  const source = new JetStreamSource({ servers: url, stream, durable, follow: false });
  const reader = await source.reader();
  const got: Buffer[] = [];
  for await (const p of reader) got.push(Buffer.from(p));
  return { got, source };
}

maybe(`JetStreamSink (${MODE})`, () => {
  let srv: NatsServer;
  beforeAll(async () => {
    srv = await startNats();
  }, 30_000);
  afterAll(async () => {
    await srv?.dispose();
  });

  test('sink -> server -> source: every frame once, in order, byte-exact', async () => {
    expect(native).toBe(MODE === 'native');
    await addStream(srv.url, 'RT', ['rt.>']);
    const framer = new ChecksumFramer(XxHash64);
    const sink = new JetStreamSink({
      servers: srv.url,
      subject: 'rt.a',
      framer,
      streamId: 'agent-1',
    });
    const writer = new StreamWriter(sink, framer, { slabSize: 4096 });
    const input = payloads(5000);
    for (const p of input) if (!writer.writePayload(p)) await writer.drain();
    writer.close();
    await writer.finished();
    const { got, source } = await readBack(srv.url, 'RT', 'rt-reader');
    expect(got.length).toBe(5000);
    for (let i = 0; i < input.length; i++) expect(got[i]!.equals(input[i]!)).toBe(true);
    expect(source.stats.messages).toBe(sink.stats.acked);
    // The stored messages are the writer's slabs byte for byte, with the
    // contract's headers: file 0, consecutive offsets, frame counts.
    const mem = new MemorySink();
    const w2 = new StreamWriter(mem, framer, { slabSize: 4096 });
    for (const p of input) w2.writePayload(p);
    w2.close();
    const nc = await connect({ servers: srv.url });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info('RT');
    expect(info.state.messages).toBe(mem.chunks.length);
    expect(sink.stats).toMatchObject({
      acked: mem.chunks.length,
      ackedFrames: 5000,
      ackedBytes: mem.length,
      held: 0,
      retries: 0,
    });
    let offset = 0;
    let framesSeen = 0;
    for (let seq = 1; seq <= info.state.messages; seq++) {
      const m = (await jsm.streams.getMessage('RT', { seq }))!;
      expect(Buffer.from(m.data).equals(mem.chunks[seq - 1]!)).toBe(true);
      expect(m.header.get('Flatstream-Stream')).toBe('agent-1');
      expect(m.header.get('Flatstream-File')).toBe('0');
      expect(m.header.get('Flatstream-Offset')).toBe(String(offset));
      expect(m.header.get('Nats-Msg-Id')).toBe(`agent-1:0:agent-1:${offset}:${m.data.length}`);
      framesSeen += Number(m.header.get('Flatstream-Frames'));
      offset += m.data.length;
    }
    expect(framesSeen).toBe(5000);
    await nc.close();
  }, 60_000);

  test('a headed stream: the source takes the checksum from the header and never yields it', async () => {
    await addStream(srv.url, 'HD', ['hd.>']);
    const framer = new ChecksumFramer(Crc32);
    const sink = new JetStreamSink({ servers: srv.url, subject: 'hd.a', framer });
    const writer = new StreamWriter(sink, framer, { header: { rootType: 'demo.T' } });
    const input = payloads(300, 7);
    for (const p of input) writer.writePayload(p);
    writer.close();
    await writer.finished();
    const source = new JetStreamSource({
      servers: srv.url,
      stream: 'HD',
      durable: 'r',
      follow: false,
    });
    const reader = await source.reader();
    expect(reader.deframer.checksum).toBe(Crc32);
    expect(source.header?.rootType).toBe('demo.T');
    const got: Buffer[] = [];
    for await (const p of reader) got.push(Buffer.from(p));
    expect(got).toEqual(input);
    expect(sink.stats.ackedFrames).toBe(301); // the header frame is a frame of the stream
    expect(sink.streamId).toMatch(/^[0-9a-f-]{36}$/);
  }, 60_000);

  test('a frame larger than the server’s max_payload fails the sink at once, not after retryForMs', async () => {
    await addStream(srv.url, 'BIG', ['big.>']);
    const framer = new ChecksumFramer(XxHash64);
    const sink = new JetStreamSink({ servers: srv.url, subject: 'big.a', framer });
    const writer = new StreamWriter(sink, framer, { slabSize: 4096 });
    writer.writePayload(Buffer.alloc(100));
    writer.flush();
    await writer.drain();
    writer.writePayload(Buffer.alloc(2 << 20)); // a frame of its own, larger than a slab
    const e = await writer.finished().catch((err: Error) => err);
    expect(e).toBeInstanceOf(IoError);
    expect((e as Error).message).toBe(
      `JetStreamSink: a slab of ${(2 << 20) + 12} bytes (at stream byte 112) does not fit the server's max_payload of 1048576 bytes with its headers; 1 frame in 1 slab (stream bytes 112 to ${112 + (2 << 20) + 12}) not acknowledged: lost`,
    );
    expect(sink.stats).toMatchObject({ acked: 1, ackedBytes: 112, retries: 0, held: 0 });
    expect(() => writer.close()).toThrow(IoError);
  }, 30_000);

  test('a framer that is not the writer’s: the slab is refused, the writer fails', async () => {
    const sink = new JetStreamSink({
      servers: srv.url,
      subject: 'nowhere',
      framer: new ChecksumFramer(XxHash64),
    });
    const writer = new StreamWriter(sink, new DefaultFramer(), { slabSize: 64 });
    writer.writePayload(Buffer.alloc(10));
    const e = thrown(() => writer.flush());
    expect(e).toBeInstanceOf(FlatStreamError);
    expect(e.message).toMatch(/a slab of 14 bytes is not whole frames of 12-byte headers/);
    expect(sink.stats.held).toBe(0);
    expect(() => writer.close()).toThrow(/not whole frames/);
  });
});

maybe(`JetStreamSink with the server away (${MODE})`, () => {
  test('stopped and restarted: write() says wait, the sink holds maxSlabs, nothing lost or doubled', async () => {
    const srv = await startNats();
    try {
      await addStream(srv.url, 'AWAY', ['away.>']);
      const framer = new ChecksumFramer(XxHash64);
      const sink = new JetStreamSink({ servers: srv.url, subject: 'away.a', framer, maxSlabs: 4 });
      const writer = new StreamWriter(sink, framer, { slabSize: 1024 });
      const input = payloads(3000, 11);
      let i = 0;
      for (; i < 1000; i++) if (!writer.writePayload(input[i]!)) await writer.drain();
      await srv.stop();
      // Write until the sink asks to wait: it then holds exactly maxSlabs.
      while (writer.writePayload(input[i++]!));
      expect(writer.needsDrain).toBe(true);
      expect(sink.stats.held).toBe(4);
      expect(writer.stats().slabsInFlight).toBe(4);
      let drained = false;
      const drain = writer.drain().then(() => (drained = true));
      // It keeps retrying while the server is away, and the slabs stay held.
      while (sink.stats.retries < 3) await new Promise((r) => setTimeout(r, 50));
      expect(drained).toBe(false);
      expect(sink.stats.held).toBe(4);
      expect(sink.stats.maxHeld).toBe(4);
      await srv.restart();
      await drain;
      for (; i < input.length; i++) if (!writer.writePayload(input[i]!)) await writer.drain();
      writer.close();
      await writer.finished();
      expect(sink.stats.maxHeld).toBe(4);
      expect(sink.stats.ackedFrames).toBe(3000);
      const { got } = await readBack(srv.url, 'AWAY', 'r');
      expect(got.length).toBe(3000);
      expect(got).toEqual(input);
    } finally {
      await srv.dispose();
    }
  }, 120_000);

  test('away before the first publish: the first connection is retried too, then all is stored once', async () => {
    const srv = await startNats();
    try {
      await addStream(srv.url, 'LATE', ['late.>']);
      await srv.stop();
      const framer = new ChecksumFramer(XxHash64);
      const sink = new JetStreamSink({ servers: srv.url, subject: 'late.a', framer, maxSlabs: 2 });
      const writer = new StreamWriter(sink, framer, { slabSize: 1024 });
      const input = payloads(400, 14);
      let i = 0;
      while (writer.writePayload(input[i++]!));
      expect(sink.stats.held).toBe(2);
      while (sink.stats.retries < 2) await new Promise((r) => setTimeout(r, 20));
      await srv.restart();
      for (; i < input.length; i++) if (!writer.writePayload(input[i]!)) await writer.drain();
      writer.close();
      await writer.finished();
      expect(sink.stats).toMatchObject({ held: 0, maxHeld: 2, ackedFrames: 400 });
      const { got } = await readBack(srv.url, 'LATE', 'r');
      expect(got).toEqual(input);
    } finally {
      await srv.dispose();
    }
  }, 60_000);

  test('a server never there: close() rejects and the process exits on its own (no connection left trying)', async () => {
    const srv = await startNats();
    const url = srv.url;
    await srv.dispose(); // a port nothing listens on
    const script = `
      const f = require(${JSON.stringify(join(__dirname, '..', 'dist/cjs/index.js'))});
      const framer = new f.ChecksumFramer(f.XxHash64);
      const sink = new f.JetStreamSink({ servers: ${JSON.stringify(url)}, subject: 's', framer, closeTimeoutMs: 200 });
      const w = new f.StreamWriter(sink, framer);
      w.writePayload(Buffer.from('x'));
      w.close();
      w.finished().then(() => console.log('resolved'), (e) => console.log(e.constructor.name, e.message));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.signal).toBeNull(); // not killed by the timeout: it exited
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^IoError JetStreamSink closed after 200 ms with 1 frame in 1 slab \(stream bytes 0 to 13\) not acknowledged: lost\n$/,
    );
  }, 30_000);

  test('close() while the server stays away: rejects after closeTimeoutMs naming what is lost', async () => {
    const srv = await startNats();
    try {
      await addStream(srv.url, 'GONE', ['gone.>']);
      const framer = new ChecksumFramer(XxHash64);
      const sink = new JetStreamSink({
        servers: srv.url,
        subject: 'gone.a',
        framer,
        closeTimeoutMs: 300,
      });
      const writer = new StreamWriter(sink, framer, { slabSize: 1024 });
      const input = payloads(100, 12);
      for (const p of input) writer.writePayload(p);
      writer.flush();
      await writer.drain();
      while (sink.stats.held > 0) await new Promise((r) => setTimeout(r, 10));
      const acked = sink.stats;
      await srv.stop();
      for (const p of input) writer.writePayload(p); // 100 frames more
      writer.close();
      const e = await writer.finished().then(
        () => null,
        (err: unknown) => err as Error,
      );
      expect(e).toBeInstanceOf(IoError);
      // The second 100 frames are the first's again: the same slabs.
      const slabs = new MemorySink();
      const w2 = new StreamWriter(slabs, framer, { slabSize: 1024 });
      for (const p of input) w2.writePayload(p);
      w2.close();
      const n = slabs.chunks.length;
      expect(e!.message).toBe(
        `JetStreamSink closed after 300 ms with 100 frames in ${n} slabs (stream bytes ${acked.ackedBytes} to ${acked.ackedBytes + slabs.length}) not acknowledged: lost`,
      );
      expect(sink.stats.ackedBytes).toBe(acked.ackedBytes);
      expect(sink.stats.held).toBe(0);
    } finally {
      await srv.dispose();
    }
  }, 60_000);

  test('refused credentials fail the sink at once, naming what is lost', async () => {
    const srv = await startNats({ auth: { user: 'u', pass: 'p' } });
    try {
      const framer = new ChecksumFramer(XxHash64);
      const sink = new JetStreamSink({
        servers: srv.url,
        subject: 'a.b',
        framer,
        connectOptions: { user: 'u', pass: 'wrong' },
      });
      const writer = new StreamWriter(sink, framer);
      writer.writePayload(Buffer.from('x'));
      writer.flush();
      const e = await writer.finished().catch((err: Error) => err);
      expect(e).toBeInstanceOf(IoError);
      expect((e as Error).message).toMatch(
        /^JetStreamSink: .*Authorization.*; 1 frame in 1 slab \(stream bytes 0 to 13\) not acknowledged: lost$/i,
      );
      expect(sink.stats.retries).toBe(0);
    } finally {
      await srv.dispose();
    }
  }, 30_000);

  test('a failed sink closes its connection: the process exits on its own without close()', async () => {
    const srv = await startNats();
    try {
      // A subject no stream captures: the sink fails after retryForMs while
      // the server is up; the script never calls close().
      const script = `
        const f = require(${JSON.stringify(join(__dirname, '..', 'dist/cjs/index.js'))});
        const framer = new f.ChecksumFramer(f.XxHash64);
        const sink = new f.JetStreamSink({ servers: ${JSON.stringify(srv.url)}, subject: 'no.stream', framer, retryForMs: 300 });
        sink.write(framer.frame(Buffer.from('x'))).then(
          () => console.log('resolved'),
          (e) => console.log(e.constructor.name),
        );
      `;
      const r = await new Promise<{ code: number | null; signal: string | null; stdout: string }>(
        (resolve) => {
          const child = spawn(process.execPath, ['-e', script], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let stdout = '';
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          // A hang bound, not a timing: the process must end by itself.
          const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
          child.on('exit', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout });
          });
        },
      );
      expect(r).toEqual({ code: 0, signal: null, stdout: 'IoError\n' });
    } finally {
      await srv.dispose();
    }
  }, 30_000);

  test('a subject no stream captures: retried for retryForMs, then the writer fails', async () => {
    const srv = await startNats();
    try {
      const framer = new ChecksumFramer(XxHash64);
      const sink = new JetStreamSink({
        servers: srv.url,
        subject: 'no.stream',
        framer,
        retryForMs: 300,
      });
      const writer = new StreamWriter(sink, framer, { slabSize: 1024 });
      for (const p of payloads(10, 13)) writer.writePayload(p);
      writer.flush();
      const e = await writer.finished().then(
        () => null,
        (err: unknown) => err as Error,
      );
      expect(e).toBeInstanceOf(IoError);
      const slabs = new MemorySink();
      const w2 = new StreamWriter(slabs, framer, { slabSize: 1024 });
      for (const p of payloads(10, 13)) w2.writePayload(p);
      w2.close();
      expect(slabs.chunks.length).toBe(2);
      expect(e!.message).toMatch(
        new RegExp(
          `^JetStreamSink: publishing to "no.stream" failed for 300 ms \\(.+\\); 10 frames in 2 slabs \\(stream bytes 0 to ${slabs.length}\\) not acknowledged: lost$`,
        ),
      );
      expect(sink.stats.retries).toBeGreaterThan(0);
      expect(() => writer.writePayload(Buffer.from('x'))).toThrow(IoError);
      expect(() => writer.close()).toThrow(IoError);
    } finally {
      await srv.dispose();
    }
  }, 60_000);
});

describe('the NATS client is optional', () => {
  test('absent: NatsClientMissingError (ERR_FLATSTREAM_NATS_CLIENT_MISSING) naming both packages', async () => {
    const missing = (): never => {
      throw Object.assign(new Error("Cannot find module '@nats-io/jetstream'"), {
        code: 'MODULE_NOT_FOUND',
      });
    };
    let lib!: typeof import('../lib/index');
    jest.isolateModules(() => {
      jest.doMock('@nats-io/jetstream', missing);
      lib = require('../lib/index') as typeof import('../lib/index');
    });
    const source = new lib.JetStreamSource({
      servers: 'nats://127.0.0.1:1',
      stream: 'S',
      durable: 'd',
    });
    const reader = await source.reader({ deframer: new lib.Deframer() });
    const e = await reader.processAllAsync(() => undefined).catch((err: Error) => err);
    expect(e).toBeInstanceOf(lib.NatsClientMissingError);
    expect(e).toMatchObject({
      code: 'ERR_FLATSTREAM_NATS_CLIENT_MISSING',
      packages: ['@nats-io/transport-node', '@nats-io/jetstream'],
      message:
        'the NATS client is not installed: npm install @nats-io/transport-node @nats-io/jetstream (optional peer dependencies of flatstream, needed only for JetStream)',
    });
    // The sink fails at its first publish, not after retryForMs.
    const framer = new lib.ChecksumFramer(lib.XxHash64);
    const sink = new lib.JetStreamSink({ servers: 'nats://127.0.0.1:1', subject: 's', framer });
    const writer = new lib.StreamWriter(sink, framer);
    writer.writePayload(Buffer.from('x'));
    writer.flush();
    const w = await writer.finished().catch((err: Error) => err);
    expect(w).toBeInstanceOf(lib.NatsClientMissingError);
    expect(sink.stats.retries).toBe(0);
    expect(() => writer.close()).toThrow(lib.NatsClientMissingError);
    jest.dontMock('@nats-io/jetstream');
  });
});
