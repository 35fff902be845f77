// StreamReader end to end: typed reading of 1 M telemetry events with XXH3
// verification, a verify-only scan of 48-byte frames (from JS, and the raw
// engine inside the addon), large frames (64 KiB–1 MiB) from memory and from
// a warm file, and JS heap / GC per frame. Against what users write today:
// the official `flatbuffers` package, a hand-written length-prefix loop and
// `@node-rs/xxhash`. One process, every table alternating its rows, medians.
//   node bench/reader.mjs [--quick]      (re-runs itself with the V8 flags below)
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import {
  reexecWith,
  banner,
  consume,
  fmt,
  lib,
  median,
  quick,
  require,
  table,
  verdict,
} from './harness.mjs';
import { loadGenerated } from './generated.mjs';

// --expose-gc for gc() before each heap/GC run (it does not change how V8
// collects), and the young generation pinned at V8's default maximum as in
// bench/writer.mjs, so that a row's GC count does not depend on the rows
// that ran before it.
const NODE_FLAGS = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'];
reexecWith(NODE_FLAGS, import.meta.url, loadGenerated); // compile before the child starts

const { StreamReader, StreamWriter, MemorySink, ChecksumFramer, ChecksumDeframer } = lib;
const { DefaultFramer, DefaultDeframer, XxHash64 } = lib;
const { backend, ScanStatus, INDEX_HEADER } = require('../dist/cjs/engine/load.js');
const { xxh3 } = require('@node-rs/xxhash');
const gen = loadGenerated();
// Ours reads through the project's flatbuffers (the one StreamReader's
// ByteBuffer comes from); the peers through a private copy, so that no
// generated-code call site sees both (see bench/generated.mjs).
const { Telemetry } = gen.arena;
const StockTelemetry = gen.stock.Telemetry;
const StockByteBuffer = gen.stockFlatbuffers.ByteBuffer;

const EVENTS = quick ? 200_000 : 1_000_000;
const ROUNDS = quick ? 3 : 9;
const T0 = 1_700_000_000_000_000_000n;
const dir = mkdtempSync(join(tmpdir(), 'flatstream-bench-reader-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// ---- measurement: alternating rounds, medians, sync and async rows alike ------
const now = () => process.hrtime.bigint();
async function timeOnce(c, n) {
  const t0 = now();
  consume(await c.run(n));
  return Number(now() - t0);
}
/**
 * Like harness.compare, for rows that may be async: each row's count is fixed
 * (`n`) or calibrated to ~sampleMs per sample; then ROUNDS rounds of A B C …;
 * the median ns per unit (`units` per run(1), e.g. frames or bytes).
 */
async function compareRows(rows, { sampleMs = quick ? 40 : 120 } = {}) {
  for (const c of rows) {
    if (c.n) {
      await timeOnce(c, c.n);
      continue;
    }
    let n = 1;
    let ns = await timeOnce(c, n);
    while (ns < sampleMs * 1e6 * 0.25) {
      n *= 2;
      ns = await timeOnce(c, n);
    }
    c.n = Math.max(1, Math.round((n * sampleMs * 1e6) / ns));
    await timeOnce(c, c.n);
  }
  const samples = rows.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, c] of rows.entries()) samples[i].push((await timeOnce(c, c.n)) / c.n / c.units);
  }
  return rows.map((c, i) => ({ ...c, nsPerUnit: median(samples[i]), samples: samples[i] }));
}
const spread = (r) =>
  `±${((50 * (Math.max(...r.samples) - Math.min(...r.samples))) / r.nsPerUnit).toFixed(0)}%`;

// ---- heap and GC: one full run from a collected heap, under v8.GCProfiler ----
async function heapAndGc(run, units) {
  globalThis.gc();
  const prof = new v8.GCProfiler();
  const used0 = v8.getHeapStatistics().used_heap_size;
  prof.start();
  consume(await run());
  const used1 = v8.getHeapStatistics().used_heap_size;
  const { statistics } = prof.stop();
  let allocated = 0;
  let prev = used0;
  let gcs = 0;
  let ms = 0;
  for (const s of statistics) {
    if (!['Scavenge', 'MinorMarkSweep', 'MarkSweepCompact'].includes(s.gcType)) continue;
    gcs++;
    allocated += s.beforeGC.heapStatistics.usedHeapSize - prev;
    prev = s.afterGC.heapStatistics.usedHeapSize;
    ms += s.cost / 1000;
  }
  allocated += used1 - prev;
  return { bytesPerUnit: allocated / units, gcs, ms };
}

