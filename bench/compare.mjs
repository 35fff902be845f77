// Before/after in one run: the same benchmark scripts of two built trees,
// run in alternation (before, after, before, after, …), every row of every
// table matched by name, medians and ratios. For a change that must not
// regress (a refactor), this is the measurement: both sides share the
// machine's load, so the ratio is what to read, not the absolute numbers.
//
//   node bench/compare.mjs --before <dir> [--after <dir>] [--rounds N] [--quick] <script>...
//
// <dir> is a built checkout (npm run build done: dist/ and the addon);
// --after defaults to this checkout. <script> is a bench/ file name without
// .mjs (writer, reader, capture, …). Each script runs with its own arguments
// (--quick passed through) in a process of its own, from its own tree, so
// each side measures its own bench code against its own library.
//
// Per row the report gives the median of the row's time or rate column over
// the rounds for each side, after/before as a speed ratio (> 1: after is
// faster), each side's spread ((max - min) / median), and the row's GC
// column (median) when it has one. Rows present on one side only are listed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const before = opt('--before');
const after = opt('--after', path.join(here, '..'));
const rounds = Number(opt('--rounds', '3'));
const quick = args.includes('--quick');
const scripts = args.filter((a) => !a.startsWith('--'));
if (!before || scripts.length === 0 || !(rounds >= 1)) {
  console.error(
    'usage: node bench/compare.mjs --before <dir> [--after <dir>] [--rounds N] [--quick] <script>...',
  );
  process.exit(2);
}
for (const dir of [before, after]) {
  if (!existsSync(path.join(dir, 'dist/cjs/index.js'))) {
    console.error(`compare: ${dir} is not built (no dist/cjs/index.js); run npm run build there`);
    process.exit(2);
  }
}

const show = (v) =>
  v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 100 ? v.toFixed(0) : v.toFixed(1);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** A cell such as `4.63 M`, `216`, `1.2 k`, `±5%`, `8 (0)` as a number, or NaN. */
function num(cell) {
  const m = /^(-?\d+(?:\.\d+)?)\s*([kMG])?\b/.exec(cell.trim().replace(/,/g, ''));
  if (!m) return NaN;
  return Number(m[1]) * ({ k: 1e3, M: 1e6, G: 1e9 }[m[2]] ?? 1);
}

/**
 * Every Markdown table in `out`: rows keyed by section heading and first
 * cell, with the row's measure (time per operation, or a rate) and GCs.
 */
function parse(out) {
  const rows = new Map();
  let section = '';
  let header = null;
  let sep = false;
  for (const line of out.split('\n')) {
    if (/^#{2,4} /.test(line)) {
      section = line.replace(/^#+ /, '').trim();
      header = null;
      continue;
    }
    if (!line.startsWith('|')) {
      header = null;
      continue;
    }
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (header === null) {
      header = cells;
      sep = false;
      continue;
    }
    if (!sep) {
      sep = true; // the |---|---:| line
      continue;
    }
    // The measure: the first time-per-operation column, else a p99.9 latency
    // (the capture tables, whose rate is the offered load), else a rate.
    let col = header.findIndex((h) => /^(ns|µs|ms)\b/.test(h));
    if (col < 0) col = header.findIndex((h) => /p99\.9/.test(h));
    let lowerIsBetter = true;
    if (col < 0) {
      col = header.findIndex((h) => /\/s\b|GB\/s|per s/.test(h));
      lowerIsBetter = false;
    }
    if (col < 0) continue;
    const value = num(cells[col] ?? '');
    if (!Number.isFinite(value) || value <= 0) continue;
    const gcCol = header.findIndex((h) => /^GCs\b/.test(h));
    const gcs = gcCol >= 0 ? num(cells[gcCol] ?? '') : NaN;
    const key = `${section} › ${cells[0]}`;
    if (!rows.has(key)) rows.set(key, { measure: header[col], lowerIsBetter, value, gcs });
  }
  return rows;
}

function runOnce(dir, script) {
  const file = path.join(dir, 'bench', `${script}.mjs`);
  if (!existsSync(file)) return { rows: new Map(), missing: true };
  const r = spawnSync(process.execPath, [file, ...(quick ? ['--quick'] : [])], {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: process.env,
  });
  if (r.status !== 0) {
    console.error(`compare: ${file} exited with ${r.status ?? r.signal}\n${r.stderr}`);
    process.exit(1);
  }
  return { rows: parse(r.stdout), missing: false };
}

const t0 = Date.now();
const loads = [];
console.log(`# before/after: ${scripts.join(', ')}${quick ? ' (--quick)' : ''}, ${rounds} rounds`);
console.log(`\n- before: ${path.resolve(before)}\n- after: ${path.resolve(after)}`);
console.log(
  `- machine: ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores, node ${process.version}`,
);

for (const script of scripts) {
  const samples = { before: new Map(), after: new Map() };
  for (let r = 0; r < rounds; r++) {
    for (const side of ['before', 'after']) {
      loads.push(os.loadavg()[0]);
      const { rows } = runOnce(side === 'before' ? before : after, script);
      for (const [key, row] of rows) {
        const list = samples[side].get(key) ?? [];
        list.push(row);
        samples[side].set(key, list);
      }
    }
  }
  console.log(`\n## ${script}.mjs\n`);
  console.log(
    '| row | measure | before | after | speed after/before | spread before | spread after | GCs before | GCs after |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  const ratios = [];
  for (const [key, b] of samples.before) {
    const a = samples.after.get(key);
    if (!a) continue;
    const mb = median(b.map((x) => x.value));
    const ma = median(a.map((x) => x.value));
    const speed = b[0].lowerIsBetter ? mb / ma : ma / mb;
    ratios.push(speed);
    const spread = (xs, m) => `±${((50 * (Math.max(...xs) - Math.min(...xs))) / m).toFixed(0)}%`;
    const gc = (xs) => {
      const g = xs.map((x) => x.gcs).filter(Number.isFinite);
      return g.length ? String(median(g)) : '';
    };
    console.log(
      `| ${key} | ${b[0].measure} | ${show(mb)} | ${show(ma)} | ${speed.toFixed(2)}x | ` +
        `${spread(
          b.map((x) => x.value),
          mb,
        )} | ${spread(
          a.map((x) => x.value),
          ma,
        )} | ${gc(b)} | ${gc(a)} |`,
    );
  }
  const only = (x, y) => [...samples[x].keys()].filter((k) => !samples[y].has(k));
  for (const k of only('before', 'after')) console.log(`| ${k} | (before only) | | | | | | | |`);
  for (const k of only('after', 'before')) {
    const a = samples.after.get(k);
    const ma = median(a.map((x) => x.value));
    console.log(`| ${k} | ${a[0].measure} (after only) | | ${show(ma)} | | | | | |`);
  }
  if (ratios.length) {
    console.log(
      `\nmedian speed ratio over ${ratios.length} matched rows: ${median(ratios).toFixed(2)}x ` +
        `(min ${Math.min(...ratios).toFixed(2)}x, max ${Math.max(...ratios).toFixed(2)}x)`,
    );
  }
}
console.log(
  `\n(load average ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} at the runs' starts; ` +
    `${((Date.now() - t0) / 1000).toFixed(0)} s)`,
);
