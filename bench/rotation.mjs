// Rotation under load (docs/design.md, "Rotation"): a capturing writer at
// 1 M events/s for DURATION ms, beside the same run without rotation, in
// one process, alternating; then the event-loop stall of one rotate() call
// with the next file prepared (prefetch) and without (opened on the loop).
// Every file is read back after each run: frames lost must be 0.
//   node bench/rotation.mjs [--rounds 3] [--ms 2000]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
const F = createRequire(import.meta.url)('../dist/cjs/index.js');

const arg = (n, d) => {
  const i = process.argv.indexOf(n);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const ROUNDS = arg('--rounds', 3);
const MS = arg('--ms', 2000);
const RATE = 1_000_000; // events/s
const pct = (a, p) => a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))];
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const payload = Buffer.alloc(40, 7);

async function load(rotate) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-rot-bench-'));
  const base = path.join(dir, 'ev.fst');
  const sink = rotate
    ? new F.RotatingSink(base, { capture: true, maxBytes: 8 << 20, header: {} })
    : new F.CaptureSink(path.join(dir, 'ev.000001.fst'));
  const w = new F.StreamWriter(sink, new F.ChecksumFramer(F.XxHash64));
  const lat = new Float64Array(Math.ceil((RATE * MS) / 1000) + 10000);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < MS) {
    const due = Math.floor(((performance.now() - t0) * RATE) / 1000);
    while (n < due) {
      const a = process.hrtime.bigint();
      w.writePayload(payload);
      lat[n++] = Number(process.hrtime.bigint() - a);
    }
    await new Promise((r) => setImmediate(r));
  }
  w.close();
  await w.finished();
  const files = rotate ? F.listRotation(base) : [path.join(dir, 'ev.000001.fst')];
  let read = 0;
  for (const f of files) for (const _ of F.StreamReader.open(f).messages()) read++;
  const drops = w.stats().drops;
  fs.rmSync(dir, { recursive: true, force: true });
  const l = Array.from(lat.subarray(0, n)).sort((x, y) => x - y);
  return {
    n,
    read,
    drops,
    files: files.length,
    p999: pct(l, 99.9) / 1000,
    max: l[l.length - 1] / 1000,
    rate: n / (MS / 1000),
    rotations: rotate ? sink.stats().rotations : 0,
  };
}

async function stall(prefetch) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-rot-bench-'));
  const sink = new F.RotatingSink(path.join(dir, 'ev.fst'), { capture: true, header: {} });
  const w = new F.StreamWriter(sink, new F.ChecksumFramer(F.XxHash64));
  const t = [];
  // Every stall of the loop while rotating, the retiring of each file left
  // (its capture's sync, close and thread join) included.
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  for (let i = 0; i < 20; i++) {
    w.writePayload(payload);
    await sink.whenPrepared();
    // Without prefetch: a rotation right after another one, whose next
    // file is still being prepared, opens its own on the loop.
    const first = prefetch ? null : w.rotate();
    const a = process.hrtime.bigint();
    const done = w.rotate();
    t.push(Number(process.hrtime.bigint() - a) / 1e6);
    await first;
    await done;
  }
  h.disable();
  const s = sink.stats();
  w.close();
  await w.finished();
  fs.rmSync(dir, { recursive: true, force: true });
  return { median: med(t), max: Math.max(...t), syncOpens: s.syncOpens, loopMax: h.max / 1e6 };
}

const rows = { plain: [], rotating: [] };
for (let r = 0; r < ROUNDS; r++) {
  rows.plain.push(await load(false));
  rows.rotating.push(await load(true));
}
const out = [];
out.push(
  `rotation bench: ${ROUNDS} rounds x ${MS} ms at ${RATE / 1e6} M events/s (40-byte payloads, XXH3, CaptureSink; rotating: maxBytes 8 MiB), node ${process.version}, load ${os.loadavg()[0].toFixed(2)}`,
);
out.push(
  '| run | events/s (median) | write p99.9 µs (median) | write max µs (median / worst) | files | frames lost (written − read back − dropped) |',
);
out.push('|---|---:|---:|---:|---:|---:|');
for (const [k, v] of Object.entries(rows)) {
  const lost = v.map((x) => x.n - x.read - x.drops);
  out.push(
    `| ${k} | ${(med(v.map((x) => x.rate)) / 1e6).toFixed(3)} M | ${med(v.map((x) => x.p999)).toFixed(2)} | ${med(v.map((x) => x.max)).toFixed(0)} / ${Math.max(...v.map((x) => x.max)).toFixed(0)} | ${med(v.map((x) => x.files))} | ${lost.join(', ')} (drops ${v.map((x) => x.drops).join(', ')}) |`,
  );
}
const pr = med(rows.rotating.map((x) => x.p999)) / med(rows.plain.map((x) => x.p999));
out.push(`ratio rotating/plain write p99.9: ${pr.toFixed(2)}x`);
const a = await stall(true);
const b = await stall(false);
out.push(
  '| rotate() on the event loop | median ms | max ms | opened on the loop | event-loop delay max ms (whole sequence) |',
);
out.push('|---|---:|---:|---:|---:|');
for (const [name, x] of [
  ['next file prepared (prefetch)', a],
  ['not prepared (opened by rotate)', b],
])
  out.push(
    `| ${name} | ${x.median.toFixed(3)} | ${x.max.toFixed(3)} | ${x.syncOpens} of ${x === b ? '40 (20 timed)' : 20} | ${x.loopMax.toFixed(2)} |`,
  );
console.log(out.join('\n'));