// ============================================================================
// 1. Typed reading: Telemetry events, XXH3-verified, every field read
// ============================================================================

const xxDeframer = new ChecksumDeframer(XxHash64);
const plainDeframer = new DefaultDeframer();

function telemetryStream(n) {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  const item = {
    i: 0,
    serialize: (b) =>
      b.finish(
        Telemetry.createTelemetry(
          b,
          BigInt(1000 + (item.i & 1023)),
          T0 + BigInt(item.i),
          item.i * 0.25,
        ),
      ),
  };
  for (let i = 0; i < n; i++) {
    item.i = i;
    w.write(item);
  }
  w.close();
  return sink.toBuffer();
}

// What every row does with an event: read all three fields. The u64 fields
// are BigInts (flatbuffers' API); comparing them with 0n folds them without
// allocating more than reading them does. One copy of this per row (below),
// so that no call site inside it sees two rows' types.
const typedState = { sum: 0, zeros: 0 };
const onEventSrc = (t) => {
  typedState.sum += t.value();
  if (t.deviceId() === 0n || t.timestamp() === 0n) typedState.zeros++;
};
const fresh = (fn) =>
  new Function('typedState', `'use strict'; return (${fn.toString()});`)(typedState);
const onEventOurs = fresh(onEventSrc);
// The schema-compiled codec's view (lib/codec/) has the same accessors, and
// number ones for the u64s (exact to 2^53; the folds below see the same zeros).
const onEventCodecBig = fresh(onEventSrc);
const onEventCodecNum = fresh((t) => {
  typedState.sum += t.value();
  if (t.deviceIdNumber() === 0 || t.timestampNumber() === 0) typedState.zeros++;
});
const onEventCodecAsync = fresh(onEventSrc);
const codecTelemetry = lib.compileSchema(
  readFileSync(new URL('../test/generated/events.bfbs', import.meta.url)),
).tables['events.Telemetry'];
const onEventPeerNew = fresh(onEventSrc);
const onEventPeerReuse = fresh(onEventSrc);
const onEventAsync = fresh(onEventSrc);

// ---- the peers: what a competent user writes with the official packages ------
// (a) the textbook way: a ByteBuffer per message over the payload's subarray,
//     the root object reused.
function peerTypedNewBB(buf, n) {
  let pos = 0;
  let t = new StockTelemetry();
  for (let i = 0; i < n; i++) {
    if (pos + 12 > buf.length) throw new Error('truncated header');
    const len = buf.readUInt32LE(pos);
    const start = pos + 12;
    const end = start + len;
    if (end > buf.length) throw new Error('truncated payload');
    const payload = buf.subarray(start, end);
    if (xxh3.xxh64(payload) !== buf.readBigUInt64LE(pos + 4)) throw new Error('checksum mismatch');
    t = StockTelemetry.getRootAsTelemetry(new StockByteBuffer(payload), t);
    onEventPeerNew(t);
    pos = end;
  }
  return n;
}
// (b) the tuned way: ONE ByteBuffer over the whole stream, positioned at each
//     payload (public API: setPosition), the root object reused.
function peerTypedReuseBB(buf, n) {
  let pos = 0;
  const bb = new StockByteBuffer(buf);
  let t = new StockTelemetry();
  for (let i = 0; i < n; i++) {
    if (pos + 12 > buf.length) throw new Error('truncated header');
    const len = buf.readUInt32LE(pos);
    const start = pos + 12;
    const end = start + len;
    if (end > buf.length) throw new Error('truncated payload');
    if (xxh3.xxh64(buf.subarray(start, end)) !== buf.readBigUInt64LE(pos + 4))
      throw new Error('checksum mismatch');
    bb.setPosition(start);
    t = StockTelemetry.getRootAsTelemetry(bb, t);
    onEventPeerReuse(t);
    pos = end;
  }
  return n;
}

// ============================================================================
// 2. Verify-only scan of 48-byte frames
// ============================================================================

