// JetStreamSink (docs/design.md, "Direct JetStream sink") against a real
// nats-server (test/nats-server.ts), read back through JetStreamSource.
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  ChecksumFramer,
  Deframer,
  JetStreamSink,
  JetStreamSource,
  MemorySink,
  StreamWriter,
  XxHash64,
  native,
} from '../lib/index';
import { bytes, MODE } from './helpers';
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
  }, 60_000);
});
