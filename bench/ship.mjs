// Shipping to JetStream (docs/design.md, "Shipping to JetStream").
//   node bench/ship.mjs [--quick] [--rounds R] [--rate N] [--seconds S]
// Needs nats-server on PATH (Debian's package; scripts/setup.sh installs it).
// 1. Throughput: a local nats-server (JetStream, file storage in a temporary
//    directory); a file of telemetry-sized frames (48-byte payloads, XXH3:
//    60 bytes a frame) and one of 1 KiB payloads, written first; one
//    JetStreamShipper with its defaults ships each file from its start to a
//    fresh JetStream stream, timed from run() to the last acknowledgement
//    (checkpoint included). Rounds alternate the files; medians.
// 2. The agent's write() with the shipper in the same process: a child
//    process writes telemetry events at a steady rate through StreamWriter +
//    CaptureSink (FileSink without the addon) for S seconds, timing every
//    write() call (performance.now() around it); with --ship a
//    JetStreamShipper follows the same file in that process. Children
//    alternate without/with; medians of their percentiles.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { banner, lib, median, quick, require, table, verdict } from './harness.mjs';

const self = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('--rounds', quick ? 1 : 3));
const RATE = Number(opt('--rate', 200_000));
const SECONDS = Number(opt('--seconds', quick ? 2 : 5));
const { JetStreamShipper, StreamWriter, CaptureSink, ChecksumFramer, XxHash64 } = lib;
const { connect } = require('@nats-io/transport-node');
const { jetstreamManager } = require('@nats-io/jetstream');

async function startServer(dir) {
  const srv = spawn(
    'nats-server',
    ['-a', '127.0.0.1', '-p', '-1', '--http_port', '0', '-js', '-sd', path.join(dir, 'store')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  process.on('exit', () => srv.kill('SIGKILL'));
  let log = '';
  const port = await new Promise((resolve, reject) => {
    srv.stderr.on('data', (d) => {
      log += d;
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
      if (m && /Server is ready/.test(log)) resolve(Number(m[1]));
    });
    srv.once('exit', () => reject(new Error(`nats-server exited:\n${log}`)));
  });
  return { srv, url: `nats://127.0.0.1:${port}` };
}

function writeFile(file, count, size) {
  const w = new StreamWriter(file, new ChecksumFramer(XxHash64), { append: false });
  const p = Buffer.alloc(size);
  for (let i = 0; i < count; i++) {
    p.writeUInt32LE(i, 0);
    p.writeDoubleLE(i * 0.5, 8 % size);
    w.writePayload(p);
  }
  w.close();
}

// ============================================================================
// Child: the agent, with or without the shipper beside it.
// ============================================================================
if (args.includes('--agent')) {
  const url = opt('--url');
  const ship = args.includes('--ship');
  const file = opt('--file');
  const sink = CaptureSink ? new CaptureSink(file, { stagingPath: `${file}.staging` }) : file;
  const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  let shipper = null;
  let done = null;
  if (ship) {
    shipper = new JetStreamShipper({ servers: url, subject: opt('--subject'), path: file });
    done = shipper.run();
  }
  const total = RATE * SECONDS;
  const lat = new Float64Array(total);
  const p = Buffer.alloc(48);
  let i = 0;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
      for (; i < due; i++) {
        p.writeUInt32LE(i, 0);
        const a = performance.now();
        w.writePayload(p);
        lat[i] = performance.now() - a;
      }
      if (i >= total) resolve();
      else setImmediate(tick);
    };
    tick();
  });
  const elapsed = (performance.now() - t0) / 1000;
  w.close();
  await w.finished();
  let shipped = 0;
  if (shipper) {
    const size = fs.statSync(file).size;
    while (shipper.stats().acked?.offset !== size) await new Promise((r) => setTimeout(r, 20));
    shipped = shipper.stats().frames;
    await shipper.close();
    await done;
  }
  lat.sort();
  const q = (x) => lat[Math.min(total - 1, Math.floor(x * total))] * 1000;
  console.log(
    JSON.stringify({
      rate: total / elapsed,
      p50: q(0.5),
      p99: q(0.99),
      p999: q(0.999),
      max: lat[total - 1] * 1000,
      shipped,
    }),
  );
  process.exit(0);
}

// ============================================================================
// Parent.
// ============================================================================
if (spawnSync('nats-server', ['--version']).status !== 0) {
  console.error('bench/ship: nats-server is not on PATH (scripts/setup.sh installs it)');
  process.exit(1);
}
banner('Shipping to JetStream');
const natsVersion = spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-ship-bench-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const { srv, url } = await startServer(dir);
console.log(
  `${natsVersion}, JetStream file storage in ${os.tmpdir()}; shipper defaults (256 KiB batches, 16 in flight)`,
);
const nc = await connect({ servers: url });
const jsm = await jetstreamManager(nc);