function smallStream(framer, n) {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, framer);
  const pool = Array.from({ length: 1024 }, (_, k) => Buffer.alloc(48, k));
  for (let i = 0; i < n; i++) w.writePayload(pool[i & 1023]);
  w.close();
  return sink.toBuffer();
}

const noop = () => undefined;

// The raw engine: one call per 4096 frames over the whole buffer, as the
// reader's cursor makes them, without handing anything out.
const engineIndex = new Uint32Array(INDEX_HEADER + 2 * 4096);
function engineScan(buf, kind, width) {
  let pos = 0;
  let frames = 0;
  for (;;) {
    frames += backend.scanFrames(buf, pos, buf.length, kind, width, 2 ** 31, engineIndex);
    pos += engineIndex[2];
    if (engineIndex[0] !== ScanStatus.IndexFull) break;
  }
  if (engineIndex[0] !== ScanStatus.End)
    throw new Error(`scan stopped with status ${engineIndex[0]}`);
  return frames;
}

function handScanXxh3(buf) {
  let pos = 0;
  let frames = 0;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw new Error('truncated header');
    const len = buf.readUInt32LE(pos);
    const start = pos + 12;
    if (start + len > buf.length) throw new Error('truncated payload');
    if (xxh3.xxh64(buf.subarray(start, start + len)) !== buf.readBigUInt64LE(pos + 4))
      throw new Error('checksum mismatch');
    frames++;
    pos = start + len;
  }
  return frames;
}

// ============================================================================
// 3. Large frames, 64 KiB – 1 MiB
// ============================================================================

const LARGE_SIZES = [64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20];
function largeStream(count) {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  const pool = LARGE_SIZES.map((s, k) => Buffer.alloc(s, k + 1));
  for (let i = 0; i < count; i++) w.writePayload(pool[i % pool.length]);
  w.close();
  return sink.toBuffer();
}

function readOnlySync(path, size) {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(size);
  let total = 0;
  for (let n; (n = readSync(fd, buf, 0, size, null)) > 0;) total += n;
  closeSync(fd);
  return total;
}

// ============================================================================

banner('StreamReader');
console.log(`frames per run: ${EVENTS.toLocaleString('en-US')} (typed and 48-byte tables)`);
const results = {};

