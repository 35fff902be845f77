// The direct JetStream sink (docs/design.md, "Direct JetStream sink"):
// what publishing each slab to JetStream costs beside writing it to a file.
//   node bench/jetstream-sink.mjs [--quick]
// A local nats-server (Debian's, on PATH) with JetStream storing into a
// temporary directory, on 127.0.0.1 at a port the kernel picks. Each case
// writes N frames with StreamWriter (XXH3, 64 KiB slabs), honouring
// write()'s false with drain(), and is timed until writer.finished()
// (every slab on disk / acked by the server). Cases alternate, rounds give
// medians; the JetStream stream is purged between rounds.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { banner, fmt, lib, median, quick, require, table } from './harness.mjs';

const { connect } = require('@nats-io/transport-node');
const { jetstreamManager } = require('@nats-io/jetstream');
const { jetstream } = require('@nats-io/jetstream');
const { StreamWriter, JetStreamSink, MemorySink, ChecksumFramer, XxHash64 } = lib;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-js-bench-'));
const server = spawn(
  'nats-server',
  ['-a', '127.0.0.1', '-p', '-1', '--http_port', '0', '-js', '-sd', path.join(dir, 'store')],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
process.on('exit', () => {
  server.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});
const url = await new Promise((resolve, reject) => {
  let log = '';
  server.stderr.on('data', (d) => {
    log += d;
    const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
    if (m && /Server is ready/.test(log)) resolve(`nats://127.0.0.1:${m[1]}`);
  });
  server.once('exit', (c) => reject(new Error(`nats-server exited (${c}):\n${log}`)));
});
const nc = await connect({ servers: url });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: 'BENCH', subjects: ['bench.>'] });

banner('JetStreamSink beside a file');
console.log(`nats-server: ${url}, JetStream file store in ${os.tmpdir()}`);

const framer = new ChecksumFramer(XxHash64);
const ROUNDS = quick ? 3 : 5;

async function writeAll(target, payload, n) {
  const w = new StreamWriter(target, framer);
  for (let i = 0; i < n; i++) {
    payload[0] = i;
    if (!w.writePayload(payload)) await w.drain();
  }
  w.close();
  await w.finished();
  return w;
}

const cases = [
  {
    name: 'file (FileSink)',
    async run(payload, n) {
      const file = path.join(dir, 'out.fst');
      await writeAll(file, payload, n);
      fs.rmSync(file);
      return '';
    },
  },
  {
    name: 'JetStreamSink, maxSlabs 8',
    async run(payload, n) {
      await jsm.streams.purge('BENCH');
      const sink = new JetStreamSink({ servers: url, subject: 'bench.a', framer });
      await writeAll(sink, payload, n);
      const s = sink.stats;
      return `${s.acked} msgs, ${s.maxHeld} held max, ${s.retries} retries`;
    },
  },
  {
    // A reference, not a sink: the same slabs (made beforehand) published
    // 8 at a time, the order a reconnect keeps not guaranteed
    // (docs/design.md, "Direct JetStream sink": why the sink awaits one).
    name: 'reference: js.publish, 8 in flight',
    async run(payload, n) {
      await jsm.streams.purge('BENCH');
      const mem = new MemorySink();
      const w = new StreamWriter(mem, framer);
      for (let i = 0; i < n; i++) {
        payload[0] = i;
        w.writePayload(payload);
      }
      w.close();
      const t0 = process.hrtime.bigint();
      const js = jetstream(nc);
      const inFlight = new Set();
      let offset = 0;
      for (const [i, chunk] of mem.chunks.entries()) {
        const p = js.publish('bench.b', chunk, { msgID: `ref:0:${offset}` });
        offset += chunk.length;
        inFlight.add(p);
        p.then(() => inFlight.delete(p));
        if (inFlight.size >= 8) await Promise.race(inFlight);
        void i;
      }
      await Promise.all(inFlight);
      // Only the publishing is timed: the slabs were built before t0.
      return { ns: Number(process.hrtime.bigint() - t0), note: `${mem.chunks.length} msgs` };
    },
  },
];

for (const [size, n] of [
  [64, quick ? 200_000 : 1_000_000],
  [1024, quick ? 50_000 : 200_000],
]) {
  const payload = new Uint8Array(size).fill(7);
  const samples = cases.map(() => []);
  const notes = cases.map(() => '');
  for (const c of cases) await c.run(payload, Math.min(n, 20_000)); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, c] of cases.entries()) {
      const t0 = process.hrtime.bigint();
      const r = await c.run(payload, n);
      const ns = typeof r === 'object' ? r.ns : Number(process.hrtime.bigint() - t0);
      notes[i] = typeof r === 'object' ? r.note : r;
      samples[i].push(ns / 1e9);
    }
  }
  const bytes = n * (size + framer.headerSize);
  console.log(`\n### ${n} frames of ${size} B (XXH3, 64 KiB slabs), ${ROUNDS} rounds, medians`);
  table(
    ['sink', 'frames/s', 'MB/s', 'ms/run', 'note'],
    cases.map((c, i) => {
      const s = median(samples[i]);
      return [
        c.name,
        fmt.rate(n / s),
        (bytes / s / 1e6).toFixed(1),
        (s * 1e3).toFixed(0),
        notes[i],
      ];
    }),
    'lrrrl',
  );
}
await nc.close();
process.exit(0);
