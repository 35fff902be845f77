// End-to-end framing from JS: StreamWriter / StreamReader against the framing
// code a user writes by hand today (Buffer + @node-rs/xxhash), on the same
// pre-built payloads. Also JS heap per frame and GC count.
//   node bench/framing.mjs [--quick]     (re-runs itself with --expose-gc)
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { banner, compare, consume, fmt, lib, quick, require, table, verdict } from './harness.mjs';

if (typeof globalThis.gc !== 'function') {
  // Heap deltas need gc() between windows; --expose-gc does not change how V8 collects.
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--expose-gc', self, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

const { StreamWriter, StreamReader, MemorySink, ChecksumFramer, ChecksumDeframer } = lib;
const { DefaultFramer, DefaultDeframer, XxHash64 } = lib;
const { xxh3 } = require('@node-rs/xxhash');

const SLAB = 64 * 1024; // the same staging size as StreamWriter's default
const POOL = 1024; // distinct pre-built payloads, cycled

// ---- what a user writes without flatstream ---------------------------------
// A reused 64 KiB Buffer, copied out when full: the same contract as
// MemorySink (a list of copied chunks), so only the framing code differs.
// dst.set(payload) for the copy, as StreamWriter does.
function handWriteXxh3(payloads, n) {
  const chunks = [];
  const out = Buffer.allocUnsafe(SLAB);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const p = payloads[i & (POOL - 1)];
    const size = 12 + p.length;
    if (pos + size > SLAB) {
      chunks.push(Buffer.from(out.subarray(0, pos)));
      pos = 0;
    }
    out.writeUInt32LE(p.length, pos);
    out.writeBigUInt64LE(xxh3.xxh64(p), pos + 4);
    out.set(p, pos + 12);
    pos += size;
  }
  if (pos > 0) chunks.push(Buffer.from(out.subarray(0, pos)));
  return chunks;
}

function handWritePlain(payloads, n) {
  const chunks = [];
  const out = Buffer.allocUnsafe(SLAB);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const p = payloads[i & (POOL - 1)];
    const size = 4 + p.length;
    if (pos + size > SLAB) {
      chunks.push(Buffer.from(out.subarray(0, pos)));
      pos = 0;
    }
    out.writeUInt32LE(p.length, pos);
    out.set(p, pos + 4);
    pos += size;
  }
  if (pos > 0) chunks.push(Buffer.from(out.subarray(0, pos)));
  return chunks;
}

function handReadXxh3(buf, cb) {
  let pos = 0;
  let frames = 0;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw new Error('truncated header');
    const len = buf.readUInt32LE(pos);
    const start = pos + 12;
    if (start + len > buf.length) throw new Error('truncated payload');
    const payload = buf.subarray(start, start + len);
    if (xxh3.xxh64(payload) !== buf.readBigUInt64LE(pos + 4)) throw new Error('checksum mismatch');
    cb(payload);
    frames++;
    pos = start + len;
  }
  return frames;
}

function handReadPlain(buf, cb) {
  let pos = 0;
  let frames = 0;
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw new Error('truncated header');
    const len = buf.readUInt32LE(pos);
    const start = pos + 4;
    if (start + len > buf.length) throw new Error('truncated payload');
    const payload = buf.subarray(start, start + len);
    cb(payload);
    frames++;
    pos = start + len;
  }
  return frames;
}

// ---- flatstream ------------------------------------------------------------
function libWrite(framer, payloads, n) {
  const sink = new MemorySink();
  const writer = new StreamWriter(sink, framer);
  for (let i = 0; i < n; i++) writer.writePayload(payloads[i & (POOL - 1)]);
  writer.close();
  return sink;
}

// The per-frame callback: touch the payload so its view is really used.
let acc = 0;
const onFrame = (p) => {
  acc = (acc + p.length + p[0]) | 0;
};

// ---- cases -----------------------------------------------------------------
function writeCases(payloads, frames) {
  const xxFramer = new ChecksumFramer(XxHash64);
  const plainFramer = new DefaultFramer();
  return [
    {
      name: 'StreamWriter + XxHash64 → MemorySink',
      peer: 'hand-written JS + @node-rs/xxhash',
      run: (n) => libWrite(xxFramer, payloads, n).length,
    },
    {
      name: 'hand-written JS + @node-rs/xxhash',
      run: (n) => handWriteXxh3(payloads, n).length,
    },
    {
      name: 'StreamWriter, no checksum → MemorySink',
      peer: 'hand-written JS, no checksum',
      run: (n) => libWrite(plainFramer, payloads, n).length,
    },
    { name: 'hand-written JS, no checksum', run: (n) => handWritePlain(payloads, n).length },
  ].map((c) => ({ ...c, n: frames }));
}