// ---- 1. typed -----------------------------------------------------------------
{
  const stream = telemetryStream(EVENTS);
  const payloadSize = stream.readUInt32LE(12 + stream.readUInt32LE(0)); // frame 1 (frame 0 has value 0: not stored)
  // Every row must see the same events: check the sums before timing.
  const check = (run) => {
    typedState.sum = 0;
    typedState.zeros = 0;
    const n = run();
    return `${n} ${typedState.sum} ${typedState.zeros}`;
  };
  const oursTyped = (buf) =>
    new StreamReader(buf, xxDeframer).processTyped(Telemetry.getRootAsTelemetry, onEventOurs);
  const want = check(() => oursTyped(stream));
  const codecBig = (buf) =>
    new StreamReader(buf, xxDeframer).processWith(codecTelemetry, onEventCodecBig);
  const codecNum = (buf) =>
    new StreamReader(buf, xxDeframer).processWith(codecTelemetry, onEventCodecNum);
  for (const [name, run] of [
    ['processWith, bigint', () => codecBig(stream)],
    ['processWith, number', () => codecNum(stream)],
    ['peer (a)', () => peerTypedNewBB(stream, EVENTS)],
    ['peer (b)', () => peerTypedReuseBB(stream, EVENTS)],
  ]) {
    if (check(run) !== want)
      throw new Error(`${name} reads different events: ${check(run)} vs ${want}`);
  }
  // Each run reads the whole stream (n is fixed at EVENTS; payload sizes vary
  // by a few bytes, since a default-valued field is not stored).
  const rows = await compareRows([
    {
      name: 'StreamReader.processTyped + XxHash64',
      run: () => oursTyped(stream),
      n: EVENTS,
      units: 1,
      key: 'ours',
    },
    {
      name: 'processTypedAsync (same bytes)',
      run: (n) =>
        new StreamReader(stream, xxDeframer).processTypedAsync(
          Telemetry.getRootAsTelemetry,
          onEventAsync,
        ),
      n: EVENTS,
      units: 1,
    },
    {
      name: 'StreamReader.processWith(codec) + XxHash64, number accessors',
      run: () => codecNum(stream),
      n: EVENTS,
      units: 1,
      key: 'codecNum',
    },
    {
      name: 'StreamReader.processWith(codec) + XxHash64, bigint accessors',
      run: () => codecBig(stream),
      n: EVENTS,
      units: 1,
      key: 'codecBig',
    },
    {
      name: 'processWithAsync (same bytes), bigint accessors',
      run: () =>
        new StreamReader(stream, xxDeframer).processWithAsync(codecTelemetry, onEventCodecAsync),
      n: EVENTS,
      units: 1,
    },
    {
      name: 'peer (a): flatbuffers, new ByteBuffer(subarray) per event, xxh3.xxh64',
      run: (n) => peerTypedNewBB(stream, n),
      n: EVENTS,
      units: 1,
      key: 'a',
    },
    {
      name: 'peer (b): flatbuffers, one ByteBuffer + setPosition, xxh3.xxh64',
      run: (n) => peerTypedReuseBB(stream, n),
      n: EVENTS,
      units: 1,
      key: 'b',
    },
  ]);
  const a = rows.find((r) => r.key === 'a');
  const b = rows.find((r) => r.key === 'b');
  console.log(
    `\n### Typed reading: Telemetry (${payloadSize}-byte payloads), XXH3 verified, deviceId + timestamp + value read per event`,
  );
  table(
    ['row', 'events/s', 'ns/event', 'spread', 'vs peer (a)', 'vs peer (b)'],
    rows.map((r) => [
      r.name,
      fmt.rate(1e9 / r.nsPerUnit),
      fmt.ns(r.nsPerUnit),
      spread(r),
      fmt.ratio(a.nsPerUnit / r.nsPerUnit),
      fmt.ratio(b.nsPerUnit / r.nsPerUnit),
    ]),
    'lrrrrr',
  );
  results.typed = rows;
  results.typedStream = stream;
}

// ---- 1b. typed, rich event, schema-compiled codec ------------------------------
// Every field of a RichEvent read through processWith's view (numbers for the
// u64s), against the same fields through flatc's code with processTyped.
{
  const codecs = lib.compileSchema(
    readFileSync(new URL('../test/generated/events.bfbs', import.meta.url)),
  ).tables;
  const Rich = codecs['events.RichEvent'];
  const sink = new MemorySink();
  const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  const buf = new Uint8Array(4096);
  const view = new DataView(buf.buffer);
  const readings = [0, 1, 2, 3, 4, 5, 6, 7];
  for (let i = 0; i < EVENTS; i++) {
    readings[i & 7] = i * 0.5;
    const v = {
      deviceId: 1000 + (i & 63),
      timestamp: 1_700_000_000_000_000 + i,
      label: `sensor-${String(i & 63).padStart(4, '0')}-abcd`,
      readings,
      level: i & 3,
      position: { x: i, y: 1, z: 2 },
      tags: [{ key: 'site', value: i }, { key: 'rack' }],
      detailType: 1,
      detail: { code: i & 255, text: 'over' },
      flags: [1, 2, 3, 4],
      active: (i & 1) === 0,
    };
    w.writePayload(buf.subarray(0, Rich.encodeInto(v, buf, view, 0, buf.length)));
  }
  w.close();
  const stream = sink.toBuffer();
  const acc = new Float64Array(1);
  const viaCodec = (r) => {
    let s = r.deviceIdNumber() + r.timestampNumber() + r.label().length + r.level();
    for (let k = 0, n = r.readingsLength(); k < n; k++) s += r.readings(k);
    const p = r.position();
    s += p.x() + p.y() + p.z();
    for (let k = 0, n = r.tagsLength(); k < n; k++) {
      const t = r.tags(k);
      s += t.key().length + t.valueNumber();
    }
    const d = r.detail();
    s += d.code() + d.text().length;
    for (let k = 0, n = r.flagsLength(); k < n; k++) s += r.flags(k);
    acc[0] += s + (r.active() ? 1 : 0);
  };
  const G = gen.arena;
  const pos = new G.Vec3();
  const tag = new G.Tag();
  const alarm = new G.Alarm();
  const viaFlatc = (r) => {
    let s = Number(r.deviceId()) + Number(r.timestamp()) + r.label().length + r.level();
    for (let k = 0, n = r.readingsLength(); k < n; k++) s += r.readings(k);
    const p = r.position(pos);
    s += p.x() + p.y() + p.z();
    for (let k = 0, n = r.tagsLength(); k < n; k++) {
      const t = r.tags(k, tag);
      s += t.key().length + Number(t.value());
    }
    const d = r.detail(alarm);
    s += d.code() + d.text().length;
    for (let k = 0, n = r.flagsLength(); k < n; k++) s += r.flags(k);
    acc[0] += s + (r.active() ? 1 : 0);
  };
  const runCodec = () => new StreamReader(stream, xxDeframer).processWith(Rich, viaCodec);
  const runFlatc = () =>
    new StreamReader(stream, xxDeframer).processTyped(G.RichEvent.getRootAsRichEvent, viaFlatc);
  acc[0] = 0;
  runCodec();
  const a1 = acc[0];
  acc[0] = 0;
  runFlatc();
  if (acc[0] !== a1) throw new Error(`rich rows read different events: ${acc[0]} vs ${a1}`);
  const rows = await compareRows([
    { name: 'processWith(codec), every field', run: runCodec, n: EVENTS, units: 1, key: 'codec' },
    { name: "processTyped(flatc's code), every field", run: runFlatc, n: EVENTS, units: 1 },
  ]);
  console.log(
    `\n### Typed reading: RichEvent (${stream.length / EVENTS - 12}-byte payloads), XXH3 verified, every field read`,
  );
  table(
    ['row', 'events/s', 'ns/event', 'spread'],
    rows.map((r) => [r.name, fmt.rate(1e9 / r.nsPerUnit), fmt.ns(r.nsPerUnit), spread(r)]),
    'lrrr',
  );
  results.rich = rows;
}

