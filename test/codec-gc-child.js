// Run by codec.test.ts in its own process (`node --expose-gc`): counts the
// GCs and heap growth of steady-state encoding and reading with the
// schema-compiled codecs, one scenario per run. Uses the built package.
'use strict';
const { GCProfiler, getHeapStatistics } = require('node:v8');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const fs = require('../dist/cjs/index.js');

const scenario = process.argv[2];
const N = Number(process.argv[3] ?? 1_000_000);
const { tables } = fs.compileSchema(readFileSync(join(__dirname, 'generated/events.bfbs')));
const T = tables['events.Telemetry'];
const R = tables['events.RichEvent'];
const buf = new Uint8Array(1 << 16);
const view = new DataView(buf.buffer);

// number-valued u64s (µs timestamps fit 2^53): no BigInt anywhere
const tel = { deviceId: 0, timestamp: 0, value: 0 };
const readings = new Array(8).fill(0.5);
const labels = Array.from({ length: 64 }, (_, k) => `sensor-${k}`);
const rich = {
  deviceId: 0,
  timestamp: 0,
  label: '',
  readings,
  level: 2,
  position: { x: 1, y: 2, z: 3 },
};
// a double kept in a closure variable would be boxed per store: the sum lives in a Float64Array
const acc = new Float64Array(1);
function encode(n) {
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (scenario === 'encode-rich') {
      rich.deviceId = i & 63;
      rich.timestamp = 1_700_000_000_000_000 + i;
      rich.label = labels[i & 63];
      readings[i & 7] = i;
      at = R.encodeInto(rich, buf, view, 0, buf.length);
    } else {
      tel.deviceId = 1000 + (i & 63);
      tel.timestamp = 1_700_000_000_000_000 + i;
      tel.value = i * 0.25;
      at = T.encodeInto(tel, buf, view, 0, buf.length);
    }
    acc[0] += at;
  }
}
let stream;
function read(n) {
  const r = new fs.StreamReader(stream, new fs.ChecksumDeframer(fs.XxHash64));
  let k = 0;
  r.processWith(T, (t) => {
    acc[0] += t.deviceIdNumber() + t.timestampNumber() + t.value();
    return ++k < n;
  });
}
// read-rich: every field of rich events, strings included; the labels and
// keys repeat, as telemetry's do, so the decoders' string cache hits.
function readRich(n) {
  const r = new fs.StreamReader(stream, new fs.ChecksumDeframer(fs.XxHash64));
  let k = 0;
  r.processWith(R, (e) => {
    let s = e.deviceIdNumber() + e.timestampNumber() + e.label().length + e.level();
    for (let j = 0, m = e.readingsLength(); j < m; j++) s += e.readings(j);
    const p = e.position();
    s += p.x() + p.y() + p.z();
    for (let j = 0, m = e.tagsLength(); j < m; j++) {
      const t = e.tags(j);
      s += t.key().length + t.valueNumber();
    }
    const d = e.detail();
    s += d.code() + d.text().length;
    acc[0] += s + (e.active() ? 1 : 0);
    return ++k < n;
  });
}
let run = encode;
if (scenario === 'read-rich') {
  const sink = new fs.MemorySink();
  const w = new fs.StreamWriter(sink, new fs.ChecksumFramer(fs.XxHash64));
  for (let i = 0; i < N; i++) {
    rich.deviceId = i & 63;
    rich.timestamp = 1_700_000_000_000_000 + i;
    rich.label = labels[i & 63];
    rich.tags = [{ key: 'site', value: i }, { key: 'rack' }];
    rich.detailType = 1;
    rich.detail = { code: i & 255, text: 'over' };
    w.writeWith(R, rich);
  }
  w.close();
  stream = sink.toBuffer();
  run = readRich;
}
if (scenario === 'read') {
  const sink = new fs.MemorySink();
  const w = new fs.StreamWriter(sink, new fs.ChecksumFramer(fs.XxHash64));
  for (let i = 0; i < N; i++) {
    tel.deviceId = i;
    tel.timestamp = 1_700_000_000_000_000 + i;
    tel.value = i;
    w.writePayload(buf.subarray(0, T.encodeInto(tel, buf, view, 0, buf.length)));
  }
  w.close();
  stream = sink.toBuffer();
  run = read;
}
run(N); // warm up: the JIT settles (a whole run, so nothing is compiled while counting)
globalThis.gc();
const prof = new GCProfiler();
const before = getHeapStatistics().used_heap_size;
prof.start();
run(N);
const after = getHeapStatistics().used_heap_size;
const { statistics } = prof.stop();
const gcs = statistics.filter((s) =>
  ['Scavenge', 'MinorMarkSweep', 'MarkSweepCompact'].includes(s.gcType),
).length;
process.stdout.write(
  JSON.stringify({ gcs, heapBytesPerMessage: (after - before) / N, sum: acc[0] > 0 }),
);
