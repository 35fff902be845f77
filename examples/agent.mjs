// A small "service" that captures one telemetry event per request with
// StreamWriter + CaptureSink, prints live stats once a second, stops after
// --seconds or on Ctrl-C, and reads the file back.
//   npm run build && node examples/agent.mjs [--rate 100000] [--seconds 10] [--out events.fst]
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ByteBuffer } from 'flatbuffers';
import {
  CaptureSink,
  ChecksumDeframer,
  ChecksumFramer,
  StreamReader,
  StreamWriter,
  XxHash64,
} from '../dist/esm/index.mjs';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '100000' }, // requests per second
    seconds: { type: 'string', default: '10' },
    out: { type: 'string' },
  },
});
const rate = Number(args.rate);
const out = args.out ?? join(tmpdir(), `flatstream-agent-${process.pid}.fst`);
const fresh = !existsSync(out); // a CaptureSink appends to an existing stream

// Frames are staged in a shared mapping (they survive a crash of this
// process) and a native thread writes them to `out`. flushOnSignal: on
// SIGINT/SIGTERM everything staged is written to the file first thing.
const sink = new CaptureSink(out, { policy: 'block', flushOnSignal: true });
const writer = new StreamWriter(sink, new ChecksumFramer(XxHash64));
if (sink.recovery.frames > 0) {
  console.log(`recovered ${sink.recovery.frames} frames a previous run had staged`);
}

// The event: flatstream-rs's Telemetry table { device_id: u64; timestamp: u64;
// value: f64 }, built with the builder API (flatc-generated code does the same).
const DEVICES = Array.from({ length: 16 }, (_, i) => 1000n + BigInt(i));
const event = {
  device: 0n,
  timestamp: 0n,
  value: 0,
  serialize(b) {
    b.startObject(3);
    b.addFieldInt64(0, this.device, 0n);
    b.addFieldInt64(1, this.timestamp, 0n);
    b.addFieldFloat64(2, this.value, 0);
    b.finish(b.endObject());
  },
};

let handled = 0;
function handleRequest(n) {
  const started = process.hrtime.bigint();
  // ... the actual work of the request would go here ...
  event.device = DEVICES[n % DEVICES.length];
  event.timestamp = started;
  event.value = Number(process.hrtime.bigint() - started) / 1000; // µs spent
  writer.write(event); // stages one frame; never waits on the disk
}

// Requests arrive at --rate per second: every millisecond, handle those due.
const start = performance.now();
const loop = setInterval(() => {
  const due = Math.floor(((performance.now() - start) * rate) / 1000);
  while (handled < due) handleRequest(handled++);
}, 1);

// Live stats once a second.
const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();
let lastHandled = 0;
const report = setInterval(() => {
  const s = sink.stats();
  console.log(
    `${String(handled - lastHandled).padStart(8)} events/s | drops ${s.drops} | ` +
      `queue ${s.queueDepth} | thread write p99 ${s.writeLatency.p99.toFixed(0)} µs | ` +
      `event loop delay max ${(eld.max / 1e6).toFixed(1)} ms`,
  );
  lastHandled = handled;
  eld.reset();
}, 1000);

// Run until --seconds have passed or Ctrl-C.
const stopped = await new Promise((resolve) => {
  const timer = setTimeout(() => resolve('time is up'), Number(args.seconds) * 1000);
  process.once('SIGINT', () => {
    clearTimeout(timer);
    resolve('SIGINT');
  });
});
clearInterval(loop);
clearInterval(report);
eld.disable();

// Everything into the file, then close (the thread drains and stops).
writer.flush();
await sink.flushed();
const { framesWritten, drops } = sink.stats();
writer.close();
await writer.finished();
console.log(
  `stopped (${stopped}): ${handled} requests, ${framesWritten} frames written, ${drops} drops`,
);

// Read the file back: every frame's XXH3 checksum is verified.
let first;
const frames = new StreamReader(out, new ChecksumDeframer(XxHash64)).processAll((payload) => {
  if (first) return;
  // What flatc's generated Telemetry accessors do: the root table, then each
  // field through the vtable (an absent field is its default, 0).
  const bb = new ByteBuffer(payload);
  const table = bb.readUint32(0);
  const at = (slot) => bb.__offset(table, 4 + 2 * slot);
  const device = at(0) ? bb.readUint64(table + at(0)) : 0n;
  const timestamp = at(1) ? bb.readUint64(table + at(1)) : 0n;
  const value = at(2) ? bb.readFloat64(table + at(2)) : 0;
  first = `device ${device}, t ${timestamp} ns (monotonic), ${value.toFixed(2)} µs`;
});
const ok = fresh ? frames === handled : frames >= handled;
console.log(`${out}: ${frames} frames, checksums verified; first event: ${first ?? 'none'}`);
console.log(ok ? 'ok' : `MISMATCH: ${handled} requests handled, ${frames} frames in the file`);
// A stream of our own in the temp directory: remove it (a clean close
// removed its staging file already; after a failure it would still be there).
if (!args.out) for (const f of [out, sink.stagingPath]) rmSync(f, { force: true });
process.exitCode = ok ? 0 : 1;