// ---- 2. verify-only scan of 48-byte frames -----------------------------------
{
  const xx = smallStream(new ChecksumFramer(XxHash64), EVENTS);
  const plain = smallStream(new DefaultFramer(), EVENTS);
  if (engineScan(xx, 3, 8) !== EVENTS || engineScan(plain, 0, 0) !== EVENTS)
    throw new Error('engine count');
  if (handScanXxh3(xx) !== EVENTS) throw new Error('hand count');
  const rows = await compareRows([
    {
      name: 'StreamReader.processAll(noop), XxHash64',
      run: (n) => {
        let f = 0;
        for (let i = 0; i < n; i++) f += new StreamReader(xx, xxDeframer).processAll(noop);
        return f;
      },
      units: EVENTS,
      key: 'js',
    },
    {
      name: 'engine: backend.scanFrames, XXH3 (inside the addon)',
      run: (n) => {
        let f = 0;
        for (let i = 0; i < n; i++) f += engineScan(xx, 3, 8);
        return f;
      },
      units: EVENTS,
      key: 'engine',
    },
    {
      name: 'hand-written JS + xxh3.xxh64',
      run: (n) => {
        let f = 0;
        for (let i = 0; i < n; i++) f += handScanXxh3(xx);
        return f;
      },
      units: EVENTS,
      key: 'hand',
    },
    {
      name: 'StreamReader.processAll(noop), no checksum',
      run: (n) => {
        let f = 0;
        for (let i = 0; i < n; i++) f += new StreamReader(plain, plainDeframer).processAll(noop);
        return f;
      },
      units: EVENTS,
    },
    {
      name: 'engine: backend.scanFrames, no checksum',
      run: (n) => {
        let f = 0;
        for (let i = 0; i < n; i++) f += engineScan(plain, 0, 0);
        return f;
      },
      units: EVENTS,
    },
  ]);
  const hand = rows.find((r) => r.key === 'hand');
  console.log('\n### Verify-only scan, 48-byte payloads');
  table(
    ['row', 'frames/s', 'ns/frame', 'spread', 'GB/s', 'vs hand-written'],
    rows.map((r) => [
      r.name,
      fmt.rate(1e9 / r.nsPerUnit),
      fmt.ns(r.nsPerUnit),
      spread(r),
      fmt.gbs((r.name.includes('no checksum') ? 52 : 60) / r.nsPerUnit),
      fmt.ratio(hand.nsPerUnit / r.nsPerUnit),
    ]),
    'lrrrrr',
  );
  results.scan = rows;
  results.small = xx;
}