function readCases(xxStream, plainStream, frames) {
  const xxDeframer = new ChecksumDeframer(XxHash64);
  const plainDeframer = new DefaultDeframer();
  // run(n) reads the first n frames: the payload size is fixed, so that is a prefix.
  const prefix = (s, n) => s.subarray(0, (s.length / frames) * n);
  return [
    {
      name: 'StreamReader + XxHash64',
      peer: 'hand-written JS + @node-rs/xxhash',
      run: (n) => new StreamReader(prefix(xxStream, n), xxDeframer).processAll(onFrame),
    },
    {
      name: 'hand-written JS + @node-rs/xxhash',
      run: (n) => handReadXxh3(prefix(xxStream, n), onFrame),
    },
    {
      name: 'StreamReader, no checksum',
      peer: 'hand-written JS, no checksum',
      run: (n) => new StreamReader(prefix(plainStream, n), plainDeframer).processAll(onFrame),
    },
    {
      name: 'hand-written JS, no checksum',
      run: (n) => handReadPlain(prefix(plainStream, n), onFrame),
    },
  ].map((c) => ({ ...c, n: frames }));
}

// ---- heap and GC -----------------------------------------------------------
const gcEntries = [];
new PerformanceObserver((list) => gcEntries.push(...list.getEntries())).observe({
  entryTypes: ['gc'],
});
// GC entries are delivered asynchronously: let the observer run.
const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

/** GCs during one full run, and median JS heap bytes per frame over GC-free windows. */
async function heapAndGc(c, frames) {
  globalThis.gc();
  await settle();
  gcEntries.length = 0;
  consume(c.run(frames));
  await settle();
  const gcs = gcEntries.length;
  const gcMs = gcEntries.reduce((s, e) => s + e.duration, 0);

  // heapUsed is only meaningful between collections: measure windows small
  // enough that no GC runs inside, and drop any window where one did. Start
  // large: heapUsed wobbles by ~100 KB per window whatever the code does.
  let w = Math.min(frames, 250_000);
  const perFrame = [];
  for (let tries = 0; perFrame.length < 5 && tries < 40; tries++) {
    globalThis.gc();
    await settle();
    gcEntries.length = 0;
    const before = process.memoryUsage().heapUsed;
    consume(c.run(w));
    const after = process.memoryUsage().heapUsed;
    await settle();
    if (gcEntries.length === 0) perFrame.push((after - before) / w);
    else w = Math.max(100, w >> 1);
  }
  perFrame.sort((a, b) => a - b);
  return { gcs, gcMs, bytesPerFrame: perFrame.length ? perFrame[perFrame.length >> 1] : NaN };
}

function printRates(title, res, frames, bytesPerFrame) {
  console.log(`\n### ${title}`);
  const by = new Map(res.map((r) => [r.name, r]));
  table(
    [
      'path',
      'frames/s',
      'ns/frame',
      'spread',
      'MB/s',
      'vs peer (speed)',
      'JS heap B/frame',
      'GCs/run',
      'GC ms/run',
    ],
    res.map((r) => {
      const p = r.peer && by.get(r.peer);
      return [
        r.name,
        fmt.rate(1e9 / r.nsPerOp),
        fmt.ns(r.nsPerOp),
        fmt.spread(r),
        ((bytesPerFrame / r.nsPerOp) * 1e3).toFixed(0),
        p ? fmt.ratio(p.nsPerOp / r.nsPerOp) : '',
        r.heap.bytesPerFrame.toFixed(1),
        r.heap.gcs,
        r.heap.gcMs.toFixed(1),
      ];
    }),
    'lrrrrrrrr',
  );
  console.log(
    `\n(${frames.toLocaleString('en-US')} frames per sample and per run; MB/s counts payload bytes)`,
  );
}

async function workload(size, frames) {
  const payloads = Array.from({ length: POOL }, () => randomFillSync(Buffer.allocUnsafe(size)));
  // The peers must produce the same bytes, or the comparison is meaningless.
  const xxStream = libWrite(new ChecksumFramer(XxHash64), payloads, frames).toBuffer();
  const plainStream = libWrite(new DefaultFramer(), payloads, frames).toBuffer();
  if (!xxStream.equals(Buffer.concat(handWriteXxh3(payloads, frames))))
    throw new Error('hand-written XXH3 framing differs from StreamWriter');
  if (!plainStream.equals(Buffer.concat(handWritePlain(payloads, frames))))
    throw new Error('hand-written framing differs from StreamWriter');

  const results = {};
  for (const [kind, cases] of [
    ['write', writeCases(payloads, frames)],
    ['read', readCases(xxStream, plainStream, frames)],
  ]) {
    const res = compare(cases);
    for (const r of res) r.heap = await heapAndGc(r, frames);
    printRates(`${kind === 'write' ? 'Write' : 'Read'}, ${size}-byte payloads`, res, frames, size);
    results[kind] = res;
  }
  return results;
}

banner('Framing from JS');
const small = await workload(48, quick ? 200_000 : 1_000_000);
await workload(1024, quick ? 50_000 : 250_000);

const w48 = small.write[0];
const fps = 1e9 / w48.nsPerOp;
console.log('\n### Targets (reported, not asserted)');
table(
  ['what', 'target', 'measured', ''],
  [['write, 48 B, XXH3', '>= 30 M frames/s', `${fmt.rate(fps)} frames/s`, verdict(fps >= 30e6)]],
  'llll',
);
consume(acc);
