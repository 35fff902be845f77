// Child processes (and worker threads) of capture-reliability.test.ts and
// capture-shutdown.test.ts: each scenario captures with a CaptureSink of the
// built package (../dist/cjs/index.js) and then dies, exits or hangs in the
// way the test asks for. Run as `node capture-child.js <scenario> <json>`;
// required as a module it only exports the payload helpers, so the parent
// checks the frames against the very bytes the child wrote.
'use strict';
const fs = require('node:fs');
const { isMainThread, workerData, parentPort } = require('node:worker_threads');

// ---------------------------------------------------------------- payloads

const MAX_PAYLOAD = 30008;

function mix(x) {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Payload size of frame i of generation gen: mostly small, some medium, a few large. */
function payloadSize(gen, i) {
  const h = mix(Math.imul(gen + 1, 0x9e3779b1) ^ mix(i + 0x1234567));
  const r = h % 1000;
  const v = mix(h);
  if (r < 2) return 8 + (v % 30000);
  if (r < 100) return 8 + (v % 4000);
  return 8 + (v % 300);
}

/**
 * The payload of frame i of generation gen, written into buf (at least
 * 30 008 bytes); returns its length. [u32 gen][u32 i][bytes of an LCG].
 * `cap` (at least 8) bounds the size, for sinks with small slabs.
 */
function fillPayload(buf, gen, i, cap = MAX_PAYLOAD) {
  const n = Math.min(payloadSize(gen, i), cap);
  buf.writeUInt32LE(gen >>> 0, 0);
  buf.writeUInt32LE(i >>> 0, 4);
  let x = mix(gen * 7919 + i) | 1;
  for (let j = 8; j < n; j++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    buf[j] = x >>> 24;
  }
  return n;
}

/** A function (gen, i) => payload, a view of one reused buffer. */
function makePayloads(cap = MAX_PAYLOAD) {
  const buf = Buffer.alloc(MAX_PAYLOAD);
  return (gen, i) => buf.subarray(0, fillPayload(buf, gen, i, cap));
}

module.exports = { payloadSize, fillPayload, makePayloads, MAX_PAYLOAD };

// ---------------------------------------------------------------- scenarios

/** Small deterministic PRNG for the child's own choices. */
function rng(seed) {
  let s = mix(seed) || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

function out(obj) {
  // Pipes are synchronous on Linux: the line is in the pipe when this returns.
  fs.writeSync(1, JSON.stringify(obj) + '\n');
}

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function open(lib, c, extra) {
  const sink = new lib.CaptureSink(c.file, { stagingPath: c.staging, ...c.options, ...extra });
  const writer = new lib.StreamWriter(sink, new lib.ChecksumFramer(lib.XxHash64));
  return { sink, writer };
}

function writeN(writer, gen, from, to, cap) {
  const payload = makePayloads(cap);
  for (let i = from; i < to; i++) writer.writePayload(payload(gen, i));
}

// A payload encoder that copies bytes in place (StreamWriter.writeWith).
const copyEncoder = {
  name: 'kill.Bytes',
  encodeInto(v, buf, _view, at, limit) {
    if (at + v.length > limit) return -1;
    buf.set(v, at);
    return at + v.length;
  },
  sizeOf: (v) => v.length,
};

// Kill test: writes frames of generation c.gen until killed, storing the
// count of frames whose write() returned at position 0 of c.progress, and
// at position 4 how far it got: 1 opening the sink (draining the previous
// generation's staging), 2 opened.
async function kill(lib, c) {
  const progress = fs.openSync(c.progress, 'r+');
  const cell = Buffer.alloc(4);
  cell.writeInt32LE(1, 0);
  fs.writeSync(progress, cell, 0, 4, 4);
  const openAt = performance.now();
  const { sink, writer } = open(lib, c);
  const openedAt = performance.now();
  cell.writeInt32LE(2, 0);
  fs.writeSync(progress, cell, 0, 4, 4);
  const random = rng(c.gen * 31 + 7);
  const payload = makePayloads(c.cap);
  // Times since this process started, so the parent can aim kills at the opening.
  out({ ready: true, openAt, openedAt, readyAt: performance.now() });
  let i = 0;
  while (i < c.max) {
    const r = random();
    // Mostly short bursts between event-loop turns; sometimes a long one
    // that outruns the writer thread and fills every slab ('block').
    const burst = r < 0.1 ? 500 + Math.floor(random() * 2500) : 1 + Math.floor(random() * 40);
    for (let b = 0; b < burst && i < c.max; b++) {
      try {
        // Every other frame through writeWith (reserve/commit in the lent
        // slab): both paths commit the same way, and both must survive.
        if (i & 1) writer.writeWith(copyEncoder, payload(c.gen, i));
        else writer.writePayload(payload(c.gen, i));
      } catch (e) {
        if (e && e.code === 'ERR_FLATSTREAM_STAGING_FULL') continue; // not staged: retry frame i
        throw e;
      }
      i++;
      cell.writeInt32LE(i, 0);
      fs.writeSync(progress, cell, 0, 4, 0);
    }
    const a = random();
    if (a < 0.05) writer.flush();
    else if (a < 0.07) writer.sync();
    else if (a < 0.09) {
      writer.flush();
      await sink.flushed();
    }
    if (random() < 0.5) await tick();
    else await sleep(Math.floor(random() * 3));
  }
  out({ done: i });
  setInterval(() => {}, 1000); // wait to be killed
}

// Writes c.n frames, flushing once half-way, then ends the way c.end says.
function exitScenario(lib, c) {
  const { writer } = open(lib, c);
  const half = c.n >> 1;
  writeN(writer, 0, 0, half, c.cap);
  writer.flush();
  writeN(writer, 0, half, c.n, c.cap);
  out({ written: c.n });
  if (c.end === 'process.exit') process.exit(0);
  if (c.end === 'throw') throw new Error('capture-child: uncaught on purpose');
  // 'return': nothing left to do, the event loop empties and the process exits.
}

// Writes c.n frames without flushing (fewer than a slab, no timer), then waits to be killed.
function noflush(lib, c) {
  const { sink, writer } = open(lib, c);
  writeN(writer, 0, 0, c.n, c.cap);
  out({ written: c.n, queueDepth: sink.stats().queueDepth });
  setInterval(() => {}, 1000);
}

// Holds the sink open until killed (a second opener must get EBUSY).
function hold(lib, c) {
  const { writer } = open(lib, c);
  writeN(writer, 0, 0, c.n ?? 0, c.cap);
  out({ ready: true });
  setInterval(() => {}, 1000);
}

// Injects a write fault, with no 'error' listener; reports what it saw.
async function faultNoListener(lib, c) {
  const { sink, writer } = open(lib, c);
  sink._injectFault({ code: c.code, afterWrites: 2 });
  const payload = makePayloads(c.cap);
  let accepted = 0;
  let thrown = null;
  const attempt = () => {
    try {
      writer.writePayload(payload(0, accepted));
      accepted++;
      return true;
    } catch (e) {
      thrown = { name: e.name, code: e.code, systemCode: e.systemCode, message: e.message };
      return false;
    }
  };
  for (let i = 0; i < c.n && attempt(); i++);
  if (!thrown) {
    try {
      writer.flush();
    } catch (e) {
      thrown = { name: e.name, code: e.code, systemCode: e.systemCode, message: e.message };
    }
  }
  for (let t = 0; t < 500 && sink.stats().errors < 1; t++) await sleep(10);
  await sleep(50); // let an unheard 'error' be emitted, if it would crash us
  for (let t = 0; t < 20 && !thrown && attempt(); t++) await sleep(5);
  const stats = sink.stats();
  try {
    writer.close();
  } catch {}
  await writer.finished().catch(() => {});
  out({ accepted, thrown, errors: stats.errors, queueDepth: stats.queueDepth });
}

// flushOnSignal: writes c.n frames, then waits for SIGTERM. With c.own, a
// SIGTERM listener of its own keeps it running until told "exit" on stdin.
function signal(lib, c) {
  const { writer } = open(lib, c, { flushOnSignal: true });
  writeN(writer, 0, 0, c.n, c.cap);
  if (c.own) {
    process.on('SIGTERM', () => setImmediate(() => out({ term: c.n })));
    let input = '';
    process.stdin.on('data', (d) => {
      input += d;
      if (!input.includes('exit')) return;
      process.stdin.destroy();
      writeN(writer, 0, c.n, c.n + c.more, c.cap);
      writer.close();
      writer.finished().then(() => out({ done: c.n + c.more }));
    });
  } else {
    setInterval(() => {}, 1000);
  }
  out({ ready: true, written: c.n });
}

// Three sinks in one process, interleaved, all closed cleanly.
async function multi(lib, c) {
  const sinks = c.files.map((f, k) => open(lib, { ...c, file: f, staging: c.stagings[k] }));
  const payload = makePayloads(c.cap);
  const counts = sinks.map(() => 0);
  const random = rng(99);
  for (let round = 0; round < c.rounds; round++) {
    for (let k = 0; k < sinks.length; k++) {
      const burst = 1 + Math.floor(random() * 60);
      for (let b = 0; b < burst; b++) sinks[k].writer.writePayload(payload(k, counts[k]++));
      if (random() < 0.1) sinks[k].writer.flush();
    }
    if (random() < 0.3) await tick();
  }
  for (const s of sinks) s.writer.close();
  await Promise.all(sinks.map((s) => s.writer.finished()));
  out({ counts });
}

// Two workers with their own sinks plus one in the main thread; the main
// thread terminates the workers mid-capture.
async function workers(lib, c) {
  const { Worker } = require('node:worker_threads');
  const sab = new SharedArrayBuffer(8);
  const counts = new Int32Array(sab);
  const ws = [0, 1].map(
    (k) =>
      new Worker(__filename, {
        workerData: {
          captureWorker: true,
          k,
          sab,
          file: c.files[k + 1],
          staging: c.stagings[k + 1],
          options: c.options,
          cap: c.cap,
        },
      }),
  );
  for (const w of ws) w.on('error', (e) => out({ workerError: String(e && e.stack) }));
  const main = open(lib, { ...c, file: c.files[0], staging: c.stagings[0] });
  const payload = makePayloads(c.cap);
  let n = 0;
  while (Atomics.load(counts, 0) < c.before || Atomics.load(counts, 1) < c.before) {
    for (let b = 0; b < 20; b++) main.writer.writePayload(payload(0, n++));
    await sleep(1);
  }
  await Promise.all(ws.map((w) => w.terminate()));
  const recorded = [Atomics.load(counts, 0), Atomics.load(counts, 1)];
  main.writer.close();
  await main.writer.finished();
  out({ main: n, recorded });
}

async function worker(lib, d) {
  const counts = new Int32Array(d.sab);
  const { writer } = open(lib, d);
  const payload = makePayloads(d.cap);
  const random = rng(d.k + 5);
  const gen = d.k + 1;
  let i = 0;
  for (;;) {
    const burst = 1 + Math.floor(random() * (random() < 0.1 ? 2000 : 50));
    for (let b = 0; b < burst; b++) {
      writer.writePayload(payload(gen, i));
      Atomics.store(counts, d.k, ++i);
    }
    if (random() < 0.05) writer.flush();
    await tick();
  }
}

function errorInfo(e) {
  return { name: e.name, code: e.code, systemCode: e.systemCode, message: e.message };
}

// Staging space (run inside a private mount namespace with a small tmpfs on
// /dev/shm): opens c.sinks sinks on c.dir/s<k>.fst with the default options
// (staging in /dev/shm), writes c.n frames to each, closes them. Reports,
// per sink, 'ok' or the error the open or a write threw.
async function shm(lib, c) {
  const results = [];
  const open = [];
  for (let k = 0; k < c.sinks; k++) {
    try {
      const sink = new lib.CaptureSink(`${c.dir}/s${k}.fst`, c.options);
      const writer = new lib.StreamWriter(sink, new lib.ChecksumFramer(lib.XxHash64));
      open.push({ k, sink, writer });
      results[k] = 'ok';
    } catch (e) {
      results[k] = errorInfo(e);
    }
  }
  const payload = makePayloads(c.cap);
  for (const { k, writer } of open) {
    try {
      for (let i = 0; i < c.n; i++) writer.writePayload(payload(k, i));
    } catch (e) {
      results[k] = errorInfo(e);
    }
  }
  for (const { writer } of open) {
    try {
      writer.close();
      await writer.finished();
    } catch {}
  }
  const left = fs.readdirSync('/dev/shm');
  out({ results, left });
}

// A tmpfs filled by someone else between open and growth: opens one sink
// (policy c.options), fills /dev/shm with another file, then writes c.n
// frames with a slow disk so that the staging wants to grow.
async function fillShm(lib, c) {
  const { sink, writer } = open(lib, c);
  const filler = fs.openSync('/dev/shm/filler', 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) fs.writeSync(filler, chunk);
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  }
  fs.closeSync(filler);
  sink._injectFault({ delayMs: c.delayMs ?? 5 });
  const payload = makePayloads(c.cap);
  let accepted = 0;
  let thrown = null;
  const dropsBefore = () => sink.stats().drops;
  for (let i = 0; i < c.n; i++) {
    const d = dropsBefore();
    try {
      writer.writePayload(payload(0, i));
    } catch (e) {
      thrown = errorInfo(e);
      break;
    }
    if (sink.stats().drops === d) accepted++;
    else break; // report the first drop
  }
  const stats = sink.stats();
  sink._injectFault({});
  fs.unlinkSync('/dev/shm/filler');
  writer.close();
  await writer.finished();
  out({
    accepted,
    thrown,
    growFailures: stats.growFailures,
    slabs: stats.slabs,
    drops: stats.drops,
  });
}

// Two streams given one staging path in this process: the second is refused.
async function sameStaging(lib, c) {
  const a = open(lib, { ...c, file: c.files[0] });
  a.writer.writePayload(makePayloads(c.cap)(0, 0));
  let second = null;
  try {
    const b = open(lib, { ...c, file: c.files[1] });
    b.writer.writePayload(makePayloads(c.cap)(1, 0));
    b.writer.close();
    await b.writer.finished();
    second = 'opened';
  } catch (e) {
    second = errorInfo(e);
  }
  a.writer.writePayload(makePayloads(c.cap)(0, 1));
  a.writer.close();
  await a.writer.finished();
  out({ second });
}

// ENOSPC on the stream file mid-slab (run in a private mount namespace):
// c.dir is a small tmpfs. Writes until the writer thread fails, makes room
// (remount, larger), reopens, closes, and reads the stream back: every
// frame write() accepted, in order, byte for byte.
async function enospcStream(lib, c) {
  const { execFileSync } = require('node:child_process');
  const first = open(lib, c);
  first.sink.on('error', () => {});
  const payload = makePayloads(c.cap);
  let accepted = 0;
  let thrown = null;
  for (let i = 0; i < c.max && !thrown; i++) {
    try {
      first.writer.writePayload(payload(0, i));
      accepted++;
      if (i % 200 === 199) {
        first.writer.flush();
        await first.sink.flushed();
      }
    } catch (e) {
      thrown = errorInfo(e);
    }
  }
  try {
    first.writer.close();
  } catch {}
  await first.writer.finished().catch(() => {});
  const sizeAtFailure = fs.statSync(c.file).size;
  execFileSync('mount', ['-o', 'remount,size=16m', c.dir]);
  const again = open(lib, c);
  const recovered = again.sink.recovery;
  again.writer.close();
  await again.writer.finished();
  const expected = makePayloads(c.cap);
  let frames = 0;
  let mismatches = 0;
  new lib.StreamReader(c.file, new lib.ChecksumDeframer(lib.XxHash64)).processAll((p) => {
    if (Buffer.compare(Buffer.from(p.buffer, p.byteOffset, p.length), expected(0, frames)) !== 0)
      mismatches++;
    frames++;
  });
  out({ accepted, thrown, sizeAtFailure, recoveredFrames: recovered.frames, frames, mismatches });
}

// Portable mode on a full disk (run in a private mount namespace: c.file is
// on a small tmpfs): writes until a write() throws, then reports what the
// sink wrote, what the file holds (read back frame by frame) and what a
// later write() and the 'error' event said.
async function fullDisk(lib, c) {
  const sink = new lib.CaptureSink(c.file, c.options);
  const writer = new lib.StreamWriter(sink, new lib.ChecksumFramer(lib.XxHash64));
  const heard = [];
  sink.on('error', (e) => heard.push(e.systemCode));
  const payload = makePayloads(c.cap);
  let accepted = 0;
  let thrown = null;
  for (let i = 0; i < c.max && !thrown; i++) {
    try {
      writer.writePayload(payload(0, i));
      accepted++;
    } catch (e) {
      thrown = errorInfo(e);
    }
  }
  const stats = sink.stats();
  let afterwards = null;
  try {
    writer.writePayload(payload(0, accepted));
  } catch (e) {
    afterwards = { code: e.code, systemCode: e.systemCode };
  }
  try {
    writer.close();
  } catch {}
  await writer.finished().catch(() => {});
  await tick();
  const expected = makePayloads(c.cap);
  let frames = 0;
  let mismatches = 0;
  new lib.StreamReader(c.file, new lib.ChecksumDeframer(lib.XxHash64)).processAll((p) => {
    if (Buffer.compare(Buffer.from(p.buffer, p.byteOffset, p.length), expected(0, frames)) !== 0)
      mismatches++;
    frames++;
  });
  out({
    mode: sink.captureMode,
    thrown,
    accepted,
    framesWritten: stats.framesWritten,
    bytesWritten: stats.bytesWritten,
    size: fs.statSync(c.file).size,
    frames,
    mismatches,
    heard,
    afterwards,
  });
}

const scenarios = {
  fullDisk,
  enospcStream,
  shm,
  fillShm,
  sameStaging,
  kill,
  exit: exitScenario,
  noflush,
  hold,
  faultNoListener,
  signal,
  multi,
  workers,
};

if (!isMainThread && workerData && workerData.captureWorker) {
  worker(require('../dist/cjs/index.js'), workerData).catch((e) => {
    parentPort.postMessage({ error: String(e && e.stack) });
    throw e;
  });
} else if (require.main === module) {
  const lib = require('../dist/cjs/index.js');
  const run = scenarios[process.argv[2]];
  if (!run) throw new Error(`unknown scenario ${process.argv[2]}`);
  const r = run(lib, JSON.parse(process.argv[3] ?? '{}'));
  if (r && typeof r.then === 'function') {
    r.catch((e) => {
      process.stderr.write(`capture-child ${process.argv[2]}: ${e && e.stack}\n`);
      process.exit(3);
    });
  }
}