// ---- 3. large frames ------------------------------------------------------------
{
  const count = quick ? 60 : 240;
  const stream = largeStream(count);
  const path = join(dir, 'large.fst');
  writeFileSync(path, stream);
  readFileSync(path); // warm the page cache
  const target = Buffer.allocUnsafe(stream.length);
  const bytesPerRun = stream.length;
  const readers = {
    memory: () => new StreamReader(stream, xxDeframer).processAll(noop),
    fileSync: (readSize) => () =>
      new StreamReader(path, xxDeframer, readSize ? { readSize } : undefined).processAll(noop),
    fileAsync: (readSize) => async () => {
      const r = new StreamReader(path, xxDeframer, readSize ? { readSize } : undefined);
      const n = await r.processAllAsync(noop);
      await r.close();
      return n;
    },
  };
  for (const f of [readers.memory, readers.fileSync(), readers.fileAsync()]) {
    if ((await f()) !== count) throw new Error('large: frame count');
  }
  const rep = (f) => async (n) => {
    let x = 0;
    for (let i = 0; i < n; i++) x += await f();
    return x;
  };
  const rows = await compareRows(
    [
      {
        name: 'memcpy: Buffer#copy of the stream',
        run: rep(() => stream.copy(target)),
        key: 'memcpy',
      },
      { name: 'from memory: processAll, XxHash64', run: rep(readers.memory), key: 'memory' },
      { name: 'engine: backend.scanFrames, XXH3', run: rep(() => engineScan(stream, 3, 8)) },
      { name: 'hand-written JS + xxh3.xxh64 (memory)', run: rep(() => handScanXxh3(stream)) },
      {
        name: 'warm file, sync: processAll (readSize 1 MiB, default)',
        run: rep(readers.fileSync()),
        key: 'fileSync',
      },
      { name: 'warm file, sync: processAll (readSize 8 MiB)', run: rep(readers.fileSync(8 << 20)) },
      {
        name: 'warm file, async: processAllAsync (readSize 1 MiB, default)',
        run: rep(readers.fileAsync()),
        key: 'fileAsync',
      },
      {
        name: 'warm file, async: processAllAsync (readSize 8 MiB)',
        run: rep(readers.fileAsync(8 << 20)),
      },
      {
        name: 'warm file: readSync loop only, 1 MiB (no parsing)',
        run: rep(() => readOnlySync(path, 1 << 20)),
      },
    ].map((r) => ({ ...r, units: bytesPerRun })),
  );
  const memcpy = rows.find((r) => r.key === 'memcpy');
  console.log(
    `\n### Large frames: ${count} frames of 64 KiB–1 MiB (${(bytesPerRun / 2 ** 20).toFixed(0)} MiB per run), XXH3`,
  );
  table(
    ['row', 'GB/s', 'ms/run', 'spread', 'vs Buffer#copy'],
    rows.map((r) => [
      r.name,
      fmt.gbs(1 / r.nsPerUnit),
      ((r.nsPerUnit * bytesPerRun) / 1e6).toFixed(2),
      spread(r),
      fmt.ratio(memcpy.nsPerUnit / r.nsPerUnit),
    ]),
    'lrrrr',
  );
  results.large = rows;
}

