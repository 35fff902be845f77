// Shared by the benchmarks: loading the built package, the machine banner,
// alternating measurement with medians, and plain-text tables.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const distPath = fileURLToPath(new URL('../dist/cjs/index.js', import.meta.url));
if (!existsSync(distPath)) {
  console.error('bench: dist/cjs/index.js is missing; run `npm run build` first');
  process.exit(1);
}
// The BUILT package, as a user gets it; FLATSTREAM_NATIVE=0 in the environment
// selects the TypeScript fallback.
export const lib = require(distPath);
export { require };

export const argv = process.argv.slice(2);

/**
 * Runs the calling script again in a child with these V8 flags, unless it
 * already has them; `before()` runs first in the parent (e.g. compiling).
 * Returns only in the child.
 */
export function reexecWith(flags, scriptUrl, before = () => undefined) {
  if (flags.every((f) => process.execArgv.includes(f))) return;
  before();
  const r = spawnSync(process.execPath, [...flags, fileURLToPath(scriptUrl), ...argv], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}
export const quick = argv.includes('--quick');

/** What a reader of the numbers needs to judge them. */
export function banner(title) {
  const cpus = os.cpus();
  const impls = ['Crc16', 'Crc32', 'XxHash64', 'Crc32c', 'Crc64']
    .map((n) => `${n}=${lib[n].impl}`)
    .join(' ');
  console.log(`\n## ${title}${quick ? ' (--quick)' : ''}`);
  console.log(
    `machine: ${cpus[0]?.model ?? 'unknown cpu'}, ${cpus.length} cores, ` +
      `${os.platform()}-${os.arch()}, node ${process.version}, load ${os.loadavg()[0].toFixed(2)}`,
  );
  console.log(`flatstream: ${lib.native ? 'native addon' : 'TypeScript fallback'}; ${impls}`);
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Results are folded in here so that no measured call is dead code.
let sinkValue = 0;
export const consume = (v) => {
  sinkValue = (sinkValue + (typeof v === 'bigint' ? Number(v & 0xffffn) : v)) | 0;
};
export const sinkResult = () => sinkValue;

const now = () => process.hrtime.bigint();

function timeOnce(c, n) {
  const t0 = now();
  consume(c.run(n));
  return Number(now() - t0);
}

/**
 * Runs `cases` in alternation (A B C A B C …) for `rounds` rounds and returns
 * each case's median ns per operation. A case is { name, run(n) -> value }
 * where run performs n operations; `n` fixes the count, otherwise it is
 * calibrated during warm-up so that one sample lasts about `sampleMs`.
 */
export function compare(cases, { rounds = quick ? 3 : 9, sampleMs = quick ? 20 : 80 } = {}) {
  for (const c of cases) {
    if (c.n) {
      timeOnce(c, c.n); // warm-up: JIT tiers up, buffers get touched
      continue;
    }
    // Grow n until one sample is long enough, which doubles as warm-up.
    let n = 1;
    let ns = timeOnce(c, n);
    while (ns < sampleMs * 1e6 * 0.25) {
      n *= ns < 1e5 ? 8 : 2;
      ns = timeOnce(c, n);
    }
    c.n = Math.max(1, Math.round((n * sampleMs * 1e6) / ns));
    timeOnce(c, c.n);
  }
  const samples = cases.map(() => []);
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => samples[i].push(timeOnce(c, c.n) / c.n));
  }
  return cases.map((c, i) => ({ ...c, nsPerOp: median(samples[i]), samples: samples[i] }));
}

/** Prints rows (arrays of cells) as a Markdown table; `align` is e.g. 'lrr'. */
export function table(header, rows, align) {
  const all = [header, ...rows].map((r) => r.map((c) => String(c ?? '')));
  const w = header.map((_, i) => Math.max(3, ...all.map((r) => r[i].length)));
  const right = (i) => align[i] === 'r';
  const line = (r) =>
    '| ' + r.map((c, i) => (right(i) ? c.padStart(w[i]) : c.padEnd(w[i]))).join(' | ') + ' |';
  console.log(line(all[0]));
  console.log('|' + w.map((n, i) => '-'.repeat(n + 1) + (right(i) ? ':' : '-')).join('|') + '|');
  for (const r of all.slice(1)) console.log(line(r));
}

export const fmt = {
  ns: (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1)),
  rate: (perSec) =>
    perSec >= 1e9
      ? `${(perSec / 1e9).toFixed(2)} G`
      : perSec >= 1e6
        ? `${(perSec / 1e6).toFixed(2)} M`
        : `${(perSec / 1e3).toFixed(1)} k`,
  gbs: (x) => x.toFixed(x >= 10 ? 1 : 2),
  ratio: (x) => (x == null ? '' : `${x.toFixed(2)}x`),
  // (max - min) / median over the rounds: how far to trust a row.
  spread: (r) =>
    `±${((50 * (Math.max(...r.samples) - Math.min(...r.samples))) / r.nsPerOp).toFixed(0)}%`,
};

/** PASS/MISS against a target; the numbers are reported, never asserted. */
export const verdict = (ok) => (ok ? 'PASS' : 'MISS');
