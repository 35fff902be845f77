#!/usr/bin/env node
// Checks that no file cites "DESIGN.md" (not in the repository) and that
// every `docs/design.md, "<section>"` citation names a heading of
// docs/design.md. Comment markers and line breaks inside a citation are
// ignored. Usage: node scripts/check-design-refs.mjs (exit 1 on a bad one).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const dirs = ['lib', 'native', 'bench', 'scripts', 'test', 'examples', 'docs'];
const skip = new Set(['node_modules', 'generated', '.generated', 'build']);
const exts = ['.ts', '.mjs', '.js', '.cc', '.h', '.md', '.py'];

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!skip.has(name)) out.push(...walk(p));
    } else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

const headings = new Set(
  readFileSync(join(root, 'docs/design.md'), 'utf8')
    .split('\n')
    .filter((l) => /^#{2,4} /.test(l))
    .map((l) => l.replace(/^#+ /, '').trim()),
);
const files = [join(root, 'README.md'), ...dirs.flatMap((d) => walk(join(root, d)))];
let bad = 0;
let cited = 0;
for (const f of files) {
  if (f.endsWith('check-design-refs.mjs')) continue;
  const raw = readFileSync(f, 'utf8');
  if (raw.includes('DESIGN.md')) {
    console.log(`${relative(root, f)}: cites DESIGN.md`);
    bad++;
  }
  // Join comment lines: "…\n// more" and "…\n * more" read as one line.
  const text = raw.replace(/\s*\n\s*(?:\/\/+|\*|#)?\s*/g, ' ');
  const cite = /docs\/design\.md\)?[,:]?\s*((?:"[^"]+"(?:\s*(?:,|and)\s*)?)+)/g;
  for (const m of text.matchAll(cite)) {
    for (const q of m[1].matchAll(/"([^"]+)"/g)) {
      if (q[1] === '<section>') continue; // the citation format itself
      cited++;
      if (!headings.has(q[1])) {
        console.log(`${relative(root, f)}: no heading "${q[1]}" in docs/design.md`);
        bad++;
      }
    }
  }
}
console.log(`${cited} section citations checked, ${bad} bad`);
process.exit(bad ? 1 : 0);