// ---- diagnostics: where processTyped's time goes ------------------------------------
// Run after the tables above: these rows call processTyped with other
// callbacks, which makes its call sites polymorphic for any row after them.
{
  const stream = results.typedStream;
  const { FrameCursor, FRAME } = require('../dist/cjs/read/cursor.js');
  const cb = (body) => new Function('s', `'use strict'; return (t) => { ${body} };`)(typedState);
  const typed = (f) => (n) => {
    let x = 0;
    for (let i = 0; i < n; i++)
      x += new StreamReader(stream, xxDeframer).processTyped(Telemetry.getRootAsTelemetry, f);
    return x;
  };
  let end = 0;
  for (let k = 0; k < 4; k++) end += 12 + stream.readUInt32LE(end);
  const small = stream.subarray(0, end); // the first 4 frames
  const rows = await compareRows(
    [
      {
        name: 'engine only: backend.scanFrames loop',
        run: (n) => {
          let f = 0;
          for (let i = 0; i < n; i++) f += engineScan(stream, 3, 8);
          return f;
        },
      },
      {
        name: '+ cursor: FrameCursor.next() per frame (internal)',
        run: (n) => {
          let f = 0;
          for (let i = 0; i < n; i++) {
            const c = new FrameCursor(xxDeframer);
            c.push(stream);
            c.end();
            while (c.next() === FRAME) f++;
          }
          return f;
        },
      },
      { name: '+ processTyped, callback does nothing', run: typed(cb('')) },
      { name: '+ processTyped, reads value()', run: typed(cb('s.sum += t.value();')) },
      {
        name: '+ processTyped, reads all 3 fields (the typed row)',
        run: typed(
          cb('s.sum += t.value(); if (t.deviceId() === 0n || t.timestamp() === 0n) s.zeros++;'),
        ),
      },
      {
        name: 'processAll(noop): a subarray view per frame',
        run: (n) => {
          let f = 0;
          for (let i = 0; i < n; i++) f += new StreamReader(stream, xxDeframer).processAll(noop);
          return f;
        },
      },
    ].map((r) => ({ ...r, units: EVENTS })),
  );
  console.log('\n### Diagnostics: per-frame cost of each layer (typed stream, XXH3)');
  table(
    ['row', 'ns/frame', 'spread', 'frames/s'],
    rows.map((r) => [r.name, fmt.ns(r.nsPerUnit), spread(r), fmt.rate(1e9 / r.nsPerUnit)]),
    'lrrr',
  );
  const fixed = await compareRows(
    [
      {
        name: `new StreamReader(${small.length}-byte buffer).processAll, default carrySize (64 KiB)`,
        run: (n) => {
          let f = 0;
          for (let i = 0; i < n; i++) f += new StreamReader(small, xxDeframer).processAll(noop);
          return f;
        },
      },
      {
        name: `the same with carrySize 16`,
        run: (n) => {
          let f = 0;
          for (let i = 0; i < n; i++)
            f += new StreamReader(small, xxDeframer, { carrySize: 16 }).processAll(noop);
          return f;
        },
      },
    ].map((r) => ({ ...r, units: 1 })),
  );
  console.log('\n### Diagnostics: fixed cost of a reader (4 frames)');
  table(
    ['row', 'µs/reader', 'spread'],
    fixed.map((r) => [r.name, (r.nsPerUnit / 1e3).toFixed(2), spread(r)]),
    'lrr',
  );
}

// ---- 4. JS heap and GCs ------------------------------------------------------------
{
  const stream = results.typedStream;
  const xx = results.small;
  // Separate callbacks (fresh copies) so that these runs do not change the
  // call sites the timed rows used; they run after all timing anyway.
  const valueOnly = new Function('s', `'use strict'; return (t) => { s.sum += t.value(); };`)(
    typedState,
  );
  const rows = [
    [
      'processAll(noop), 48-byte frames, XxHash64',
      () => new StreamReader(xx, xxDeframer).processAll(noop),
    ],
    [
      'processTyped, value() only',
      () =>
        new StreamReader(stream, xxDeframer).processTyped(Telemetry.getRootAsTelemetry, valueOnly),
    ],
    [
      'processTyped, all fields (2 BigInts per event: user code)',
      () =>
        new StreamReader(stream, xxDeframer).processTyped(
          Telemetry.getRootAsTelemetry,
          onEventOurs,
        ),
    ],
    ['peer (b), all fields', () => peerTypedReuseBB(stream, EVENTS)],
    ['peer (a), all fields', () => peerTypedNewBB(stream, EVENTS)],
  ];
  const out = [];
  for (const [name, run] of rows) {
    run(); // warm
    const h = await heapAndGc(run, EVENTS);
    out.push({ name, ...h });
  }
  console.log(
    `\n### JS heap and GCs, one run of ${EVENTS.toLocaleString('en-US')} frames from a collected heap`,
  );
  table(
    ['row', 'JS heap B/frame', 'GCs/run', 'GC ms/run'],
    out.map((r) => [r.name, r.bytesPerUnit.toFixed(1), r.gcs, r.ms.toFixed(1)]),
    'lrrr',
  );
  results.heap = out;
}

