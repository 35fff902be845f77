// Capture latency: telemetry events captured to a file at a steady rate from
// an event loop that keeps turning, through flatstream's CaptureSink, through
// pino (sonic-boom, async) and through hand-framed fs.writeSync, beside a
// baseline loop that only builds the values. Per configuration: event-loop
// delay, the latency of every write() call, GCs during the capture, the rate
// sustained, bytes on disk, and the file read back.
//   node bench/capture.mjs [--quick] [--rate N] [--seconds S] [--rounds R] [--only a,b]
//                          [--disk-delay MS]
// --disk-delay makes every slab write of the capture thread wait MS first (a
// slow disk, through the sink's test hook), for b and b0 alike.
// Each configuration runs in a fresh child process (one per round; rounds
// alternate a b c d a b c d …) with the V8 flags in NODE_FLAGS; the parent
// prints medians.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { banner, fmt, lib, median, quick, require, table, verdict } from './harness.mjs';

const self = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const RATE = Number(opt('--rate', 1_000_000)); // events per second
const SECONDS = Number(opt('--seconds', quick ? 2 : 10)); // measured window
const ROUNDS = Number(opt('--rounds', quick ? 1 : 3));
const WARM_MS = quick ? 500 : 1000; // the same paced loop, untimed, before the window
// A tick writes the events due since the start, but at most this many
// milliseconds' worth: a configuration that cannot keep up falls behind (its
// achieved rate says so) instead of stalling the loop on an ever larger batch.
const CATCH_UP_MS = 10;

const CONFIGS = {
  baseline: 'a: baseline, values only (no capture)',
  flatstream:
    'b: flatstream StreamWriter + CaptureSink() (default: drop, 4 x 256 KiB growing to 16 MiB) + XXH3',
  flatstreamBlock:
    "b0: flatstream StreamWriter + CaptureSink({policy:'block', slabSize: 1 MiB, slabs: 8}) (the old default) + XXH3",
  pino: 'c: pino → pino.destination({sync:false, minLength:4096})',
  writeSync: 'd: fs.writeSync, hand-framed [u32 len][32 B] in a 64 KiB Buffer',
};
const config = opt('--config', null);
// --expose-gc: a full GC before the window, so that setup's garbage is not
// collected inside it and the old generation has room (right after start-up
// it has ~200 KB, and any growth forces a mark-compact). --expose-internals:
// the clock (see nowNs). No memory reducer: it otherwise shrinks the heap
// with incremental mark-compacts ~8 s after that GC (or after start-up) in
// any process that allocates little, the baseline included: a runtime
// event, not caused by the capture, that would land in some windows only.
const NODE_FLAGS = ['--expose-gc', '--expose-internals', '--no-memory-reducer'];