// ---- 1. throughput ---------------------------------------------------------
const CASES = [
  { name: 'telemetry (48 B payload, 60 B frame)', count: quick ? 500_000 : 2_000_000, size: 48 },
  { name: '1 KiB payload', count: quick ? 50_000 : 200_000, size: 1024 },
];
for (const c of CASES) {
  c.file = path.join(dir, `${c.size}.fst`);
  writeFile(c.file, c.count, c.size);
  c.bytes = fs.statSync(c.file).size;
  c.ms = [];
}
let round = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (const c of CASES) {
    const name = `B${round++}`;
    await jsm.streams.add({ name, subjects: [`bench.${name}`] });
    const cp = path.join(dir, `${name}.cp`);
    const s = new JetStreamShipper({
      servers: url,
      subject: `bench.${name}`,
      path: c.file,
      checkpoint: cp,
    });
    const t0 = performance.now();
    const done = s.run();
    while (s.stats().acked?.offset !== c.bytes) await new Promise((res) => setTimeout(res, 5));
    await s.close();
    await done;
    c.ms.push(performance.now() - t0);
    const info = await jsm.streams.info(name);
    if (s.stats().frames !== c.count || info.state.messages !== s.stats().batches)
      throw new Error(
        `${c.name}: shipped ${s.stats().frames} frames in ${s.stats().batches} messages, the stream holds ${info.state.messages}`,
      );
    await jsm.streams.delete(name);
  }
}
const thr = CASES.map((c) => {
  const ms = median(c.ms);
  return { ...c, ms, fps: c.count / (ms / 1000), mbps: c.bytes / 1e6 / (ms / 1000) };
});
console.log(
  `\n1. Throughput, a file to a local server (${ROUNDS} rounds, medians; load ${os.loadavg()[0].toFixed(2)})`,
);
table(
  ['frames', 'file', 'ms (median)', 'frames/s', 'MB/s'],
  thr.map((c) => [
    `${c.count} x ${c.name}`,
    `${(c.bytes / 1e6).toFixed(1)} MB`,
    c.ms.toFixed(0),
    `${(c.fps / 1e6).toFixed(2)} M`,
    c.mbps.toFixed(1),
  ]),
  ['l', 'r', 'r', 'r', 'r'],
);

// ---- 2. write() beside the shipper ----------------------------------------
const runs = { off: [], on: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of ['off', 'on']) {
    const name = `A${r}${mode}`;
    await jsm.streams.add({ name, subjects: [`agent.${name}`] });
    const file = path.join(dir, `${name}.fst`);
    const a = [
      self,
      '--agent',
      '--url',
      url,
      '--subject',
      `agent.${name}`,
      '--file',
      file,
      '--rate',
      String(RATE),
      '--seconds',
      String(SECONDS),
    ];
    if (mode === 'on') a.push('--ship');
    const res = spawnSync(process.execPath, a, { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`agent child failed: ${res.stderr}`);
    runs[mode].push(JSON.parse(res.stdout.trim().split('\n').pop()));
    await jsm.streams.delete(name);
  }
}
const med = (mode, k) => median(runs[mode].map((x) => x[k]));
console.log(
  `\n2. The agent's write() at ${RATE} telemetry events/s for ${SECONDS} s (${lib.CaptureSink ? 'CaptureSink' : 'FileSink'}, XXH3), without and with a JetStreamShipper in the same process (${ROUNDS} rounds alternating, medians; load ${os.loadavg()[0].toFixed(2)})`,
);
table(
  ['shipper', 'rate achieved', 'write() p50 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'frames shipped'],
  ['off', 'on'].map((m) => [
    m,
    `${(med(m, 'rate') / 1000).toFixed(0)} k/s`,
    med(m, 'p50').toFixed(2),
    med(m, 'p99').toFixed(2),
    med(m, 'p999').toFixed(2),
    med(m, 'max').toFixed(0),
    String(med(m, 'shipped')),
  ]),
  ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
);

console.log('\nTargets');
const tel = thr[0];
const kib = thr[1];
const ratio = med('on', 'p999') / med('off', 'p999');
table(
  ['target', 'measured', 'verdict'],
  [
    ['telemetry frames ≥ 1 M/s', `${(tel.fps / 1e6).toFixed(2)} M/s`, verdict(tel.fps >= 1e6)],
    ['1 KiB frames ≥ 100 MB/s', `${kib.mbps.toFixed(1)} MB/s`, verdict(kib.mbps >= 100)],
    [
      'write() p99.9 with the shipper within noise of without',
      `${med('on', 'p999').toFixed(2)} vs ${med('off', 'p999').toFixed(2)} µs (${ratio.toFixed(2)}x)`,
      verdict(ratio <= 1.25),
    ],
  ],
  ['l', 'r', 'l'],
);
await nc.close();
srv.kill();
