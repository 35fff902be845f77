// The main job in miniature: capture telemetry-sized frames with XXH3
// checksums to a file through a CaptureSink (staged in memory the kernel
// keeps, written by a native thread), read the file back verifying every
// frame, then kill a capturing child with SIGKILL and show that reopening
// the stream loses nothing. Uses the built package (npm run build).
//   node scripts/demo.mjs [frames]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const fs = require('../dist/cjs/index.js');
const { StreamWriter, StreamReader, ChecksumFramer, ChecksumDeframer, XxHash64, CaptureSink } = fs;

// A 48-byte payload standing in for a telemetry event (device id, timestamp, value).
const payload = new Uint8Array(48);
const view = new DataView(payload.buffer);
const event = (i) => {
  view.setUint32(0, i, true);
  view.setFloat64(16, i * 0.5, true);
  return payload;
};

// --child FILE: capture until killed, recording after each write() how many returned.
if (process.argv[2] === '--child') {
  const [file, counter] = process.argv.slice(3);
  const writer = new StreamWriter(
    new CaptureSink(file, { stagingPath: `${file}.staging` }),
    new ChecksumFramer(XxHash64),
  );
  const count = new Int32Array(new SharedArrayBuffer(4));
  const out = require('node:fs').openSync(counter, 'w');
  let i = 0;
  const tick = () => {
    for (let k = 0; k < 10_000; k++) writer.writePayload(event(i++));
    count[0] = i;
    require('node:fs').writeSync(out, new Uint8Array(count.buffer), 0, 4, 0);
    if (i === 100_000) process.send('capturing');
    setImmediate(tick);
  };
  tick();
} else {
  await main();
}

async function main() {
  const N = Number(process.argv[2] ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'flatstream-demo-'));
  const file = join(dir, 'events.fst');
  const rate = (n, ns) => `${((n / ns) * 1e3).toFixed(1)} M frames/s`;
  const readBack = (path) => {
    let sum = 0;
    const t = process.hrtime.bigint();
    const frames = new StreamReader(path, new ChecksumDeframer(XxHash64)).processAll((p) => {
      sum += p[0];
    });
    return { frames, sum, ns: Number(process.hrtime.bigint() - t) };
  };
  console.log(
    `flatstream demo (${fs.native ? 'native addon' : 'TypeScript fallback'}, XXH3 via ${XxHash64.impl})`,
  );

  // 1. Capture: write() only stages into the shared mapping; the writer
  // thread seals the checksums and writes to the file. Without the addon
  // the sink runs in portable mode: slabs written on the event loop.
  const sink = new CaptureSink(file, { stagingPath: `${file}.staging` });
  const writer = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) writer.writePayload(event(i));
  const writeNs = Number(process.hrtime.bigint() - t);
  writer.close();
  await writer.finished();
  const back = readBack(file);
  const size = statSync(file).size;
  console.log(
    `  capture ${N} frames, ${size} bytes to ${file}: ${rate(N, writeNs)} on the event loop` +
      (sink.captureMode === 'native'
        ? ' (CaptureSink; a native thread writes)'
        : ' (CaptureSink in portable mode: slabs written on the event loop)'),
  );
  {
    const s = sink.stats();
    console.log(
      `          ${s.writes} slab writes ${sink.captureMode === 'native' ? 'by the thread' : 'on the event loop'}: p50 ${s.writeLatency.p50.toFixed(0)} µs, ` +
        `max ${s.writeLatency.max.toFixed(0)} µs; ${s.drops} dropped`,
    );
  }
  console.log(
    `  read    ${back.frames} frames back, every checksum verified: ${rate(back.frames, back.ns)}`,
  );
  if (back.frames !== N) fail(`expected ${N} frames, read ${back.frames}`);

  // 2. SIGKILL: a child captures until it is killed; reopening the stream
  // drains what it had staged, and every write() that returned is there.
  if (fs.native) {
    const crashed = join(dir, 'crashed.fst');
    const counter = join(dir, 'count');
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child', crashed, counter],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    await new Promise((resolve) => child.once('message', resolve));
    await new Promise((resolve) => setTimeout(resolve, 30 + Math.random() * 70));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const returned = readFileSync(counter).readInt32LE(0);
    // The file alone may end in a torn frame (killed mid-write): count what is whole.
    const inFile = fs.recoverFile(crashed, new ChecksumDeframer(XxHash64)).frames;
    const reopened = new CaptureSink(crashed, { stagingPath: `${crashed}.staging` });
    reopened.closeSync();
    const after = readBack(crashed).frames;
    console.log(
      `  SIGKILL after ${returned} write() calls returned: ${inFile} frames were in the file, ` +
        `reopening drained ${reopened.recovery.frames} staged ones: ${after} frames, all verified, ` +
        `${Math.max(0, returned - after)} lost`,
    );
    if (after < returned) fail(`lost ${returned - after} frames`);
  } else {
    console.log(
      '  SIGKILL skipped: in portable mode frames not yet written die with the process (sink.guarantees)',
    );
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`  ok      (checksum of first bytes: ${back.sum})`);
}

function fail(message) {
  console.error(message);
  process.exit(1);
}
