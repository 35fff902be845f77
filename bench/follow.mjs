// Follow mode (docs/design.md, "Follow mode"): what following costs.
//   node bench/follow.mjs [--quick]
// 1. Catching up: one pass over a file of 48-byte XXH3 frames, already
//    written, with processAllAsync, without and with { follow: true }
//    (stopping at the last frame); rows alternate, medians, and the
//    collections (GC) per pass from a PerformanceObserver.
// 2. Delivery latency: a writer in this process appends one frame every
//    2 ms with fs.writeSync; the follower records write-to-delivery time
//    (the payload carries the hrtime of its write), with the fs.watch
//    (default) and with the watch made to fail (the poll alone, 100 ms).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { banner, fmt, lib, median, quick, table } from './harness.mjs';

const { StreamWriter, StreamReader, FileSink, ChecksumFramer, ChecksumDeframer, XxHash64 } = lib;
const framer = new ChecksumFramer(XxHash64);
const deframer = new ChecksumDeframer(XxHash64);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-follow-bench-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

banner('follow mode');

// ---- 1. catching up ---------------------------------------------------------
const FRAMES = quick ? 250_000 : 1_000_000;
const ROUNDS = quick ? 3 : 9;
const file = path.join(dir, 'events.fst');
{
  const w = new StreamWriter(new FileSink(file, { append: false }), framer);
  const p = new Uint8Array(48);
  for (let i = 0; i < FRAMES; i++) {
    p[0] = i;
    w.writePayload(p);
  }
  w.close();
}
let gcs = 0;
new PerformanceObserver((l) => (gcs += l.getEntries().length)).observe({ entryTypes: ['gc'] });
const gcTick = () => new Promise((r) => setImmediate(r)); // observer entries arrive on a later turn

async function pass(follow) {
  const reader = new StreamReader(file, deframer, follow ? { follow: true } : undefined);
  let n = 0;
  let sum = 0;
  await gcTick();
  const g0 = gcs;
  const t0 = process.hrtime.bigint();
  await reader.processAllAsync((p) => {
    sum += p[0];
    return ++n < FRAMES;
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await reader.close();
  await gcTick();
  if (n !== FRAMES) throw new Error(`read ${n} frames, wanted ${FRAMES}`);
  return { ms, gc: gcs - g0, sum };
}

const rows = { async: [], follow: [] };
for (let r = 0; r < ROUNDS; r++) {
  rows.async.push(await pass(false));
  rows.follow.push(await pass(true));
}
const catchUp = Object.entries(rows).map(([name, xs]) => {
  const ms = median(xs.map((x) => x.ms));
  return [
    name === 'async' ? 'processAllAsync' : 'processAllAsync, follow: true',
    fmt.rate(FRAMES / (ms / 1000)),
    ms.toFixed(1),
    String(median(xs.map((x) => x.gc))),
  ];
});
console.log(
  `\n### Catching up: ${FRAMES} frames of 48 B (XXH3), warm, ${ROUNDS} rounds, medians\n`,
);
table(['path', 'frames/s', 'ms/pass', 'GCs/pass'], catchUp, 'lrrr');

// ---- 2. delivery latency ----------------------------------------------------
const SAMPLES = quick ? 200 : 1000;

async function latency(noWatch) {
  const live = path.join(dir, `live-${noWatch ? 'poll' : 'watch'}.fst`);
  fs.writeFileSync(live, '');
  const realWatch = fs.watch;
  if (noWatch) {
    fs.watch = () => {
      throw Object.assign(new Error('watch disabled by the bench'), { code: 'ENOSYS' });
    };
  }
  const fd = fs.openSync(live, 'a');
  const payload = Buffer.alloc(16);
  let sent = 0;
  const timer = setInterval(() => {
    payload.writeBigUInt64LE(process.hrtime.bigint(), 0);
    fs.writeSync(fd, framer.frame(payload));
    if (++sent === SAMPLES) clearInterval(timer);
  }, 2);
  const lat = [];
  const reader = new StreamReader(live, deframer, { follow: true });
  for await (const p of reader) {
    const at = Buffer.from(p.buffer, p.byteOffset, p.length).readBigUInt64LE(0);
    lat.push(Number(process.hrtime.bigint() - at) / 1e6);
    if (lat.length === SAMPLES) break;
  }
  fs.closeSync(fd);
  fs.watch = realWatch;
  lat.sort((a, b) => a - b);
  const q = (f) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))].toFixed(2);
  return [
    noWatch ? 'poll only (watch fails), 100 ms' : 'fs.watch + poll (default)',
    q(0.5),
    q(0.99),
    lat[lat.length - 1].toFixed(2),
  ];
}

console.log(`\n### Write-to-delivery latency: ${SAMPLES} frames, one every 2 ms (ms)\n`);
table(['wake-up', 'p50', 'p99', 'max'], [await latency(false), await latency(true)], 'lrrr');
