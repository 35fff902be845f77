// Reading a framed file from a warm page cache: which way of getting the bytes
// to StreamReader wins, synchronously and asynchronously: fs.readSync into a
// reused slab vs fs.readFileSync, and FileHandle.read
// double-buffered for the async API, with the event loop's longest stall.
// Every row is one full pass over the same file; rows alternate, medians.
//   node bench/file-read.mjs [--quick] [--workload small|large] [--cold]
// --cold (Linux, GNU dd): evicts the file from the page cache before every
// pass (`dd iflag=nocache count=0`, outside the timed region), for the cost
// of disk reads and of major page faults; the default measures a warm file.
// (without --workload it runs each workload in a process of its own; it
// re-runs itself with --expose-gc, to release mappings and buffers between
// passes outside the timed region)
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { banner, consume, fmt, lib, median, quick, require, table, verdict } from './harness.mjs';

const self = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const wi = args.indexOf('--workload');
const workloadName = wi >= 0 ? args[wi + 1] : null;
const cold = args.includes('--cold');

if (typeof globalThis.gc !== 'function' || workloadName === null) {
  let status = 0;
  for (const w of workloadName ? [workloadName] : ['small', 'large']) {
    const r = spawnSync(
      process.execPath,
      ['--expose-gc', self, ...args.filter((a, i) => i !== wi && i !== wi + 1), '--workload', w],
      { stdio: 'inherit' },
    );
    status ||= r.status ?? 1;
  }
  process.exit(status);
}

const { StreamWriter, StreamReader, FileSink, ChecksumFramer, ChecksumDeframer, XxHash64 } = lib;
const { UnexpectedEofError } = lib;

const MiB = 1024 * 1024;
const WORKLOADS = {
  // The telemetry event: 48-byte payloads.
  small: { frames: quick ? 250_000 : 1_000_000, min: 48, max: 48, rounds: quick ? 3 : 11 },
  // Large frames: 64 KiB – 1 MiB.
  large: { frames: quick ? 400 : 2000, min: 64 * 1024, max: MiB, rounds: quick ? 3 : 9 },
};
const W = WORKLOADS[workloadName];
if (!W) throw new Error(`unknown workload ${workloadName}`);
// Room in front of each read for the carried-over frame: the largest frame.
const HEADER = 12;
const HEADROOM = Math.max(64 * 1024, W.max + HEADER);
const deframer = new ChecksumDeframer(XxHash64, { maxFrameLen: W.max });

// ---- the file ---------------------------------------------------------------
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-file-read-'));
const file = path.join(dir, 'stream.bin');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function writeFile() {
  const pool = randomFillSync(Buffer.allocUnsafe(W.max + 4096));
  const w = new StreamWriter(new FileSink(file), new ChecksumFramer(XxHash64));
  let seed = 12345;
  for (let i = 0; i < W.frames; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const len = W.min + (seed % (W.max - W.min + 1));
    w.writePayload(pool.subarray(seed & 4095, (seed & 4095) + len));
  }
  w.close();
}

// ---- the reading paths -------------------------------------------------------
// One callback for every row, so the reader's call site stays monomorphic.
let frames = 0;
let acc = 0;
const onFrame = (p) => {
  frames++;
  acc ^= p.length ^ p[0];
};

/** The whole file in memory: StreamReader over a Buffer. */
function scanBytes(bytes) {
  new StreamReader(bytes, deframer).processAll(onFrame);
}

/**
 * Scans buf[start, end) with a StreamReader and returns where the unconsumed
 * tail starts (a frame split by the end of the read).
 */
function scanSlab(buf, start, end) {
  try {
    // carrySize 16: the reader's own carry-over slab is never used for bytes.
    new StreamReader(buf.subarray(start, end), deframer, { carrySize: 16 }).processAll(onFrame);
    return end;
  } catch (e) {
    if (!(e instanceof UnexpectedEofError)) throw e;
    return start + e.offset;
  }
}

// Reads go to buf[HEADROOM, HEADROOM + slab); the split frame's head is copied
// just in front of them, so a frame is never copied twice and never grows the buffer.
const slabs = new Map();
function slabOf(size, which = 0) {
  const key = `${size}/${which}`;
  if (!slabs.has(key)) slabs.set(key, new Uint8Array(HEADROOM + size));
  return slabs.get(key);
}

