// Run by gc.test.ts in its own process (`node --expose-gc`): counts the GCs
// and heap growth of steady-state writing, one scenario per run.
'use strict';
const { GCProfiler } = require('node:v8');
const fs = require('../dist/cjs/index.js');

const scenario = process.argv[2];
const N = Number(process.argv[3] ?? 1_000_000);
const WARM = 200_000;
// Scenarios named capture-<step> write through a CaptureSink to a temporary
// file (its writer thread seals and writes); the others to a sink that
// consumes synchronously and keeps nothing.
// Scenarios named file-<step> write through a FileSink to /dev/null: such a
// writer is registered with the exit hook (lib/sinks/exit-hook.ts), which must add
// nothing per frame.
// Scenarios named capture-default-<step> use the CaptureSink's default
// policy ('drop', growing to maxBytes): a tight loop outruns the disk, so
// the staging grows and then drops the newest frames, counted.
// Scenarios named portable-<step> use a CaptureSink in portable mode (its
// default options; forced with the addon loaded): the slab writes run on
// this thread, inside the write() that fills a slab.
const captureDefault = scenario.startsWith('capture-default-');
const portable = scenario.startsWith('portable-');
const capture = scenario.startsWith('capture-') || portable;
const file = scenario.startsWith('file-');
const step = captureDefault
  ? scenario.slice('capture-default-'.length)
  : capture || file
    ? scenario.slice(scenario.indexOf('-') + 1)
    : scenario;
let tmp;
let sink = { write() {} };
if (capture) {
  tmp = require('node:fs').mkdtempSync(
    require('node:path').join(require('node:os').tmpdir(), 'fs-gc-'),
  );
  // 'block' (the old default, 8 x 1 MiB): every message must reach the file;
  // the default 'drop' drops what a tight loop stages beyond maxBytes.
  if (portable) process.env.FLATSTREAM_TEST_PORTABLE_CAPTURE = '1';
  sink = new fs.CaptureSink(
    `${tmp}/gc.fst`,
    portable
      ? {}
      : captureDefault
        ? { stagingPath: `${tmp}/gc.staging` }
        : { stagingPath: `${tmp}/gc.staging`, policy: 'block', slabSize: 1 << 20, slabs: 8 },
  );
  // A slow disk (50 ms per slab write): the default policy must drop.
  if (captureDefault) sink._injectFault({ delayMs: 50 });
}
if (file) sink = new fs.FileSink('/dev/null');
const framer = new fs.ChecksumFramer(fs.XxHash64);
// Values made up front: the user's own values (a BigInt, or a double computed
// in a call that is not inlined) may allocate; the writer must not.
const ids = Array.from({ length: 64 }, (_, i) => BigInt(1000 + i));
const values = Array.from({ length: 64 }, (_, i) => i * 0.5);
const ZERO = 0n; // generated code passes BigInt('0') here, which allocates

function telemetry(b, i) {
  b.startObject(3);
  b.addFieldInt64(0, ids[i & 63], ZERO);
  b.addFieldInt64(1, ids[(i + 7) & 63], ZERO);
  b.addFieldFloat64(2, values[i & 63], 0);
  b.finish(b.endObject());
}

const payload = new Uint8Array(48);
// writeWith: a tiny hand-written encoder of a fixed-layout struct, written
// in place into the slab (values made up front, as above).
const sample = { id: 0, value: 0.5, ts: 1.7e12 };
const sampleEncoder = {
  name: 'gc.Sample',
  encodeInto(s, buf, view, at, limit) {
    if (at + 16 > limit) return -1;
    view.setUint32(at, s.id, true);
    view.setFloat32(at + 4, s.value, true);
    view.setFloat64(at + 8, s.ts, true);
    return at + 16;
  },
  sizeOf: () => 16,
};
// codec-writeWith: the schema-compiled Telemetry codec (test/schema/events.fbs)
// through writeWith, number-valued u64s (µs timestamps fit 2^53): no BigInt.
const Telemetry = fs.compileSchema(
  require('node:fs').readFileSync(require('node:path').join(__dirname, 'generated/events.bfbs')),
).tables['events.Telemetry'];
const tel = { deviceId: 0, timestamp: 0, value: 0 };
const item = { i: 0, serialize: (b) => telemetry(b, item.i) };
const builder = new fs.ArenaBuilder();
const w = new fs.StreamWriter(sink, framer, { slabSize: 1 << 16 });
const run = {
  writePayload: () => w.writePayload(payload),
  string: () => w.write('sensor-0001-abcd'),
  serialize: (i) => {
    item.i = i;
    w.write(item);
  },
  writeWith: (i) => {
    sample.id = i;
    w.writeWith(sampleEncoder, sample);
  },
  'codec-writeWith': (i) => {
    tel.deviceId = 1000 + (i & 63);
    tel.timestamp = 1_700_000_000_000_000 + i;
    tel.value = i * 0.25;
    w.writeWith(Telemetry, tel);
  },
  writeFinished: (i) => {
    builder.clear();
    telemetry(builder, i);
    w.writeFinished(builder);
  },
}[step];
if (!run) throw new Error(`unknown scenario ${scenario}`);

// Loops live in a function: a top-level loop is compiled on-stack and
// deoptimised as the script moves on, and its slow path allocates.
function loop(from, to) {
  for (let i = from; i < to; i++) run(i);
}
loop(0, WARM); // warm up: optimise, size every buffer
global.gc();
// GCProfiler reports every collection synchronously at stop() (a
// PerformanceObserver delivers late and can miss the last ones).
const profiler = new GCProfiler();
profiler.start();
// GCs are counted over all N messages; heap growth over the second half
// only, past one-time costs (late JIT tiers, feedback vectors).
const half = N >> 1;
loop(0, half);
const before = process.memoryUsage().heapUsed;
loop(half, N);
const grown = process.memoryUsage().heapUsed - before;
const gcs = profiler.stop().statistics.length;
const frames = w.stats().frames;
if (capture) {
  w.close();
  sink.closeSync();
  require('node:fs').rmSync(tmp, { recursive: true, force: true });
}
const drops = w.stats().drops;
process.stdout.write(
  JSON.stringify({ scenario, n: N, gcs, heapBytesPerMessage: grown / (N - half), frames, drops }),
);
