// CaptureSink's portable mode against what it must not be worse than: a
// StreamWriter to a path (FileSink, synchronous writes on the event loop),
// and the native capture beside them (docs/design.md, "Portable capture").
// Every write() is timed: in portable mode and with a FileSink the slab
// writes happen inside the write() that fills a slab, so the tail of this
// distribution is the event loop's blocking. Then: opening (the tail walk)
// an existing stream in portable mode, per MiB.
//
//   node bench/capture-portable.mjs [--quick]
//   FLATSTREAM_NATIVE=0 node bench/capture-portable.mjs --quick   # no native row
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const lib = require('../dist/cjs/index.js');
const quick = process.argv.includes('--quick');
const FRAMES = quick ? 200_000 : 1_000_000;
const ROUNDS = quick ? 3 : 7;
const payload = Buffer.alloc(48, 7);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-bench-portable-'));
const framer = () => new lib.ChecksumFramer(lib.XxHash64);
const FORCE = 'FLATSTREAM_TEST_PORTABLE_CAPTURE';

const cases = {
  'CaptureSink, portable (256 KiB slabs)': (f) => {
    process.env[FORCE] = '1';
    try {
      return new lib.StreamWriter(new lib.CaptureSink(f), framer());
    } finally {
      delete process.env[FORCE];
    }
  },
  'StreamWriter(path): FileSink (64 KiB slabs)': (f) => new lib.StreamWriter(f, framer()),
  'StreamWriter(path): FileSink (256 KiB slabs)': (f) =>
    new lib.StreamWriter(f, framer(), { slabSize: 256 << 10 }),
};
if (lib.native)
  cases['CaptureSink, native'] = (f) =>
    new lib.StreamWriter(new lib.CaptureSink(f, { requireNative: true }), framer());

const times = new Float64Array(FRAMES);
const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));

async function run(name, make) {
  const f = path.join(dir, 'run.fst');
  fs.rmSync(f, { force: true });
  const w = make(f);
  w.writePayload(payload); // warm
  const start = performance.now();
  for (let i = 0; i < FRAMES; i++) {
    const t0 = performance.now();
    w.writePayload(payload);
    times[i] = performance.now() - t0;
  }
  const total = performance.now() - start;
  w.close();
  await w.finished();
  const sorted = times.slice().sort();
  const us = (q) => sorted[Math.min(FRAMES - 1, Math.floor(q * FRAMES))] * 1000;
  results[name].push({
    rate: FRAMES / (total / 1000),
    p50: us(0.5),
    p99: us(0.99),
    p999: us(0.999),
    max: sorted[FRAMES - 1] * 1000,
  });
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const spread = (xs) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;

console.log(
  `flatstream portable capture bench (${lib.native ? 'native addon' : 'TypeScript engine'}), ${os.cpus().length} cores, Node ${process.version}, load ${os.loadavg()[0].toFixed(2)}`,
);
console.log(`${FRAMES} frames of 48 bytes (XXH3) per run, ${ROUNDS} rounds alternated; medians`);
for (let r = 0; r < ROUNDS; r++)
  for (const [name, make] of Object.entries(cases)) await run(name, make);
console.log('\n| case | frames/s | write() p50 µs | p99 | p99.9 | max µs (spread) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [name, rs] of Object.entries(results)) {
  const m = (k) => median(rs.map((x) => x[k]));
  console.log(
    `| ${name} | ${(m('rate') / 1e6).toFixed(2)} M | ${m('p50').toFixed(2)} | ${m('p99').toFixed(2)} | ${m('p999').toFixed(1)} | ${m('max').toFixed(0)} (${spread(rs.map((x) => x.max))}) |`,
  );
}

// Opening an existing stream in portable mode walks it (no clean mark).
const MIB = quick ? 64 : 256;
const big = path.join(dir, 'big.fst');
{
  const w = new lib.StreamWriter(big, framer());
  const p = Buffer.alloc(1000, 3);
  for (let i = 0; i < (MIB << 20) / 1012; i++) w.writePayload(p);
  w.close();
}
const opens = [];
for (let r = 0; r < ROUNDS; r++) {
  process.env[FORCE] = '1';
  const t0 = performance.now();
  const s = new lib.CaptureSink(big);
  new lib.StreamWriter(s, framer());
  opens.push(performance.now() - t0);
  delete process.env[FORCE];
  s.closeSync();
}
console.log(
  `\nopen + bind (walk, every checksum verified) of ${(fs.statSync(big).size / 2 ** 20).toFixed(0)} MiB of 1012-byte frames, in the page cache: median ${median(opens).toFixed(1)} ms (${spread(opens)})`,
);
fs.rmSync(dir, { recursive: true, force: true });