// ============================================================================
// Parent: run every configuration in a child of its own, print the medians.
// ============================================================================
if (!config) {
  const available = Object.keys(CONFIGS).filter(
    (c) => !c.startsWith('flatstream') || lib.CaptureSink,
  );
  const only = opt('--only', null)?.split(',');
  const names = only ? available.filter((c) => only.includes(c)) : available;
  banner('Capture: telemetry events to a file at a steady rate');
  console.log(
    `workload: u64 device id, u64 timestamp ns, f64 value; ${fmt.rate(RATE)} events/s target, ` +
      `${SECONDS} s measured after ${WARM_MS} ms warm-up, ${ROUNDS} round(s), one process per ` +
      `configuration and round; files in ${tmpdir()}`,
  );
  if (!lib.CaptureSink) console.log('(CaptureSink is not in this build: configuration b skipped)');
  const results = Object.fromEntries(names.map((c) => [c, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of names) {
      const res = spawnSync(process.execPath, [...NODE_FLAGS, self, ...args, '--config', c], {
        stdio: ['ignore', 'pipe', 'inherit'],
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      const last = res.stdout.trim().split('\n').pop();
      if (res.status !== 0 || !last?.startsWith('{')) {
        console.error(`bench/capture: ${c} exited with ${res.status ?? res.signal}\n${res.stdout}`);
        process.exit(1);
      }
      results[c].push(JSON.parse(last));
    }
  }
  report(names, results);
  process.exit(0);
}

// The parent's report: medians over the rounds of every number.
function report(names, results) {
  const med = (c, f) => median(results[c].map(f));
  const base = results.baseline ? (f) => med('baseline', f) : null;
  const us = (ns) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);
  const ms = (x) => x.toFixed(2);
  const signed = (x, show) => `${x >= 0 ? '+' : '−'}${show(Math.abs(x))}`;
  const over = (c, f) =>
    c === 'baseline' || !base
      ? ms(med(c, f))
      : `${ms(med(c, f))} (${signed(med(c, f) - base(f), ms)})`;
  const timer = median(names.flatMap((c) => results[c].map((x) => x.timerNs)));
  console.log(
    `\n### Medians of ${ROUNDS} round(s) (write() latency: the median cost of two back-to-back ` +
      `timer reads, ${timer.toFixed(0)} ns, subtracted)`,
  );
  const all = names.flatMap((c) => results[c]);
  console.log(
    `clock: ${[...new Set(all.map((x) => x.clock))].join(', ')}; it allocated up to ` +
      `${Math.max(...all.map((x) => x.timerGcBytesPerPair)).toFixed(3)} B per pair of reads`,
  );
  table(
    [
      'configuration',
      'events/s',
      'ELD max ms (over a)',
      'ELD p99 ms (over a)',
      'write p50 µs',
      'p99 µs',
      'p99.9 µs',
      'max µs',
      'calls > 50 µs',
      'GCs (major)',
      'JS heap B/event',
      'bytes on disk',
      'B/event',
      'read back',
    ],
    names.map((c) => {
      const r = results[c];
      return [
        CONFIGS[c],
        fmt.rate(med(c, (x) => x.rate)),
        over(c, (x) => x.eld.max),
        over(c, (x) => x.eld.p99),
        us(med(c, (x) => x.lat.p50)),
        us(med(c, (x) => x.lat.p99)),
        us(med(c, (x) => x.lat.p999)),
        us(med(c, (x) => x.lat.max)),
        med(c, (x) => x.lat.over50us),
        `${med(c, (x) => x.gc.count)} (${med(c, (x) => x.gc.major)})`,
        med(c, (x) => x.gc.bytesPerEvent).toFixed(1),
        med(c, (x) => x.fileBytes).toLocaleString('en-US'),
        med(c, (x) => x.fileBytes / x.totalEvents).toFixed(1),
        r.every((x) => x.verify.ok)
          ? `ok ×${r.length} (${r[r.length - 1].verify.what})`
          : `FAILED (${r.map((x) => x.verify.what).join('; ')})`,
      ];
    }),
    'lrrrrrrrrrrrrl',
  );
  console.log(
    '\nper round (events/s, ELD max ms, write max µs, GCs): ' +
      names
        .map(
          (c) =>
            `${c} ` +
            results[c]
              .map((x) => `${fmt.rate(x.rate)}/${ms(x.eld.max)}/${us(x.lat.max)}/${x.gc.count}`)
              .join(', '),
        )
        .join('; '),
  );
  for (const b of ['flatstream', 'flatstreamBlock'].filter((c) => results[c])) {
    console.log(`\n${b}: CaptureSink stats() at the end of each window (before close):`);
    for (const x of results[b]) {
      const s = x.sinkStats;
      const wl = s.writeLatency ?? {};
      console.log(
        `  frames ${s.frames}, framesWritten ${s.framesWritten}, drops ${s.drops}, ` +
          `queueDepth ${s.queueDepth}, slabs ${s.slabs}, flushes ${s.flushes}, writes ${s.writes}, ` +
          `errors ${s.errors}; thread writeLatency p50/p99/p999/max ` +
          `${wl.p50}/${wl.p99}/${wl.p999}/${wl.max} µs`,
      );
    }
  }

  console.log('\n### Targets (reported, not asserted; medians of the rounds)');
  const targets = [
    [
      'ELD max ≤ 1 ms above baseline',
      (c) => med(c, (x) => x.eld.max) - base((x) => x.eld.max),
      (v) => v <= 1,
      (v) => `${signed(v, ms)} ms`,
    ],
    [
      'write() p99.9 ≤ 2 µs',
      (c) => med(c, (x) => x.lat.p999),
      (v) => v <= 2000,
      (v) => `${us(v)} µs`,
    ],
    [
      'write() max ≤ 50 µs',
      (c) => med(c, (x) => x.lat.max),
      (v) => v <= 50_000,
      (v) => `${us(v)} µs`,
    ],
    [
      '0 GCs during the capture (GCs over a; JS heap B/event over a)',
      (c) => [
        med(c, (x) => x.gc.count) - base((x) => x.gc.count),
        med(c, (x) => x.gc.bytesPerEvent) - base((x) => x.gc.bytesPerEvent),
      ],
      ([v]) => v <= 0,
      ([v, b]) => `${signed(v, String)}; ${signed(b, (y) => y.toFixed(2))} B`,
    ],
    [
      'sustains the target rate (≥ 99%)',
      (c) => med(c, (x) => x.rate),
      (v) => v >= 0.99 * RATE,
      (v) => fmt.rate(v),
    ],
  ];
  // Flatstream first: the targets are its own; the others are for comparison.
  const cols = names
    .filter((c) => c !== 'baseline')
    .sort((a, b) => (b === 'flatstream') - (a === 'flatstream'));
  table(
    ['target', ...cols],
    targets
      .filter(([name]) => base || (!name.includes('over a') && !name.startsWith('ELD')))
      .map(([name, get, ok, show]) => [
        name,
        ...cols.map((c) => `${show(get(c))} ${verdict(ok(get(c)))}`),
      ]),
    'l'.repeat(cols.length + 1),
  );
  if (base) {
    console.log(
      `(baseline a, for the floor of this machine: ELD max ${ms(base((x) => x.eld.max))} ms, ` +
        `write() max ${us(base((x) => x.lat.max))} µs for a call that does nothing, ` +
        `${base((x) => x.lat.over50us)} calls > 50 µs, ${base((x) => x.gc.count)} GCs from the ` +
        `driving loop's timers, ${base((x) => x.gc.bytesPerEvent).toFixed(2)} B/event)`,
    );
  }
  if (results.flatstream) slowReport(results.flatstream);
}

// Where flatstream's calls over 50 µs fall: on slab boundaries (they recur
// at a period of slabSize / frame bytes events), and the rest.
function slowReport(runs) {
  console.log('\nflatstream write() calls > 50 µs, per round (event number in the window: µs):');
  for (const x of runs) {
    const period = Math.floor((1 << 20) / (x.fileBytes / x.totalEvents)); // default 1 MiB slabs
    const at = x.slow.map(([i]) => i);
    const periodic = x.slow.filter(([i]) =>
      at.some((j) => j !== i && Math.abs(i - j) % period === 0),
    );
    const big = x.slow.filter(([, ns]) => ns > 200_000);
    console.log(
      `  ${x.lat.over50us} calls (first ${x.slow.length} recorded): ${periodic.length} recur every ` +
        `${period} events (one ${1 << 20}-byte slab of ${(x.fileBytes / x.totalEvents).toFixed(0)}-byte ` +
        `frames), ${periodic.length ? `${(median(periodic.map(([, ns]) => ns)) / 1000).toFixed(0)} µs median; ` : ''}` +
        `> 200 µs: ${big.map(([i, ns]) => `${i}: ${(ns / 1000).toFixed(0)}`).join(', ') || 'none'}`,
    );
  }
}

// ============================================================================
// Child: one configuration.
// ============================================================================
const { StreamWriter, StreamReader, ChecksumFramer, ChecksumDeframer, XxHash64 } = lib;

// The event's values, made up front: user code that allocates nothing (a
// BigInt made per event would allocate, whoever writes it).
const T0 = 1_700_000_000_000_000_000n; // ns since the epoch, beyond 2^53
const IDS = Array.from({ length: 64 }, (_, k) => BigInt(1000 + k));
const TSS = Array.from({ length: 1024 }, (_, k) => T0 + BigInt(k));
const ZERO = 0n;

// The clock must not allocate, or it would cause the very GCs being counted
// (and their pauses would land in the latencies it measures). On Node 20
// performance.now() and Date.now() return a fresh HeapNumber from C++ (16 B
// per call: two per event at 1 M events/s is a scavenge every few ms), and
// process.hrtime()'s [s, ns] array is eliminated only when it is inlined
// into an optimised caller, which a large write() inlined beside it defeats
// (measured: 16-64 B per event). So the clock is the binding behind
// process.hrtime(): hrtime() fills a Uint32Array [s high, s low, ns] and
// returns nothing, and emit() reads that array inline: nothing is allocated
// wherever V8 inlines what. It needs --expose-internals (the parent passes
// it); without it process.hrtime() stands in.
const HB_BASE = 4294967296;
const { HR, HB, clockName } = (() => {
  const warn = process.emitWarning;
  try {
    process.emitWarning = () => undefined; // "internal/test/binding: ... for internal testing only"
    const pm = require('internal/test/binding').internalBinding('process_methods');
    const buf = pm.hrtimeBuffer;
    if (!(buf instanceof Uint32Array) || typeof pm.hrtime !== 'function') throw new Error();
    return { HR: pm, HB: buf, clockName: 'hrtime binding (no allocation)' };
  } catch {
    const buf = new Uint32Array(3);
    const hr = {
      hrtime() {
        const t = process.hrtime();
        buf[1] = t[0];
        buf[2] = t[1];
      },
    };
    return { HR: hr, HB: buf, clockName: 'process.hrtime() (allocates unless inlined)' };
  } finally {
    process.emitWarning = warn;
  }
})();
function nowNs() {
  HR.hrtime();
  return (HB[0] * HB_BASE + HB[1]) * 1e9 + HB[2];
}

// write() latency histogram: 10 ns bins up to 1 ms, then one overflow bin;
// the exact maximum beside it.
const BIN_NS = 10;
const NBINS = 100_000;
const hist = new Uint32Array(NBINS + 1);
let maxNs = 0;
const pct = (h, total, p) => {
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let b = 0; b < h.length; b++) {
    seen += h[b];
    if (seen >= rank) return b * BIN_NS;
  }
  return h.length * BIN_NS;
};

// The first calls slower than 50 µs (event number, ns), for diagnosis (--slow).
let slowNs = 50_000; // plus the clock's own cost, once measured
const SLOW_MAX = 256;
const slow = new Float64Array(2 * SLOW_MAX);
let nSlow = 0;
let slowCalls = 0;

let write = null; // the configuration's per-event call, set below
let acc = 0; // folds the baseline's values so that they are not dead code

// Times every call; the loop lives in a function that runs once per tick,
// so it is optimised as a whole (not on-stack), and allocates nothing.
function emit(from, n) {
  const to = from + n;
  for (let i = from; i < to; i++) {
    HR.hrtime();
    const t0 = (HB[0] * HB_BASE + HB[1]) * 1e9 + HB[2];
    write(i);
    HR.hrtime();
    const d = (HB[0] * HB_BASE + HB[1]) * 1e9 + HB[2] - t0;
    if (d > maxNs) maxNs = d;
    const b = (d / BIN_NS) | 0;
    hist[b < NBINS ? b : NBINS]++;
    if (d > slowNs) {
      slowCalls++;
      if (nSlow < SLOW_MAX) {
        slow[2 * nSlow] = i;
        slow[2 * nSlow + 1] = d;
        nSlow++;
      }
    }
  }
}

// A paced loop: a 1 ms timer (one Timeout object, re-armed with refresh():
// no allocation per tick) writes the events due since the start.
let nextEvent = 0;
function run(ms) {
  return new Promise((resolve) => {
    const perNs = RATE / 1e9;
    const cap = Math.max(1, Math.round((RATE * CATCH_UP_MS) / 1000));
    const start = nowNs();
    const end = start + ms * 1e6;
    let written = 0;
    const timer = setTimeout(function tick() {
      const t = nowNs();
      let due = Math.floor(((t < end ? t : end) - start) * perNs) - written;
      if (due > cap) due = cap;
      if (due > 0) {
        emit(nextEvent, due);
        nextEvent += due;
        written += due;
      }
      if (t >= end) resolve({ events: written, ns: nowNs() - start });
      else timer.refresh();
    }, 1);
  });
}

async function setup(name, file) {
  if (name === 'baseline') {
    write = (i) => {
      const id = IDS[i & 63];
      const ts = TSS[i & 1023];
      if (id === ts) acc++;
      acc += i * 0.25 > 1e300 ? 1 : 0;
    };
    return {
      close: async () => undefined,
      verify: () => ({ ok: true, what: `acc ${acc}` }),
    };
  }
  if (name === 'flatstream' || name === 'flatstreamBlock') {
    const sink = new lib.CaptureSink(
      file,
      name === 'flatstream' ? {} : { policy: 'block', slabSize: 1 << 20, slabs: 8 },
    );
    const diskDelay = Number(opt('--disk-delay', 0));
    if (diskDelay > 0) sink._injectFault({ delayMs: diskDelay });
    const writer = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    // The flatstream-rs telemetry table, built with the builder API directly.
    const item = {
      i: 0,
      serialize(b) {
        const i = this.i;
        b.startObject(3);
        b.addFieldInt64(0, IDS[i & 63], ZERO);
        b.addFieldInt64(1, TSS[i & 1023], ZERO);
        b.addFieldFloat64(2, i * 0.25, 0);
        b.finish(b.endObject());
      },
    };
    write = (i) => {
      item.i = i;
      writer.write(item);
    };
    return {
      stats: () => sink.stats(),
      staging: sink.stagingPath, // removed by a clean close; removed here too if it was not
      close: async () => {
        sink._injectFault({});
        writer.flush();
        await sink.flushed();
        writer.close();
        await writer.finished();
      },
      verify: (events) => {
        const frames = new StreamReader(file, new ChecksumDeframer(XxHash64)).processAll(
          () => undefined,
        );
        // Every event is in the file or counted as dropped (the 'drop' policy).
        const drops = sink.stats().drops;
        return {
          ok: frames + drops === events,
          what: `${frames} frames, XXH3 verified, ${drops} dropped`,
        };
      },
    };
  }
  if (name === 'pino') {
    const pino = require('pino');
    const dest = pino.destination({ dest: file, sync: false, minLength: 4096 });
    await once(dest, 'ready');
    const logger = pino(dest); // defaults: level, time, pid, hostname, msg-less object
    // Numbers and strings (pino cannot serialise a BigInt; the ns timestamp
    // is past 2^53, so it goes as its decimal string), made up front, in one
    // object refilled per event (pino serialises it during the call).
    const IDN = IDS.map(Number);
    const TSSTR = TSS.map(String);
    const obj = { id: 0, ts: '', value: 0 };
    write = (i) => {
      obj.id = IDN[i & 63];
      obj.ts = TSSTR[i & 1023];
      obj.value = i * 0.25;
      logger.info(obj);
    };
    return {
      close: async () => {
        const closed = once(dest, 'close');
        dest.end();
        await closed;
      },
      verify: (events) => {
        const fd = openSync(file, 'r');
        const chunk = Buffer.alloc(4 << 20);
        let lines = 0;
        for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0;) {
          for (let p = chunk.indexOf(10); p >= 0 && p < n; p = chunk.indexOf(10, p + 1)) lines++;
        }
        closeSync(fd);
        return { ok: lines === events, what: `${lines} lines` };
      },
    };
  }
  if (name === 'writeSync') {
    // What a user writes without a library: [u32 len = 32][u64 id][u64 ts]
    // [f64 value][u64 sequence], little-endian, 36 bytes per event, into a
    // reused 64 KiB Buffer written out with fs.writeSync when full.
    const fd = openSync(file, 'w');
    const SLAB = 64 * 1024;
    const buf = Buffer.alloc(SLAB);
    const dv = new DataView(buf.buffer, buf.byteOffset, SLAB);
    let pos = 0;
    write = (i) => {
      if (pos + 36 > SLAB) {
        writeSync(fd, buf, 0, pos);
        pos = 0;
      }
      dv.setUint32(pos, 32, true);
      dv.setBigUint64(pos + 4, IDS[i & 63], true);
      dv.setBigUint64(pos + 12, TSS[i & 1023], true);
      dv.setFloat64(pos + 20, i * 0.25, true);
      dv.setUint32(pos + 28, i >>> 0, true);
      dv.setUint32(pos + 32, Math.floor(i / 2 ** 32), true);
      pos += 36;
    };
    return {
      close: async () => {
        if (pos > 0) writeSync(fd, buf, 0, pos);
        closeSync(fd);
      },
      verify: (events) => {
        // Size, the first length and the last sequence number.
        const size = statSync(file).size;
        const b = Buffer.alloc(36);
        const rfd = openSync(file, 'r');
        readSync(rfd, b, 0, 4, 0);
        const len0 = b.readUInt32LE(0);
        readSync(rfd, b, 0, 36, Math.max(0, size - 36));
        closeSync(rfd);
        const n = size / 36;
        const last = b.readUInt32LE(28) + b.readUInt32LE(32) * 2 ** 32;
        return { ok: n === events && last === events - 1 && len0 === 32, what: `${n} records` };
      },
    };
  }
  throw new Error(`bench/capture: unknown configuration ${name} (${Object.keys(CONFIGS)})`);
}

