// Run by gc.test.ts in its own process (`node --expose-gc`): counts the GCs
// and heap growth of steady-state writing, one scenario per run.
'use strict';
const { PerformanceObserver } = require('node:perf_hooks');
const fs = require('../dist/cjs/index.js');

const scenario = process.argv[2];
const N = Number(process.argv[3] ?? 1_000_000);
const sink = { write() {} }; // consumes synchronously, keeps nothing
const framer = new fs.ChecksumFramer(fs.XxHash64);
const ids = Array.from({ length: 64 }, (_, i) => BigInt(1000 + i)); // values made up front
const ZERO = 0n; // generated code passes BigInt('0') here, which allocates

function telemetry(b, i) {
  b.startObject(3);
  b.addFieldInt64(0, ids[i & 63], ZERO);
  b.addFieldInt64(1, ids[(i + 7) & 63], ZERO);
  b.addFieldFloat64(2, i * 0.5, 0);
  b.finish(b.endObject());
}

const payload = new Uint8Array(48);
const item = { i: 0, serialize: (b) => telemetry(b, item.i) };
const builder = new fs.ArenaBuilder();
const w = new fs.StreamWriter(sink, framer, { slabSize: 1 << 16 });
const step = {
  writePayload: () => w.writePayload(payload),
  string: () => w.write('sensor-0001-abcd'),
  serialize: (i) => {
    item.i = i;
    w.write(item);
  },
  writeFinished: (i) => {
    builder.clear();
    telemetry(builder, i);
    w.writeFinished(builder);
  },
}[scenario];
if (!step) throw new Error(`unknown scenario ${scenario}`);

for (let i = 0; i < 50_000; i++) step(i); // warm up: optimise, size every buffer
global.gc();
let gcs = 0;
const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
obs.observe({ entryTypes: ['gc'] });
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < N; i++) step(i);
const grown = process.memoryUsage().heapUsed - before;
setImmediate(() => {
  obs.disconnect();
  process.stdout.write(JSON.stringify({ scenario, n: N, gcs, heapBytesPerMessage: grown / N, frames: w.stats().frames }));
});