// ---- targets -----------------------------------------------------------------------
{
  const ours = results.typed.find((r) => r.key === 'ours');
  const a = results.typed.find((r) => r.key === 'a');
  const b = results.typed.find((r) => r.key === 'b');
  const typedRate = 1e9 / ours.nsPerUnit;
  const js = results.scan.find((r) => r.key === 'js');
  const engine = results.scan.find((r) => r.key === 'engine');
  const memcpy = results.large.find((r) => r.key === 'memcpy');
  const pct = (k) => memcpy.nsPerUnit / results.large.find((r) => r.key === k).nsPerUnit;
  const typedGc = results.heap.find((r) => r.name.startsWith('processTyped, value'));
  console.log('\n### Targets (reported, not asserted)');
  table(
    ['what', 'target', 'measured', ''],
    [
      [
        'processTyped, telemetry, XXH3, all fields',
        '>= 10 M events/s',
        `${fmt.rate(typedRate)} events/s`,
        verdict(typedRate >= 10e6),
      ],
      [
        '  vs peer (a), ByteBuffer per event',
        '>= 9x',
        fmt.ratio(a.nsPerUnit / ours.nsPerUnit),
        verdict(a.nsPerUnit / ours.nsPerUnit >= 9),
      ],
      [
        '  vs peer (b), one reused ByteBuffer',
        '>= 9x',
        fmt.ratio(b.nsPerUnit / ours.nsPerUnit),
        verdict(b.nsPerUnit / ours.nsPerUnit >= 9),
      ],
      ...[
        ['codecNum', 'processWith(codec), telemetry, XXH3, all fields, numbers', 25e6],
        ['codecBig', 'processWith(codec), the same with bigints', 12e6],
      ].flatMap(([k, what, target]) => {
        const r = results.typed.find((x) => x.key === k);
        const rate = 1e9 / r.nsPerUnit;
        return [
          [
            what,
            `>= ${target / 1e6} M events/s`,
            `${fmt.rate(rate)} events/s`,
            verdict(rate >= target),
          ],
          [
            '  vs peer (b), one reused ByteBuffer',
            '>= 9x',
            fmt.ratio(b.nsPerUnit / r.nsPerUnit),
            verdict(b.nsPerUnit / r.nsPerUnit >= 9),
          ],
        ];
      }),
      (() => {
        const r = results.rich.find((x) => x.key === 'codec');
        const rate = 1e9 / r.nsPerUnit;
        return [
          'processWith(codec), rich event, every field',
          '>= 5 M events/s',
          `${fmt.rate(rate)} events/s`,
          verdict(rate >= 5e6),
        ];
      })(),
      [
        'verify-only scan, 48 B, inside the addon',
        '>= 100 M frames/s',
        `${fmt.rate(1e9 / engine.nsPerUnit)} frames/s`,
        verdict(1e9 / engine.nsPerUnit >= 100e6),
      ],
      [
        '  (from JS, processAll(noop): reported)',
        '',
        `${fmt.rate(1e9 / js.nsPerUnit)} frames/s`,
        '',
      ],
      [
        'large frames, XXH3, from memory',
        '>= 50% of Buffer#copy',
        `${(100 * pct('memory')).toFixed(0)}%`,
        verdict(pct('memory') >= 0.5),
      ],
      [
        'large frames, XXH3, warm file, sync',
        '>= 50% of Buffer#copy',
        `${(100 * pct('fileSync')).toFixed(0)}%`,
        verdict(pct('fileSync') >= 0.5),
      ],
      [
        'large frames, XXH3, warm file, async',
        '>= 50% of Buffer#copy',
        `${(100 * pct('fileAsync')).toFixed(0)}%`,
        verdict(pct('fileAsync') >= 0.5),
      ],
      [
        'GCs caused by processTyped (value() only)',
        '0 per 1 M events',
        `${typedGc.gcs} (${typedGc.bytesPerUnit.toFixed(2)} B/event)`,
        verdict(typedGc.gcs === 0),
      ],
    ],
    'llll',
  );
}