// Two back-to-back clock reads: their median is subtracted from the write()
// latencies; their allocation is checked (it must be none).
// In batches of 1000, as emit() runs: one long loop would run on-stack
// replaced or interpreted code for a while, where every double is boxed.
const timerHist = new Uint32Array(NBINS + 1);
function timerPairs(n) {
  for (let i = 0; i < n; i++) {
    HR.hrtime();
    const a = (HB[0] * HB_BASE + HB[1]) * 1e9 + HB[2];
    HR.hrtime();
    const d = (HB[0] * HB_BASE + HB[1]) * 1e9 + HB[2] - a;
    const b = (d / BIN_NS) | 0;
    timerHist[b < NBINS ? b : NBINS]++;
  }
}
function timerCost(n) {
  timerHist.fill(0);
  for (let k = 0; k < n; k += 1000) timerPairs(1000);
  return pct(timerHist, Math.ceil(n / 1000) * 1000, 50);
}

function gcStats(statistics, used0, used1) {
  let allocated = 0;
  let prev = used0;
  let count = 0;
  let major = 0;
  let ms = 0;
  for (const s of statistics) {
    if (s.gcType === 'MarkSweepCompact') major++;
    else if (s.gcType !== 'Scavenge' && s.gcType !== 'MinorMarkSweep') continue;
    count++;
    allocated += s.beforeGC.heapStatistics.usedHeapSize - prev;
    prev = s.afterGC.heapStatistics.usedHeapSize;
    ms += s.cost / 1000;
  }
  return { count, major, ms, allocated: allocated + used1 - prev };
}