function readSyncRow(size) {
  return () => {
    const buf = slabOf(size);
    const fd = fs.openSync(file, 'r');
    try {
      let tail = 0;
      for (;;) {
        const n = fs.readSync(fd, buf, HEADROOM, size, null);
        if (n === 0) break;
        const end = HEADROOM + n;
        const stop = scanSlab(buf, HEADROOM - tail, end);
        tail = end - stop;
        buf.copyWithin(HEADROOM - tail, stop, end);
      }
      if (tail !== 0) throw new Error('torn file');
    } finally {
      fs.closeSync(fd);
    }
  };
}

function readFileRow() {
  return () => scanBytes(fs.readFileSync(file));
}

/** The reader's own synchronous file path, as committed (lib/read/sources.ts). */
function readerSyncRow(readSize) {
  return () => new StreamReader(file, deframer, { readSize }).processAll(onFrame);
}

function readOnlyRow(size) {
  return () => {
    const buf = slabOf(size);
    const fd = fs.openSync(file, 'r');
    try {
      while (fs.readSync(fd, buf, HEADROOM, size, null) > 0);
    } finally {
      fs.closeSync(fd);
    }
  };
}

/**
 * FileHandle.read double-buffered, one read ahead (as lib/read/sources.ts does):
 * the next read is issued when the previous one completes, then the slab it
 * filled is scanned.
 */
function asyncReadRow(size) {
  return async () => {
    const bufs = [slabOf(size, 0), slabOf(size, 1)];
    const fh = await fs.promises.open(file, 'r');
    try {
      let turn = 0;
      let tail = 0;
      let pending = fh.read(bufs[0], HEADROOM, size, null);
      for (;;) {
        const { bytesRead: n } = await pending;
        if (n === 0) break;
        const buf = bufs[turn];
        const next = bufs[turn ^ 1];
        pending = fh.read(next, HEADROOM, size, null); // writes next[HEADROOM, ...) only
        const end = HEADROOM + n;
        const stop = scanSlab(buf, HEADROOM - tail, end);
        tail = end - stop;
        next.set(buf.subarray(stop, end), HEADROOM - tail);
        turn ^= 1;
      }
      if (tail !== 0) throw new Error('torn file');
    } finally {
      await fh.close();
    }
  };
}

/**
 * FileHandle.read double-buffered, two reads ahead at explicit positions
 * (regular files only): a slab's next read is queued as soon as the slab is
 * scanned, so the pool never waits for the event loop between two reads.
 */
function asyncReadAheadRow(size, scan = true) {
  return async () => {
    const bufs = [slabOf(size, 0), slabOf(size, 1)];
    const fh = await fs.promises.open(file, 'r');
    const readInto = (k) => fh.read(bufs[k & 1], HEADROOM, size, k * size);
    const pending = [readInto(0), readInto(1)];
    try {
      let tail = 0;
      for (let k = 0; ; k++) {
        const { bytesRead: n } = await pending[k & 1];
        if (n === 0) break;
        if (scan) {
          const buf = bufs[k & 1];
          const end = HEADROOM + n;
          const stop = scanSlab(buf, HEADROOM - tail, end);
          tail = end - stop;
          // Read k + 1 is filling the other slab after HEADROOM: the tail goes just before.
          bufs[(k + 1) & 1].set(buf.subarray(stop, end), HEADROOM - tail);
        }
        pending[k & 1] = readInto(k + 2);
      }
      if (tail !== 0) throw new Error('torn file');
    } finally {
      await Promise.allSettled(pending);
      await fh.close();
    }
  };
}

