// `npm run bench`: every benchmark, each in its own Node process (they need
// different flags and environments, and a fresh process keeps one benchmark's
// JIT state and heap out of the next one's numbers).
//   node bench/index.mjs [--quick]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const quick = process.argv.includes('--quick');
const here = (f) => fileURLToPath(new URL(f, import.meta.url));

const runs = [
  { file: 'checksums.mjs', args: quick ? ['--quick'] : [] },
  // The fallback is reference only, so it always gets the short run.
  { file: 'checksums.mjs', args: ['--quick'], env: { FLATSTREAM_NATIVE: '0' } },
  { file: 'framing.mjs', args: quick ? ['--quick'] : [], flags: ['--expose-gc'] },
  // Re-runs itself with --expose-gc, one process per workload (48 B, 64 KiB–1 MiB).
  { file: 'file-read.mjs', args: quick ? ['--quick'] : [] },
  // Runs each workload in a process of its own, with the V8 flags it needs.
  { file: 'writer.mjs', args: quick ? ['--quick'] : [] },
  // Re-runs itself with --expose-gc and a pinned young generation.
  { file: 'reader.mjs', args: quick ? ['--quick'] : [] },
  // Re-runs itself with a pinned young generation.
  { file: 'validation.mjs', args: quick ? ['--quick'] : [] },
  // Always --quick (one round of 2 s per configuration; the full run is 3
  // rounds of 10 s); re-runs itself, one process per configuration and round.
  { file: 'capture.mjs', args: ['--quick'] },
  // Skip mode through hostile bytes, native and (short) fallback.
  { file: 'skip.mjs', args: quick ? ['--quick'] : [] },
  { file: 'skip.mjs', args: ['--quick'], env: { FLATSTREAM_NATIVE: '0' } },
];

console.log(`# flatstream benchmarks, ${new Date().toISOString()}${quick ? ' (--quick)' : ''}`);
const t0 = Date.now();
let failed = 0;
for (const r of runs) {
  const res = spawnSync(process.execPath, [...(r.flags ?? []), here(r.file), ...r.args], {
    stdio: 'inherit',
    env: { ...process.env, ...r.env },
  });
  if (res.status !== 0) {
    failed++;
    console.error(`bench: ${r.file} exited with ${res.status ?? res.signal}`);
  }
}
console.log(`\n(total ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
process.exitCode = failed ? 1 : 0;