const file = join(
  tmpdir(),
  `flatstream-capture-${config}-${process.pid}.${config === 'pino' ? 'ndjson' : 'bin'}`,
);
rmSync(file, { force: true });
const cfg = await setup(config, file);

timerCost(200_000); // warm the clock up
await run(WARM_MS); // warm-up: the same loop, the same file, untimed
timerCost(200_000);
hist.fill(0);
maxNs = 0;
nSlow = 0;
slowCalls = 0;
const windowStart = nextEvent;
globalThis.gc();
const timerProf = new v8.GCProfiler();
const tu0 = v8.getHeapStatistics().used_heap_size;
timerProf.start();
const timerNs = timerCost(1_000_000);
const timerGc = gcStats(timerProf.stop().statistics, tu0, v8.getHeapStatistics().used_heap_size);
slowNs += timerNs;

globalThis.gc();
const eld = monitorEventLoopDelay({ resolution: 1 });
const prof = new v8.GCProfiler();
const used0 = v8.getHeapStatistics().used_heap_size;
eld.enable();
prof.start();
const { events, ns } = await run(SECONDS * 1000);
const used1 = v8.getHeapStatistics().used_heap_size;
const gcRaw = prof.stop();
eld.disable();
const sinkStats = cfg.stats?.();
const gc = gcStats(gcRaw.statistics, used0, used1);

await cfg.close();
const fileBytes = config === 'baseline' ? 0 : statSync(file).size;
const verify = cfg.verify(nextEvent);
rmSync(file, { force: true });
if (cfg.staging) rmSync(cfg.staging, { force: true });

const sub = (x) => Math.max(0, x - timerNs);
const out = {
  config,
  events,
  totalEvents: nextEvent,
  seconds: ns / 1e9,
  rate: events / (ns / 1e9),
  eld: { max: eld.max / 1e6, p99: eld.percentile(99) / 1e6, mean: eld.mean / 1e6 },
  lat: {
    p50: sub(pct(hist, events, 50)),
    p99: sub(pct(hist, events, 99)),
    p999: sub(pct(hist, events, 99.9)),
    max: sub(maxNs),
    over50us: slowCalls,
  },
  timerNs,
  clock: clockName,
  timerGcBytesPerPair: timerGc.allocated / 1_000_000,
  gc: { ...gc, bytesPerEvent: gc.allocated / events },
  fileBytes,
  verify,
  sinkStats,
  slow: Array.from({ length: nSlow }, (_, k) => [
    slow[2 * k] - windowStart,
    slow[2 * k + 1] - timerNs,
  ]),
};
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