// A read-ahead thread of our own, as a native one would be, stood in for by a
// worker_thread calling readSync into shared slabs: the same double buffering
// as asyncReadRow without libuv's pool. ctl = [fd, requested, served, len0,
// len1]; request k reads into slab k & 1.
const READER_THREAD = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { ctl, bufs, headroom, size } = workerData;
const views = bufs.map((b) => new Uint8Array(b));
for (let served = 0; ; ) {
  while (Atomics.load(ctl, 1) === served) Atomics.wait(ctl, 1, served);
  ctl[3 + (served & 1)] = fs.readSync(ctl[0], views[served & 1], headroom, size, null);
  Atomics.store(ctl, 2, ++served);
  Atomics.notify(ctl, 2);
}`;
const threads = new Map();
function readerThread(size) {
  if (!threads.has(size)) {
    const ctl = new Int32Array(new SharedArrayBuffer(5 * 4));
    const bufs = [0, 1].map(() => new SharedArrayBuffer(HEADROOM + size));
    const worker = new Worker(READER_THREAD, {
      eval: true,
      workerData: { ctl, bufs, headroom: HEADROOM, size },
    });
    worker.unref(); // ref'd during a pass: a pending Atomics.waitAsync keeps no process alive
    threads.set(size, { worker, ctl, views: bufs.map((b) => new Uint8Array(b)) });
  }
  return threads.get(size);
}

function threadReadRow(size) {
  return async () => {
    const { worker, ctl, views } = readerThread(size);
    const request = () => {
      Atomics.add(ctl, 1, 1);
      Atomics.notify(ctl, 1);
    };
    const filled = async (k) => {
      let waited = false;
      for (let done; (done = Atomics.load(ctl, 2)) <= k; waited = true) {
        await Atomics.waitAsync(ctl, 2, done).value;
      }
      // Yield to the event loop once per slab, as a completion from libuv does.
      if (!waited) await tick();
      return ctl[3 + (k & 1)];
    };
    const fd = fs.openSync(file, 'r');
    ctl[0] = fd;
    worker.ref();
    try {
      let k = Atomics.load(ctl, 1);
      request();
      request();
      let tail = 0;
      for (; ; k++) {
        const n = await filled(k);
        if (n === 0) {
          await filled(k + 1); // the read queued behind it, at the end of the file too
          break;
        }
        const buf = views[k & 1];
        const end = HEADROOM + n;
        const stop = scanSlab(buf, HEADROOM - tail, end);
        tail = end - stop;
        views[(k + 1) & 1].set(buf.subarray(stop, end), HEADROOM - tail);
        request(); // request k + 2: this slab again
      }
      if (tail !== 0) throw new Error('torn file');
    } finally {
      worker.unref();
      fs.closeSync(fd);
    }
  };
}

/** The same read-ahead thread under the synchronous API: the main thread blocks in Atomics.wait. */
function threadReadSyncRow(size) {
  return () => {
    const { ctl, views } = readerThread(size);
    const request = () => {
      Atomics.add(ctl, 1, 1);
      Atomics.notify(ctl, 1);
    };
    const filled = (k) => {
      for (let done; (done = Atomics.load(ctl, 2)) <= k;) Atomics.wait(ctl, 2, done);
      return ctl[3 + (k & 1)];
    };
    const fd = fs.openSync(file, 'r');
    ctl[0] = fd;
    try {
      let k = Atomics.load(ctl, 1);
      request();
      request();
      let tail = 0;
      for (; ; k++) {
        const n = filled(k);
        if (n === 0) {
          filled(k + 1);
          break;
        }
        const buf = views[k & 1];
        const end = HEADROOM + n;
        const stop = scanSlab(buf, HEADROOM - tail, end);
        tail = end - stop;
        views[(k + 1) & 1].set(buf.subarray(stop, end), HEADROOM - tail);
        request();
      }
      if (tail !== 0) throw new Error('torn file');
    } finally {
      fs.closeSync(fd);
    }
  };
}

/** The reader's own async file path, as committed (lib/read/sources.ts). */
function readerAsyncRow(readSize) {
  return async () => {
    const reader = new StreamReader(file, deframer, { readSize });
    await reader.processAllAsync(onFrame);
    await reader.close(); // the async path leaves the file open until close()
  };
}

// ---- measurement -------------------------------------------------------------
function evict() {
  const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error('--cold needs GNU dd (iflag=nocache)');
  // Spawning forked this process, which write-protected all its memory: write
  // to the reused buffers now, so the timed pass does not pay those faults.
  for (const b of [copyDst, ...slabs.values()]) b.fill(0);
}

const tick = () => new Promise(setImmediate);

const mapsFile = '/proc/self/maps';
const stillMapped = () =>
  fs.existsSync(mapsFile) && fs.readFileSync(mapsFile, 'utf8').includes(file);

async function release() {
  // Collected mappings are unmapped by a finalizer in a later event-loop turn;
  // wait for it (Linux: until /proc/self/maps no longer lists the file), so
  // that mappings never pile up and --cold can evict every page.
  for (let turns = 0; turns < 2 || (stillMapped() && turns < 100); turns++) {
    globalThis.gc();
    await tick();
  }
}

async function runAll(cases, rounds, perPass) {
  const pass = async (c) => {
    if (cold) evict();
    frames = 0;
    await c.run();
    if (c.scans !== false && frames !== perPass) {
      throw new Error(`${c.name}: ${frames} frames, expected ${perPass}`);
    }
  };
  // Warm-up (and a check of every path): JIT, slabs touched, the file's pages cached.
  for (const c of cases) {
    await pass(c);
    await release();
    c.samples = [];
    c.releaseMs = [];
    c.maxDelayMs = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const h = c.async ? monitorEventLoopDelay({ resolution: 1 }) : null;
      h?.enable();
      const t0 = process.hrtime.bigint();
      await pass(c);
      c.samples.push(Number(process.hrtime.bigint() - t0));
      h?.disable();
      if (h) c.maxDelayMs.push(h.max / 1e6);
      const t1 = process.hrtime.bigint();
      await release();
      c.releaseMs.push(Number(process.hrtime.bigint() - t1) / 1e6);
    }
  }
  for (const c of cases) c.nsPerOp = median(c.samples);
}

// ---- the run ----------------------------------------------------------------
banner(`Reading a framed file, ${workloadName} frames${cold ? ', cold' : ''}`);
writeFile();
const fileBytes = fs.statSync(file).size;
console.log(
  `file: ${W.frames.toLocaleString('en-US')} frames of ${W.min === W.max ? `${W.min} B` : `${W.min / 1024} KiB–${W.max / MiB} MiB`}` +
    ` with XXH3, ${(fileBytes / MiB).toFixed(1)} MiB, in ${os.tmpdir()} ${cold ? '(cold: evicted from the page cache before every pass)' : '(warm: just written, and read once before timing)'}`,
);

// A plain Uint8Array, like the slabs: over a Buffer, every
// payload view is a Buffer (Buffer#subarray), which costs ~15 ns more per frame.
const memoryBuf = fs.readFileSync(file);
const memory = new Uint8Array(memoryBuf.buffer, memoryBuf.byteOffset, memoryBuf.length);
const copySrc = randomFillSync(Buffer.allocUnsafe(64 * MiB));
const copyDst = Buffer.allocUnsafe(64 * MiB);
const COPIES = 8;

const sync = [
  {
    name: 'memcpy: Buffer#copy 64 MiB (reference)',
    scans: false,
    bytes: COPIES * 64 * MiB,
    run: () => {
      for (let i = 0; i < COPIES; i++) copySrc.copy(copyDst);
    },
  },
  { name: 'from memory: StreamReader(Uint8Array) (reference)', run: () => scanBytes(memory) },
  { name: 'readSync 4 MiB only, no scan (reference)', scans: false, run: readOnlyRow(4 * MiB) },
  { name: 'readSync 1 MiB slab + StreamReader per slab', run: readSyncRow(1 * MiB) },
  { name: 'readSync 4 MiB slab + StreamReader per slab', run: readSyncRow(4 * MiB) },
  { name: 'readSync 16 MiB slab + StreamReader per slab', run: readSyncRow(16 * MiB) },
  {
    name: 'worker_thread readSync 4 MiB x2 + StreamReader (a read-ahead thread of our own)',
    run: threadReadSyncRow(4 * MiB),
  },
  { name: 'readFileSync + StreamReader', run: readFileRow() },
  { name: 'StreamReader(path).processAll, readSize 1 MiB (default)', run: readerSyncRow(MiB) },
  { name: 'StreamReader(path).processAll, readSize 4 MiB', run: readerSyncRow(4 * MiB) },
];
const async_ = [
  {
    name: 'FileHandle.read 4 MiB x2 only, no scan (reference)',
    scans: false,
    run: asyncReadAheadRow(4 * MiB, false),
  },
  { name: 'FileHandle.read 4 MiB x2, one read ahead + StreamReader', run: asyncReadRow(4 * MiB) },
  { name: 'FileHandle.read 1 MiB x2, two reads ahead + StreamReader', run: asyncReadAheadRow(MiB) },
  {
    name: 'FileHandle.read 4 MiB x2, two reads ahead + StreamReader',
    run: asyncReadAheadRow(4 * MiB),
  },
  {
    name: 'FileHandle.read 16 MiB x2, two reads ahead + StreamReader',
    run: asyncReadAheadRow(16 * MiB),
  },
  {
    name: 'worker_thread readSync 4 MiB x2 + StreamReader (a read-ahead thread of our own)',
    run: threadReadRow(4 * MiB),
  },
  {
    name: 'StreamReader(path).processAllAsync, readSize 1 MiB (default)',
    run: readerAsyncRow(MiB),
  },
  { name: 'StreamReader(path).processAllAsync, readSize 4 MiB', run: readerAsyncRow(4 * MiB) },
].map((c) => ({ ...c, async: true }));

frames = 0;
scanBytes(memory);
const perPass = frames;
await runAll([...sync, ...async_], W.rounds, perPass);

// ---- the report ----------------------------------------------------------------
const gbs = (c) => (c.bytes ?? fileBytes) / c.nsPerOp;
const memcpy = gbs(sync[0]);
const row = (c) => [
  c.name,
  c.scans === false ? '' : fmt.rate((perPass * 1e9) / c.nsPerOp),
  fmt.gbs(gbs(c)),
  fmt.spread(c),
  (c.nsPerOp / 1e6).toFixed(1),
  fmt.ratio(gbs(c) / memcpy),
];
const releaseCell = (c) => median(c.releaseMs).toFixed(1);

console.log(`\n### Synchronous (GB/s = 10^9 file bytes/s; median of ${W.rounds} passes)`);
table(
  ['path', 'frames/s', 'GB/s', 'spread', 'ms/pass', 'vs memcpy', 'release ms'],
  sync.map((c) => [...row(c), releaseCell(c)]),
  'lrrrrrr',
);
console.log(`\n### Asynchronous (event-loop delay: monitorEventLoopDelay, 1 ms resolution)`);
table(
  [
    'path',
    'frames/s',
    'GB/s',
    'spread',
    'ms/pass',
    'vs memcpy',
    'max loop delay ms (median, worst)',
    'release ms',
  ],
  async_.map((c) => [
    ...row(c),
    `${median(c.maxDelayMs).toFixed(1)}, ${Math.max(...c.maxDelayMs).toFixed(1)}`,
    releaseCell(c),
  ]),
  'lrrrrrrr',
);

