#!/usr/bin/env node
// Prints lib/'s import graph (who imports whom, and each file's level: 0 for
// a file that imports nothing of lib/, else 1 + the highest level it imports)
// and native/'s include graph, for docs/design.md, "Module map".
// Usage: node scripts/import-graph.mjs [--table | --check]
// (--table: only lib/'s level table, the rows of docs/design.md, "Module map";
// --check: exit 1 when that table in docs/design.md differs from lib/).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');

function walk(dir, exts) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!['test', 'fuzz'].includes(name)) out.push(...walk(p, exts));
    } else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

// `import type` edges are erased at run time: listed, but not counted for
// levels and cycles.
function graph(files, pattern, resolveDep) {
  const deps = new Map();
  const typeDeps = new Map();
  for (const f of files) {
    const src = readFileSync(f, 'utf8');
    const set = new Set();
    const types = new Set();
    for (const m of src.matchAll(pattern)) {
      const d = resolveDep(f, m[2]);
      if (d === null || !files.includes(d)) continue;
      (m[1] ? types : set).add(d);
    }
    for (const d of set) types.delete(d);
    deps.set(f, [...set].sort());
    typeDeps.set(f, [...types].sort());
  }
  const level = new Map();
  const lv = (f, seen = new Set()) => {
    if (level.has(f)) return level.get(f);
    if (seen.has(f)) throw new Error(`cycle through ${relative(root, f)}`);
    seen.add(f);
    const l = deps.get(f).length === 0 ? 0 : 1 + Math.max(...deps.get(f).map((d) => lv(d, seen)));
    seen.delete(f);
    level.set(f, l);
    return l;
  };
  for (const f of files) lv(f);
  return { deps, typeDeps, level };
}

function print(title, files, { deps, typeDeps, level }) {
  console.log(`## ${title}\n`);
  const rows = [...files].sort((a, b) => level.get(a) - level.get(b) || a.localeCompare(b));
  for (const f of rows) {
    const by = files.filter((g) => deps.get(g).includes(f)).map((g) => relative(root, g));
    console.log(
      `L${level.get(f)} ${relative(root, f)}\n     imports: ${
        deps
          .get(f)
          .map((d) => relative(root, d))
          .join(', ') || '-'
      }${
        typeDeps.get(f).length
          ? `\n     types only: ${typeDeps
              .get(f)
              .map((d) => relative(root, d))
              .join(', ')}`
          : ''
      }\n     imported by: ${by.join(', ') || '-'}`,
    );
  }
  console.log(`\nlevels: ${Math.max(...level.values()) + 1}, files: ${files.length}\n`);
}

// lib/'s levels as the rows of docs/design.md's table: `| L1 | a/{b,c}, d/e |`.
function table(files, { level }) {
  const rows = [];
  const byLevel = new Map();
  for (const f of [...files].sort()) {
    const l = level.get(f);
    if (!byLevel.has(l)) byLevel.set(l, new Map());
    const name = relative(join(root, 'lib'), f).replace(/\.ts$/, '');
    const cut = name.lastIndexOf('/');
    const dir = cut < 0 ? '' : name.slice(0, cut + 1);
    const group = byLevel.get(l);
    if (!group.has(dir)) group.set(dir, []);
    group.get(dir).push(name.slice(cut + 1));
  }
  for (const l of [...byLevel.keys()].sort((a, b) => a - b)) {
    const parts = [...byLevel.get(l)].map(([d, n]) => d + (n.length === 1 ? n[0] : `{${n}}`));
    rows.push(`| L${l} | ${parts.join(', ')} |`);
  }
  return rows;
}

const ts = walk(join(root, 'lib'), ['.ts']);
const tsGraph = graph(
  ts,
  /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^;']*?\s+from\s+)?'(\.[^']+)'/g,
  (f, spec) => resolve(dirname(f), spec.replace(/\.js$/, '') + '.ts'),
);
if (process.argv.includes('--table')) {
  console.log(table(ts, tsGraph).join('\n'));
  process.exit(0);
}
if (process.argv.includes('--check')) {
  const want = table(ts, tsGraph);
  const have = readFileSync(join(root, 'docs/design.md'), 'utf8')
    .split('\n')
    .filter((l) => /^\| L\d+ \|/.test(l));
  if (want.join('\n') === have.join('\n')) {
    console.log(
      `import-graph: the level table of docs/design.md matches lib/ (${want.length} levels)`,
    );
    process.exit(0);
  }
  console.log(
    'import-graph: docs/design.md "Module map" levels differ from lib/; its rows should be:',
  );
  console.log(want.join('\n'));
  process.exit(1);
}
print('lib/ (TypeScript imports)', ts, tsGraph);
const cc = walk(join(root, 'native'), ['.h', '.cc']);
print(
  'native/ (#include "...")',
  cc,
  graph(cc, /#include()\s+"([^"]+)"/g, (f, spec) => {
    const a = resolve(dirname(f), spec);
    const b = resolve(join(root, 'native'), spec);
    return cc.includes(a) ? a : cc.includes(b) ? b : null;
  }),
);