const byName = (prefix) => [...sync, ...async_].find((c) => c.name.startsWith(prefix));
const readOnly = byName('readSync 4 MiB only');
const fromMemory = byName('from memory');
const bestSync = sync.slice(3).reduce((a, b) => (gbs(b) > gbs(a) ? b : a));
const bestAsync = async_.slice(1).reduce((a, b) => (gbs(b) > gbs(a) ? b : a));
// Double buffering overlaps reading and scanning on two cores, so no read-ahead
// scheme (libuv's pool or a thread of our own) beats the slower of the two.
const overlapBound = fileBytes / Math.max(readOnly.nsPerOp, fromMemory.nsPerOp);
console.log(
  `\nbest sync: ${bestSync.name}, ${fmt.gbs(gbs(bestSync))} GB/s; best async: ${bestAsync.name}, ${fmt.gbs(gbs(bestAsync))} GB/s` +
    `\nread-ahead bound max(readSync 4 MiB only, scan from memory): ${fmt.gbs(overlapBound)} GB/s;` +
    ` FileHandle.read 4 MiB x2, two reads ahead, reaches ${((100 * gbs(byName('FileHandle.read 4 MiB x2, two'))) / overlapBound).toFixed(0)}% of it` +
    `\nrelease ms: gc() and event-loop turns after the pass until the file is unmapped, untimed`,
);
if (workloadName === 'large') {
  console.log('\n### Targets (reported, not asserted)');
  table(
    ['what', 'target', 'measured', ''],
    [
      [
        'large frames + XXH3, from memory',
        '>= 50% of memcpy',
        `${fmt.gbs(gbs(fromMemory))} GB/s, ${((100 * gbs(fromMemory)) / memcpy).toFixed(0)}%`,
        verdict(gbs(fromMemory) >= memcpy / 2),
      ],
      [
        `large frames + XXH3, ${cold ? 'cold' : 'warm'} file (best sync)`,
        '>= 50% of memcpy',
        `${fmt.gbs(gbs(bestSync))} GB/s, ${((100 * gbs(bestSync)) / memcpy).toFixed(0)}%`,
        verdict(gbs(bestSync) >= memcpy / 2),
      ],
    ],
    'llll',
  );
}
consume(acc);
